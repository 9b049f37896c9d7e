package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection is the state of one network-server connection (a connector)
// at scrape time.
type Connection struct {
	Type  string // connector type, e.g. "everynet"
	Name  string // connection name (host)
	Up    bool
	State string // connector-specific state name
	// Counters since the start of mgsd.
	Connects, Uplinks, DownlinkResponses, Claims, Rejected, Replayed uint64
	LastMessage                                                      time.Time
}

var (
	connLabels    = []string{"type", "connection"}
	connUp        = desc("connector_up", "1 when the connection to the network server is established.", connLabels...)
	connState     = desc("connector_state", "The connection's current state (value 1).", "type", "connection", "state")
	connConnects  = desc("connector_connects_total", "Connections established (reconnects are connects - 1).", connLabels...)
	connUplinks   = desc("connector_uplinks_total", "Uplinks the connection handed to the pipeline.", connLabels...)
	connDownlinks = desc("connector_downlink_responses_total", "Downlink requests answered with a modem downlink.", connLabels...)
	connClaims    = desc("connector_downlink_claims_total", "Downlink claims sent.", connLabels...)
	connRejected  = desc("connector_rejected_messages_total", "Malformed or unusable messages received.", connLabels...)
	connReplayed  = desc("connector_replayed_messages_total", "Messages dropped as already received (replay after reconnect).", connLabels...)
	connLastMsg   = desc("connector_last_message_timestamp_seconds", "Unix time of the last message received (0: none yet).", connLabels...)
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

// connections is a collector that reads the connection states at scrape
// time.
type connections struct{ list func() []Connection }

func (c connections) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connUp, connState, connConnects, connUplinks, connDownlinks, connClaims, connRejected,
		connReplayed, connLastMsg} {
		ch <- d
	}
}

func (c connections) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.list() {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(connUp, prometheus.GaugeValue, up, s.Type, s.Name)
		if s.State != "" {
			ch <- prometheus.MustNewConstMetric(connState, prometheus.GaugeValue, 1, s.Type, s.Name, s.State)
		}
		for _, v := range []struct {
			d *prometheus.Desc
			n uint64
		}{{connConnects, s.Connects}, {connUplinks, s.Uplinks}, {connDownlinks, s.DownlinkResponses}, {connClaims, s.Claims},
			{connRejected, s.Rejected}, {connReplayed, s.Replayed}} {
			ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n), s.Type, s.Name)
		}
		last := 0.0
		if !s.LastMessage.IsZero() {
			last = float64(s.LastMessage.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(connLastMsg, prometheus.GaugeValue, last, s.Type, s.Name)
	}
}

// Connections registers a collector that calls list at every scrape and
// exports the mgs_connector_* metrics of each connection.
func (m *Metrics) Connections(list func() []Connection) error {
	return m.reg.Register(connections{list})
}
