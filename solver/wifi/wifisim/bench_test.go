package wifisim

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/openmgs/openmgs/solver/wifi"
)

// benchCity is a dense city whose scans report 20 APs, its database grown to
// total APs with random APs elsewhere in the world.
func benchCity(b *testing.B, total int) (*City, []Sample) {
	b.Helper()
	cfg := DefaultConfig()
	cfg.MaxResults = 20
	cfg.MissingShare = 0
	cfg.HotspotRate = 0
	city, err := NewCity(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for city.Index().Len() < total {
		ap := wifi.AP{MAC: randomMAC(rng), Lat: rng.Float64()*170 - 85, Lon: rng.Float64()*360 - 180, Accuracy: 10, Observations: 5}
		if err := city.Index().Put(ap); err != nil {
			b.Fatal(err)
		}
	}
	var smp []Sample
	for len(smp) < 256 {
		s := city.Sample(rng)
		if sc, err := wifi.DecodeScan(s.Payload); err == nil && len(sc.APs) == 20 {
			smp = append(smp, s)
		}
	}
	return city, smp
}

// BenchmarkSolve20of1M solves 20-AP scans (lookups included) against a
// 1,000,000-AP in-memory index and reports the median time per solve.
func BenchmarkSolve20of1M(b *testing.B) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	city, smp := benchCity(b, 1_000_000)
	build := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	// (Reported after the loop: ResetTimer deletes earlier metrics.)
	s, err := wifi.NewSolver(city.Index(), wifi.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	scans := make([][]wifi.Observation, len(smp))
	for i, m := range smp {
		sc, _ := wifi.DecodeScan(m.Payload)
		scans[i] = sc.APs
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
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/1e6, "index-MB")
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "median-ns/solve")
	b.ReportMetric(float64(durs[len(durs)*95/100].Nanoseconds()), "p95-ns/solve")
}

// BenchmarkSolve20Small is BenchmarkSolve20of1M without the filler APs.
func BenchmarkSolve20Small(b *testing.B) {
	city, smp := benchCity(b, 0)
	s, err := wifi.NewSolver(city.Index(), wifi.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	scans := make([][]wifi.Observation, len(smp))
	for i, m := range smp {
		sc, _ := wifi.DecodeScan(m.Payload)
		scans[i] = sc.APs
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Solve(scans[i%len(scans)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
