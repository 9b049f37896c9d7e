package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// run starts mgsd (gRPC and, unless --http-addr is empty, the LoRa
// Cloud-compatible HTTP API) and blocks until ctx ends or a server fails,
// then shuts down in order: health NOT_SERVING, drain in-flight calls of
// both servers, close the database.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, onReady ready) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "mgs.db")
	db, err := boltstore.Open(dbPath, &boltstore.Options{NoSync: cfg.NoSync})
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

	pipe := uplink.New(db, uplink.Config{MaxLogs: cfg.MaxLogs, MaxFiles: cfg.MaxFiles, MaxStreamRecords: cfg.MaxStreamRecords,
		MaxPositions: cfg.MaxPositions, MaxPendingRequests: cfg.MaxPendingRequests, Logger: log.With("component", "uplink")})

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
	g := server.NewGRPC(pipe, server.Options{Auth: authn, Logger: log.With("component", "grpc")})
	api, err := httpapi.New(httpapi.Options{Modem: g.Modem, Auth: authn, Logger: log.With("component", "http")})
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc-addr: %w", err)
	}
	addrs := map[string]string{"grpc": lis.Addr().String()}
	var hs *http.Server
	var hlis net.Listener
	if cfg.HTTPAddr != "" {
		if hlis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			lis.Close()
			return fmt.Errorf("http-addr: %w", err)
		}
		addrs["http"] = hlis.Addr().String()
		hs = &http.Server{
			Handler:           api,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      120 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
		}
	}
	errc := make(chan error, 2)
	go func() {
		if err := g.Server.Serve(lis); err != nil {
			errc <- fmt.Errorf("grpc server: %w", err)
		}
	}()
	if hs != nil {
		go func() {
			if err := hs.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http server: %w", err)
			}
		}()
	}
	waitEverynet, err := startEverynet(ctx, cfg.Everynet, pipe, g.Health, log)
	if err != nil {
		return err
	}
	mode := "tokens"
	if authn.Open() {
		mode = "open"
		log.Warn("no API tokens: every request is accepted (loopback only); add one with 'mgsctl token add'")
	}
	log.Info("mgsd started", "grpc_addr", addrs["grpc"], "http_addr", addrs["http"], "data", dbPath, "auth", mode,
		"tokens", authn.Count(), "everynet_connections", len(cfg.Everynet))
	if onReady != nil {
		onReady(addrs)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("shutting down")
	g.Health.Shutdown() // NOT_SERVING for load balancers
	// Both servers drain in-flight calls at the same time, within --drain;
	// the database closes (deferred) only after both have stopped.
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Drain)
	defer cancel()
	done := make(chan struct{})
	go func() { g.Server.GracefulStop(); close(done) }()
	if hs != nil {
		if err := hs.Shutdown(drainCtx); err != nil {
			log.Warn("http drain timeout, closing remaining requests", "drain", cfg.Drain)
			hs.Close()
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

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
