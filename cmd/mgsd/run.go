package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// run starts mgsd and blocks until ctx ends, then shuts down in order:
// health NOT_SERVING, drain in-flight calls, close the database.
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

	var tokens *server.Tokens
	if len(cfg.Tokens) > 0 {
		tokens = server.NewTokens(cfg.Tokens)
	}
	g := server.NewGRPC(pipe, server.Options{Tokens: tokens, Logger: log.With("component", "grpc")})

	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc-addr: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Server.Serve(lis) }()
	log.Info("mgsd started", "grpc_addr", lis.Addr().String(), "data", dbPath, "auth", tokens != nil)
	if onReady != nil {
		onReady(map[string]string{"grpc": lis.Addr().String()})
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("grpc server: %w", err)
	}
	log.Info("shutting down")
	g.Health.Shutdown() // NOT_SERVING for load balancers
	done := make(chan struct{})
	go func() { g.Server.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.Drain):
		log.Warn("drain timeout, closing remaining calls", "drain", cfg.Drain)
		g.Server.Stop()
		<-done
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		log.Warn("grpc server", "err", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
