package wifidb_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/wifidb"
)

// randomAPs writes n random universally administered APs as CSV rows.
func randomAPs(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.Grow(n * 48)
	b.WriteString("mac,lat,lon,accuracy\n")
	for range n {
		var mac [6]byte
		for i := range mac {
			mac[i] = byte(rng.Uint32())
		}
		mac[0] &^= 0x03
		fmt.Fprintf(&b, "%s,%.7f,%.7f,%d\n", wifi.MACString(mac), rng.Float64()*170-85, rng.Float64()*360-180, 5+rng.IntN(50))
	}
	return b.Bytes()
}

// BenchmarkImport1M imports 1,000,000 CSV rows into a durable (fsync)
// boltstore database, one import per iteration.
func BenchmarkImport1M(b *testing.B) {
	data := randomAPs(1_000_000, 1)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		db, err := wifidb.Open(context.Background(), st, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		s, err := db.Import(context.Background(), bytes.NewReader(data), wifidb.FormatCSV, nil)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if s.Created != 1_000_000 {
			b.Fatalf("created %d, rejected %v", s.Created, s.Rejected)
		}
		b.ReportMetric(d.Seconds(), "s/import")
		b.StopTimer()
		t0 = time.Now()
		db2, err := wifidb.Open(context.Background(), st, nil)
		if err != nil || db2.Len() != 1_000_000 {
			b.Fatalf("reopen: %v, %d APs", err, db2.Len())
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/load")
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkSolve20With1MDB solves 20-AP scans with lookups in a database of
// 1,000,000 APs (random places around the world plus an 8000-AP city the
// scans come from) and reports the median and p95 time per solve.
func BenchmarkSolve20With1MDB(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	db, err := wifidb.Open(ctx, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Import(ctx, bytes.NewReader(randomAPs(1_000_000-8000, 2)), wifidb.FormatCSV, nil); err != nil {
		b.Fatal(err)
	}
	// The city: 8000 APs in 2 km × 2 km around (52.37, 4.89), stored with
	// 10 m position noise; scans from random places with 6 dB shadowing.
	rng := rand.New(rand.NewPCG(5, 5))
	const lat0, lon0 = 52.37, 4.89
	mLat, mLon := 111_195.0, 111_195*math.Cos(lat0*math.Pi/180)
	type ap struct {
		mac  [6]byte
		x, y float64
	}
	city := make([]ap, 8000)
	recs := make([]wifidb.Record, len(city))
	for i := range city {
		a := ap{mac: [6]byte{0x00, 0x70, byte(i >> 16), byte(i >> 8), byte(i), 1}, x: rng.Float64()*2000 - 1000, y: rng.Float64()*2000 - 1000}
		city[i] = a
		recs[i] = wifidb.Record{MAC: a.mac, Lat: lat0 + (a.y+10*rng.NormFloat64())/mLat, Lon: lon0 + (a.x+10*rng.NormFloat64())/mLon,
			Accuracy: 10, Observations: 5}
	}
	if err := db.Put(ctx, recs...); err != nil {
		b.Fatal(err)
	}
	if db.Len() != 1_000_000 {
		b.Fatalf("%d APs", db.Len())
	}
	var scans [][]wifi.Observation
	for len(scans) < 256 {
		x, y := rng.Float64()*1600-800, rng.Float64()*1600-800
		var obs []wifi.Observation
		for _, a := range city {
			d := math.Max(1, math.Hypot(a.x-x, a.y-y))
			if r := -40 - 30*math.Log10(d) + 6*rng.NormFloat64(); r > -90 {
				obs = append(obs, wifi.Observation{MAC: a.mac, RSSI: int(math.Round(r)), HasRSSI: true})
			}
		}
		slices.SortFunc(obs, func(a, b wifi.Observation) int { return b.RSSI - a.RSSI })
		if len(obs) >= 20 {
			scans = append(scans, obs[:20])
		}
	}
	s, err := wifi.NewSolver(db, wifi.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	var durs []time.Duration
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.Solve(scans[i%len(scans)]); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
		i++
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "median-ns/solve")
	b.ReportMetric(float64(durs[len(durs)*95/100].Nanoseconds()), "p95-ns/solve")
}

// BenchmarkImportWiGLE1M imports a WiGLE export of 1,000,000 rows: 250,000
// APs seen 4 times each, in random order, into a durable database.
func BenchmarkImportWiGLE1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	var buf bytes.Buffer
	buf.WriteString("WigleWifi-1.6,appRelease=2.70,model=bench\n")
	buf.WriteString("MAC,SSID,AuthMode,FirstSeen,Channel,Frequency,RSSI,CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,RCOIs,MfgrId,Type\n")
	const aps = 250_000
	for range 1_000_000 {
		k := rng.IntN(aps)
		lat, lon := 40+float64(k%500)*0.002+rng.Float64()*0.0005, -3+float64(k/500)*0.002+rng.Float64()*0.0005
		fmt.Fprintf(&buf, "00:71:%02x:%02x:%02x:01,net%d,[WPA2-PSK-CCMP][ESS],2024-05-01 10:%02d:%02d,6,2437,%d,%.7f,%.7f,650,%d,,,WIFI\n",
			k>>16, (k>>8)&0xff, k&0xff, k, rng.IntN(60), rng.IntN(60), -50-rng.IntN(40), lat, lon, 3+rng.IntN(20))
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		b.StopTimer()
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		db, err := wifidb.Open(context.Background(), st, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		s, err := db.Import(context.Background(), bytes.NewReader(data), wifidb.FormatAuto, nil)
		if err != nil || s.Rows != 1_000_000 || s.Accepted != 1_000_000 {
			b.Fatalf("%+v %v", s, err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/import")
		b.ReportMetric(float64(s.Created), "aps")
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
}
