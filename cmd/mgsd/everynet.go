package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openmgs/openmgs/connector/everynet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/metrics"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// everynetOptions are the Everynet connector settings; URLs and tokens are
// comma-separated lists (URL i pairs with token i; one token serves all).
var everynetOptions = []option{
	{"everynet-url", "MGS_EVERYNET_URL", "", "comma-separated Everynet Data API WebSocket URLs (one connection each)"},
	{"everynet-token", "MGS_EVERYNET_TOKEN", "", "comma-separated Data API access tokens, in URL order (one token serves every URL)"},
	{"everynet-downlink-claim", "MGS_EVERYNET_DOWNLINK_CLAIM", "false", "send downlink_claim when a modem downlink is still untransmitted 10 s after its uplink"},
	{"everynet-dr-plan", "MGS_EVERYNET_DR_PLAN", "eu868", "how SF/bandwidth map to dr: eu868, us915, au915, none"},
}

// everynetConfig builds one connector configuration per URL.
func everynetConfig(st *settings) ([]everynet.Config, error) {
	urls := splitList(st.val["everynet-url"])
	tokens := splitList(st.val["everynet-token"])
	if len(urls) == 0 {
		if len(tokens) > 0 {
			return nil, st.errorf("everynet-token", "given without everynet-url")
		}
		return nil, nil
	}
	if len(tokens) > 1 && len(tokens) != len(urls) {
		return nil, st.errorf("everynet-token", "%d tokens for %d URLs (give one, or one per URL)", len(tokens), len(urls))
	}
	claim, err := parseBool(st.val["everynet-downlink-claim"])
	if err != nil {
		return nil, st.errorf("everynet-downlink-claim", "%q is not true or false", st.val["everynet-downlink-claim"])
	}
	names := map[string]int{}
	var out []everynet.Config
	for i, u := range urls {
		c := everynet.DefaultConfig()
		c.URL = u
		switch len(tokens) {
		case 1:
			c.Token = tokens[0]
		case len(urls):
			c.Token = tokens[i]
		}
		c.DownlinkClaim = claim
		c.DataRatePlan = st.val["everynet-dr-plan"]
		if pu, err := url.Parse(u); err == nil && pu.Host != "" {
			c.Name = pu.Host
		} else {
			c.Name = u
		}
		if names[c.Name]++; names[c.Name] > 1 {
			c.Name = fmt.Sprintf("%s#%d", c.Name, names[c.Name])
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("everynet connection %d: %w", i+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// startEverynet starts one connector per configuration; each connection's
// state is a gRPC health entry "everynet/<name>"; its replay cursor is kept
// in db (everynet_cursor.go). The returned wait blocks until every
// connector has processed what it received after ctx ended.
func startEverynet(ctx context.Context, cfgs []everynet.Config, pipe *uplink.Pipeline, health interface {
	SetServingStatus(string, healthpb.HealthCheckResponse_ServingStatus)
}, log *slog.Logger, db store.Store) (wait func(), conns []*everynet.Connector, err error) {
	for i, c := range cfgs {
		c.Logger = log.With("component", "everynet", "connection", c.Name)
		c.Cursor = newStoreCursor(db)
		c.OnStateChange = func(s everynet.Status) {
			st := healthpb.HealthCheckResponse_NOT_SERVING
			if s.Healthy() {
				st = healthpb.HealthCheckResponse_SERVING
			}
			health.SetServingStatus("everynet/"+s.Name, st)
		}
		conn, err := everynet.New(c, requestIDHandler{pipe})
		if err != nil {
			return nil, nil, fmt.Errorf("everynet connection %d: %w", i+1, err)
		}
		health.SetServingStatus("everynet/"+c.Name, healthpb.HealthCheckResponse_NOT_SERVING)
		conns = append(conns, conn)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				log.Error("everynet connector stopped", "err", err)
			}
		}()
	}
	return wg.Wait, conns, nil
}

// requestIDHandler gives every uplink a connector hands to the pipeline a
// request id, as the APIs do, so that its log lines can be correlated.
type requestIDHandler struct{ p *uplink.Pipeline }

func (h requestIDHandler) Handle(ctx context.Context, eui lora.EUI64, msg store.Uplink) (*uplink.Result, error) {
	if server.RequestID(ctx) == "" {
		ctx = server.WithRequestID(ctx, server.NewRequestID())
	}
	return h.p.Handle(ctx, eui, msg)
}

// connectionMetrics reports the state of the connectors to the metrics.
func connectionMetrics(conns []*everynet.Connector) []metrics.Connection {
	out := make([]metrics.Connection, 0, len(conns))
	for _, c := range conns {
		s := c.Status()
		out = append(out, metrics.Connection{Type: "everynet", Name: s.Name, Up: s.Healthy(), State: string(s.State),
			Connects: s.Connects, Uplinks: s.Uplinks, DownlinkResponses: s.DownlinkResponses, Claims: s.Claims,
			Rejected: s.Rejected, Replayed: s.Replayed, LastMessage: s.LastMessage})
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}
