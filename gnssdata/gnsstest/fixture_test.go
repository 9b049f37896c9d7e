package gnsstest

import (
	"bytes"
	"math"
	"testing"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

func TestSkyPlacement(t *testing.T) {
	f := New()
	ms := f.Measurements(f.T0, Options{})
	if len(ms) != len(sky) {
		t.Fatalf("%d satellites visible at T0, want %d", len(ms), len(sky))
	}
	for i, m := range ms {
		if d := math.Abs(m.Elevation - float64(sky[i].el)); d > 0.05 {
			t.Errorf("%v: elevation %.3f°, placed at %d°", m.Sat, m.Elevation, sky[i].el)
		}
	}
}

func TestRINEXAndYUMARoundTrip(t *testing.T) {
	f := New()
	nf, err := rinex.ParseNav(bytes.NewReader(f.RINEXNav()))
	if err != nil {
		t.Fatal(err)
	}
	if len(nf.Ephemerides) != len(f.Ephemerides) {
		t.Fatalf("%d ephemerides parsed, want %d", len(nf.Ephemerides), len(f.Ephemerides))
	}
	alms, err := rinex.ParseYUMA(bytes.NewReader(f.YUMA()))
	if err != nil {
		t.Fatal(err)
	}
	fromAlm := orbit.NewSet(nil, alms)
	parsed := nf.Orbits()
	for _, e := range f.Ephemerides {
		for _, dt := range []float64{-3600, 0, 1800} {
			want, _ := f.Set.State(e.Sat, f.T0+dt)
			got, err := parsed.State(e.Sat, f.T0+dt)
			if err != nil {
				t.Fatal(err)
			}
			if d := geo.Distance(geo.ECEF(want.Pos), geo.ECEF(got.Pos)); d > 1e-3 {
				t.Errorf("%v at %+.0f s: RINEX round trip moves the satellite %.4f m", e.Sat, dt, d)
			}
			if d := math.Abs(want.ClockBias-got.ClockBias) * orbit.SpeedOfLight; d > 1e-3 {
				t.Errorf("%v: clock differs by %.4f m", e.Sat, d)
			}
			ga, err := fromAlm.State(e.Sat, f.T0+dt)
			if err != nil {
				t.Fatal(err)
			}
			// The almanac has no TGD and fewer digits: metres, not km.
			if d := geo.Distance(geo.ECEF(want.Pos), geo.ECEF(ga.Pos)); d > 5 {
				t.Errorf("%v at %+.0f s: almanac is %.1f m off the ephemeris", e.Sat, dt, d)
			}
		}
	}
}

func TestNAV1Solves(t *testing.T) {
	f := New()
	nf, err := rinex.ParseNav(bytes.NewReader(f.RINEXNav()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := gnss.New(nf.Orbits(), gnss.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Options
		max  float64
	}{
		{"AP 30 km", Options{AP: f.Near(30e3, 40), ClockBiasM: 12345}, 3},
		{"AP 140 km, 6 SVs", Options{AP: f.Near(140e3, 250), MaxSats: 6}, 5},
		{"no AP, Doppler", Options{Doppler: true}, 5},
		{"10 m noise", Options{AP: f.Near(10e3, 0), NoiseM: 10, Seed: 3}, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tCap := f.T0 + 600
			m, err := nav.Decode(f.NAV1(tCap, tc.o))
			if err != nil {
				t.Fatal(err)
			}
			c, ap, _ := gnss.FromNAV(&m, tCap+40)
			sol, err := s.Solve(gnss.Request{Captures: []gnss.Capture{c}, AssistPosition: ap})
			if err != nil {
				t.Fatal(err)
			}
			h, v := geo.HorizontalVertical(f.TruthLLH, sol.ECEF)
			if h > tc.max || math.Abs(v) > 3*tc.max {
				t.Errorf("error H %.2f m V %.2f m, want H ≤ %g m", h, v, tc.max)
			}
			// The coarse-time state is weakly observable: ms with noise.
			if tol := 1e-3 + tc.o.NoiseM*5e-3; math.Abs(sol.CaptureTimeGPS-tCap) > tol {
				t.Errorf("capture time %.4f, want %.4f", sol.CaptureTimeGPS, tCap)
			}
		})
	}
}

func TestShifted(t *testing.T) {
	f := New()
	g := f.Shifted(10.5, 5, 7)
	nf, err := rinex.ParseNav(bytes.NewReader(g.RINEXNav()))
	if err != nil {
		t.Fatal(err)
	}
	if len(nf.Ephemerides) != 2 || g.T0 != f.T0+10.5*86400 {
		t.Fatalf("%d records, T0 %v", len(nf.Ephemerides), g.T0-f.T0)
	}
	for _, e := range nf.Ephemerides {
		if e.Toe != g.T0 || e.Toc != g.T0 || (e.Sat.PRN != 5 && e.Sat.PRN != 7) {
			t.Errorf("%v: Toe %v Toc %v, want %v", e.Sat, e.Toe, e.Toc, g.T0)
		}
	}
	alms, err := rinex.ParseYUMA(bytes.NewReader(g.YUMA()))
	if err != nil || len(alms) != 2 || alms[0].RefTime(g.T0) != g.T0 {
		t.Fatalf("YUMA: %d almanacs, %v", len(alms), err)
	}
	if len(f.Ephemerides) != 10 || f.Ephemerides[0].Toe != f.T0 {
		t.Error("Shifted changed the original")
	}
}
