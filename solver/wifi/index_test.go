package wifi

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIndexBasics(t *testing.T) {
	x := NewIndex(4)
	a := AP{MAC: ap1, Lat: 52.1, Lon: 4.3, Accuracy: 12.5, Observations: 7}
	b := AP{MAC: ap2, Lat: -33.9, Lon: 151.2, Accuracy: 0, Observations: 0}
	for _, ap := range []AP{a, b} {
		if err := x.Put(ap); err != nil {
			t.Fatal(err)
		}
	}
	if x.Len() != 2 {
		t.Errorf("Len = %d", x.Len())
	}
	if got, ok := x.Get(ap1); !ok || !cmp.Equal(got, a) {
		t.Errorf("Get = %+v, %v", got, ok)
	}
	got := x.LookupAPs([][6]byte{ap3, ap2, ap1}, []AP{{MAC: ap3}})
	if d := cmp.Diff([]AP{{MAC: ap3}, b, a}, got); d != "" {
		t.Errorf("LookupAPs (-want +got):\n%s", d)
	}
	// Replacing moves the AP between grid cells.
	a2 := a
	a2.Lat, a2.Lon = 10, 20
	if err := x.Put(a2); err != nil {
		t.Fatal(err)
	}
	if n := x.NearbyAPs(52.1, 4.3, 100, nil); len(n) != 0 {
		t.Errorf("old cell still lists %v", n)
	}
	if n := x.NearbyAPs(10, 20, 1, nil); len(n) != 1 || n[0] != a2 {
		t.Errorf("new cell lists %v", n)
	}
	if !x.Delete(ap1) || x.Delete(ap1) || x.Len() != 1 {
		t.Error("Delete")
	}
	if n := x.NearbyAPs(10, 20, 1, nil); len(n) != 0 {
		t.Errorf("deleted AP still nearby: %v", n)
	}
	if _, ok := x.Get(ap1); ok {
		t.Error("Get after Delete")
	}
}

func TestIndexPutRejectsBadRecords(t *testing.T) {
	x := NewIndex(0)
	for _, ap := range []AP{
		{Lat: math.NaN()}, {Lon: math.Inf(1)}, {Lat: 90.1}, {Lon: -180.5},
		{Accuracy: -1}, {Accuracy: math.NaN()}, {Observations: -1},
	} {
		if err := x.Put(ap); !errors.Is(err, ErrBadAP) {
			t.Errorf("Put(%+v) = %v, want ErrBadAP", ap, err)
		}
	}
	if x.Len() != 0 {
		t.Errorf("Len = %d", x.Len())
	}
}

func TestIndexNearbyMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := NewIndex(0)
	var all []AP
	centres := [][2]float64{{52.37, 4.89}, {0, 179.999}, {-45, -179.9995}, {89.9995, 10}, {-89.9999, -50}, {0, 0}}
	for i := range 6000 {
		c := centres[i%len(centres)]
		lat := math.Max(-90, math.Min(90, c[0]+rng.NormFloat64()*0.003))
		lon := wrap180(c[1] + rng.NormFloat64()*0.005)
		ap := AP{MAC: MACFromKey(uint64(i + 1)), Lat: lat, Lon: lon, Accuracy: 5, Observations: 1}
		if err := x.Put(ap); err != nil {
			t.Fatal(err)
		}
		all = append(all, ap)
	}
	key := func(a, b AP) int { return compareMAC(a.MAC, b.MAC) }
	for i := range 300 {
		c := centres[i%len(centres)]
		lat := math.Max(-90, math.Min(90, c[0]+rng.NormFloat64()*0.003))
		lon := wrap180(c[1] + rng.NormFloat64()*0.005)
		r := []float64{0, 30, 150, 700}[i%4]
		got := x.NearbyAPs(lat, lon, r, nil)
		p := newPlane(lat, lon)
		var want []AP
		for _, ap := range all {
			if ex, ey := p.toXY(ap.Lat, ap.Lon); ex*ex+ey*ey <= r*r {
				want = append(want, ap)
			}
		}
		slices.SortFunc(got, key)
		slices.SortFunc(want, key)
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("NearbyAPs(%v, %v, %v) (-want +got):\n%s", lat, lon, r, d)
		}
	}
	if got := x.NearbyAPs(math.NaN(), 0, 10, nil); got != nil {
		t.Errorf("NaN centre: %v", got)
	}
}

// TestIndexRandomOps checks the cell lists against a plain map after random
// puts (new, moved, same cell), deletes and lookups in a small area.
func TestIndexRandomOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := NewIndex(0)
	ref := map[[6]byte]AP{}
	for i := range 20000 {
		m := MACFromKey(uint64(rng.IntN(400)))
		switch rng.IntN(3) {
		case 0, 1:
			ap := AP{MAC: m, Lat: 10 + rng.Float64()*0.004, Lon: 20 + rng.Float64()*0.004, Observations: i}
			if err := x.Put(ap); err != nil {
				t.Fatal(err)
			}
			ref[m] = ap
		case 2:
			_, had := ref[m]
			if x.Delete(m) != had {
				t.Fatalf("op %d: Delete(%x) disagrees", i, m)
			}
			delete(ref, m)
		}
		if i%1000 == 0 {
			got := x.NearbyAPs(10.002, 20.002, 1000, nil)
			if len(got) != len(ref) || x.Len() != len(ref) {
				t.Fatalf("op %d: %d nearby, %d stored, %d expected", i, len(got), x.Len(), len(ref))
			}
			for _, ap := range got {
				if ref[ap.MAC] != ap {
					t.Fatalf("op %d: %+v, want %+v", i, ap, ref[ap.MAC])
				}
			}
		}
	}
}

func TestIndexConcurrent(t *testing.T) {
	x := NewIndex(0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				m := MACFromKey(uint64(g<<20 | i))
				if err := x.Put(AP{MAC: m, Lat: 1 + float64(i)*1e-5, Lon: 2}); err != nil {
					t.Error(err)
				}
				x.LookupAPs([][6]byte{m}, nil)
				x.NearbyAPs(1, 2, 50, nil)
				if i%3 == 0 {
					x.Delete(m)
				}
			}
		})
	}
	wg.Wait()
	if x.Len() != 4*(500-167) {
		t.Errorf("Len = %d", x.Len())
	}
}

func BenchmarkIndexLookup20(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := NewIndex(100000)
	var macs [][6]byte
	for i := range 100000 {
		m := MACFromKey(rng.Uint64())
		if err := x.Put(AP{MAC: m, Lat: rng.Float64()*170 - 85, Lon: rng.Float64()*360 - 180}); err != nil {
			b.Fatal(err)
		}
		if i < 20 {
			macs = append(macs, m)
		}
	}
	dst := make([]AP, 0, 20)
	b.ReportAllocs()
	for b.Loop() {
		dst = x.LookupAPs(macs, dst[:0])
	}
}
