package lwm2m

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/openmgs/openmgs/fleet"
)

// Keys looks up DTLS pre-shared keys by PSK identity; *fleet.Fleet
// satisfies it.
type Keys interface {
	PSK(ctx context.Context, identity string) (fleet.Credential, error)
}

// Config of the CoAP/LwM2M server. DefaultConfig gives the documented
// defaults; New fills zero fields with them.
type Config struct {
	// Addr is the UDP listen address (default 127.0.0.1:5683).
	Addr string
	// DisableUDP serves DTLS only (Addr is then ignored).
	DisableUDP bool
	// DTLSAddr is the CoAP-over-DTLS (coaps) listen address, usually
	// port 5684; "" disables DTLS. Devices authenticate with a pre-shared
	// key looked up through Keys by the PSK identity of the handshake.
	DTLSAddr string
	Keys     Keys
	// RequireDTLS refuses every registration over plain CoAP. Endpoints
	// that have a pre-shared key are refused over plain CoAP regardless.
	RequireDTLS bool
	// HandshakeTimeout bounds a DTLS handshake (default 30 s: NB-IoT
	// round trips take seconds).
	HandshakeTimeout time.Duration
	// SessionIdleTimeout drops a silent DTLS session (default 1 h); the
	// device must then handshake again before the server can reach it.
	SessionIdleTimeout time.Duration
	// MaxPayload bounds an object 19 payload in either direction, port
	// byte included (default 512, the Quectel limit).
	MaxPayload int
	// DefaultLifetime applies when a registration has no lt (default 24 h,
	// the LwM2M default); lifetimes are clamped to MinLifetime..MaxLifetime
	// (defaults 1 s and 30 days).
	DefaultLifetime, MinLifetime, MaxLifetime time.Duration
	// AwakeWindow is how long after any message a device is considered
	// reachable (default 20 s). Queued messages are sent at once to an
	// awake device; a queue-mode (b=UQ) device that is not awake gets them
	// right after its next uplink or registration update.
	AwakeWindow time.Duration
	// AckTimeout and MaxRetransmit are the CoAP transmission parameters of
	// server requests (defaults 2 s and 4, RFC 7252).
	AckTimeout    time.Duration
	MaxRetransmit uint32
	// RequestTimeout bounds one server request (observe, write) including
	// retransmissions (default 45 s).
	RequestTimeout time.Duration
	// DeliveryTries is how many times a queued message is written per
	// delivery round, with RetryBackoff doubling between tries (defaults 3
	// and 2 s).
	DeliveryTries int
	RetryBackoff  time.Duration
	// MaxAttempts is how many failed delivery rounds (while the device was
	// awake) fail a queued message for good (default 5).
	MaxAttempts int
	// ObserveDelay is the pause between the registration response and the
	// observe of /19/0/0, so that the 2.01 reaches the device first
	// (default 100 ms).
	ObserveDelay time.Duration
	// OpaquePort is the port reported for the uplinks of opaque devices
	// (default 1; it must not be one of the devices' protocol ports).
	OpaquePort uint8
	// IdleTimeout drops the CoAP connection state of a silent peer
	// (default 5 min); registrations are not affected.
	IdleTimeout time.Duration
	// ExpiryInterval is how often expired registrations are removed
	// (default 1 s).
	ExpiryInterval time.Duration
	// Logger receives registration events (Info) and rejected input
	// (Warn); nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:5683",
		MaxPayload:      512,
		DefaultLifetime: 24 * time.Hour,
		MinLifetime:     time.Second,
		MaxLifetime:     30 * 24 * time.Hour,
		AwakeWindow:     20 * time.Second,
		AckTimeout:      2 * time.Second,
		MaxRetransmit:   4,
		RequestTimeout:  45 * time.Second,
		DeliveryTries:   3,
		RetryBackoff:    2 * time.Second,
		MaxAttempts:     5,
		ObserveDelay:    100 * time.Millisecond,
		OpaquePort:      1,
		IdleTimeout:     5 * time.Minute,
		ExpiryInterval:  time.Second,

		HandshakeTimeout:   30 * time.Second,
		SessionIdleTimeout: time.Hour,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	for _, f := range []struct{ v, d *time.Duration }{{&c.DefaultLifetime, &d.DefaultLifetime}, {&c.MinLifetime, &d.MinLifetime},
		{&c.MaxLifetime, &d.MaxLifetime}, {&c.AwakeWindow, &d.AwakeWindow}, {&c.AckTimeout, &d.AckTimeout},
		{&c.RequestTimeout, &d.RequestTimeout}, {&c.RetryBackoff, &d.RetryBackoff}, {&c.ObserveDelay, &d.ObserveDelay},
		{&c.IdleTimeout, &d.IdleTimeout}, {&c.ExpiryInterval, &d.ExpiryInterval}, {&c.HandshakeTimeout, &d.HandshakeTimeout},
		{&c.SessionIdleTimeout, &d.SessionIdleTimeout}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	for _, f := range []struct{ v, d *int }{{&c.MaxPayload, &d.MaxPayload}, {&c.DeliveryTries, &d.DeliveryTries}, {&c.MaxAttempts, &d.MaxAttempts}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if c.MaxRetransmit == 0 {
		c.MaxRetransmit = d.MaxRetransmit
	}
	if c.OpaquePort == 0 {
		c.OpaquePort = d.OpaquePort
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first invalid setting, naming it. Zero values are
// valid (they take the defaults).
func (c Config) Validate() error {
	if c.Addr != "" {
		if _, err := net.ResolveUDPAddr("udp", c.Addr); err != nil {
			return fmt.Errorf("coap-addr: %q: %v", c.Addr, err)
		}
	}
	if c.DTLSAddr != "" {
		if _, err := net.ResolveUDPAddr("udp", c.DTLSAddr); err != nil {
			return fmt.Errorf("coaps-addr: %q: %v", c.DTLSAddr, err)
		}
		if c.Keys == nil {
			return fmt.Errorf("coaps-addr: DTLS needs a pre-shared key lookup (Config.Keys)")
		}
	}
	if c.DisableUDP && c.DTLSAddr == "" {
		return fmt.Errorf("coap-addr: plain CoAP is off and no coaps-addr is set: nothing to serve")
	}
	if c.MaxPayload < 0 || c.MaxPayload > 1024 {
		return fmt.Errorf("coap max-payload %d is outside 1..1024", c.MaxPayload)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"default lifetime", c.DefaultLifetime}, {"min lifetime", c.MinLifetime}, {"max lifetime", c.MaxLifetime},
		{"awake window", c.AwakeWindow}, {"ack timeout", c.AckTimeout}, {"request timeout", c.RequestTimeout},
		{"retry backoff", c.RetryBackoff}, {"observe delay", c.ObserveDelay}, {"idle timeout", c.IdleTimeout},
		{"expiry interval", c.ExpiryInterval}, {"handshake timeout", c.HandshakeTimeout},
		{"session idle timeout", c.SessionIdleTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("coap %s must not be negative, got %v", d.name, d.v)
		}
	}
	if c.MinLifetime > 0 && c.MaxLifetime > 0 && c.MinLifetime > c.MaxLifetime {
		return fmt.Errorf("coap min lifetime %v is more than max lifetime %v", c.MinLifetime, c.MaxLifetime)
	}
	if c.DeliveryTries < 0 || c.MaxAttempts < 0 {
		return fmt.Errorf("coap delivery tries and max attempts must not be negative")
	}
	if c.OpaquePort > 223 {
		return fmt.Errorf("coap opaque port %d is outside 1..223", c.OpaquePort)
	}
	return nil
}
