package lwm2m

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/pkg/runner/periodic"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"

	coapNet "github.com/plgd-dev/go-coap/v3/net"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// Handler processes uplinks; *uplink.Pipeline satisfies it.
type Handler interface {
	Handle(ctx context.Context, eui lora.EUI64, msg store.Uplink) (*uplink.Result, error)
}

// Resolver maps endpoint names to devices; *fleet.Fleet satisfies it.
type Resolver interface {
	Resolve(ctx context.Context, endpoint string) (fleet.Identity, error)
}

// Server is the CoAP/LwM2M server.
type Server struct {
	cfg Config
	log *slog.Logger
	h   Handler
	id  Resolver
	ob  *outbox.Outbox
	tbl store.Table

	mu       sync.Mutex
	byID     map[string]*reg
	byEUI    map[lora.EUI64]*reg
	byToken  map[string]*reg
	inflight map[string]int // tokens of our own requests awaiting a response

	wmu     sync.Mutex
	workers map[lora.EUI64]*worker
	wg      sync.WaitGroup

	srv     *udpServer.Server // nil with DisableUDP
	runCtx  context.Context
	ready   chan struct{}
	addr    net.Addr // plain CoAP
	daddr   net.Addr // DTLS
	running atomic.Bool

	stats struct {
		registrations, updates, deregistrations, expirations atomic.Uint64
		notifications, rejected, duplicates                  atomic.Uint64
		delivered, deliveryErrors, failed                    atomic.Uint64
		handshakeFailures                                    atomic.Uint64
	}
}

// New returns a server. st holds the per-device LwM2M state (table
// "lwm2m"); h receives the uplinks; id resolves endpoint names; ob is the
// downstream queue it delivers from.
func New(cfg Config, st store.Store, h Handler, id Resolver, ob *outbox.Outbox) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || h == nil || id == nil || ob == nil {
		return nil, errors.New("lwm2m: New needs a store, a handler, a resolver and an outbox")
	}
	cfg.fill()
	return &Server{cfg: cfg, log: cfg.Logger, h: h, id: id, ob: ob, tbl: st.Table(TableName),
		byID: map[string]*reg{}, byEUI: map[lora.EUI64]*reg{}, byToken: map[string]*reg{}, inflight: map[string]int{},
		workers: map[lora.EUI64]*worker{}, ready: make(chan struct{})}, nil
}

// Ready is closed once Run listens (Addr is then set).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound UDP address once Ready is closed (nil with
// DisableUDP).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// DTLSAddr is the bound coaps address once Ready is closed (nil without
// DTLSAddr).
func (s *Server) DTLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.daddr
}

// Run listens on Config.Addr (plain CoAP) and Config.DTLSAddr (coaps) and
// serves until ctx ends; then it stops accepting, lets in-flight uplinks
// and deliveries end (their CoAP requests are cancelled) and returns. The
// store must stay open until Run returns.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("lwm2m: Run called twice")
	}
	if err := s.load(ctx); err != nil {
		return fmt.Errorf("lwm2m: restore registrations: %w", err)
	}
	// Bind both before serving either, so that a taken port fails cleanly.
	var ul *coapNet.UDPConn
	if !s.cfg.DisableUDP {
		l, err := coapNet.NewListenUDP("udp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("coap-addr: %w", err)
		}
		ul = l
	}
	var dl *dtlsListener
	if s.cfg.DTLSAddr != "" {
		l, err := s.listenDTLS()
		if err != nil {
			if ul != nil {
				_ = ul.Close()
			}
			return err
		}
		dl = l
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	tick := min(max(s.cfg.AckTimeout/4, 5*time.Millisecond), time.Second)
	errc := make(chan error, 2)
	var stops []func()
	s.mu.Lock()
	s.runCtx = runCtx
	if ul != nil {
		srv := s.newUDPServer(runCtx, tick)
		s.srv, s.addr = srv, ul.LocalAddr()
		go func() { errc <- wrapServeErr("coap server", srv.Serve(ul)) }()
		stops = append(stops, srv.Stop)
	}
	if dl != nil {
		dsrv := s.newDTLSServer(runCtx, tick)
		s.daddr = dl.Addr()
		go func() { errc <- wrapServeErr("coaps server", dsrv.Serve(dl)) }()
		// Closing the sessions unblocks their reads, so Serve can return.
		stops = append(stops, func() { dsrv.Stop(); dl.closeSessions() })
	}
	s.mu.Unlock()
	stopWatch := s.ob.Watch(s.onEnqueue)
	expiryDone := make(chan struct{})
	go func() { defer close(expiryDone); s.expiryLoop(runCtx) }()
	if ul != nil {
		s.log.Info("coap listening", "coap_addr", ul.LocalAddr().String())
	}
	if dl != nil {
		s.log.Info("coaps (DTLS-PSK) listening", "coaps_addr", dl.Addr().String(), "require_dtls", s.cfg.RequireDTLS)
	}
	close(s.ready)

	// Each server sends exactly one result; the first to end (or ctx)
	// stops them all.
	var serveErr error
	pending := len(stops)
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		pending--
	}
	stopWatch()
	cancel()
	for _, stop := range stops {
		stop()
	}
	for ; pending > 0; pending-- {
		if err := <-errc; serveErr == nil {
			serveErr = err
		}
	}
	<-expiryDone
	s.wg.Wait()
	return serveErr
}

// wrapServeErr names the server that failed; a closed listener is a
// normal stop.
func wrapServeErr(name string, err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

// newUDPServer is the plain CoAP server.
func (s *Server) newUDPServer(ctx context.Context, tick time.Duration) *udpServer.Server {
	return udp.NewServer(
		options.WithContext(ctx),
		options.WithHandlerFunc(s.serve),
		options.WithRequestMonitor(udpClient.RequestMonitorFunc(s.monitor)),
		options.WithTransmission(1, s.cfg.AckTimeout, s.cfg.MaxRetransmit),
		options.WithPeriodicRunner(periodic.New(ctx.Done(), tick)),
		options.WithInactivityMonitor(s.cfg.IdleTimeout, func(cc *udpClient.Conn) { _ = cc.Close() }),
		options.WithBlockwise(false, blockwise.SZX1024, time.Second),
		options.WithMaxMessageSize(uint32(s.cfg.MaxPayload+1024)),
		options.WithErrors(func(err error) { s.log.Debug("coap", "err", err) }),
	)
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// context returns the run context (Background before Run).
func (s *Server) context() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil {
		return context.Background()
	}
	return s.runCtx
}

func (s *Server) expiryLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		var gone []*reg
		s.mu.Lock()
		for _, r := range s.byEUI {
			if !now.Before(r.expires()) {
				s.remove(r)
				gone = append(gone, r)
			}
		}
		s.mu.Unlock()
		for _, r := range gone {
			s.stats.expirations.Add(1)
			s.log.Info("registration expired", "endpoint", r.Endpoint, "dev_eui", r.EUI, "reg_id", r.ID, "lifetime", r.Lifetime)
			id := r.ID
			if _, err := s.update(ctx, r.EUI, func(rec *record) {
				if rec.Reg != nil && rec.Reg.ID == id {
					rec.Reg = nil
				}
			}); err != nil && ctx.Err() == nil {
				s.log.Error("store expiry", "dev_eui", r.EUI, "err", err)
			}
		}
	}
}

// worker runs the tasks of one device in order: notifications, observes
// and deliveries never overlap for a device.
type worker struct {
	tasks   []func(context.Context)
	running bool
	// deliverQueued collapses repeated delivery requests.
	deliverQueued bool
}

// submit queues a task for a device; it never blocks.
func (s *Server) submit(eui lora.EUI64, task func(context.Context)) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.submitLocked(eui, task)
}

func (s *Server) submitLocked(eui lora.EUI64, task func(context.Context)) {
	w := s.workers[eui]
	if w == nil {
		w = &worker{}
		s.workers[eui] = w
	}
	w.tasks = append(w.tasks, task)
	if !w.running {
		w.running = true
		s.wg.Add(1)
		go s.runWorker(eui, w)
	}
}

// submitDeliver queues a delivery round unless one is already waiting.
func (s *Server) submitDeliver(eui lora.EUI64, trig trigger) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if w := s.workers[eui]; w != nil && w.deliverQueued {
		return
	}
	s.submitLocked(eui, func(ctx context.Context) {
		s.wmu.Lock()
		if w := s.workers[eui]; w != nil {
			w.deliverQueued = false
		}
		s.wmu.Unlock()
		s.deliver(ctx, eui, trig)
	})
	s.workers[eui].deliverQueued = true
}

func (s *Server) runWorker(eui lora.EUI64, w *worker) {
	defer s.wg.Done()
	ctx := s.context()
	for {
		s.wmu.Lock()
		if len(w.tasks) == 0 {
			w.running = false
			delete(s.workers, eui)
			s.wmu.Unlock()
			return
		}
		task := w.tasks[0]
		w.tasks = slices.Delete(w.tasks, 0, 1)
		s.wmu.Unlock()
		if ctx.Err() != nil {
			continue // shutting down: drop the rest
		}
		task(ctx)
	}
}

// onEnqueue is the outbox watcher: a message for a registered device is
// delivered at once when the device is reachable.
func (s *Server) onEnqueue(eui lora.EUI64) {
	s.mu.Lock()
	_, ok := s.byEUI[eui]
	s.mu.Unlock()
	if ok {
		s.submitDeliver(eui, trigEnqueue)
	}
}

// Status is a summary for health and metrics endpoints.
type Status struct {
	Addr          string
	DTLSAddr      string
	Registrations int
	Observed      int
	// DTLS counts the registrations made over DTLS.
	DTLS int
	// Counters since start.
	Registers, Updates, Deregisters, Expirations uint64
	Notifications, Rejected, Duplicates          uint64
	Delivered, DeliveryErrors, Failed            uint64
	HandshakeFailures                            uint64
}

// Status returns the current summary.
func (s *Server) Status() Status {
	s.mu.Lock()
	st := Status{Registrations: len(s.byEUI)}
	if s.addr != nil {
		st.Addr = s.addr.String()
	}
	if s.daddr != nil {
		st.DTLSAddr = s.daddr.String()
	}
	for _, r := range s.byEUI {
		if r.Observed {
			st.Observed++
		}
		if r.DTLS {
			st.DTLS++
		}
	}
	s.mu.Unlock()
	st.Registers, st.Updates = s.stats.registrations.Load(), s.stats.updates.Load()
	st.Deregisters, st.Expirations = s.stats.deregistrations.Load(), s.stats.expirations.Load()
	st.Notifications, st.Rejected, st.Duplicates = s.stats.notifications.Load(), s.stats.rejected.Load(), s.stats.duplicates.Load()
	st.Delivered, st.DeliveryErrors, st.Failed = s.stats.delivered.Load(), s.stats.deliveryErrors.Load(), s.stats.failed.Load()
	st.HandshakeFailures = s.stats.handshakeFailures.Load()
	return st
}

// Registrations lists the live registrations in EUI order.
func (s *Server) Registrations() []Registration {
	s.mu.Lock()
	out := make([]Registration, 0, len(s.byEUI))
	for _, r := range s.byEUI {
		out = append(out, r.public())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Registration) int { return cmp.Compare(a.EUI.Uint64(), b.EUI.Uint64()) })
	return out
}

// Registration returns the live registration of a device.
func (s *Server) Registration(eui lora.EUI64) (Registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byEUI[eui]
	if !ok {
		return Registration{}, false
	}
	return r.public(), true
}

// FrameCounter returns the frame counter the next notification of a device
// will carry (its count of notifications so far).
func (s *Server) FrameCounter(ctx context.Context, eui lora.EUI64) (uint32, error) {
	b, _, err := s.tbl.Get(ctx, eui[:])
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return 0, fmt.Errorf("lwm2m: record of %s: %w", eui, err)
	}
	return rec.FCnt, nil
}
