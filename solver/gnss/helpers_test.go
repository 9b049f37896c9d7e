package gnss

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// sharedPath returns ../shared/testdata/gnss/rel, skipping when absent.
func sharedPath(t testing.TB, rel string) string {
	return sharedtest.Path(t, "testdata", "gnss", rel)
}

// station is a parsed observation/navigation pair.
type station struct {
	obs   *rinex.ObsFile
	nav   *rinex.NavFile
	set   *orbit.Set
	truth geo.ECEF
	llh   geo.LLH
}

func loadStation(t testing.TB, name string) *station {
	t.Helper()
	of, err := os.Open(sharedPath(t, "rtklib-0759/"+name+"0920.05o"))
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	obs, err := rinex.ParseObs(of)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := os.Open(sharedPath(t, "rtklib-0759/"+name+"0920.05n"))
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	n, err := rinex.ParseNav(nf)
	if err != nil {
		t.Fatal(err)
	}
	truth := geo.ECEF(obs.ApproxPosition)
	return &station{obs: obs, nav: n, set: n.Orbits(), truth: truth, llh: truth.LLH()}
}

func (s *station) solver(t testing.TB) *Solver {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Iono = s.nav.Iono
	sv, err := New(s.set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// capture builds a capture from epoch i: code phase = (C1 + noise) mod 1 ms,
// time indicator from the epoch time, estimate shifted by dt.
func (s *station) capture(i int, dt, noise float64, rng *rand.Rand) Capture {
	ep := s.obs.Epochs[i]
	c := Capture{TimeEstimate: ep.Time + dt, TimeIndicator: nav.TimeIndicatorAt(ep.Time), HasTimeIndicator: true}
	for _, so := range ep.Sats {
		c1, ok := s.obs.Value(so, "C1")
		if !ok {
			continue
		}
		if rng != nil {
			c1 += noise * rng.NormFloat64()
		}
		ms := c1 / msRange
		c.Measurements = append(c.Measurements, Measurement{
			Sat:       orbit.SatID{Sys: orbit.GPS, PRN: so.PRN},
			CodePhase: ms - math.Floor(ms), HasCodePhase: true,
		})
	}
	return c
}

// ap returns the station moved by d metres on bearing b, as an assistance position.
func (s *station) ap(d, b float64) *geo.LLH {
	p := geo.Destination(s.llh, b, d)
	p.Height = 0
	return &p
}

func (s *station) hErr(p geo.ECEF) float64 {
	h, _ := geo.HorizontalVertical(s.llh, p)
	return h
}
