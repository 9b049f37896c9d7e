package everynet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// Handler processes one uplink of a device and returns its response once
// the resulting device state is committed. *uplink.Pipeline implements it.
type Handler interface {
	Handle(ctx context.Context, eui lora.EUI64, msg store.Uplink) (*uplink.Result, error)
}

// DownlinkSource supplies queued application downlinks. NextDownlink is
// asked, with a short deadline, when the network offers a downlink slot
// and no modem downlink is pending; it hands the downlink over (the
// connector keeps it until a downlink notification reports it sent).
type DownlinkSource interface {
	NextDownlink(ctx context.Context, eui lora.EUI64) (*store.Dnlink, bool)
}

// sourceTimeout bounds a DownlinkSource call: the answer must leave well
// inside the RX window.
const sourceTimeout = 250 * time.Millisecond

// State is the connection state.
type State string

// Connection states.
const (
	StateIdle       State = "idle"       // Run not called yet
	StateConnecting State = "connecting" // dialling
	StateConnected  State = "connected"  // receiving
	StateBackoff    State = "backoff"    // waiting to reconnect
	StateStopped    State = "stopped"    // Run returned
)

// Status is a snapshot of a connection for health checks and metrics.
type Status struct {
	Name      string
	URL       string // access token redacted
	State     State
	Since     time.Time // when State was entered
	LastError string    // of the last failed dial or dropped connection
	// Connects counts established connections (reconnects = Connects-1).
	Connects    uint64
	LastMessage time.Time
	// Cursor is meta.time of the newest message received (at start, the
	// saved cursor); a reconnect replays history from shortly before it.
	Cursor float64
	// SavedCursor is the Time of the last checkpoint loaded from or saved
	// to the Cursor store (0: none).
	SavedCursor       float64
	Uplinks           uint64 // processed by the pipeline (joins included)
	DownlinkResponses uint64
	Claims            uint64
	Rejected          uint64 // malformed or unusable messages
	Replayed          uint64 // messages dropped as already received
}

// Healthy reports whether the connection is up.
func (s Status) Healthy() bool { return s.State == StateConnected }

// ErrNotConnected is returned by Claim while there is no connection.
var ErrNotConnected = errors.New("everynet: not connected")

// Connector is one Data API connection: it receives messages, hands
// uplinks to the Handler and answers downlink requests. Create it with New
// and run it with Run.
type Connector struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	now     func() time.Time
	dialer  websocket.Dialer
	seen    *dedup
	track   *tracker      // the checkpoint for the Cursor store
	slots   chan struct{} // one per queued message (MaxQueued)
	started atomic.Bool
	base    context.Context // Run's context without its cancellation
	url     string          // redacted, for logs
	secret  string          // the access token, scrubbed from error texts
	wg      sync.WaitGroup  // device workers

	mu          sync.Mutex // guards the fields below
	st          Status
	sess        *session
	lastFrom    float64 // from_unixtime of the last connection
	lastStable  bool    // the last connection lasted StableAfter
	noHistory   bool    // the network refused the last history request
	clipped     float64 // the last from_unixtime raised to MaxLookBack (logged once)
	saveFailing bool
	devices     map[lora.EUI64]*device
	closed      bool
}

// device is the per-device state: the ordered work queue and the
// downlinks waiting for a slot.
type device struct {
	queue   []func()
	running bool
	// modem is the dnlink of the newest UPLINK_RESPONSE not yet reported
	// transmitted; app is an application downlink taken from the
	// DownlinkSource and not yet reported transmitted.
	modem, app *pendingDownlink
	network    string // meta.network, for downlink_claim
	maxSize    int    // last max_size of a downlink_request (0: unknown)
}

type pendingDownlink struct {
	dn         store.Dnlink
	source     string // "modem" or "application"
	uplinkHash string // the uplink that produced it (modem)
	since      time.Time
	sent       []string // packet_hash of the requests it answered, newest last
	claimed    bool
	timer      *time.Timer // auto claim
}

const maxSentHashes = 4

// New returns a connector; cfg is validated.
func New(cfg Config, h Handler) (*Connector, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil Handler", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Name == "" {
		cfg.Name = hostOf(cfg.URL)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	c := &Connector{
		cfg:     cfg,
		h:       h,
		log:     lg.With("connection", cfg.Name),
		now:     cfg.Now,
		dialer:  websocket.Dialer{HandshakeTimeout: cfg.DialTimeout, Proxy: http.ProxyFromEnvironment},
		seen:    newDedup(cfg.DedupSize),
		slots:   make(chan struct{}, cfg.MaxQueued),
		devices: make(map[lora.EUI64]*device),
		base:    context.Background(),
	}
	if cfg.Cursor != nil {
		c.track = newTracker(cfg.ReplayOverlap, cfg.DedupSize)
	}
	c.url = redact(cfg.dialURL(0))
	c.secret = cfg.Token
	if u, err := url.Parse(cfg.URL); err == nil && c.secret == "" {
		c.secret = u.Query().Get("access_token")
	}
	c.st = Status{Name: cfg.Name, URL: c.url, State: StateIdle, Since: c.now()}
	return c, nil
}

// Status returns a snapshot of the connection state and counters.
func (c *Connector) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func (c *Connector) setState(s State, lastErr error) {
	c.mu.Lock()
	changed := c.st.State != s
	if changed {
		c.st.State, c.st.Since = s, c.now()
	}
	if lastErr != nil {
		c.st.LastError = lastErr.Error()
	}
	snap := c.st
	c.mu.Unlock()
	if changed && c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(snap)
	}
}

// Run connects and keeps the connection up until ctx ends, then waits for
// the messages already received to be processed. It returns nil after ctx
// ends; it may be called once.
func (c *Connector) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("everynet: Run called twice")
	}
	c.base = context.WithoutCancel(ctx)
	c.loadCursor(ctx)
	defer c.shutdown(c.startSaving())
	attempt := 0
	for ctx.Err() == nil {
		c.setState(StateConnecting, nil)
		from := c.replayFrom()
		conn, resp, err := c.dialer.DialContext(ctx, c.cfg.dialURL(from), http.Header{"User-Agent": {"openmgs"}})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
				if from > 0 && historyRefused(resp.StatusCode) {
					c.mu.Lock()
					c.noHistory = true
					c.mu.Unlock()
					c.log.Warn("the network refused the history request: the next connection asks for none; "+
						"messages since from_unixtime that were not received are missed", "from_unixtime", from,
						"status", resp.Status)
				}
			}
			err = c.scrub(err)
			attempt++
			d := c.backoff(attempt)
			c.setState(StateBackoff, err)
			c.log.Warn("connect failed", "err", err, "retry_in", d)
			if !sleep(ctx, d) {
				break
			}
			continue
		}
		start := time.Now()
		err = c.session(ctx, conn, from)
		lived := time.Since(start)
		stable := lived >= c.cfg.StableAfter
		c.mu.Lock()
		c.lastStable = stable
		c.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
		if stable {
			attempt = 0
		}
		attempt++
		d := c.backoff(attempt)
		err = c.scrub(err)
		c.setState(StateBackoff, err)
		c.log.Warn("disconnected", "err", err, "connected_for", lived.Round(time.Millisecond), "retry_in", d)
		if !sleep(ctx, d) {
			break
		}
	}
	return nil
}

// scrub hides the access token in an error's text.
func (c *Connector) scrub(err error) error {
	if err == nil || c.secret == "" || !strings.Contains(err.Error(), c.secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), c.secret, "REDACTED"))
}

// shutdown stops the claim timers, waits for the device workers, stops
// the periodic saves and saves the final checkpoint.
func (c *Connector) shutdown(stopSaving func()) {
	c.mu.Lock()
	c.closed = true
	for _, d := range c.devices {
		for _, p := range []*pendingDownlink{d.modem, d.app} {
			if p != nil && p.timer != nil {
				p.timer.Stop()
			}
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
	stopSaving()
	c.saveCursor() // every message received is finished now
	c.setState(StateStopped, nil)
	c.log.Info("stopped")
}

// backoff returns the jittered delay before reconnect attempt n (1, 2, ...):
// an exponential step from MinBackoff, capped at MaxBackoff, of which a
// random half is taken away so that many clients do not reconnect in step.
func (c *Connector) backoff(n int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// replayFrom is the from_unixtime of the next connection: shortly before
// the newest message received (or the saved cursor), or, if the last
// connection replayed history and dropped before StableAfter (so the
// replay may be incomplete), where that replay started; never older than
// MaxLookBack. After the network refused a history request, the next
// connection asks for none (0).
func (c *Connector) replayFrom() float64 {
	c.mu.Lock()
	if c.noHistory {
		c.noHistory = false
		c.lastFrom = 0
		c.mu.Unlock()
		return 0
	}
	if c.st.Cursor == 0 {
		c.mu.Unlock()
		return 0
	}
	from := c.st.Cursor - c.cfg.ReplayOverlap.Seconds()
	if !c.lastStable && c.lastFrom > 0 && c.lastFrom < from {
		from = c.lastFrom
	}
	floor := lora.UnixSeconds(c.now()) - c.cfg.MaxLookBack.Seconds()
	clip := from < floor
	if clip {
		from = floor
	}
	c.lastFrom = from
	warn := clip && from-c.clipped > c.cfg.MaxLookBack.Seconds()/2 // once per outage, not per retry
	if warn {
		c.clipped = from
	}
	cursor := c.st.Cursor
	c.mu.Unlock()
	if warn {
		c.log.Warn("history older than the maximum look-back is not replayed: messages in between are missed",
			"cursor", cursor, "from_unixtime", from, "max_look_back", c.cfg.MaxLookBack)
	}
	return from
}

// historyRefused reports whether a handshake status may mean the network
// will not serve the history asked for (e.g. from_unixtime beyond its
// retention), rather than an authentication, routing or load problem.
func historyRefused(code int) bool {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestTimeout,
		http.StatusTooManyRequests:
		return false
	}
	return code >= 400 && code < 500
}

// session is one WebSocket connection. Only its writer goroutine writes
// data frames.
type session struct {
	conn *websocket.Conn
	out  chan []byte
	done chan struct{} // closed when the connection is finished
}

var errSessionClosed = errors.New("everynet: connection closed")

// send queues a message for the writer.
func (s *session) send(b []byte) error {
	select {
	case <-s.done:
		return errSessionClosed
	default:
	}
	select {
	case s.out <- b:
		return nil
	case <-s.done:
		return errSessionClosed
	}
}

// session runs one connection until it fails or ctx ends.
func (c *Connector) session(ctx context.Context, conn *websocket.Conn, from float64) error {
	s := &session{conn: conn, out: make(chan []byte, 64), done: make(chan struct{})}
	extend := func() { conn.SetReadDeadline(time.Now().Add(c.cfg.ReadTimeout)) }
	conn.SetReadLimit(1 << 20)
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.cfg.WriteTimeout))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	stop := context.AfterFunc(ctx, func() {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		conn.Close()
	})
	defer stop()

	c.mu.Lock()
	c.sess = s
	c.st.Connects++
	c.mu.Unlock()
	c.setState(StateConnected, nil)
	if from > 0 {
		c.log.Info("connected", "url", c.url, "from_unixtime", from)
	} else {
		c.log.Info("connected", "url", c.url)
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(s)
	}()
	var err error
	for {
		var data []byte
		_, data, err = conn.ReadMessage()
		if err != nil {
			break
		}
		extend()
		c.receive(ctx, s, data, c.now())
	}
	close(s.done)
	conn.Close()
	<-writerDone
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
	}
	c.mu.Unlock()
	return err
}

// writeLoop is the only writer of data frames and pings.
func (c *Connector) writeLoop(s *session) {
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-s.done:
			return
		case b := <-s.out:
			s.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				c.log.Warn("write failed, dropping the connection", "err", err)
				s.conn.Close()
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				c.log.Warn("ping failed, dropping the connection", "err", err)
				s.conn.Close()
				return
			}
		}
	}
}

func (c *Connector) currentSession() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// Claim sends a downlink_claim for a device (everynet.md §5): the network
// answers with a downlink_request, which the connector answers with the
// pending modem or application downlink. Use it after queueing a downlink
// for a class C device, or a class A device that uplinks rarely.
func (c *Connector) Claim(ctx context.Context, eui lora.EUI64) error {
	c.mu.Lock()
	network := ""
	if d := c.devices[eui]; d != nil {
		network = d.network
	}
	c.mu.Unlock()
	return c.claim(ctx, eui, network)
}

func (c *Connector) claim(ctx context.Context, eui lora.EUI64, network string) error {
	s := c.currentSession()
	if s == nil {
		return ErrNotConnected
	}
	b, err := downlinkClaim(eui, network)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.send(b); err != nil {
		return ErrNotConnected
	}
	c.mu.Lock()
	c.st.Claims++
	c.mu.Unlock()
	c.log.Info("downlink_claim sent", "dev_eui", eui, "network", network)
	return nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
