// Package storetest is the conformance suite every store backend passes:
// not-found, CRUD, revisions, conflicts, Update retries, Range order,
// cancelled contexts, use after Close and the device codec round trip.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
)

// Run runs the suite. newStore must return a fresh, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Table", func(t *testing.T) { testTable(t, newStore(t)) })
	t.Run("Range", func(t *testing.T) { testRange(t, newStore(t)) })
	t.Run("Write", func(t *testing.T) { testWrite(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("Devices", func(t *testing.T) { testDevices(t, newStore(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, newStore(t)) })
	t.Run("Context", func(t *testing.T) { testContext(t, newStore(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, newStore(t)) })
}

func closeStore(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func testTable(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx := context.Background()
	tb := s.Table("t")
	if _, _, err := tb.Get(ctx, []byte("k")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v, want ErrNotFound", err)
	}
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), 5, []byte("v")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CAS missing key with rev 5: %v, want ErrConflict", err)
	}
	r1, err := tb.CompareAndSwap(ctx, []byte("k"), 0, []byte("v1"))
	if err != nil || r1 == 0 {
		t.Fatalf("create: rev %d, %v", r1, err)
	}
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), 0, []byte("again")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create existing: %v, want ErrConflict", err)
	}
	v, rev, err := tb.Get(ctx, []byte("k"))
	if err != nil || rev != r1 || string(v) != "v1" {
		t.Fatalf("Get = %q, %d, %v; want v1, %d", v, rev, err, r1)
	}
	v[0] = 'X' // returned slices belong to the caller
	r2, err := tb.CompareAndSwap(ctx, []byte("k"), r1, []byte("v2"))
	if err != nil || r2 == r1 || r2 == 0 {
		t.Fatalf("update: rev %d (old %d), %v", r2, r1, err)
	}
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), r1, []byte("stale")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale CAS: %v, want ErrConflict", err)
	}
	if v, _, _ := tb.Get(ctx, []byte("k")); string(v) != "v2" {
		t.Fatalf("value after stale CAS = %q", v)
	}
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), r2, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := tb.Get(ctx, []byte("k")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get deleted: %v", err)
	}
	// A re-created key never reuses an old revision (no ABA).
	r3, err := tb.CompareAndSwap(ctx, []byte("k"), 0, []byte("v3"))
	if err != nil || r3 == r1 || r3 == r2 {
		t.Fatalf("re-create: rev %d (old %d, %d), %v", r3, r1, r2, err)
	}
	// Tables are independent.
	if _, _, err := s.Table("other").Get(ctx, []byte("k")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other table: %v", err)
	}
}

func testRange(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx := context.Background()
	tb := s.Table("r")
	var empty int
	if err := tb.Range(ctx, nil, func(k, v []byte, rev uint64) error { empty++; return nil }); err != nil || empty != 0 {
		t.Fatalf("Range on empty table: %d rows, %v", empty, err)
	}
	for _, k := range []string{"c", "a", "e", "b", "d"} {
		if _, err := tb.CompareAndSwap(ctx, []byte(k), 0, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := tb.Range(ctx, []byte("b"), func(k, v []byte, rev uint64) error {
		if string(v) != "v"+string(k) || rev == 0 {
			return fmt.Errorf("row %q = %q rev %d", k, v, rev)
		}
		got = append(got, string(k))
		if string(k) == "d" {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b", "c", "d"}, got); diff != "" {
		t.Fatalf("Range order (-want +got):\n%s", diff)
	}
	boom := errors.New("boom")
	if err := tb.Range(ctx, nil, func(k, v []byte, rev uint64) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Range error: %v", err)
	}
}

func testWrite(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx := context.Background()
	tb := s.Table("w")
	var ops []store.Op
	for i := range 100 {
		ops = append(ops, store.Op{Key: []byte{byte(i)}, Value: []byte{byte(i), 1}})
	}
	if err := tb.Write(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if err := tb.Write(ctx, []store.Op{{Key: []byte{5}}, {Key: []byte{6}, Value: []byte("six")}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = tb.Range(ctx, nil, func(k, v []byte, rev uint64) error { n++; return nil })
	if n != 99 {
		t.Fatalf("%d rows after writes, want 99", n)
	}
	if v, _, err := tb.Get(ctx, []byte{6}); err != nil || string(v) != "six" {
		t.Fatalf("Get 6 = %q, %v", v, err)
	}
}

// testConcurrent has many writers increment one counter with CAS retries:
// no increment may be lost.
func testConcurrent(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx := context.Background()
	tb := s.Table("c")
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					v, rev, err := tb.Get(ctx, []byte("n"))
					if errors.Is(err, store.ErrNotFound) {
						v, rev, err = []byte{0, 0}, 0, nil
					}
					if err != nil {
						errc <- err
						return
					}
					n := int(v[0])<<8 | int(v[1])
					n++
					_, err = tb.CompareAndSwap(ctx, []byte("n"), rev, []byte{byte(n >> 8), byte(n)})
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	v, _, _ := tb.Get(ctx, []byte("n"))
	if n := int(v[0])<<8 | int(v[1]); n != workers*each {
		t.Fatalf("counter = %d, want %d", n, workers*each)
	}
}

// SampleDevice returns a device with every record kind filled in.
func SampleDevice(eui lora.EUI64) *store.Device {
	d := &store.Device{EUI: eui, Ports: &store.Ports{DM: 200, GNSS: 198, GNSSNG: 192, WiFi: 197, Stream: 10},
		NextRequestID: 3, Upcount: 2, Updelay: 20, UplinkCount: 7, Created: 1700000000.5,
		Sessions: map[string][]byte{"upload": {1, 2, 3}}}
	d.Info.Status.Put(1, modemproto.Status{Joined: true, Mute: true})
	d.Info.Charge.Put(2, 1234)
	d.Info.Voltage.Put(3, 3.3)
	d.Info.Temp.Put(4, -25)
	d.Info.Signal.Put(5, modemproto.Signal{RSSI: -50, SNR: 7})
	d.Info.JoinEUI.Put(6, lora.MustParseEUI64("00-16-c0-01-ff-fe-00-01"))
	d.Info.Interval.Put(7, 0x81)
	d.Info.RstCount.Put(8, 3)
	d.Info.Session.Put(9, 5)
	d.Info.CrashLog.Put(10, []byte("crash"))
	d.Info.ALCSync.Put(11, store.ALCSync{Token: 2, Time: 23})
	d.Info.StreamPar.Put(12, modemproto.StreamPar{Port: 10, Encrypted: true})
	d.Info.AppStatus.Put(13, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	d.Requests = []store.PendingRequest{
		{ID: 1, Time: 100, Request: store.Request{Type: store.RequestGetInfo, Tags: []modemproto.Tag{modemproto.TagTemp}}, Sent: 1, Received: modemproto.TagSetOf(modemproto.TagTemp)},
		{ID: 2, Time: 101, Request: store.Request{Type: store.RequestSetConf, SetConf: map[modemproto.Tag]uint64{modemproto.TagInterval: 0xC2}}, Ref: 7, HasRef: true, Phase: 1},
	}
	d.Logs = []store.LogMessage{{Msg: "hello", Level: store.LevelWarning, Time: 5}}
	d.Files = []store.File{{Sctr: 1, Time: 6, Port: 1, Data: []byte("file"), Hash: []byte{1, 2, 3, 4, 5, 6, 7, 8}, OK: true}}
	d.StreamRecords = []store.StreamRecord{{Time: 7, Port: 199, Offset: 6, Data: []byte("rec")}}
	d.Positions = []store.Position{{Algorithm: "gnss", ECEF: [3]float64{1, 2, 3}, LLH: [3]float64{4, 5, 6}, CaptureTimeGPS: 9, GDOP: 1.5, Accuracy: 3, Time: 8}}
	d.LastUplink = &store.Uplink{Type: store.MsgUpdf, FCnt: 42, HasFCnt: true, Port: 199, HasPort: true, Payload: []byte{3, 4},
		DR: 4, HasDR: true, Freq: 865000000, HasFreq: true, Timestamp: 100, DnMTU: 51,
		GNSS: store.GNSSParams{HasAssistPosition: true, AssistLat: 1, AssistLon: 2}, DedupKey: "uplink/79f664df2c2073af"}
	d.RecentUplinkKeys = []uint64{store.UplinkKeyHash("uplink/0001"), store.UplinkKeyHash("uplink/79f664df2c2073af")}
	d.LastDnlink = &store.Dnlink{Port: 199, Payload: []byte{0, 0, 3, 3}}
	return d
}

func testDevices(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx := context.Background()
	devs := store.NewDevices(s)
	eui := lora.MustParseEUI64("00-16-c0-01-f0-00-40-6e")
	if _, err := devs.Get(ctx, eui); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	want := SampleDevice(eui)
	if err := devs.Commit(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := devs.Get(ctx, eui)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("device round trip (-want +got):\n%s", diff)
	}
	// A stale commit conflicts.
	stale := *got
	got.UplinkCount++
	if err := devs.Commit(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := devs.Commit(ctx, &stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	// Update retries: the closure sees the conflict's winner.
	calls := 0
	updated, err := devs.Update(ctx, eui, func(cur *store.Device) (*store.Device, error) {
		calls++
		if calls == 1 {
			// Simulate a concurrent writer between read and commit.
			other, _ := devs.Get(ctx, eui)
			other.UplinkCount = 100
			if err := devs.Commit(ctx, other); err != nil {
				return nil, err
			}
		}
		cur.UplinkCount++
		return cur, nil
	})
	if err != nil || calls != 2 || updated.UplinkCount != 101 {
		t.Fatalf("Update: calls %d, count %v, %v", calls, updated, err)
	}
	// Update on a missing device sees nil and may create it.
	eui2 := lora.MustParseEUI64("00-00-00-00-00-00-00-02")
	if _, err := devs.Update(ctx, eui2, func(cur *store.Device) (*store.Device, error) {
		if cur != nil {
			return nil, errors.New("expected nil")
		}
		return &store.Device{Created: 1}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var order []lora.EUI64
	if err := devs.Range(ctx, lora.EUI64{}, func(d *store.Device) error { order = append(order, d.EUI); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != eui2 || order[1] != eui {
		t.Fatalf("Range order %v", order)
	}
	// Update returning nil deletes.
	if _, err := devs.Update(ctx, eui2, func(cur *store.Device) (*store.Device, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := devs.Get(ctx, eui2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	// An aborting closure changes nothing.
	boom := errors.New("boom")
	before, _ := devs.Get(ctx, eui)
	if _, err := devs.Update(ctx, eui, func(cur *store.Device) (*store.Device, error) {
		cur.UplinkCount = 0
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("aborting update: %v", err)
	}
	after, _ := devs.Get(ctx, eui)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("aborted update changed the device:\n%s", diff)
	}
}

func testSettings(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx := context.Background()
	set := store.NewSettings(s)
	p, err := set.DefaultPorts(ctx)
	if err != nil || p != store.DefaultPorts() {
		t.Fatalf("default ports %v, %v", p, err)
	}
	if err := set.SetDefaultPorts(ctx, store.Ports{DM: 1, GNSS: 1, GNSSNG: 3, WiFi: 4}); err == nil {
		t.Fatal("duplicate ports accepted")
	}
	want := store.Ports{DM: 200, GNSS: 201, GNSSNG: 202, WiFi: 203}
	if err := set.SetDefaultPorts(ctx, want); err != nil {
		t.Fatal(err)
	}
	if p, _ := set.DefaultPorts(ctx); p != want {
		t.Fatalf("ports = %v", p)
	}
}

func testContext(t *testing.T, s store.Store) {
	defer closeStore(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tb := s.Table("x")
	if _, _, err := tb.Get(ctx, []byte("k")); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled context: %v", err)
	}
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), 0, []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("CAS with cancelled context: %v", err)
	}
	if _, _, err := tb.Get(context.Background(), []byte("k")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancelled CAS wrote: %v", err)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	tb := s.Table("x")
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), 0, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Get(ctx, []byte("k")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := tb.CompareAndSwap(ctx, []byte("k"), 0, []byte("v")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("CAS after Close: %v", err)
	}
	if err := tb.Range(ctx, nil, func(k, v []byte, rev uint64) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Range after Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}
