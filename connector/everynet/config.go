package everynet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Data-rate plans: how an uplink's LoRa spreading factor and bandwidth map
// to the LoRaWAN DR index reported to the pipeline.
const (
	// PlanEU868 covers the EU868-like regions (EU868, EU433, AS923, KR920,
	// IN865, RU864, CN470, CN779): SF12..SF7 at 125 kHz are DR0..DR5,
	// SF7 at 250 kHz is DR6, FSK is DR7.
	PlanEU868 = "eu868"
	// PlanUS915: SF10..SF7 at 125 kHz are DR0..DR3, SF8 at 500 kHz is DR4.
	PlanUS915 = "us915"
	// PlanAU915 (also Brazil's AU915 plan): SF12..SF7 at 125 kHz are
	// DR0..DR5, SF8 at 500 kHz is DR6.
	PlanAU915 = "au915"
	// PlanNone never reports a DR.
	PlanNone = "none"
)

// Config configures one Data API connection. DefaultConfig gives the
// defaults; URL and Token have none.
type Config struct {
	// Name labels the connection in logs and Status (default: the URL's
	// host).
	Name string
	// URL is the Data API endpoint, e.g. wss://ns.eu.everynet.io/api/v1.0/data.
	// A bare host (empty path) gets /api/v1.0/data. Query parameters in the
	// URL (filters such as devices= or tags=) are kept.
	URL string
	// Token is the access token (sent as access_token). It may instead be
	// part of URL. It is never logged.
	Token string
	// Types is the types= filter. Ignored when Filter is set or the URL
	// already names types or a filter.
	Types []string
	// Filter is a stored Everynet filter id (filter=); the Data API does
	// not allow it together with types/devices/... filters.
	Filter string
	// DataRatePlan maps spreading factor and bandwidth to a DR index:
	// PlanEU868 (default), PlanUS915, PlanAU915 or PlanNone.
	DataRatePlan string
	// QueueIfLate sets queue_if_late in every downlink_response: a reply
	// that misses its RX window is sent in the device's next one.
	QueueIfLate bool
	// DownlinkClaim enables downlink_claim: when a modem downlink is still
	// untransmitted ClaimDelay after the uplink that produced it (no
	// downlink_request came, or the network sent something else), the
	// connector claims a downlink slot for the device once. Off by default.
	DownlinkClaim bool
	ClaimDelay    time.Duration // default 10 s

	DialTimeout  time.Duration // WebSocket handshake (default 10 s)
	WriteTimeout time.Duration // per message (default 5 s)
	// PingInterval is how often the connector pings; ReadTimeout is how
	// long it waits for any frame (message, ping or pong) before it drops
	// the connection. The network also sends a pong every 25 s.
	PingInterval time.Duration // default 20 s
	ReadTimeout  time.Duration // default 60 s; must exceed PingInterval
	// MinBackoff and MaxBackoff bound the jittered exponential reconnect
	// delay. A connection that lasted StableAfter resets it.
	MinBackoff  time.Duration // default 500 ms
	MaxBackoff  time.Duration // default 60 s
	StableAfter time.Duration // default 30 s
	// ReplayOverlap is subtracted from the time of the last received
	// message when asking for history (from_unixtime) on reconnect, so that
	// messages the network timestamped out of order are not missed; the
	// packet_hash de-duplication drops what was already processed.
	ReplayOverlap time.Duration // default 10 s
	// DedupSize bounds the remembered (type, packet_hash) pairs, in memory
	// and in a saved cursor. It must hold every message of ReplayOverlap
	// plus a reconnect.
	DedupSize int // default 16384
	// MaxLookBack bounds how far back a history request reaches
	// (from_unixtime is never older than now - MaxLookBack), after a long
	// outage or a restart from an old saved cursor. Messages older than
	// that are not replayed (a warning says so). The Data API keeps
	// uplinks and downlinks for 48 h, everything else for 1 h.
	MaxLookBack time.Duration // default 24 h
	// Cursor, when set, persists the replay position so that a restarted
	// connector first asks for history from where the previous one
	// stopped (see CursorStore). CursorSaveInterval throttles the saves;
	// the last one happens when Run returns.
	Cursor             CursorStore
	CursorSaveInterval time.Duration // default 1 s
	// StaleAfter: a downlink_request whose tx_time is older than this is
	// not answered (its RX window is gone, e.g. a replayed one).
	StaleAfter time.Duration // default 10 s
	// HandleTimeout bounds one pipeline call.
	HandleTimeout time.Duration // default 30 s
	// MaxQueued bounds the messages received but not yet processed; the
	// reader waits when it is reached.
	MaxQueued int // default 4096

	// Downlinks, when set, supplies application downlinks when no modem
	// downlink is pending.
	Downlinks DownlinkSource
	// OnStateChange, when set, is called with a Status snapshot each time
	// the connection state changes (e.g. to drive a health check). It runs
	// on the connection goroutine and must not block.
	OnStateChange func(Status)
	// Logger receives connection and per-message logs; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultTypes is the types= filter the connector asks for by default: the
// Data API defaults plus the service messages it logs.
func DefaultTypes() []string {
	return []string{typeUplink, typeDownlinkRequest, typeDownlink, typeJoinRequest, typeStatusResponse,
		typeError, typeWarning, typeInfo}
}

// DefaultConfig returns the defaults (URL and Token still to be set).
func DefaultConfig() Config {
	return Config{
		Types:              DefaultTypes(),
		DataRatePlan:       PlanEU868,
		ClaimDelay:         10 * time.Second,
		DialTimeout:        10 * time.Second,
		WriteTimeout:       5 * time.Second,
		PingInterval:       20 * time.Second,
		ReadTimeout:        60 * time.Second,
		MinBackoff:         500 * time.Millisecond,
		MaxBackoff:         60 * time.Second,
		StableAfter:        30 * time.Second,
		ReplayOverlap:      10 * time.Second,
		DedupSize:          16384,
		MaxLookBack:        24 * time.Hour,
		CursorSaveInterval: time.Second,
		StaleAfter:         10 * time.Second,
		HandleTimeout:      30 * time.Second,
		MaxQueued:          4096,
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("everynet: invalid configuration")

func configErr(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, option, fmt.Sprintf(format, args...))
}

// Validate reports the first invalid setting, naming its mgsd option.
func (c Config) Validate() error {
	if c.URL == "" {
		return configErr("everynet-url", "required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return configErr("everynet-url", "%v", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return configErr("everynet-url", "scheme %q: must be wss:// (or ws:// for a local test server)", u.Scheme)
	}
	if u.Host == "" {
		return configErr("everynet-url", "no host")
	}
	q := u.Query()
	if c.Token == "" && q.Get("access_token") == "" {
		return configErr("everynet-token", "required (or access_token in the URL)")
	}
	if c.Filter != "" {
		for _, k := range []string{"types", "gateways", "applications", "devices", "tags"} {
			if q.Has(k) {
				return configErr("everynet-url", "%s= cannot be combined with a stored filter", k)
			}
		}
	}
	for _, t := range c.Types {
		if t == "" || strings.ContainsAny(t, ", &=") {
			return configErr("everynet-types", "%q is not a message type", t)
		}
	}
	switch c.DataRatePlan {
	case PlanEU868, PlanUS915, PlanAU915, PlanNone:
	default:
		return configErr("everynet-dr-plan", "%q is not eu868, us915, au915 or none", c.DataRatePlan)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"claim-delay", c.ClaimDelay}, {"dial-timeout", c.DialTimeout}, {"write-timeout", c.WriteTimeout},
		{"ping-interval", c.PingInterval}, {"read-timeout", c.ReadTimeout}, {"min-backoff", c.MinBackoff},
		{"max-backoff", c.MaxBackoff}, {"stable-after", c.StableAfter}, {"stale-after", c.StaleAfter},
		{"handle-timeout", c.HandleTimeout}, {"max-look-back", c.MaxLookBack},
		{"cursor-save-interval", c.CursorSaveInterval}} {
		if d.v <= 0 {
			return configErr("everynet "+d.name, "must be positive, got %v", d.v)
		}
	}
	if c.ReplayOverlap < 0 {
		return configErr("everynet replay-overlap", "must not be negative, got %v", c.ReplayOverlap)
	}
	if c.MaxLookBack <= c.ReplayOverlap {
		return configErr("everynet max-look-back", "%v must exceed the replay overlap %v", c.MaxLookBack, c.ReplayOverlap)
	}
	if c.ReadTimeout <= c.PingInterval {
		return configErr("everynet read-timeout", "%v must exceed the ping interval %v", c.ReadTimeout, c.PingInterval)
	}
	if c.MaxBackoff < c.MinBackoff {
		return configErr("everynet max-backoff", "%v is below min-backoff %v", c.MaxBackoff, c.MinBackoff)
	}
	if c.DedupSize < 1 {
		return configErr("everynet dedup-size", "must be at least 1, got %d", c.DedupSize)
	}
	if c.MaxQueued < 1 {
		return configErr("everynet max-queued", "must be at least 1, got %d", c.MaxQueued)
	}
	return nil
}

// dialURL returns the connection URL: the configured one with the default
// path, access_token, radio=1, the type filter and, when from > 0,
// from_unixtime.
func (c *Config) dialURL(from float64) string {
	u, _ := url.Parse(c.URL) // checked by Validate
	if u.Path == "" || u.Path == "/" {
		u.Path = "/api/v1.0/data"
	}
	q := u.Query()
	if c.Token != "" {
		q.Set("access_token", c.Token)
	}
	q.Set("radio", "1")
	switch {
	case c.Filter != "":
		q.Set("filter", c.Filter)
	case q.Has("filter") || q.Has("types"):
	case len(c.Types) > 0:
		q.Set("types", strings.Join(c.Types, ","))
	}
	if from > 0 {
		q.Set("from_unixtime", strconv.FormatFloat(from, 'f', 6, 64))
	} else {
		q.Del("from_unixtime")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// redact hides the access token of a URL for logs and Status.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	q := u.Query()
	if q.Has("access_token") {
		q.Set("access_token", "REDACTED")
		u.RawQuery = q.Encode()
	}
	u.User = nil
	return u.String()
}
