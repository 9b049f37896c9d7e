package orbit_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// These tests run on the project's generated mixed fixture (gnsstest.Mixed):
// GPS and BeiDou GEO/IGSO/MEO orbits defined by the generator, written as a
// RINEX 3.04 file and parsed back. They replace, without third-party data,
// what the optional BRDM file tests cover.

// generated parses the fixture's navigation file.
func generated(t testing.TB) (*gnsstest.Mixed, *rinex.NavFile) {
	t.Helper()
	m := gnsstest.NewMixed()
	n, err := rinex.ParseNav(bytes.NewReader(m.RINEXNav()))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Ephemerides) != len(m.Ephemerides) {
		t.Fatalf("%d records parsed, %d generated", len(n.Ephemerides), len(m.Ephemerides))
	}
	return m, n
}

// pairs returns each satellite's records in file order.
func bySat(ephs []orbit.Ephemeris) map[orbit.SatID][]orbit.Ephemeris {
	out := map[orbit.SatID][]orbit.Ephemeris{}
	for _, e := range ephs {
		out[e.Sat] = append(out[e.Sat], e)
	}
	return out
}

func info(t testing.TB, m *gnsstest.Mixed, id orbit.SatID) gnsstest.SatInfo {
	t.Helper()
	s, ok := m.Sat(id.Sys.Letter(), id.PRN)
	if !ok {
		t.Fatalf("%v not generated", id)
	}
	return s
}

// The generator placed every satellite with its own ICD formulas at the
// first record's Toe (GPS seconds of week for GPS, BDT seconds of week for
// BeiDou, the GEO frame tilted by 5° for C01–C05). The parsed records,
// propagated by this package, put them there.
func TestGeneratedPlacement(t *testing.T) {
	m, n := generated(t)
	kinds := map[gnsstest.OrbitType]int{}
	for id, l := range bySat(n.Ephemerides) {
		s := info(t, m, id)
		kinds[s.Type]++
		if l[0].Toe != s.Toe {
			t.Fatalf("%v: first Toe %.0f, placed at %.0f", id, l[0].Toe, s.Toe)
		}
		if d := dist(l[0].State(s.Toe).Pos, s.Placed); d > 0.01 {
			t.Errorf("%v (%v): %.4f m from the generator's position", id, s.Type, d)
		}
	}
	for typ, want := range map[gnsstest.OrbitType]int{gnsstest.OrbitGPS: 9, gnsstest.OrbitGEO: 5, gnsstest.OrbitIGSO: 3, gnsstest.OrbitMEO: 4} {
		if kinds[typ] != want {
			t.Errorf("%d %v satellites, want %d", kinds[typ], typ, want)
		}
	}
}

// Consecutive records of a satellite describe the same orbit (the generator
// re-expresses it at the next Toe; for a GEO that means a different tilted
// frame, computed independently of this package). Evaluated at their
// midpoint, and across the whole overlap, they agree to well below a metre.
func TestGeneratedContinuity(t *testing.T) {
	_, n := generated(t)
	pairs := map[bool]int{}
	for id, l := range bySat(n.Ephemerides) {
		if len(l) != 2 {
			t.Fatalf("%v: %d records", id, len(l))
		}
		a, b := l[0], l[1]
		if step := b.Toe - a.Toe; (id.Sys == orbit.GPS && step != 7200) || (id.Sys == orbit.BeiDou && step != 3600) {
			t.Errorf("%v: records %.0f s apart", id, step)
		}
		mid := (a.Toe + b.Toe) / 2
		for _, tq := range []float64{mid, a.Toe, b.Toe, mid - 1234.5} {
			sa, sb := a.State(tq), b.State(tq)
			if d := dist(sa.Pos, sb.Pos); d > 0.01 || (tq == mid && d > 0.005) {
				t.Errorf("%v at %+.0f s from the midpoint: records differ by %.4f m", id, tq-mid, d)
			}
			if d := dist(sa.Vel, sb.Vel); d > 1e-5 {
				t.Errorf("%v: velocities differ by %.2e m/s", id, d)
			}
			if d := math.Abs(sa.ClockBias-sb.ClockBias) * orbit.SpeedOfLight; d > 1e-3 {
				t.Errorf("%v: clocks differ by %.4f m", id, d)
			}
		}
		pairs[a.IsGEO()]++
	}
	if pairs[true] != 5 || pairs[false] != 16 {
		t.Errorf("pairs checked: %d GEO, %d other", pairs[true], pairs[false])
	}
}

// inertial returns the inclination (degrees) and radius of an ECEF state,
// using the system's Earth rotation rate.
func inertial(s orbit.State, omegaE float64) (incDeg, r float64) {
	p := geo.ECEF(s.Pos)
	v := geo.ECEF{s.Vel[0] - omegaE*p[1], s.Vel[1] + omegaE*p[0], s.Vel[2]}
	h := geo.ECEF{p[1]*v[2] - p[2]*v[1], p[2]*v[0] - p[0]*v[2], p[0]*v[1] - p[1]*v[0]}
	return math.Acos(h[2]/h.Norm()) * 180 / math.Pi, p.Norm()
}

const omegaBDS = 7.2921150e-5

// BeiDou GEO satellites stay over their slot: near-constant longitude, near
// the equator, 35 786 km above it, slow in ECEF (≤ 100 m/s: the true
// inclination is ≤ 2°), although their
// broadcast inclination (in the tilted GEO frame) is about 5°.
func TestGeneratedGEO(t *testing.T) {
	m, n := generated(t)
	seen := 0
	for id, l := range bySat(n.Ephemerides) {
		if !l[0].IsGEO() {
			continue
		}
		seen++
		slot := info(t, m, id).Lon
		for _, e := range l {
			if deg := e.I0 * 180 / math.Pi; deg < 4 || deg > 7 {
				t.Errorf("%v: broadcast inclination %.2f°", id, deg)
			}
			// Over the record's validity, and a full day for the orbit shape.
			for dt := -86400.0; dt <= 86400; dt += 1800 {
				s := e.State(e.Toe + dt)
				llh := geo.ECEF(s.Pos).LLH()
				lonTol := 0.05
				if math.Abs(dt) > e.MaxAge() {
					lonTol = 0.3
				}
				if d := math.Abs(llh.Lon - slot); d > lonTol {
					t.Errorf("%v at %+.0f s: longitude %.3f°, slot %.2f°", id, dt, llh.Lon, slot)
				}
				if math.Abs(llh.Lat) > 2 {
					t.Errorf("%v at %+.0f s: latitude %.2f°", id, dt, llh.Lat)
				}
				if math.Abs(llh.Height-35786e3) > 50e3 {
					t.Errorf("%v at %+.0f s: altitude %.0f km", id, dt, llh.Height/1e3)
				}
				if v := geo.ECEF(s.Vel).Norm(); v > 100 {
					t.Errorf("%v at %+.0f s: ECEF speed %.1f m/s", id, dt, v)
				}
				if inc, _ := inertial(s, omegaBDS); inc > 2 {
					t.Errorf("%v: true inclination %.2f°", id, inc)
				}
			}
			// The MEO/IGSO formula on the same elements is far off: the GEO
			// branch is what holds the satellite in place.
			meo := e
			meo.Sat.PRN = 20
			if d := dist(meo.State(e.Toe+600).Pos, e.State(e.Toe+600).Pos); d < 1000e3 {
				t.Errorf("%v: GEO and non-GEO formulas agree within %.0f km", id, d/1e3)
			}
		}
	}
	if seen != 5 {
		t.Fatalf("%d GEO satellites", seen)
	}
}

// IGSO: geosynchronous radius and period, 55° inclination, a figure-eight
// ground track that returns after a sidereal day. MEO: 27 906 km, 55°,
// circular speed.
func TestGeneratedIGSOAndMEO(t *testing.T) {
	m, n := generated(t)
	const sidereal = 2 * math.Pi / omegaBDS
	for id, l := range bySat(n.Ephemerides) {
		e := l[0]
		switch info(t, m, id).Type {
		case gnsstest.OrbitIGSO:
			minLon, maxLon, maxLat := math.Inf(1), math.Inf(-1), 0.0
			for dt := 0.0; dt < sidereal; dt += 900 {
				s := e.State(e.Toe + dt)
				inc, r := inertial(s, omegaBDS)
				if math.Abs(r-42164e3) > 400e3 || math.Abs(inc-55) > 1.5 {
					t.Errorf("%v at %+.0f s: radius %.0f km, inclination %.2f°", id, dt, r/1e3, inc)
				}
				llh := geo.ECEF(s.Pos).LLH()
				minLon, maxLon, maxLat = math.Min(minLon, llh.Lon), math.Max(maxLon, llh.Lon), math.Max(maxLat, math.Abs(llh.Lat))
			}
			if maxLon-minLon > 40 || maxLat < 50 || maxLat > 57 {
				t.Errorf("%v ground track: longitude %.1f…%.1f°, |latitude| ≤ %.1f°", id, minLon, maxLon, maxLat)
			}
			// Node regression and Δn move it by kilometres a day, not more.
			if d := dist(e.State(e.Toe).Pos, e.State(e.Toe+sidereal).Pos); d > 200e3 {
				t.Errorf("%v: %.0f km from its position one sidereal day earlier", id, d/1e3)
			}
		case gnsstest.OrbitMEO:
			for dt := -3600.0; dt <= 3600; dt += 600 {
				s := e.State(e.Toe + dt)
				inc, r := inertial(s, omegaBDS)
				v := geo.ECEF(s.Vel)
				p := geo.ECEF(s.Pos)
				vi := geo.ECEF{v[0] - omegaBDS*p[1], v[1] + omegaBDS*p[0], v[2]}.Norm()
				if math.Abs(r-27906e3) > 100e3 || math.Abs(inc-55) > 1 || math.Abs(vi/math.Sqrt(3.986004418e14/r)-1) > 0.003 {
					t.Errorf("%v at %+.0f s: radius %.0f km, inclination %.2f°, speed %.1f m/s", id, dt, r/1e3, inc, vi)
				}
			}
		}
	}
}

// BeiDou records carry BDT (GPST − 14 s): their Toc and Toe become GPS
// seconds 14 s after the BDT calendar time, and BDT week 948 starts at GPS
// week 2304 + 14 s. The records stay usable across the BDT week boundary,
// which here falls 14 s after the GPS one.
func TestGeneratedBDT(t *testing.T) {
	m, n := generated(t)
	gpsEpoch := time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC)
	bdtEpoch := time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)
	day := time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC)
	gpsDay := day.Sub(gpsEpoch).Seconds()
	bdtWeek := int(day.Sub(bdtEpoch).Hours() / 24 / 7)
	if bdtWeek != 948 || gpsDay != m.T0 || gpsDay != 2304*orbit.Week {
		t.Fatalf("calendar: BDT week %d, day %.0f", bdtWeek, gpsDay)
	}
	for id, l := range bySat(n.Ephemerides) {
		for k, e := range l {
			switch id.Sys {
			case orbit.BeiDou:
				want := gpsDay + 14 + 3600*float64(k) // written as BDT 00:00 and 01:00
				if e.Toc != want || e.Toe != want || e.Week != bdtWeek || orbit.BeiDou.WeekSeconds(e.Week, 3600*float64(k)) != want {
					t.Errorf("%v record %d: Toc %.0f Toe %.0f week %d, want %.0f", id, k, e.Toc-gpsDay, e.Toe-gpsDay, e.Week, want-gpsDay)
				}
				// Transmitted 30 s before Toe (BDT seconds of week −30 for
				// the first record), or unknown (0.9999e9 → 0).
				if e.TransmitAt != e.Toe-30 && !(id.PRN == 13 && k == 1 && e.TransmitAt == 0) {
					t.Errorf("%v record %d: transmitted at %.0f", id, k, e.TransmitAt-gpsDay)
				}
				if e.MaxAge() != 3600 {
					t.Errorf("%v: max age %.0f", id, e.MaxAge())
				}
			case orbit.GPS:
				want := gpsDay + 7200*float64(k)
				if e.Toc != want || e.Toe != want || e.Week != 2304 || e.TransmitAt != want-7182 || e.MaxAge() != 7200 {
					t.Errorf("%v record %d: Toc %.0f Toe %.0f week %d sent %.0f", id, k, e.Toc-gpsDay, e.Toe-gpsDay, e.Week, e.TransmitAt-gpsDay)
				}
			}
		}
	}
	set := n.Orbits()
	c11 := orbit.SatID{Sys: orbit.BeiDou, PRN: 11}
	toe1 := gpsDay + 14
	for _, tc := range []struct {
		t   float64
		toe float64 // 0: no orbit
	}{
		{gpsDay - 1, toe1},  // GPS week 2303, BDT week 947
		{toe1 - 3600, toe1}, // the first record's validity starts
		{toe1 - 3601, 0},    // before it
		{toe1 + 1799, toe1}, // nearest Toe wins
		{toe1 + 1801, toe1 + 3600},
		{toe1 + 7200, toe1 + 3600},
		{toe1 + 7201, 0},
	} {
		e, err := set.Ephemeris(c11, tc.t)
		switch {
		case tc.toe == 0 && !errors.Is(err, orbit.ErrNoOrbit):
			t.Errorf("at %+.0f s: %v, want ErrNoOrbit", tc.t-gpsDay, err)
		case tc.toe != 0 && (err != nil || e.Toe != tc.toe):
			t.Errorf("at %+.0f s: %v %v, want Toe %+.0f", tc.t-gpsDay, e, err, tc.toe-gpsDay)
		}
	}
	// Across both week boundaries the propagation is smooth.
	e, _ := set.Ephemeris(c11, gpsDay)
	a, b, c := e.State(gpsDay-1), e.State(gpsDay+7), e.State(gpsDay+15)
	for i := range 3 {
		if d := (c.Pos[i] - a.Pos[i]) / 16; math.Abs(d-b.Vel[i]) > 0.01 {
			t.Errorf("axis %d: mean velocity %.4f vs %.4f m/s across the week boundary", i, d, b.Vel[i])
		}
	}
}

// Analytic velocity and clock drift match central differences for every
// generated record, GEO included.
func TestGeneratedVelocityAndDrift(t *testing.T) {
	_, n := generated(t)
	for _, e := range n.Ephemerides {
		for _, at := range []float64{e.Toe - 777, e.Toe + 2345} {
			s := e.State(at)
			p, q := e.State(at+0.5), e.State(at-0.5)
			for i := range 3 {
				if fd := p.Pos[i] - q.Pos[i]; math.Abs(fd-s.Vel[i]) > 2e-3 {
					t.Errorf("%v axis %d: velocity %.6f vs difference %.6f", e.Sat, i, s.Vel[i], fd)
				}
			}
			if fd := p.ClockBias - q.ClockBias; math.Abs(fd-s.ClockDrift) > 1e-14 {
				t.Errorf("%v drift %g vs %g", e.Sat, s.ClockDrift, fd)
			}
		}
	}
}

func BenchmarkGeneratedGEOState(b *testing.B) {
	_, n := generated(b)
	var e orbit.Ephemeris
	for _, x := range n.Ephemerides {
		if x.IsGEO() {
			e = x
			break
		}
	}
	b.ReportAllocs()
	t := e.Toe
	for b.Loop() {
		t += 0.001
		_ = e.State(t)
	}
}
