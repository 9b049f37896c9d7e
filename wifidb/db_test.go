package wifidb_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/wifidb"
)

var clock = time.Unix(1_700_000_000, 0)

func openStore(t testing.TB, path string) *boltstore.DB {
	t.Helper()
	st, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newDB opens a fresh database on boltstore; the store closes at cleanup.
func newDB(t testing.TB) (*wifidb.DB, *boltstore.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mgs.db")
	st := openStore(t, path)
	t.Cleanup(func() { st.Close() })
	db, err := wifidb.Open(context.Background(), st, &wifidb.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return db, st, path
}

func mac(t testing.TB, s string) [6]byte {
	t.Helper()
	m, err := wifi.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []wifidb.Record{
		{MAC: [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, Lat: 52.3702157, Lon: 4.8951679, Accuracy: 12.5, Observations: 7,
			FirstSeen: 1_600_000_000, LastSeen: 1_700_000_000, Source: wifidb.SourceImport | wifidb.SourceLearned},
		{MAC: [6]byte{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}, Lat: -90, Lon: 180, Source: wifidb.SourceWiGLE},
		{MAC: [6]byte{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf6}, Lat: 89.9999999, Lon: -179.9999999, Accuracy: 10000, Observations: math.MaxUint32},
	} {
		b := wifidb.AppendRecord(nil, r)
		if len(b) != 26 {
			t.Fatalf("encoded %d bytes", len(b))
		}
		got, err := wifidb.DecodeRecord(r.MAC, b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got, cmpopts.EquateApprox(0, 1e-7)); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if k := wifidb.Key(r.MAC); len(k) != 8 {
			t.Fatalf("key %x", k)
		} else if m, ok := wifidb.MACOfKey(k); !ok || m != r.MAC {
			t.Fatalf("MACOfKey(%x) = %v %v", k, m, ok)
		}
	}
	good := wifidb.AppendRecord(nil, wifidb.Record{Lat: 1, Lon: 1})
	for name, b := range map[string][]byte{
		"empty":   nil,
		"version": append([]byte{2}, good[1:]...),
		"short":   good[:25],
		"bad lat": wifidb.AppendRecord(nil, wifidb.Record{Lat: 0, Lon: 0}),
		"bad accuracy": func() []byte {
			return wifidb.AppendRecord(nil, wifidb.Record{Lat: 1, Lon: 1, Accuracy: -1})
		}(),
	} {
		if _, err := wifidb.DecodeRecord([6]byte{}, b); !errors.Is(err, wifidb.ErrRecord) {
			t.Errorf("%s: err %v, want ErrRecord", name, err)
		}
	}
	if _, ok := wifidb.MACOfKey([]byte{1, 0, 0, 0, 0, 0, 0, 0}); ok {
		t.Error("MACOfKey accepted a key above 48 bits")
	}
	if s := (wifidb.SourceImport | wifidb.SourceSubmitted).String(); s != "import+geosubmit" {
		t.Errorf("Source.String = %q", s)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		r    wifidb.Record
		want error
	}{
		{wifidb.Record{MAC: [6]byte{}, Lat: 1, Lon: 1}, wifidb.ErrBadMAC},
		{wifidb.Record{MAC: [6]byte{0x01, 0, 0, 0, 0, 1}, Lat: 1, Lon: 1}, wifidb.ErrBadMAC},
		{wifidb.Record{MAC: [6]byte{0x02, 0, 0, 0, 0, 1}, Lat: 1, Lon: 1}, wifidb.ErrLocallyAdministered},
		{wifidb.Record{MAC: [6]byte{0x00, 0, 0, 0, 0, 1}, Lat: 91, Lon: 1}, wifidb.ErrBadCoordinate},
		{wifidb.Record{MAC: [6]byte{0x00, 0, 0, 0, 0, 1}, Lat: 0, Lon: 0}, wifidb.ErrBadCoordinate},
		{wifidb.Record{MAC: [6]byte{0x00, 0, 0, 0, 0, 1}, Lat: math.NaN(), Lon: 1}, wifidb.ErrBadCoordinate},
		{wifidb.Record{MAC: [6]byte{0x00, 0, 0, 0, 0, 1}, Lat: 1, Lon: 1, Accuracy: math.Inf(1)}, wifidb.ErrBadAccuracy},
		{wifidb.Record{MAC: [6]byte{0x00, 0, 0, 0, 0, 1}, Lat: 1, Lon: 1, Accuracy: 5}, nil},
	} {
		if err := tc.r.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%+v: %v, want %v", tc.r, err, tc.want)
		}
	}
}

func TestPutLookupNearbyDeleteRangeReload(t *testing.T) {
	db, st, path := newDB(t)
	ctx := context.Background()
	// 2500 APs on a 50 × 50 grid, 20 m apart, around Amsterdam: more than
	// two Range pages.
	var recs []wifidb.Record
	for i := range 2500 {
		m := [6]byte{0x00, 0x1a, 0x2b, 0, byte(i >> 8), byte(i)}
		recs = append(recs, wifidb.Record{MAC: m, Lat: 52.37 + float64(i/50)*0.00018, Lon: 4.89 + float64(i%50)*0.0003,
			Accuracy: 8, Observations: uint32(i + 1)})
	}
	if err := db.Put(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, wifidb.Record{MAC: [6]byte{0x02, 1, 2, 3, 4, 5}, Lat: 1, Lon: 1}); !errors.Is(err, wifidb.ErrLocallyAdministered) {
		t.Fatalf("Put locally administered: %v", err)
	}
	if db.Len() != 2500 {
		t.Fatalf("Len %d", db.Len())
	}
	got, err := db.Get(ctx, recs[7].MAC)
	if err != nil || got.Observations != 8 || got.FirstSeen != clock.Unix() || got.LastSeen != clock.Unix() {
		t.Fatalf("Get: %+v %v", got, err)
	}
	if _, err := db.Get(ctx, [6]byte{0, 9, 9, 9, 9, 9}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	aps := db.LookupAPs([][6]byte{recs[0].MAC, {0, 9, 9, 9, 9, 9}, recs[1].MAC}, nil)
	if len(aps) != 2 {
		t.Fatalf("LookupAPs %+v", aps)
	}
	near := db.NearbyAPs(recs[0].Lat, recs[0].Lon, 25, nil)
	if len(near) != 3 { // itself, east (20.4 m) and north (20 m); the diagonal is 28.5 m
		t.Fatalf("NearbyAPs: %d APs", len(near))
	}

	n, err := db.Delete(ctx, recs[0].MAC, recs[0].MAC, [6]byte{0, 9, 9, 9, 9, 9})
	if err != nil || n != 1 || db.Len() != 2499 {
		t.Fatalf("Delete: %d %v, Len %d", n, err, db.Len())
	}
	if len(db.LookupAPs([][6]byte{recs[0].MAC}, nil)) != 0 {
		t.Fatal("deleted AP still in the index")
	}

	var seen []wifidb.Record
	if err := db.Range(ctx, [6]byte{}, func(r wifidb.Record) error { seen = append(seen, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2499 || seen[0].MAC != recs[1].MAC || seen[2498].MAC != recs[2499].MAC {
		t.Fatalf("Range: %d records", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if bytes.Compare(seen[i-1].MAC[:], seen[i].MAC[:]) >= 0 {
			t.Fatalf("Range out of order at %d", i)
		}
	}
	// Resume from a MAC, stop early.
	var part []wifidb.Record
	err = db.Range(ctx, recs[2000].MAC, func(r wifidb.Record) error {
		if len(part) == 10 {
			return store.ErrStop
		}
		part = append(part, r)
		return nil
	})
	if err != nil || len(part) != 10 || part[0].MAC != recs[2000].MAC {
		t.Fatalf("Range from: %d %v", len(part), err)
	}

	// Restart: the index is rebuilt from the store.
	st.Close()
	st2 := openStore(t, path)
	defer st2.Close()
	db2, err := wifidb.Open(ctx, st2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if db2.Len() != 2499 {
		t.Fatalf("reloaded Len %d", db2.Len())
	}
	ap, ok := db2.Index().Get(recs[42].MAC)
	if !ok || math.Abs(ap.Lat-recs[42].Lat) > 1e-7 || ap.Accuracy != 8 || ap.Observations != 43 {
		t.Fatalf("reloaded AP %+v %v", ap, ok)
	}
	if len(db2.NearbyAPs(recs[0].Lat, recs[0].Lon, 25, nil)) != 2 {
		t.Fatal("reloaded NearbyAPs")
	}
}

func TestOpenSkipsBadRecords(t *testing.T) {
	_, st, _ := newDB(t)
	ctx := context.Background()
	tab := st.Table(wifidb.TableName)
	good := wifidb.Record{MAC: [6]byte{0, 1, 2, 3, 4, 5}, Lat: 10, Lon: 20}
	if err := tab.Write(ctx, []store.Op{
		{Key: wifidb.Key(good.MAC), Value: wifidb.AppendRecord(nil, good)},
		{Key: wifidb.Key([6]byte{0, 1, 2, 3, 4, 6}), Value: []byte{9, 9}},
		{Key: []byte("junk"), Value: []byte{1}},
	}); err != nil {
		t.Fatal(err)
	}
	db, err := wifidb.Open(ctx, st, nil)
	if err != nil || db.Len() != 1 {
		t.Fatalf("Open: %v, %d APs", err, db.Len())
	}
	n := 0
	if err := db.Range(ctx, [6]byte{}, func(wifidb.Record) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Range: %d %v", n, err)
	}
}

func TestObserveMergesAndDetectsMoves(t *testing.T) {
	db, _, _ := newDB(t)
	ctx := context.Background()
	m := mac(t, "00:11:22:33:44:55")
	// Two sightings with equal weight 100 m apart: the mean is in between.
	res, err := db.Observe(ctx, wifidb.SourceLearned, []wifidb.Sighting{
		{MAC: m, RSSI: -70, HasRSSI: true, Lat: 52.0, Lon: 5.0, PosAccuracy: 10, Time: 100},
		{MAC: m, RSSI: -70, HasRSSI: true, Lat: 52.0009, Lon: 5.0, PosAccuracy: 10, Time: 200},
		{MAC: mac(t, "02:11:22:33:44:55"), Lat: 52, Lon: 5},
		{MAC: mac(t, "00:11:22:33:44:56"), Lat: 0, Lon: 0},
		{MAC: mac(t, "00:11:22:33:44:57"), Lat: 52, Lon: 5, PosAccuracy: -3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := wifidb.ObserveResult{Accepted: 2, Created: 1,
		Rejected: map[string]int{wifidb.RejectLocal: 1, wifidb.RejectBadCoordinate: 1, wifidb.RejectBadAccuracy: 1}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Fatalf("result (-want +got):\n%s", diff)
	}
	r, err := db.Get(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	// -70 dBm is 10 m at n = 3: σ² per axis = (10² + 10²)/2 = 100 per
	// sighting, 50 for the mean: σ ≈ 7.07 m.
	if math.Abs(r.Lat-52.00045) > 1e-6 || math.Abs(r.Lon-5) > 1e-6 || math.Abs(r.Accuracy-math.Sqrt(50)) > 1e-3 ||
		r.Observations != 2 || r.FirstSeen != 100 || r.LastSeen != 200 || r.Source != wifidb.SourceLearned {
		t.Fatalf("record %+v", r)
	}
	// A third sighting refines the position toward it, weighted.
	if _, err := db.Observe(ctx, wifidb.SourceSubmitted, []wifidb.Sighting{{MAC: m, RSSI: -70, HasRSSI: true, Lat: 52.0009, Lon: 5.0, PosAccuracy: 10, Time: 300}}); err != nil {
		t.Fatal(err)
	}
	r, _ = db.Get(ctx, m)
	if math.Abs(r.Lat-52.0006) > 1e-6 || r.Observations != 3 || r.LastSeen != 300 || r.Source != wifidb.SourceLearned|wifidb.SourceSubmitted {
		t.Fatalf("refined record %+v", r)
	}
	// Seen 2 km away: the AP moved, the record starts over.
	res, err = db.Observe(ctx, wifidb.SourceLearned, []wifidb.Sighting{{MAC: m, Lat: 52.02, Lon: 5.0, PosAccuracy: 10, Time: 400}})
	if err != nil || res.Moved != 1 {
		t.Fatalf("move: %+v %v", res, err)
	}
	r, _ = db.Get(ctx, m)
	if r.Lat != 52.02 || r.Observations != 1 || r.FirstSeen != 400 {
		t.Fatalf("moved record %+v", r)
	}
	if ap, _ := db.Index().Get(m); ap.Lat != 52.02 {
		t.Fatalf("index not updated: %+v", ap)
	}
}

func TestRangeCancelled(t *testing.T) {
	db, _, _ := newDB(t)
	if err := db.Put(context.Background(), wifidb.Record{MAC: [6]byte{0, 1, 2, 3, 4, 5}, Lat: 1, Lon: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Range(ctx, [6]byte{}, func(wifidb.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Range on a cancelled context: %v", err)
	}
	if _, err := db.Import(ctx, strings.NewReader("00:01:02:03:04:05,1,1\n"), wifidb.FormatCSV, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Import on a cancelled context: %v", err)
	}
}
