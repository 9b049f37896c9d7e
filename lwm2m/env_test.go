package lwm2m_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a running server over a real pipeline and bbolt store.
type env struct {
	t     testing.TB
	db    *boltstore.DB
	pipe  *uplink.Pipeline
	fleet *fleet.Fleet
	ob    *outbox.Outbox
	srv   *lwm2m.Server
	addr  string
	daddr string // coaps, with envOpts.dtls
	logs  *logBuffer
	stop  func()
}

type envOpts struct {
	cfg    func(*lwm2m.Config)
	policy fleet.Policy
	db     *boltstore.DB
	// dtls adds a coaps listener with the fleet's pre-shared keys.
	dtls bool
}

func testConfig() lwm2m.Config {
	return lwm2m.Config{
		Addr:           "127.0.0.1:0",
		AwakeWindow:    400 * time.Millisecond,
		AckTimeout:     100 * time.Millisecond,
		MaxRetransmit:  2,
		RequestTimeout: 600 * time.Millisecond,
		DeliveryTries:  2,
		RetryBackoff:   20 * time.Millisecond,
		MaxAttempts:    2,
		ObserveDelay:   5 * time.Millisecond,
		ExpiryInterval: 20 * time.Millisecond,
	}
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	db := o.db
	if db == nil {
		var err error
		db, err = boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{t: t, db: db, logs: logs}
	e.pipe = uplink.New(db, uplink.Config{})
	e.fleet = fleet.New(db, fleet.Config{Unprovisioned: o.policy})
	e.ob = outbox.New(db, outbox.Config{})
	cfg := testConfig()
	cfg.Logger = log
	if o.dtls {
		cfg.DTLSAddr, cfg.Keys, cfg.HandshakeTimeout = "127.0.0.1:0", e.fleet, 2*time.Second
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	srv, err := lwm2m.New(cfg, db, e.pipe, e.fleet, e.ob)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	if a := srv.Addr(); a != nil {
		e.addr = a.String()
	}
	if a := srv.DTLSAddr(); a != nil {
		e.daddr = a.String()
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(e.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) device(eui lora.EUI64) *store.Device {
	d, err := e.pipe.Device(context.Background(), eui)
	if err != nil {
		return nil
	}
	return d
}

func (e *env) uplinks(eui lora.EUI64) uint64 {
	if d := e.device(eui); d != nil {
		return d.UplinkCount
	}
	return 0
}

func (e *env) messages(eui lora.EUI64) []outbox.Message {
	e.t.Helper()
	msgs, err := e.ob.List(context.Background(), eui)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func (e *env) enqueue(eui lora.EUI64, port int, payload string) outbox.Message {
	e.t.Helper()
	m, err := e.ob.Enqueue(context.Background(), eui, port, []byte(payload))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) logged(s string) bool { return strings.Contains(e.logs.String(), s) }

func mustEUI(t testing.TB, imei string) lora.EUI64 {
	t.Helper()
	e, err := fleet.IMEIToEUI(imei)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
