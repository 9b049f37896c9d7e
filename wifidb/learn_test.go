package wifidb_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
	"github.com/openmgs/openmgs/wifidb"
)

var learnDev = lora.MustParseEUI64("00-16-c0-01-f0-00-40-6e")

// learnSetup is a pipeline solving against an empty database, and a learner.
func learnSetup(t *testing.T) (*uplink.Pipeline, *wifidb.DB, *wifidb.Learner, store.Store) {
	t.Helper()
	db, st, _ := newDB(t)
	s, err := wifi.NewSolver(db, wifi.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := uplink.New(st, uplink.Config{WiFi: s})
	return p, db, wifidb.NewLearner(db, st, wifidb.LearnOptions{Window: time.Minute}), st
}

// Three APs around the GNSS fix at (52.37, 4.89).
var learnScan = []wifi.Observation{
	{MAC: [6]byte{0x00, 0x11, 0x22, 0x00, 0x00, 0x01}, RSSI: -55, HasRSSI: true},
	{MAC: [6]byte{0x00, 0x11, 0x22, 0x00, 0x00, 0x02}, RSSI: -65, HasRSSI: true},
	{MAC: [6]byte{0x00, 0x11, 0x22, 0x00, 0x00, 0x03}, RSSI: -75, HasRSSI: true},
}

func sendScan(t *testing.T, p *uplink.Pipeline, ts float64) *uplink.Result {
	t.Helper()
	payload, err := wifi.AppendScan(nil, wifi.Scan{Format: wifi.FormatRSSIMAC, APs: learnScan})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Handle(context.Background(), learnDev, uplink.Message{Type: store.MsgWiFi, Payload: payload, Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// addFix appends a GNSS fix to the device's history as the pipeline's
// record stage does, and returns the event the pipeline would publish.
func addFix(t *testing.T, st store.Store, ts, acc float64) uplink.Event {
	t.Helper()
	pos := store.Position{Algorithm: uplink.AlgorithmGNSS, LLH: [3]float64{52.37, 4.89, 12}, Accuracy: acc, Time: ts}
	_, err := store.NewDevices(st).Update(context.Background(), learnDev, func(d *store.Device) (*store.Device, error) {
		if d == nil {
			d = &store.Device{Created: ts}
		}
		d.Positions = append(d.Positions, pos)
		return d, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uplink.Event{EUI: learnDev, Uplink: uplink.Message{Type: store.MsgGNSS, Payload: []byte{1}, Timestamp: ts},
		Result: &uplink.Result{Operation: uplink.OpGNSS, Position: &pos}, Time: ts}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Fix first, then the scan: the learner follows the pipeline's events.
func TestLearnFixThenScan(t *testing.T) {
	p, db, l, st := learnSetup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, p.Events()); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the learner's subscription", func() bool { return p.Events().Subscribers() == 1 })

	addFix(t, st, 1000, 8)
	r := sendScan(t, p, 1030)
	if r.Position != nil {
		t.Fatalf("position from an empty database: %+v", r.Position)
	}
	waitFor(t, "learned APs", func() bool { return db.Len() == 3 })
	for _, o := range learnScan {
		rec, err := db.Get(context.Background(), o.MAC)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Lat != 52.37 || rec.Lon != 4.89 || rec.Observations != 1 || rec.Source != wifidb.SourceLearned || rec.FirstSeen != 1030 {
			t.Fatalf("learned %+v", rec)
		}
	}
	// The next scan of the same place is solved from the learned APs, and
	// refines them (the same fix is 50 s away, inside the window).
	r = sendScan(t, p, 1050)
	if r.Position == nil || math.Abs(r.Position.LLH[0]-52.37) > 0.001 || math.Abs(r.Position.LLH[1]-4.89) > 0.001 {
		t.Fatalf("position %+v, logs %+v", r.Position, r.Logs)
	}
	waitFor(t, "refined APs", func() bool {
		rec, _ := db.Get(context.Background(), learnScan[0].MAC)
		return rec.Observations == 2
	})
}

// Scan first, then the fix: the fix's event pairs with the kept scan.
func TestLearnScanThenFix(t *testing.T) {
	p, db, l, st := learnSetup(t)
	ctx := context.Background()
	sendScan(t, p, 2000)
	ev := addFix(t, st, 2040, 12)
	res, learned, err := l.HandleEvent(ctx, ev)
	if err != nil || !learned || res.Created != 3 || db.Len() != 3 {
		t.Fatalf("learned %v %+v %v, %d APs", learned, res, err, db.Len())
	}
	rec, _ := db.Get(ctx, learnScan[2].MAC)
	// −75 dBm ≈ 46 m; fix 12 m, 40 s at 1.5 m/s: σ² = (12² + 60² + 46.4²)/2.
	want := math.Sqrt((144 + 3600 + math.Pow(10, 35.0/15)) / 2)
	if math.Abs(rec.Accuracy-want) > 0.01 || rec.FirstSeen != 2040 {
		t.Fatalf("record %+v, want accuracy %.2f", rec, want)
	}
	// The same pair is learned once.
	if _, learned, _ := l.HandleEvent(ctx, ev); learned {
		t.Fatal("pair learned twice")
	}
	// Not the closest fix to the scan: ignored (2040 is closer).
	if _, learned, _ := l.HandleEvent(ctx, addFix(t, st, 2050, 5)); learned {
		t.Fatal("learned from a fix farther from the scan")
	}
}

func TestLearnWindowAndAccuracy(t *testing.T) {
	p, db, l, st := learnSetup(t)
	ctx := context.Background()
	sendScan(t, p, 3000)
	if _, learned, _ := l.HandleEvent(ctx, addFix(t, st, 3061, 5)); learned {
		t.Fatal("learned from a fix 61 s after the scan (window 60 s)")
	}
	p2, db2, l2, st2 := learnSetup(t)
	sendScan(t, p2, 3000)
	if _, learned, _ := l2.HandleEvent(ctx, addFix(t, st2, 3010, 150)); learned {
		t.Fatal("learned from a 150 m fix")
	}
	// A scan event that a newer scan superseded is left to the newer one.
	ev := uplink.Event{EUI: learnDev, Uplink: uplink.Message{Type: store.MsgWiFi, Timestamp: 2999},
		Result: &uplink.Result{Operation: uplink.OpWiFi}}
	addFix(t, st, 2999, 5)
	if _, learned, _ := l.HandleEvent(ctx, ev); learned {
		t.Fatal("learned from a superseded scan event")
	}
	// Unrelated events and unknown devices are ignored.
	for _, e := range []uplink.Event{{EUI: learnDev, Result: &uplink.Result{Operation: uplink.OpModem}},
		{EUI: lora.EUI64{9}, Result: &uplink.Result{Operation: uplink.OpWiFi}}, {EUI: learnDev}} {
		if _, learned, err := l.HandleEvent(ctx, e); learned || err != nil {
			t.Fatalf("event %+v: %v %v", e, learned, err)
		}
	}
	if db.Len() != 0 || db2.Len() != 0 {
		t.Fatalf("%d and %d APs learned", db.Len(), db2.Len())
	}
}
