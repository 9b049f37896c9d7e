package everynet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

const testToken = "secret-token"

// fakeNS is an in-process Everynet Data API: it checks the token, keeps
// every emitted message as history, replays history on from_unixtime, and
// lets a test drop the connection.
type fakeNS struct {
	t     testing.TB
	srv   *httptest.Server
	conns chan *fakeConn

	mu          sync.Mutex
	history     []storedMsg
	live        *fakeConn
	handshakes  int
	refuse      bool // answer handshakes with 401
	mute        bool // ignore pings: no pong ever comes back
	deliveredUp map[string]int
	// retention, when set, is how long history is kept: older messages
	// are not replayed. refuseBefore, when set, answers a from_unixtime
	// older than it with HTTP 400.
	retention    time.Duration
	refuseBefore float64
}

type storedMsg struct {
	time float64
	data map[string]any
}

type fakeConn struct {
	ws    *websocket.Conn
	query url.Values
	recv  chan []byte
	pongs chan string
	done  chan struct{}
	wmu   sync.Mutex
}

func newFakeNS(t testing.TB) *fakeNS {
	ns := &fakeNS{t: t, conns: make(chan *fakeConn, 16), deliveredUp: map[string]int{}}
	up := websocket.Upgrader{}
	ns.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns.mu.Lock()
		ns.handshakes++
		refuse, mute, refuseBefore := ns.refuse, ns.mute, ns.refuseBefore
		ns.mu.Unlock()
		if r.URL.Path != "/api/v1.0/data" {
			http.NotFound(w, r)
			return
		}
		if refuse || r.URL.Query().Get("access_token") != testToken {
			http.Error(w, "invalid access token", http.StatusUnauthorized)
			return
		}
		if f := r.URL.Query().Get("from_unixtime"); f != "" && refuseBefore > 0 {
			if from, err := strconv.ParseFloat(f, 64); err == nil && from < refuseBefore {
				http.Error(w, "from_unixtime is beyond the history kept", http.StatusBadRequest)
				return
			}
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		fc := &fakeConn{ws: ws, query: r.URL.Query(), recv: make(chan []byte, 256), pongs: make(chan string, 16),
			done: make(chan struct{})}
		ws.SetPongHandler(func(s string) error {
			select {
			case fc.pongs <- s:
			default:
			}
			return nil
		})
		// Replay and go live under the lock, so nothing emitted meanwhile
		// is missed.
		ns.mu.Lock()
		if f := fc.query.Get("from_unixtime"); f != "" {
			from, err := strconv.ParseFloat(f, 64)
			if err != nil {
				ns.mu.Unlock()
				ws.Close()
				return
			}
			if ns.retention > 0 {
				from = max(from, now()-ns.retention.Seconds())
			}
			for _, m := range ns.history {
				if m.time >= from {
					ns.writeLocked(fc, withHistory(m.data))
				}
			}
		}
		ns.live = fc
		ns.mu.Unlock()
		ns.conns <- fc
		if mute {
			ws.SetPingHandler(func(string) error { return nil }) // never pong
		}
		defer close(fc.done)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				ns.mu.Lock()
				if ns.live == fc {
					ns.live = nil
				}
				ns.mu.Unlock()
				return
			}
			fc.recv <- data
		}
	}))
	t.Cleanup(func() {
		ns.mu.Lock()
		if ns.live != nil {
			ns.live.ws.Close()
		}
		ns.mu.Unlock()
		ns.srv.CloseClientConnections()
		ns.srv.Close()
	})
	return ns
}

func (ns *fakeNS) url() string { return "ws" + strings.TrimPrefix(ns.srv.URL, "http") }

func withHistory(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	meta := map[string]any{}
	for k, v := range m["meta"].(map[string]any) {
		meta[k] = v
	}
	meta["history"] = true
	out["meta"] = meta
	return out
}

func (ns *fakeNS) writeLocked(fc *fakeConn, m map[string]any) {
	b, err := json.Marshal(m)
	if err != nil {
		ns.t.Errorf("fake NS: marshal: %v", err)
		return
	}
	if err := fc.write(b); err == nil && m["type"] == typeUplink {
		ns.deliveredUp[m["meta"].(map[string]any)["packet_hash"].(string)]++
	}
}

// emit records a message in the history and sends it on the live
// connection, if any.
func (ns *fakeNS) emit(m map[string]any) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	tm, _ := m["meta"].(map[string]any)["time"].(float64)
	ns.history = append(ns.history, storedMsg{time: tm, data: m})
	if ns.live != nil {
		ns.writeLocked(ns.live, m)
	}
}

// drop cuts the live connection abruptly (no close frame).
func (ns *fakeNS) drop() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.live != nil {
		ns.live.ws.NetConn().Close()
		ns.live = nil
	}
}

func (ns *fakeNS) next(t testing.TB) *fakeConn {
	t.Helper()
	select {
	case fc := <-ns.conns:
		return fc
	case <-time.After(5 * time.Second):
		t.Fatal("no connection from the connector")
		return nil
	}
}

func (fc *fakeConn) write(b []byte) error {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	fc.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
	return fc.ws.WriteMessage(websocket.TextMessage, b)
}

// send writes a message that is not kept as history.
func (fc *fakeConn) send(t testing.TB, m any) time.Time {
	t.Helper()
	var b []byte
	switch v := m.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now()
	if err := fc.write(b); err != nil {
		t.Fatalf("fake NS write: %v", err)
	}
	return at
}

// expect returns the next message from the connector.
func (fc *fakeConn) expect(t testing.TB, within time.Duration) map[string]any {
	t.Helper()
	select {
	case b := <-fc.recv:
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("connector sent invalid JSON %q: %v", b, err)
		}
		return m
	case <-time.After(within):
		t.Fatalf("no message from the connector within %v", within)
		return nil
	}
}

// --- message builders (shapes from everynet.md and the Data API docs) ---

func meta(dev, hash string, tm float64) map[string]any {
	return map[string]any{"network": "75697b95", "packet_hash": hash, "application": "70b3d54b17db0106",
		"device_addr": "36c365b4", "time": tm, "device": dev, "packet_id": "p-" + hash, "gateway": "7c95bd79864622a4"}
}

func uplinkMsg(dev, hash string, tm float64, fcnt, port int, payload []byte) map[string]any {
	return map[string]any{"type": typeUplink, "meta": meta(dev, hash, tm), "params": map[string]any{
		"rx_time": tm - 0.007, "port": port, "counter_up": fcnt, "duplicate": false,
		"payload": base64.StdEncoding.EncodeToString(payload), "encrypted_payload": "aiN3/x3Z7wz7NMPq+qoWf/17pq2J3Cx/p1kjvarfLEE=",
		"radio": map[string]any{"freq": 868.1, "datarate": 0, "time": tm - 0.007,
			"modulation": map[string]any{"bandwidth": 125000, "type": 0, "spreading": 12, "coderate": "4/7"},
			"hardware":   map[string]any{"status": 1, "chain": 0, "tmst": 514586002, "snr": 5.0, "rssi": -100.0, "channel": 0}},
	}}
}

func downlinkRequestMsg(dev, hash string, tm float64, counterDown, maxSize int) map[string]any {
	return map[string]any{"type": typeDownlinkRequest, "meta": meta(dev, hash, tm), "params": map[string]any{
		"counter_down": counterDown, "max_size": maxSize, "tx_time": tm + 1}}
}

func downlinkMsg(dev, hash string, tm float64, counterDown, port int, payload []byte) map[string]any {
	p := map[string]any{"counter_down": counterDown, "port": port, "duplicate": false,
		"radio": map[string]any{"freq": 868.1, "datr": "SF12BW125", "time": tm + 0.5,
			"modulation": map[string]any{"bandwidth": 125000, "type": "LORA", "coderate": "4/5", "spreading": 12, "inverted": true},
			"hardware":   map[string]any{"status": 1, "chain": 0, "power": 14.0, "tmst": 515586002, "channel": 0}}}
	if payload != nil {
		p["payload"] = base64.StdEncoding.EncodeToString(payload)
	}
	return map[string]any{"type": typeDownlink, "meta": meta(dev, hash, tm), "params": p}
}

func now() float64 { return lora.UnixSeconds(time.Now()) }

// --- fake handler ---

type handlerCall struct {
	EUI lora.EUI64
	Msg store.Uplink
}

// fakeHandler records calls; fn, when set, computes the result.
type fakeHandler struct {
	mu    sync.Mutex
	calls []handlerCall
	fn    func(eui lora.EUI64, msg store.Uplink) (*uplink.Result, error)
	ch    chan handlerCall
}

func newFakeHandler() *fakeHandler { return &fakeHandler{ch: make(chan handlerCall, 1024)} }

func (h *fakeHandler) Handle(ctx context.Context, eui lora.EUI64, msg store.Uplink) (*uplink.Result, error) {
	h.mu.Lock()
	h.calls = append(h.calls, handlerCall{eui, msg})
	fn := h.fn
	h.mu.Unlock()
	var res *uplink.Result
	var err error
	if fn != nil {
		res, err = fn(eui, msg)
	} else {
		res = &uplink.Result{}
	}
	h.ch <- handlerCall{eui, msg}
	return res, err
}

func (h *fakeHandler) wait(t testing.TB) handlerCall {
	t.Helper()
	select {
	case c := <-h.ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
		return handlerCall{}
	}
}

func (h *fakeHandler) snapshot() []handlerCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]handlerCall(nil), h.calls...)
}

// --- log capture ---

type logRec struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

type logSink struct {
	mu     sync.Mutex
	recs   []logRec
	notify chan struct{}
	t      testing.TB
}

type captureHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func newLogSink(t testing.TB) *logSink { return &logSink{notify: make(chan struct{}), t: t} }

func (s *logSink) logger() *slog.Logger { return slog.New(&captureHandler{sink: s}) }

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.Resolve().String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	s := h.sink
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{sink: h.sink, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// wait returns the first record matching pred, waiting for it.
func (s *logSink) wait(t testing.TB, what string, pred func(logRec) bool) logRec {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		for _, r := range s.recs {
			if pred(r) {
				s.mu.Unlock()
				return r
			}
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no log record: %s\n%s", what, s.dump())
		}
	}
}

func (s *logSink) find(pred func(logRec) bool) []logRec {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logRec
	for _, r := range s.recs {
		if pred(r) {
			out = append(out, r)
		}
	}
	return out
}

func (s *logSink) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.recs {
		fmt.Fprintf(&b, "  %s %q %v\n", r.Level, r.Msg, r.Attrs)
	}
	return b.String()
}

func msgIs(msg string, kv ...string) func(logRec) bool {
	return func(r logRec) bool {
		if r.Msg != msg {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if r.Attrs[kv[i]] != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// --- connector under test ---

func testConfig(ns *fakeNS, logs *logSink) Config {
	c := DefaultConfig()
	c.URL = ns.url()
	c.Token = testToken
	c.Name = "test"
	c.DialTimeout = 2 * time.Second
	c.WriteTimeout = time.Second
	c.PingInterval = 100 * time.Millisecond
	c.ReadTimeout = 2 * time.Second
	c.MinBackoff = 5 * time.Millisecond
	c.MaxBackoff = 40 * time.Millisecond
	c.StableAfter = 5 * time.Second
	c.ReplayOverlap = 2 * time.Second
	c.ClaimDelay = 50 * time.Millisecond
	c.HandleTimeout = 5 * time.Second
	c.Logger = logs.logger()
	return c
}

// start runs a connector until the test ends; stop ends it early and
// waits for Run to return.
func start(t testing.TB, cfg Config, h Handler) (c *Connector, stop func()) {
	t.Helper()
	c, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}
