package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/server/mls"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
	"github.com/openmgs/openmgs/wifidb"
)

// wifiService is the Wi-Fi positioning of mgsd: the access-point database
// (table wifi_aps, loaded into memory at start), its solver (used by the
// pipeline, GeolocationService, loraWifi and the MLS endpoints) and the
// optional learner.
type wifiService struct {
	db     *wifidb.DB
	solver *wifi.Solver
	st     store.Store
	log    *slog.Logger
	learn  time.Duration // 0: learning off
}

// openWiFi reads the wifi-* options and loads the access-point database.
func openWiFi(ctx context.Context, st store.Store, cfg *config, log *slog.Logger) (*wifiService, error) {
	w := &wifiService{st: st, log: log.With("component", "wifi")}
	v := cfg.settings.val
	switch s := strings.ToLower(strings.TrimSpace(v["wifi-learn"])); s {
	case "", "false", "off", "no", "0":
	case "true", "on", "yes", "1":
		w.learn = time.Minute
	default:
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > time.Hour {
			return nil, cfg.settings.errorf("wifi-learn", "%q is not off, on or a window such as 60s (at most 1h)", v["wifi-learn"])
		}
		w.learn = d
	}
	single, err := parseBool(v["wifi-single-ap"])
	if err != nil {
		return nil, cfg.settings.errorf("wifi-single-ap", "%v", err)
	}
	if w.db, err = wifidb.Open(ctx, st, &wifidb.Options{Logger: w.log}); err != nil {
		return nil, err
	}
	sc := wifi.DefaultConfig()
	sc.AllowSingleAP = single
	if w.solver, err = wifi.NewSolver(w.db, sc); err != nil {
		return nil, fmt.Errorf("wifi solver: %w", err)
	}
	return w, nil
}

// start serves the Wi-Fi RPCs from g and, when enabled, learns access
// points from the pipeline's events until the returned stop is called
// (after the servers drained, before the database closes).
func (w *wifiService) start(pipe *uplink.Pipeline, g *server.GRPC) (stop func()) {
	if g.Geolocation != nil {
		g.Geolocation.WiFi = server.NewWiFi(w.db, w.solver, w.log)
	}
	if w.learn == 0 {
		return func() {}
	}
	l := wifidb.NewLearner(w.db, w.st, wifidb.LearnOptions{Window: w.learn, Logger: w.log})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx, pipe.Events()) })
	w.log.Info("wifi learning on: scans and GNSS fixes of a device refine the access-point database", "window", w.learn)
	return func() {
		cancel()
		wg.Wait()
	}
}

// mount serves the Mozilla Location Service endpoints (/v1/geolocate,
// /v2/geosubmit) beside the API on the HTTP listener, behind the API's
// token check: both need the uplink capability (geosubmit feeds the
// database as learning from uplinks does).
func (w *wifiService) mount(api *httpapi.API) http.Handler {
	h, err := mls.New(mls.Options{Locator: w.solver, Confidence: w.solver.Config().Confidence, Submitter: w.db, Logger: w.log})
	if err != nil {
		panic(err) // only a nil Locator or a bad Confidence, both set here
	}
	return mls.Mount(api, h, func(path string, h http.Handler) http.Handler { return api.Protect(path, auth.CapUplink, h) })
}
