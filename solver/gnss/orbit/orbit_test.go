package orbit_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// loadNav parses a navigation file; shared paths skip when absent.
func loadNav(t testing.TB, path string) *rinex.NavFile {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("test data absent (shared/ or an optional uncommitted fixture): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := rinex.ParseNav(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sharedNav(t testing.TB, station string) *rinex.NavFile {
	return loadNav(t, sharedtest.Path(t, "testdata", "gnss", "rtklib-0759", station+"0920.05n"))
}

func mixedNav(t testing.TB) *rinex.NavFile {
	return loadNav(t, filepath.Join("..", "rinex", "testdata", "BRDM00DLR_S_20230730000_01D_MN.rnx"))
}

func dist(a, b [3]float64) float64 { return geo.Distance(geo.ECEF(a), geo.ECEF(b)) }

// Consecutive broadcast records of one satellite, each evaluated at the
// midpoint of their reference times, agree to the broadcast accuracy: an
// independent check of the propagation (both records are fitted to the true
// orbit separately).
func TestEphemerisContinuity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nav   func(testing.TB) *rinex.NavFile
		sys   orbit.System
		maxM  float64
		pairs int
	}{
		{"GPS 0759", func(t testing.TB) *rinex.NavFile { return sharedNav(t, "0759") }, orbit.GPS, 6, 50},
		{"BeiDou GEO+MEO 2023", mixedNav, orbit.BeiDou, 10, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.nav(t)
			bySat := map[orbit.SatID][]orbit.Ephemeris{}
			for _, e := range n.Ephemerides {
				if e.Sat.Sys == tc.sys {
					bySat[e.Sat] = append(bySat[e.Sat], e)
				}
			}
			pairs := 0
			for id, l := range bySat {
				for i := 1; i < len(l); i++ {
					a, b := l[i-1], l[i]
					if b.Toe-a.Toe <= 0 || b.Toe-a.Toe > 7200 {
						continue
					}
					mid := (a.Toe + b.Toe) / 2
					sa, sb := a.State(mid), b.State(mid)
					if d := dist(sa.Pos, sb.Pos); d > tc.maxM {
						t.Errorf("%v at %.0f: records %.0f and %.0f differ by %.2f m", id, mid, a.Toe, b.Toe, d)
					}
					if d := math.Abs(sa.ClockBias-sb.ClockBias) * orbit.SpeedOfLight; d > 6 {
						t.Errorf("%v clock differs by %.2f m", id, d)
					}
					pairs++
				}
			}
			if pairs < tc.pairs {
				t.Errorf("only %d record pairs checked, want ≥ %d", pairs, tc.pairs)
			}
		})
	}
}

// Analytic velocity and clock drift match central differences.
func TestVelocityAndDrift(t *testing.T) {
	check := func(t *testing.T, e orbit.Ephemeris, at float64) {
		s := e.State(at)
		p, m := e.State(at+0.5), e.State(at-0.5)
		for i := range 3 {
			fd := p.Pos[i] - m.Pos[i]
			if math.Abs(fd-s.Vel[i]) > 2e-3 {
				t.Errorf("%v axis %d: velocity %.6f vs difference %.6f", e.Sat, i, s.Vel[i], fd)
			}
		}
		if fd := p.ClockBias - m.ClockBias; math.Abs(fd-s.ClockDrift) > 1e-14 {
			t.Errorf("%v drift %g vs %g", e.Sat, s.ClockDrift, fd)
		}
	}
	t.Run("BeiDou GEO and GPS 2023", func(t *testing.T) {
		for _, e := range mixedNav(t).Ephemerides {
			check(t, e, e.Toe-777)
		}
	})
	t.Run("GPS 0759", func(t *testing.T) {
		for _, e := range sharedNav(t, "0759").Ephemerides[:20] {
			check(t, e, e.Toe+1234)
		}
	})
}

func TestOrbitRadii(t *testing.T) {
	for _, e := range sharedNav(t, "0759").Ephemerides {
		if r := geo.ECEF(e.State(e.Toe).Pos).Norm(); r < 25.5e6 || r > 27.5e6 {
			t.Errorf("%v radius %.0f km", e.Sat, r/1e3)
		}
	}
}

// gpsSeconds converts a calendar GPS time to GPS seconds.
func gpsSeconds(y, mo, d, h, mi, sec int, frac float64) float64 {
	return float64(time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC).Unix()-315964800) + frac
}

// Reference states computed by RTKLIB 2.4.3 b34 (rnx2rtkp, trace level 4:
// satellite position and clock at the signal transmission time, GPST) from the
// same broadcast records. RTKLIB's clock includes the relativistic term but
// not the group delay.
var rtklibStates = []struct {
	name string
	nav  func(testing.TB) *rinex.NavFile
	id   orbit.SatID
	t    float64
	pos  [3]float64
	dtNs float64
}{
	{"G03", func(t testing.TB) *rinex.NavFile { return sharedNav(t, "0759") }, orbit.SatID{Sys: orbit.GPS, PRN: 3},
		gpsSeconds(2005, 4, 1, 23, 59, 59, 0.917287), [3]float64{-24595184.341, -10320589.582, 1244218.674}, 96721.355},
	{"G11", func(t testing.TB) *rinex.NavFile { return sharedNav(t, "0759") }, orbit.SatID{Sys: orbit.GPS, PRN: 11},
		gpsSeconds(2005, 4, 1, 23, 59, 59, 0.932038), [3]float64{-14822915.660, 8930208.368, 20079386.097}, 210127.473},
	{"G28", func(t testing.TB) *rinex.NavFile { return sharedNav(t, "0759") }, orbit.SatID{Sys: orbit.GPS, PRN: 28},
		gpsSeconds(2005, 4, 1, 23, 59, 59, 0.928092), [3]float64{-2383676.578, 17483698.398, 19982740.575}, 46887.234},
	{"C01 GEO", mixedNav, orbit.SatID{Sys: orbit.BeiDou, PRN: 1},
		gpsSeconds(2023, 3, 14, 0, 29, 59, 0.872341), [3]float64{-34342326.410, 24450522.187, -983701.424}, 904634.216},
	{"C02 GEO", mixedNav, orbit.SatID{Sys: orbit.BeiDou, PRN: 2},
		gpsSeconds(2023, 3, 14, 0, 29, 59, 0.874108), [3]float64{4441879.939, 41954525.245, 6945.488}, -862759.610},
}

func TestAgainstRTKLIB(t *testing.T) {
	for _, tc := range rtklibStates {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.nav(t).Orbits()
			e, err := set.Ephemeris(tc.id, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			s := e.State(tc.t)
			// RTKLIB prints millimetres and a microsecond-rounded time.
			if d := dist(s.Pos, tc.pos); d > 0.02 {
				t.Errorf("position differs from RTKLIB by %.4f m: %.3f", d, s.Pos)
			}
			if d := (s.ClockBias + e.TGD) * 1e9; math.Abs(d-tc.dtNs) > 0.01 {
				t.Errorf("clock %.3f ns, RTKLIB %.3f ns", d, tc.dtNs)
			}
		})
	}
}

// BeiDou GEO satellites need the rotated-frame computation: they must stay
// over the equator at a fixed longitude, and the standard MEO formula on the
// same elements must not agree.
func TestBeiDouGEO(t *testing.T) {
	n := mixedNav(t)
	seen := 0
	for _, e := range n.Ephemerides {
		if e.Sat.Sys != orbit.BeiDou || !e.IsGEO() {
			continue
		}
		seen++
		lon0 := geo.ECEF(e.State(e.Toe).Pos).LLH().Lon
		for _, dt := range []float64{-3600, 0, 3600} {
			s := e.State(e.Toe + dt)
			p := geo.ECEF(s.Pos)
			llh := p.LLH()
			if r := p.Norm(); math.Abs(r-42164e3) > 100e3 {
				t.Errorf("%v radius %.0f km", e.Sat, r/1e3)
			}
			if math.Abs(llh.Lat) > 3 || math.Abs(llh.Lon-lon0) > 0.2 {
				t.Errorf("%v at %+.0f s: lat %.2f lon %.2f (lon at Toe %.2f)", e.Sat, dt, llh.Lat, llh.Lon, lon0)
			}
			if v := geo.ECEF(s.Vel).Norm(); v > 150 {
				t.Errorf("%v ECEF speed %.1f m/s, not geosynchronous", e.Sat, v)
			}
		}
		meo := e
		meo.Sat.PRN = 10 // same elements through the non-GEO branch
		if d := dist(meo.State(e.Toe).Pos, e.State(e.Toe).Pos); d < 1000e3 {
			t.Errorf("%v: GEO and MEO formulas agree within %.0f km; GEO branch untested", e.Sat, d/1e3)
		}
	}
	if seen < 4 {
		t.Fatalf("%d GEO records in the fixture", seen)
	}
}

func TestSetSelection(t *testing.T) {
	n := sharedNav(t, "0759")
	set := n.Orbits()
	id := orbit.SatID{Sys: orbit.GPS, PRN: 3}
	var toes []float64
	for _, e := range n.Ephemerides {
		if e.Sat == id {
			toes = append(toes, e.Toe)
		}
	}
	if len(toes) < 2 {
		t.Fatalf("PRN 3 has %d records", len(toes))
	}
	for _, tq := range []float64{toes[0] + 100, toes[1] - 100, (toes[0]+toes[1])/2 + 1} {
		e, err := set.Ephemeris(id, tq)
		if err != nil {
			t.Fatal(err)
		}
		for _, toe := range toes {
			if math.Abs(tq-toe) < math.Abs(tq-e.Toe) {
				t.Errorf("at %.0f picked Toe %.0f, %.0f is nearer", tq, e.Toe, toe)
			}
		}
	}
	if _, err := set.State(id, toes[len(toes)-1]+5*3600); !errors.Is(err, orbit.ErrNoOrbit) {
		t.Errorf("stale: %v", err)
	}
	if _, err := set.State(orbit.SatID{Sys: orbit.BeiDou, PRN: 7}, toes[0]); !errors.Is(err, orbit.ErrNoOrbit) || !strings.Contains(err.Error(), "C07") {
		t.Errorf("missing: %v", err)
	}
	sick := n.Ephemerides[0]
	sick.Health = 1
	if _, err := orbit.NewSet([]orbit.Ephemeris{sick}, nil).State(sick.Sat, sick.Toe); !errors.Is(err, orbit.ErrNoOrbit) || !strings.Contains(err.Error(), "unhealthy") {
		t.Errorf("unhealthy: %v", err)
	}
	// A duplicate record (same Toe) is replaced by the later one.
	dup := n.Ephemerides[0]
	dup.AF0 += 1e-6
	s2 := orbit.NewSet([]orbit.Ephemeris{n.Ephemerides[0], dup}, nil)
	e, _ := s2.Ephemeris(dup.Sat, dup.Toe)
	if e.AF0 != dup.AF0 {
		t.Errorf("duplicate kept the first record")
	}
	if got := len(set.Sats()); got < 25 {
		t.Errorf("Sats() = %d", got)
	}
}

// almanacOf turns an ephemeris into an almanac with a truncated week, as a
// YUMA file would carry it.
func almanacOf(e orbit.Ephemeris) orbit.Almanac {
	week := int(math.Floor(e.Toe / orbit.Week))
	return orbit.Almanac{
		Sat: e.Sat, Week: week % 1024, WeekModulus: 1024, Toa: e.Toe - float64(week)*orbit.Week,
		Ecc: e.Ecc, I0: e.I0, OmegaDot: e.OmegaDot, SqrtA: e.SqrtA, Omega0: e.Omega0, Omega: e.Omega, M0: e.M0,
		AF0: e.AF0, AF1: e.AF1,
	}
}

func TestAlmanacFallback(t *testing.T) {
	n := sharedNav(t, "0759")
	e := n.Ephemerides[5]
	a := almanacOf(e)
	set := orbit.NewSet(nil, []orbit.Almanac{a})
	for _, dt := range []float64{0, 3600, -7200, 86400} {
		tq := e.Toe + dt
		s, src, err := set.StateSource(e.Sat, tq)
		if err != nil || src != orbit.SourceAlmanac {
			t.Fatalf("almanac at %+.0f: %v %v", dt, src, err)
		}
		// No harmonic corrections or Δn: kilometre-level agreement near Toa.
		if d := dist(s.Pos, e.State(tq).Pos); d > 10e3+0.5*math.Abs(dt) {
			t.Errorf("almanac vs ephemeris at %+.0f s: %.1f km", dt, d/1e3)
		}
	}
	if got := a.RefTime(e.Toe + 3*orbit.Week); math.Abs(got-e.Toe) > 1e-6 {
		t.Errorf("week rollover resolved to %.0f, want %.0f", got, e.Toe)
	}
	// Both present: the ephemeris wins; too old: the almanac is refused.
	both := orbit.NewSet([]orbit.Ephemeris{e}, []orbit.Almanac{a})
	if _, src, _ := both.StateSource(e.Sat, e.Toe); src != orbit.SourceEphemeris {
		t.Errorf("source %v", src)
	}
	if _, err := set.State(e.Sat, e.Toe+20*orbit.Week); !errors.Is(err, orbit.ErrNoOrbit) {
		t.Errorf("20-week-old almanac: %v", err)
	}
	if _, err := set.WithAlmanacMaxAge(0).State(e.Sat, e.Toe); !errors.Is(err, orbit.ErrNoOrbit) {
		t.Errorf("disabled almanac: %v", err)
	}
}

func TestKlobuchar(t *testing.T) {
	const c = orbit.SpeedOfLight
	night := orbit.Klobuchar{Alpha: [4]float64{1e-8}, Beta: [4]float64{72000}}
	// Zenith at 02:00 local (lon 0): only the 5 ns night term, slant factor 1.
	if got, want := night.L1Delay(2*3600, 0, 0, 0, math.Pi/2), c*5e-9*(1+16*math.Pow(0.03, 3)); math.Abs(got-want) > 1e-6 {
		t.Errorf("night zenith = %.4f m, want %.4f", got, want)
	}
	// 14:00 local at the peak: 5 ns + amplitude (φm small at lat 0, lon 0).
	day := night.L1Delay(14*3600, 0, 0, 0, math.Pi/2)
	if day < c*(5e-9+0.9e-8) || day > c*(5e-9+1.0e-8)*1.01 {
		t.Errorf("day zenith = %.3f m", day)
	}
	// Lower elevations see more ionosphere.
	if low := night.L1Delay(14*3600, 0, 0, 0, 10*math.Pi/180); low < 2*day {
		t.Errorf("10° delay %.2f not > 2× zenith %.2f", low, day)
	}
	// The 0759 header model gives a plausible midday delay over Japan.
	n := sharedNav(t, "0759")
	if n.Iono == nil {
		t.Fatal("no iono in 0759 header")
	}
	if d := n.Iono.L1Delay(796435200+5*3600, 35.16, 139.61, 0, math.Pi/2); d < 1 || d > 30 {
		t.Errorf("0759 zenith delay %.2f m", d)
	}
}

func BenchmarkEphemerisState(b *testing.B) {
	e := sharedNav(b, "0759").Ephemerides[0]
	b.ReportAllocs()
	t := e.Toe
	for b.Loop() {
		t += 0.001
		_ = e.State(t)
	}
}

func BenchmarkSetState(b *testing.B) {
	n := sharedNav(b, "0759")
	set := n.Orbits()
	e := n.Ephemerides[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.State(e.Sat, e.Toe); err != nil {
			b.Fatal(err)
		}
	}
}
