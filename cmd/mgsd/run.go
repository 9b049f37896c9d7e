package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/connector/everynet"
	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/internal/metrics"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// run starts mgsd (gRPC, the LoRa Cloud-compatible HTTP API unless
// --http-addr is empty, the ops listener when --ops-addr is set) and
// blocks until ctx ends or a server fails, then shuts down in order:
// health NOT_SERVING, drain in-flight calls of every server, close the
// database. --print-config and --restore do their job and return.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onReady ready) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.PrintConfig {
		return cfg.printConfig(stdout)
	}
	log := newLogger(cfg, stderr)
	dbPath := filepath.Join(cfg.DataDir, "mgs.db")
	if cfg.Restore != "" {
		sum, err := boltstore.Restore(cfg.Restore, dbPath, cfg.Force)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		log.Info("database restored; start mgsd without --restore to serve it", "backup", cfg.Restore, "database", dbPath,
			"schema_version", sum.SchemaVersion, "devices", sum.Keys["devices"], "tokens", sum.Keys[auth.TableTokens])
		return nil
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	m := metrics.New()
	db, err := boltstore.Open(dbPath, &boltstore.Options{NoSync: cfg.NoSync, OnCommit: m.OnCommit})
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close database", "err", err)
		}
	}()
	if cfg.NoSync {
		log.Warn("fsync disabled (--unsafe-no-sync): a crash can lose acknowledged uplinks")
	}

	// GNSS orbit data (stored imports, rebuilt in memory) for the pipeline
	// and the GeolocationService.
	orbits, err := gnssdata.Open(ctx, db, gnssdata.Options{Logger: log.With("component", "gnss"), Retention: cfg.GNSSRetention})
	if err != nil {
		return err
	}
	// Wi-Fi access-point database (loaded into memory) and solver (wifi.go).
	wf, err := openWiFi(ctx, db, cfg, log)
	if err != nil {
		return err
	}
	pipe := uplink.New(db, uplink.Config{MaxLogs: cfg.MaxLogs, MaxFiles: cfg.MaxFiles, MaxStreamRecords: cfg.MaxStreamRecords,
		MaxPositions: cfg.MaxPositions, MaxPendingRequests: cfg.MaxPendingRequests, Logger: log.With("component", "uplink"),
		Observer: m, GNSS: meteredGNSS{orbits, m}, WiFi: meteredWiFi{wf.solver, m}})
	nb, err := openNBIoT(db, cfg, pipe, log) // NB-IoT/LwM2M, outbox, Horde API (nbiot.go)
	if err != nil {
		return err
	}
	if nb.coap != nil {
		if err := registerLwM2M(m, nb.coap); err != nil {
			return err
		}
	}

	// Tokens: static ones from the command line plus the stored ones. With
	// none at all, a server listening on loopback only accepts every
	// request; any other address needs a token.
	authn, err := auth.New(ctx, db, auth.Options{Static: cfg.Tokens, AllowOpen: cfg.loopbackOnly()})
	if err != nil {
		return err
	}
	if err := cfg.checkListen(authn.Count() > 0); err != nil {
		return err
	}
	lt, err := serverTLS(cfg, log)
	if err != nil {
		return err
	}
	var grpcOpts []grpc.ServerOption
	if lt.api != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(lt.api)))
	}
	burst := cfg.RateBurst
	if burst == 0 {
		burst = int(cfg.RateLimit + 0.999)
	}
	limiter := server.NewRateLimiter(cfg.RateLimit, burst)
	g := server.NewGRPC(pipe, server.Options{Auth: authn, Logger: log.With("component", "grpc"), AccessLog: cfg.AccessLog,
		Observe: m.ObserveGRPC, RateLimit: limiter, MaxRecvMsgSize: cfg.GRPCMaxRecvBytes,
		MaxConcurrentStreams: uint32(cfg.GRPCMaxStreams), Backup: db, BackupDir: cfg.DataDir, OnBackup: m.ObserveBackup,
		GNSS: orbits, Fleet: nb.fleet, Outbox: nb.outbox, Registrations: nb.registrations(), ServerOptions: grpcOpts})
	api, err := httpapi.New(httpapi.Options{Modem: g.Modem, Auth: authn, Logger: log.With("component", "http"),
		AccessLog: cfg.AccessLog, Observe: m.ObserveHTTP, RateLimit: limiter, MaxConcurrent: cfg.HTTPMaxConcurrent,
		Metrics: m.Handler(), MaxBodyBytes: cfg.HTTPMaxBodyBytes, Geolocation: g.Geolocation})
	if err != nil {
		return err
	}
	defer wf.start(pipe, g)() // stops learning after the servers drained, before the database closes

	var connList atomic.Pointer[[]*everynet.Connector]
	if lt.cert != nil {
		// For alerting before the certificate expires (renewals reload it).
		if err := m.GaugeFunc("tls_certificate_expiry_timestamp_seconds", "NotAfter of the TLS certificate in use, Unix seconds.",
			func() float64 { return float64(lt.cert.Leaf().NotAfter.Unix()) }); err != nil {
			return err
		}
	}
	for _, e := range []error{
		m.GaugeFunc("uplinks_in_flight", "Uplinks being processed by the pipeline.", func() float64 { return float64(pipe.InFlight()) }),
		m.GaugeFunc("watch_subscribers", "Open event subscriptions (WatchEvents streams).",
			func() float64 { return float64(pipe.Events().Subscribers()) }),
		m.GaugeFunc("api_tokens", "API tokens (static and stored).", func() float64 { return float64(authn.Count()) }),
		m.GaugeFunc("store_size_bytes", "Size of the database's data in bytes.", func() float64 {
			n, _ := db.Size()
			return float64(n)
		}),
		m.Connections(func() []metrics.Connection {
			if c := connList.Load(); c != nil {
				return connectionMetrics(*c)
			}
			return nil
		}),
	} {
		if e != nil {
			return e
		}
	}

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc-addr: %w", err)
	}
	httpHandler, err := nb.mount(api, wf.mount(api))
	if err != nil {
		lis.Close()
		return err
	}
	addrs := map[string]string{"grpc": lis.Addr().String()}
	// CoAP first: if its port is taken, nothing else has started serving.
	stopCoAP, err := nb.start(addrs)
	if err != nil {
		lis.Close()
		return err
	}
	defer stopCoAP() // after the servers drained, before the database closes
	var servers []*httpServer
	var serving atomic.Bool
	serving.Store(true)
	for _, h := range []struct {
		name, addr string
		handler    http.Handler
		tls        *tls.Config
	}{{"http", cfg.HTTPAddr, httpHandler, lt.api}, {"ops", cfg.OpsAddr, opsHandler(api, m, &serving), lt.ops}} {
		if h.addr == "" {
			continue
		}
		hl, err := net.Listen("tcp", h.addr)
		if err != nil {
			lis.Close()
			for _, s := range servers {
				s.lis.Close()
			}
			return fmt.Errorf("%s-addr: %w", h.name, err)
		}
		addrs[h.name] = hl.Addr().String()
		servers = append(servers, &httpServer{name: h.name, lis: hl, srv: &http.Server{
			Handler:           h.handler,
			TLSConfig:         h.tls,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      120 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.With("component", h.name).Handler(), slog.LevelWarn),
		}})
	}
	errc := make(chan error, 1+len(servers))
	go func() {
		if err := g.Server.Serve(lis); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	}()
	for _, s := range servers {
		go func() {
			serve := s.srv.Serve
			if s.srv.TLSConfig != nil {
				serve = func(l net.Listener) error { return s.srv.ServeTLS(l, "", "") }
			}
			if err := serve(s.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", s.name, err)
			}
		}()
	}
	waitEverynet, conns, err := startEverynet(ctx, cfg.Everynet, pipe, g.Health, log, db)
	if err != nil {
		return err
	}
	connList.Store(&conns)
	mode := "tokens"
	if authn.Open() {
		mode = "open"
		log.Warn("no API tokens: every request is accepted (loopback only); add one with 'mgsctl token add'")
	}
	log.Info("mgsd started", "grpc_addr", addrs["grpc"], "http_addr", addrs["http"], "ops_addr", addrs["ops"], "data", dbPath,
		"auth", mode, "tls", lt.mode, "tokens", authn.Count(), "rate_limit", limiter.String(), "everynet_connections", len(cfg.Everynet))
	if onReady != nil {
		onReady(addrs)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("shutting down")
	serving.Store(false)
	g.Health.Shutdown() // NOT_SERVING for load balancers
	// Every server drains its in-flight calls at the same time, within
	// --drain; the database closes (deferred) only after all have stopped.
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Drain)
	defer cancel()
	done := make(chan struct{})
	go func() { g.Server.GracefulStop(); close(done) }()
	for _, s := range servers {
		if err := s.srv.Shutdown(drainCtx); err != nil {
			log.Warn("drain timeout, closing remaining requests", "server", s.name, "drain", cfg.Drain)
			s.srv.Close()
		}
	}
	select {
	case <-done:
	case <-drainCtx.Done():
		log.Warn("drain timeout, closing remaining calls", "drain", cfg.Drain)
		g.Server.Stop()
		<-done
	}
	// Connectors stop reading when ctx ends; wait until what they received
	// has gone through the pipeline, before the database closes.
	waitEverynet()
	log.Info("stopped")
	return runErr
}

type httpServer struct {
	name string
	lis  net.Listener
	srv  *http.Server
}

// opsHandler serves the ops listener: /metrics (token with read, as on
// the API listener) and /healthz (no token: 200 while serving, 503 once
// shutdown began).
func opsHandler(api *httpapi.API, m *metrics.Metrics, serving *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", api.Protect("/metrics", auth.CapRead, m.Handler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !serving.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, o)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, o)
	}
	// Lines logged with a call's context carry its request id.
	return slog.New(server.LogHandler(h))
}
