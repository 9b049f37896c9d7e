package wifi

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/gonum/optimize"
)

// scene is a device among APs in a local plane, with an index holding the
// APs' database records and the scan the device would report.
type scene struct {
	pl     plane
	devX   float64
	devY   float64
	idx    *Index
	obs    []Observation
	truthX []float64 // true AP positions, index-aligned with obs
	truthY []float64
}

// newScene places n APs at 8–60 m around a device at the plane origin of
// (lat, lon); RSSIs follow the solver's own default model plus shadowing σ.
func newScene(t testing.TB, rng *rand.Rand, lat, lon float64, n int, sigma float64) *scene {
	t.Helper()
	cfg := DefaultConfig()
	s := &scene{pl: newPlane(lat, lon), idx: NewIndex(n)}
	for i := range n {
		d := 8 + rng.Float64()*52
		th := rng.Float64() * 2 * math.Pi
		x, y := d*math.Cos(th), d*math.Sin(th)
		m := MACFromKey(uint64(i+1) << 8)
		alat, alon := s.pl.toLatLon(x, y)
		if err := s.idx.Put(AP{MAC: m, Lat: alat, Lon: alon, Accuracy: 1, Observations: 10}); err != nil {
			t.Fatal(err)
		}
		d2 := x*x + y*y + cfg.APHeight*cfg.APHeight + 2
		r := cfg.RefPower - 5*cfg.PathLossExponent*math.Log10(d2) + rng.NormFloat64()*sigma
		s.obs = append(s.obs, Observation{MAC: m, RSSI: int(math.Round(r)), HasRSSI: true})
		s.truthX = append(s.truthX, x)
		s.truthY = append(s.truthY, y)
	}
	slices.SortStableFunc(s.obs, func(a, b Observation) int { return b.RSSI - a.RSSI })
	return s
}

// errM is the distance in metres of (lat, lon) from the device.
func (s *scene) errM(lat, lon float64) float64 {
	x, y := s.pl.toXY(lat, lon)
	return math.Hypot(x-s.devX, y-s.devY)
}

func mustSolver(t testing.TB, src APSource, cfg Config) *Solver {
	t.Helper()
	s, err := NewSolver(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSolveNoiseless(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i, c := range [][2]float64{{52.37, 4.89}, {-33.86, 151.21}, {0.0001, 179.9999}, {64.1, -21.9}} {
		sc := newScene(t, rng, c[0], c[1], 8, 0)
		sol, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(sc.obs)
		if err != nil {
			t.Fatal(err)
		}
		if e := sc.errM(sol.Lat, sol.Lon); e > 2 {
			t.Errorf("scene %d: error %.2f m, want ≤ 2 (whole-dBm rounding only)", i, e)
		}
		if sol.Method != MethodPathLoss || sol.APsUsed != 8 || sol.APsKnown != 8 || sol.Rejected != nil {
			t.Errorf("scene %d: %+v", i, sol)
		}
		if sol.Accuracy < 10 || sol.Accuracy > 30 {
			t.Errorf("scene %d: accuracy %.1f m", i, sol.Accuracy)
		}
		if !(sol.Lon >= -180 && sol.Lon < 180) {
			t.Errorf("scene %d: lon %v", i, sol.Lon)
		}
	}
}

func TestSolveRejectsMovedAPs(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	// 3 km: another cluster. 400 m: inside the cluster radius, caught by the
	// residual tests (strong APs moved ≤ 200 m are often not: see doc.go).
	for _, move := range []float64{3000, 400} {
		sc := newScene(t, rng, 48.85, 2.35, 8, 2)
		moved := sc.obs[1].MAC // the second strongest: the database holds a stale place
		lat, lon := sc.pl.toLatLon(move, 0)
		if err := sc.idx.Put(AP{MAC: moved, Lat: lat, Lon: lon, Accuracy: 1, Observations: 10}); err != nil {
			t.Fatal(err)
		}
		sol, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(sc.obs)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(sol.Rejected, moved) || len(sol.Rejected) != 1 {
			t.Errorf("move %g m: Rejected = %x, want only %x", move, sol.Rejected, moved)
		}
		if e := sc.errM(sol.Lat, sol.Lon); e > 8 || sol.APsUsed != 7 {
			t.Errorf("move %g m: error %.1f m with %d APs", move, e, sol.APsUsed)
		}
	}
}

func TestSolveErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	sc := newScene(t, rng, 40.4, -3.7, 3, 0)
	unknown := []Observation{{MAC: ap1, RSSI: -50, HasRSSI: true}, {MAC: ap2, RSSI: -60, HasRSSI: true}}

	_, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(unknown)
	if !errors.Is(err, ErrTooFewKnownAPs) || !strings.Contains(err.Error(), "0 of 2") {
		t.Errorf("no known: %v", err)
	}
	one := append(slices.Clone(unknown), sc.obs[0])
	_, err = mustSolver(t, sc.idx, DefaultConfig()).Solve(one)
	if !errors.Is(err, ErrTooFewKnownAPs) || !strings.Contains(err.Error(), "1 of 3") {
		t.Errorf("one known: %v", err)
	}
	if _, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(nil); !errors.Is(err, ErrTooFewKnownAPs) {
		t.Errorf("empty scan: %v", err)
	}

	cfg := DefaultConfig()
	cfg.AllowSingleAP = true
	sol, err := mustSolver(t, sc.idx, cfg).Solve(one)
	if err != nil || sol.Method != MethodSingleAP || sol.APsUsed != 1 {
		t.Fatalf("single AP: %+v, %v", sol, err)
	}
	ap, _ := sc.idx.Get(sc.obs[0].MAC)
	// The radius must cover the AP's true range (8–60 m in the scene).
	if sol.Lat != ap.Lat || sol.Lon != ap.Lon || sol.Accuracy < sc.errM(ap.Lat, ap.Lon) {
		t.Errorf("single AP: %+v, AP at %.1f m", sol, sc.errM(ap.Lat, ap.Lon))
	}

	// Known APs that all disagree: 5 km apart.
	far := NewIndex(0)
	for i, o := range sc.obs {
		lat, lon := sc.pl.toLatLon(float64(i)*5000, 0)
		if err := far.Put(AP{MAC: o.MAC, Lat: lat, Lon: lon}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = mustSolver(t, far, DefaultConfig()).Solve(sc.obs)
	if !errors.Is(err, ErrNoConsistentCluster) || !strings.Contains(err.Error(), "3 known") {
		t.Errorf("disagreeing APs: %v", err)
	}
	_, err = mustSolver(t, far, cfg).Solve(sc.obs) // AllowSingleAP does not pick one of them
	if !errors.Is(err, ErrNoConsistentCluster) {
		t.Errorf("disagreeing APs, AllowSingleAP: %v", err)
	}
}

func TestSolveCentroidModes(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	sc := newScene(t, rng, 35.68, 139.76, 6, 0)
	macOnly := make([]Observation, len(sc.obs))
	var cx, cy float64
	for i, o := range sc.obs {
		macOnly[i] = Observation{MAC: o.MAC}
		ap, _ := sc.idx.Get(o.MAC)
		x, y := sc.pl.toXY(ap.Lat, ap.Lon)
		cx += x / 6
		cy += y / 6
	}
	sol, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(macOnly)
	if err != nil || sol.Method != MethodCentroid || sol.APsUsed != 6 {
		t.Fatalf("MAC only: %+v, %v", sol, err)
	}
	if x, y := sc.pl.toXY(sol.Lat, sol.Lon); math.Hypot(x-cx, y-cy) > 0.01 {
		t.Errorf("MAC only: not the plain centroid (off by %.3f m)", math.Hypot(x-cx, y-cy))
	}
	// Two usable RSSIs (and unusable 0x80/0x7F ones) also fall back to the centroid.
	mixed := slices.Clone(sc.obs)
	mixed[2].RSSI, mixed[3].RSSI = -128, 127
	mixed[4].HasRSSI, mixed[5].HasRSSI = false, false
	sol, err = mustSolver(t, sc.idx, DefaultConfig()).Solve(mixed)
	if err != nil || sol.Method != MethodCentroid {
		t.Fatalf("two RSSIs: %+v, %v", sol, err)
	}
	if e := sc.errM(sol.Lat, sol.Lon); e > 60 || sol.Accuracy < 10 {
		t.Errorf("two RSSIs: error %.1f m accuracy %.1f", e, sol.Accuracy)
	}
}

// brokenSource returns garbage alongside the real records.
type brokenSource struct{ real *Index }

func (b brokenSource) LookupAPs(macs [][6]byte, dst []AP) []AP {
	for _, m := range macs {
		dst = append(dst, AP{MAC: m, Lat: math.NaN(), Lon: 0})
	}
	dst = append(dst, AP{MAC: [6]byte{9, 9, 9, 9, 9, 9}, Lat: 1, Lon: 1}) // not asked for
	dst = b.real.LookupAPs(macs, dst)
	dst = b.real.LookupAPs(macs, dst) // duplicates
	if len(macs) > 0 {
		dst = append(dst, AP{MAC: macs[0], Lat: 91, Lon: 0}, AP{MAC: macs[0], Lat: 0, Lon: 0, Accuracy: math.Inf(1)})
	}
	return dst
}

func TestSolveBrokenSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	sc := newScene(t, rng, 52.37, 4.89, 6, 0)
	want, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(sc.obs)
	if err != nil {
		t.Fatal(err)
	}
	// A NaN record met first hides the real one: the first valid record per
	// MAC wins, so the broken source yields the same fix as the clean one.
	got, err := mustSolver(t, brokenSource{sc.idx}, DefaultConfig()).Solve(append(sc.obs, sc.obs...))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-clean +broken):\n%s", d)
	}
}

func TestSolveDuplicatesKeepStrongest(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	sc := newScene(t, rng, 52.37, 4.89, 6, 0)
	want, _ := mustSolver(t, sc.idx, DefaultConfig()).Solve(sc.obs)
	dup := slices.Clone(sc.obs)
	for _, o := range sc.obs {
		o.RSSI -= 20 // weaker copies are ignored
		dup = append(dup, o)
	}
	got, err := mustSolver(t, sc.idx, DefaultConfig()).Solve(dup)
	if err != nil || !cmp.Equal(want, got) {
		t.Errorf("duplicates changed the fix: %+v vs %+v (%v)", got, want, err)
	}
}

func TestSolveConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sc := newScene(t, rng, 52.37, 4.89, 10, 6)
	s := mustSolver(t, sc.idx, DefaultConfig())
	want, err := s.Solve(sc.obs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				got, err := s.Solve(sc.obs)
				if err != nil || !cmp.Equal(want, got) {
					t.Errorf("concurrent Solve = %+v, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAbsenceMovesAwayFromSilentAPs(t *testing.T) {
	// Three APs heard alike around the origin; a fourth known AP 6 m south of
	// the origin was not heard, so the device is not near it.
	pl := newPlane(52, 5)
	idx := NewIndex(0)
	put := func(m byte, x, y float64) [6]byte {
		mac := [6]byte{0, 0, 0, 0, 0, m}
		lat, lon := pl.toLatLon(x, y)
		if err := idx.Put(AP{MAC: mac, Lat: lat, Lon: lon, Accuracy: 2, Observations: 5}); err != nil {
			t.Fatal(err)
		}
		return mac
	}
	a, b, c := put(1, -20, 0), put(2, 20, 0), put(3, 0, 20)
	put(4, 0, -6)
	obs := []Observation{{MAC: a, RSSI: -79, HasRSSI: true}, {MAC: b, RSSI: -79, HasRSSI: true}, {MAC: c, RSSI: -79, HasRSSI: true}}
	cfg := DefaultConfig()
	with, err := mustSolver(t, idx, cfg).Solve(obs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Absence = false
	without, err := mustSolver(t, idx, cfg).Solve(obs)
	if err != nil {
		t.Fatal(err)
	}
	_, yw := pl.toXY(with.Lat, with.Lon)
	_, yo := pl.toXY(without.Lat, without.Lon)
	if !(yw > yo+3) {
		t.Errorf("the silent AP at y=−6 should push north: y %.1f with, %.1f without", yw, yo)
	}
}

// TestFitMatchesGonumOptimize checks that Levenberg–Marquardt reaches the
// minimum of the same objective that gonum's Nelder–Mead finds.
func TestFitMatchesGonumOptimize(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	s := mustSolver(t, NewIndex(0), DefaultConfig())
	for i := range 30 {
		sc := newScene(t, rng, 0, 0, 3+i%6, 6)
		sel := make([]known, len(sc.obs))
		use := make([]bool, len(sc.obs))
		for j, o := range sc.obs {
			ap, _ := sc.idx.Get(o.MAC)
			x, y := sc.pl.toXY(ap.Lat, ap.Lon)
			sel[j] = known{ap: ap, x: x, y: y, rssi: float64(o.RSSI), hasRSSI: true, sigmaA: 5}
			use[j] = true
		}
		var neg []absentAP
		for range i % 4 {
			neg = append(neg, absentAP{x: rng.NormFloat64() * 30, y: rng.NormFloat64() * 30, sigmaA: 5})
		}
		c := s.centroid(sel, use)
		p := problem{s: s, sel: sel, use: use, neg: neg, c: c, ip: 1 / (c.varMean * priorScale), thr: float64(sc.obs[len(sc.obs)-1].RSSI) - 0.5}
		f := p.fitBest()
		obj := func(v []float64) float64 {
			r := fitResult{x: v[0], y: v[1], b: v[2]}
			return p.eval(&r, nil, nil)
		}
		best := math.Inf(1)
		var bestX []float64
		for _, start := range [][]float64{{c.x, c.y, 0}, {f.x + 10, f.y - 10, 1}, {sel[0].x, sel[0].y, 0}} {
			res, err := optimize.Minimize(optimize.Problem{Func: obj}, start, &optimize.Settings{FuncEvaluations: 20000}, &optimize.NelderMead{})
			if err != nil && res == nil {
				t.Fatal(err)
			}
			if res.F < best {
				best, bestX = res.F, res.X
			}
		}
		if f.cost > best+1e-2 {
			t.Errorf("scene %d: LM cost %.4f at (%.2f, %.2f, %.2f), Nelder–Mead %.4f at %v", i, f.cost, f.x, f.y, f.b, best, bestX)
		}
	}
}

func TestEllipseRadius(t *testing.T) {
	for _, p := range []float64{0.5, 0.68, 0.95} {
		// Circular: σ·√(−2 ln(1−p)).
		if got, want := ellipseRadius(4, 4, 0, p), 2*math.Sqrt(-2*math.Log(1-p)); math.Abs(got-want) > 1e-3*want {
			t.Errorf("circular p=%v: %v, want %v", p, got, want)
		}
		// Degenerate: a 1-D normal, σ·√2·erfinv(p).
		if got, want := ellipseRadius(9, 0, 0, p), 3*math.Sqrt2*math.Erfinv(p); math.Abs(got-want) > 2e-3*want {
			t.Errorf("1-D p=%v: %v, want %v", p, got, want)
		}
	}
	// General, rotated: Monte Carlo.
	rng := rand.New(rand.NewPCG(9, 9))
	cxx, cyy, cxy := 50.0, 10.0, 15.0
	r := ellipseRadius(cxx, cyy, cxy, 0.68)
	l11 := math.Sqrt(cxx)
	l21 := cxy / l11
	l22 := math.Sqrt(cyy - l21*l21)
	in := 0
	const n = 200000
	for range n {
		z1, z2 := rng.NormFloat64(), rng.NormFloat64()
		if math.Hypot(l11*z1, l21*z1+l22*z2) <= r {
			in++
		}
	}
	if got := float64(in) / n; math.Abs(got-0.68) > 0.005 {
		t.Errorf("Monte Carlo coverage %.4f of radius %.2f, want 0.68", got, r)
	}
	if r := ellipseRadius(0, 0, 0, 0.68); r != 0 {
		t.Errorf("zero covariance: %v", r)
	}
}

func TestRadiusF(t *testing.T) {
	p := 0.68
	prev := math.Inf(1)
	for _, dof := range []float64{1, 2, 5, 20, 1000, 1e7} {
		v := radiusF(p, dof)
		if !(v < prev) || v < -math.Log(1-p) {
			t.Errorf("radiusF(%v, %v) = %v (prev %v)", p, dof, v, prev)
		}
		prev = v
	}
	if v := radiusF(p, 1e7); math.Abs(v+math.Log(1-p)) > 1e-6 {
		t.Errorf("limit %v", v)
	}
}

func TestSelectNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for n := 1; n < 200; n += 7 {
		s := make([]absentAP, n)
		for i := range s {
			s[i].d2 = float64(rng.IntN(50)) // many ties
		}
		want := make([]float64, n)
		for i := range s {
			want[i] = s[i].d2
		}
		slices.Sort(want)
		k := 1 + rng.IntN(n)
		selectNearest(s, k)
		got := make([]float64, k)
		for i := range k {
			got[i] = s[i].d2
		}
		slices.Sort(got)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("n=%d k=%d: %v, want %v", n, k, got, want[:k])
		}
	}
}

func TestPlane(t *testing.T) {
	for _, c := range [][2]float64{{0, 0}, {52.37, 4.89}, {-60, 179.99}, {89.999, -179.99}, {-90, 0}} {
		p := newPlane(c[0], c[1])
		for _, d := range [][2]float64{{0, 0}, {100, -50}, {-499, 499}} {
			lat, lon := p.toLatLon(d[0], d[1])
			x, y := p.toXY(lat, lon)
			// Within a degree of the poles 500 m spans many degrees of
			// longitude and the plane no longer inverts; it stays finite.
			if math.Abs(c[0]) < 89 && (math.Abs(x-d[0]) > 1e-6 || math.Abs(y-d[1]) > 1e-6) {
				t.Errorf("round trip at %v: (%v, %v) → (%v, %v)", c, d[0], d[1], x, y)
			}
			if !finite(lat) || !finite(lon) || lat < -90 || lat > 90 || lon < -180 || lon >= 180 {
				t.Errorf("toLatLon at %v: %v, %v", c, lat, lon)
			}
		}
	}
	// One degree of latitude at the equator is 110 574 m on WGS 84.
	if d := pairDist(0, 0, 1, 0); math.Abs(d-110574) > 2 {
		t.Errorf("1° latitude = %.1f m", d)
	}
	if d := pairDist(10, 179.9995, 10, -179.9995); math.Abs(d-109.6) > 0.5 {
		t.Errorf("across the antimeridian: %.2f m", d)
	}
	for _, v := range [][2]float64{{180, -180}, {-180, -180}, {540, -180}, {-190, 170}, {359, -1}} {
		if got := wrap180(v[0]); got != v[1] {
			t.Errorf("wrap180(%v) = %v, want %v", v[0], got, v[1])
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mut := range map[string]func(*Config){
		"PathLossExponent":  func(c *Config) { c.PathLossExponent = 0 },
		"RefPower":          func(c *Config) { c.RefPower = math.NaN() },
		"RefPowerSigma":     func(c *Config) { c.RefPowerSigma = 0 },
		"ShadowingSigma":    func(c *Config) { c.ShadowingSigma = math.Inf(1) },
		"APHeight":          func(c *Config) { c.APHeight = -1 },
		"ClusterRadius":     func(c *Config) { c.ClusterRadius = 0 },
		"MaxAPs":            func(c *Config) { c.MaxAPs = 1 },
		"OutlierSigma":      func(c *Config) { c.OutlierSigma = 0.5 },
		"APSpread":          func(c *Config) { c.APSpread = 0 },
		"DefaultAPAccuracy": func(c *Config) { c.DefaultAPAccuracy = -3 },
		"MinObservations":   func(c *Config) { c.MinObservations = -1 },
		"Confidence":        func(c *Config) { c.Confidence = 1 },
		"MinAccuracy":       func(c *Config) { c.MinAccuracy = -1 },
		"MaxAccuracy":       func(c *Config) { c.MaxAccuracy = 5 },
		"Presence":          func(c *Config) { c.Presence = 1 },
	} {
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
		if _, err := NewSolver(NewIndex(0), c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewSolver with bad %s: %v", field, err)
		}
	}
	if _, err := NewSolver(nil, DefaultConfig()); !errors.Is(err, ErrConfig) {
		t.Errorf("nil source: %v", err)
	}
}

// fuzzSource serves arbitrary records to both interfaces.
type fuzzSource []AP

func (f fuzzSource) LookupAPs(macs [][6]byte, dst []AP) []AP {
	for _, ap := range f {
		if slices.Contains(macs, ap.MAC) {
			dst = append(dst, ap)
		}
	}
	return dst
}

func (f fuzzSource) NearbyAPs(lat, lon, radius float64, dst []AP) []AP { return append(dst, f...) }

func FuzzSolve(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33})
	rng := rand.New(rand.NewPCG(11, 11))
	sc := newScene(f, rng, 52, 5, 5, 6)
	seed := []byte{0}
	for _, o := range sc.obs {
		ap, _ := sc.idx.Get(o.MAC)
		seed = append(seed, o.MAC[:]...)
		seed = append(seed, byte(int8(o.RSSI)), 1)
		seed = append(seed, f64bytes(ap.Lat)...)
		seed = append(seed, f64bytes(ap.Lon)...)
		seed = append(seed, f64bytes(ap.Accuracy)...)
	}
	f.Add(seed)
	seed2 := slices.Clone(seed)
	seed2[0] = 3
	f.Add(seed2)
	const rec = 6 + 2 + 24
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 1 {
			return
		}
		cfg := DefaultConfig()
		cfg.AllowSingleAP = b[0]&1 != 0
		cfg.Absence = b[0]&2 == 0
		if b[0]&4 != 0 {
			cfg.MaxAPs = 2
		}
		b = b[1:]
		var src fuzzSource
		var obs []Observation
		for len(b) >= rec && len(obs) < 40 {
			var m [6]byte
			copy(m[:], b)
			o := Observation{MAC: m, RSSI: int(int8(b[6])), HasRSSI: b[7]&1 != 0}
			obs = append(obs, o)
			if b[7]&2 == 0 {
				src = append(src, AP{MAC: m, Lat: bytesF64(b[8:]), Lon: bytesF64(b[16:]), Accuracy: bytesF64(b[24:]), Observations: int(b[7] >> 2)})
			}
			b = b[rec:]
		}
		s := mustSolver(t, src, cfg)
		sol, err := s.Solve(obs)
		if err != nil {
			if !errors.Is(err, ErrTooFewKnownAPs) && !errors.Is(err, ErrNoConsistentCluster) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !finite(sol.Lat) || !finite(sol.Lon) || !finite(sol.Accuracy) ||
			sol.Lat < -90 || sol.Lat > 90 || sol.Lon < -180 || sol.Lon >= 180 ||
			sol.Accuracy < cfg.MinAccuracy || sol.Accuracy > cfg.MaxAccuracy || sol.APsUsed < 1 || sol.APsKnown < sol.APsUsed {
			t.Fatalf("bad solution %+v", sol)
		}
	})
}

func f64bytes(v float64) []byte {
	u := math.Float64bits(v)
	return []byte{byte(u >> 56), byte(u >> 48), byte(u >> 40), byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

func bytesF64(b []byte) float64 {
	var u uint64
	for _, c := range b[:8] {
		u = u<<8 | uint64(c)
	}
	return math.Float64frombits(u)
}

func BenchmarkSolve(b *testing.B) {
	rng := rand.New(rand.NewPCG(12, 12))
	for _, n := range []int{7, 20} {
		sc := newScene(b, rng, 52.37, 4.89, n, 6)
		s := mustSolver(b, sc.idx, DefaultConfig())
		b.Run(map[int]string{7: "7APs", 20: "20APs"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Solve(sc.obs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
