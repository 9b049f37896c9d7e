package wifidb

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// LearnOptions tune a Learner; zero fields take the defaults.
type LearnOptions struct {
	// Window is the largest time between a Wi-Fi scan and a GNSS fix of
	// the same device for the fix to locate the scan's APs (default 60 s).
	Window time.Duration
	// MaxFixAccuracy (m): fixes reporting a larger accuracy are not used
	// (default 100, the SWSD004 GNSS threshold). A fix without an
	// accuracy estimate (0) counts as Options.DefaultAccuracy.
	MaxFixAccuracy float64
	// Speed (m/s) the device may have moved between scan and fix; it
	// widens the sighting's position uncertainty by Speed·Δt (default 1.5).
	Speed float64
	// Buffer is the event subscription's buffer (default 1024).
	Buffer int
	// Logger receives one Debug line per learned scan and a Warning when
	// events were missed; nil discards.
	Logger *slog.Logger
}

// Learner adds and refines access points from the service's own data: a
// device's Wi-Fi scan and a GNSS fix of the same device close in time
// (LearnOptions.Window) locate the scan's APs (Observe with SourceLearned).
//
// It follows the pipeline's events, so it never slows uplinks down and
// only sees committed state. On an event carrying a Wi-Fi scan or a GNSS
// fix it reads the device: the last scan (Device.Sessions["wifi_last"],
// written by the pipeline's wifi stage) is paired with the GNSS fix of the
// position history closest to it in time, whichever of the two arrived
// first. A pair is learned once: a scan event uses only its own scan, a
// fix event only a fix that is the closest one to the last scan, and the
// last pair learned per device is remembered.
type Learner struct {
	db      *DB
	devices store.Devices
	o       LearnOptions

	mu   sync.Mutex
	last map[lora.EUI64]pair
}

type pair struct{ scan, fix float64 }

// maxRemembered bounds the per-device memory of learned pairs.
const maxRemembered = 100000

// NewLearner returns a learner writing to db and reading devices from s.
func NewLearner(db *DB, s store.Store, o LearnOptions) *Learner {
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if !(o.MaxFixAccuracy > 0) {
		o.MaxFixAccuracy = 100
	}
	if !(o.Speed >= 0) || o.Speed == 0 {
		o.Speed = 1.5
	}
	if o.Buffer <= 0 {
		o.Buffer = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Learner{db: db, devices: store.NewDevices(s), o: o, last: map[lora.EUI64]pair{}}
}

// Run learns from b's events until ctx ends. A subscription that falls
// behind is renewed (the pairs of the missed events are not learned).
func (l *Learner) Run(ctx context.Context, b *uplink.Broker) {
	for ctx.Err() == nil {
		sub := b.Subscribe(nil, l.o.Buffer)
		l.consume(ctx, sub)
		sub.Close()
		if err := sub.Err(); err != nil {
			l.o.Logger.WarnContext(ctx, "wifi learning fell behind the uplinks; some scans were not learned", "err", err)
		}
	}
}

func (l *Learner) consume(ctx context.Context, sub *uplink.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if _, _, err := l.HandleEvent(ctx, ev); err != nil && ctx.Err() == nil {
				l.o.Logger.WarnContext(ctx, "wifi learning failed", "dev_eui", ev.EUI, "err", err)
			}
		}
	}
}

func isGNSS(p *store.Position) bool {
	return p != nil && (p.Algorithm == uplink.AlgorithmGNSS || p.Algorithm == uplink.AlgorithmGNSSNG)
}

// HandleEvent learns from one committed uplink, if it completes a scan
// and fix pair; learned reports whether it did.
func (l *Learner) HandleEvent(ctx context.Context, ev uplink.Event) (res ObserveResult, learned bool, err error) {
	if ev.Result == nil {
		return res, false, nil
	}
	isScan := ev.Result.Operation == uplink.OpWiFi
	fix := ev.Result.Position
	if !isGNSS(fix) {
		fix = nil
	}
	if !isScan && fix == nil {
		return res, false, nil
	}
	dev, err := l.devices.Get(ctx, ev.EUI)
	if errors.Is(err, store.ErrNotFound) {
		return res, false, nil
	}
	if err != nil {
		return res, false, err
	}
	raw, ok := dev.Sessions[uplink.SessionWiFiLast]
	if !ok {
		return res, false, nil
	}
	scan, err := uplink.DecodeWiFiScan(raw)
	if err != nil || len(scan.APs) == 0 {
		return res, false, err
	}
	if isScan && scan.Time != ev.Uplink.Timestamp {
		return res, false, nil // a newer scan was committed; its own event pairs it
	}
	window := l.o.Window.Seconds()
	var best *store.Position
	bestDT := math.Inf(1)
	for i := range dev.Positions {
		p := &dev.Positions[i]
		if dt := math.Abs(p.Time - scan.Time); isGNSS(p) && dt <= window && dt < bestDT {
			best, bestDT = p, dt
		}
	}
	if best == nil {
		return res, false, nil
	}
	if !isScan && (best.Time != fix.Time || best.LLH != fix.LLH) {
		return res, false, nil // another fix is closer to the scan
	}
	if !(best.Accuracy <= l.o.MaxFixAccuracy) {
		return res, false, nil
	}
	key := pair{scan: scan.Time, fix: best.Time}
	l.mu.Lock()
	if l.last[ev.EUI] == key {
		l.mu.Unlock()
		return res, false, nil
	}
	if len(l.last) >= maxRemembered {
		clear(l.last)
	}
	l.last[ev.EUI] = key
	l.mu.Unlock()

	acc := best.Accuracy
	if acc == 0 {
		acc = l.db.o.DefaultAccuracy
	}
	acc = math.Min(math.Hypot(acc, l.o.Speed*bestDT), MaxAccuracy)
	sightings := make([]Sighting, len(scan.APs))
	for i, o := range scan.APs {
		sightings[i] = Sighting{MAC: o.MAC, RSSI: o.RSSI, HasRSSI: o.HasRSSI, Lat: best.LLH[0], Lon: best.LLH[1],
			PosAccuracy: acc, Time: int64(math.Max(scan.Time, best.Time))}
	}
	res, err = l.db.Observe(ctx, SourceLearned, sightings)
	if err != nil {
		return res, false, err
	}
	l.o.Logger.DebugContext(ctx, "wifi access points learned", "dev_eui", ev.EUI, "scan_time", scan.Time, "fix_time", best.Time,
		"result", res.String())
	return res, true, nil
}
