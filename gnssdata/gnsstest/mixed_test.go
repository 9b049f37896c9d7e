package gnsstest

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// parsedMixed is the mixed fixture read back through the RINEX parsers.
type parsedMixed struct {
	m   *Mixed
	nav *rinex.NavFile
	obs *rinex.ObsFile
}

func loadMixed(t testing.TB) parsedMixed {
	t.Helper()
	m := NewMixed()
	n, err := rinex.ParseNav(bytes.NewReader(m.RINEXNav()))
	if err != nil {
		t.Fatal(err)
	}
	o, err := rinex.ParseObs(bytes.NewReader(m.RINEXObs("GPS")))
	if err != nil {
		t.Fatal(err)
	}
	return parsedMixed{m, n, o}
}

func TestMixedDeterministic(t *testing.T) {
	a, b := NewMixed(), NewMixed()
	if !bytes.Equal(a.RINEXNav(), b.RINEXNav()) || !bytes.Equal(a.RINEXObs("GPS"), b.RINEXObs("GPS")) {
		t.Fatal("two fixtures differ")
	}
	if !bytes.Equal(a.NAV1(3, a.Near(20e3, 10), true), b.NAV1(3, b.Near(20e3, 10), true)) {
		t.Fatal("NAV1 differs")
	}
}

func TestMixedSky(t *testing.T) {
	m := NewMixed()
	count := map[OrbitType]int{}
	for _, s := range m.Sats {
		count[s.Type]++
		st, err := m.stateFunc(s)(s.Toe)
		if err != nil {
			t.Fatal(err)
		}
		// The generator's own placement and the orbit package agree.
		if d := geo.Distance(s.Placed, st.Pos); d > 0.01 {
			t.Errorf("%c%02d: orbit package is %.4f m from the placement", s.Sys, s.PRN, d)
		}
		if s.Type == OrbitGEO {
			if lon := s.Placed.LLH().Lon; math.Abs(lon-s.Lon) > 1e-9 {
				t.Errorf("%c%02d at longitude %.6f, want %.2f", s.Sys, s.PRN, lon, s.Lon)
			}
			continue
		}
		az, el := geo.AzEl(m.TruthLLH, m.Truth, s.Placed)
		if math.Abs(el*180/math.Pi-s.El) > 1.5 || math.Abs(math.Remainder(az*180/math.Pi-s.Az, 360)) > 1.5 {
			t.Errorf("%c%02d placed at az %.1f el %.1f, asked %.0f %.0f", s.Sys, s.PRN, az*180/math.Pi, el*180/math.Pi, s.Az, s.El)
		}
	}
	want := map[OrbitType]int{OrbitGPS: 9, OrbitGEO: 5, OrbitIGSO: 3, OrbitMEO: 4, OrbitGalileo: 4, OrbitGLONASS: 3}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%d %v satellites, want %d", count[k], k, v)
		}
	}
	for _, ep := range m.DataEpochs() {
		if len(ep.Sats) < 27 {
			t.Errorf("epoch %.0f: %d satellites", ep.Time, len(ep.Sats))
		}
		for _, so := range ep.Sats {
			if so.Elevation < 10 {
				t.Errorf("%c%02d at %.1f°", so.Sys, so.PRN, so.Elevation)
			}
		}
	}
	if len(m.DataEpochs()) != obsEpochs || len(m.Epochs) != obsEpochs+5 {
		t.Errorf("%d data epochs of %d records", len(m.DataEpochs()), len(m.Epochs))
	}
}

// sppState evaluates one satellite for a full-pseudorange solution.
func sppGeometry(set *orbit.Set, id orbit.SatID, rx geo.ECEF, tRx float64) (rho, clk float64, los geo.ECEF, sp geo.ECEF, err error) {
	tau := 0.07
	for range 5 {
		var st orbit.State
		st, err = set.State(id, tRx-tau)
		if err != nil {
			return
		}
		s, c := math.Sincos(orbit.OmegaEarth * tau)
		sp = geo.ECEF{c*st.Pos[0] + s*st.Pos[1], -s*st.Pos[0] + c*st.Pos[1], st.Pos[2]}
		d := sp.Sub(rx)
		rho, clk = d.Norm(), st.ClockBias
		los = geo.ECEF{d[0] / rho, d[1] / rho, d[2] / rho}
		tau = rho / orbit.SpeedOfLight
	}
	return
}

// A classic single-point solution from the parsed files' full pseudoranges
// (GPS C1C, BeiDou C2I; position, clock, BeiDou bias) lands on the truth:
// the observation file, its time tags and the navigation file agree.
func TestMixedFullPseudorange(t *testing.T) {
	p := loadMixed(t)
	set := p.nav.Orbits()
	for i, ep := range p.obs.Epochs {
		var x [5]float64 // x, y, z, clock (m), BeiDou bias (m)
		for iter := range 8 {
			rx := geo.ECEF{x[0], x[1], x[2]}
			llh := rx.LLH()
			var n [25]float64
			var g [5]float64
			for _, so := range ep.Sats {
				var id orbit.SatID
				var code string
				switch so.Sys {
				case 'G':
					id, code = orbit.SatID{Sys: orbit.GPS, PRN: so.PRN}, "C1C"
				case 'C':
					id, code = orbit.SatID{Sys: orbit.BeiDou, PRN: so.PRN}, "C2I"
				default:
					continue
				}
				pr, ok := p.obs.Value(so, code)
				if !ok {
					t.Fatalf("%c%02d has no %s", so.Sys, so.PRN, code)
				}
				rho, clk, los, sp, err := sppGeometry(set, id, rx, ep.Time-x[3]/orbit.SpeedOfLight)
				if err != nil {
					t.Fatal(err)
				}
				pred := rho - orbit.SpeedOfLight*clk + x[3]
				h := [5]float64{-los[0], -los[1], -los[2], 1, 0}
				if so.Sys == 'C' {
					pred += x[4]
					h[4] = 1
				}
				if iter > 0 {
					az, el := geo.AzEl(llh, rx, sp)
					scale := 1.0
					if so.Sys == 'C' {
						scale = (fL1 / fB1I) * (fL1 / fB1I)
					}
					pred += p.nav.Iono.L1Delay(ep.Time-x[3]/orbit.SpeedOfLight, llh.Lat, llh.Lon, az, el)*scale + tropo(llh, el)
				}
				for a := range 5 {
					g[a] += h[a] * (pr - pred)
					for b := range 5 {
						n[a*5+b] += h[a] * h[b]
					}
				}
			}
			dx := solve5(n, g)
			for k := range x {
				x[k] += dx[k]
			}
		}
		tag := p.m.DataEpochs()[i].Time
		if d := geo.Distance(geo.ECEF{x[0], x[1], x[2]}, p.m.Truth); d > 0.01 {
			t.Errorf("epoch %d: full-pseudorange fix %.4f m from the truth", i, d)
		}
		if d := x[3] - orbit.SpeedOfLight*p.m.ClockAt(tag); math.Abs(d) > 0.01 {
			t.Errorf("epoch %d: clock off by %.4f m", i, d)
		}
		if d := x[4] - p.m.BeiDouBiasM; math.Abs(d) > 0.01 {
			t.Errorf("epoch %d: BeiDou bias %.4f m, want %.3f", i, x[4], p.m.BeiDouBiasM)
		}
	}
}

// solve5 solves the 5×5 normal equations by Gaussian elimination.
func solve5(n [25]float64, g [5]float64) [5]float64 {
	for c := range 5 {
		p := c
		for r := c + 1; r < 5; r++ {
			if math.Abs(n[r*5+c]) > math.Abs(n[p*5+c]) {
				p = r
			}
		}
		for k := range 5 {
			n[c*5+k], n[p*5+k] = n[p*5+k], n[c*5+k]
		}
		g[c], g[p] = g[p], g[c]
		for r := c + 1; r < 5; r++ {
			f := n[r*5+c] / n[c*5+c]
			for k := c; k < 5; k++ {
				n[r*5+k] -= f * n[c*5+k]
			}
			g[r] -= f * g[c]
		}
	}
	var x [5]float64
	for r := 4; r >= 0; r-- {
		s := g[r]
		for k := r + 1; k < 5; k++ {
			s -= n[r*5+k] * x[k]
		}
		x[r] = s / n[r*5+r]
	}
	return x
}

// capture builds a snapshot capture from a parsed epoch: code phases C1C /
// C2I modulo 1 ms, unquantised, for the systems asked for.
func (p parsedMixed) capture(ep rinex.ObsEpoch, dt float64, systems ...byte) gnss.Capture {
	c := gnss.Capture{TimeEstimate: ep.Time + dt, TimeIndicator: nav.TimeIndicatorAt(ep.Time), HasTimeIndicator: true}
	for _, so := range ep.Sats {
		for _, sys := range systems {
			if so.Sys != sys {
				continue
			}
			id, code, snr := orbit.SatID{Sys: orbit.GPS, PRN: so.PRN}, "C1C", "S1C"
			if sys == 'C' {
				id, code, snr = orbit.SatID{Sys: orbit.BeiDou, PRN: so.PRN}, "C2I", "S2I"
			}
			pr, _ := p.obs.Value(so, code)
			cn0, _ := p.obs.Value(so, snr)
			ms := pr / msRange
			c.Measurements = append(c.Measurements, gnss.Measurement{Sat: id, CodePhase: ms - math.Floor(ms), HasCodePhase: true, CN0: cn0})
		}
	}
	return c
}

// Coarse-time snapshot solves of the generated data (code phases only, AP
// tens of km off, capture time tens of seconds off) reach sub-metre accuracy
// without noise: mixed GPS + BeiDou, BeiDou alone (GEO, IGSO and MEO) and
// GPS alone; the NAV1 path (quantised to 0.9 m) stays within metres.
func TestMixedSnapshotSolve(t *testing.T) {
	p := loadMixed(t)
	cfg := gnss.DefaultConfig()
	cfg.Iono = p.nav.Iono
	s, err := gnss.New(p.nav.Orbits(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		systems []byte
		nSV     int
	}{
		{"GPS+BeiDou", []byte{'G', 'C'}, 21},
		{"BeiDou", []byte{'C'}, 12},
		{"GPS", []byte{'G'}, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, ep := range p.obs.Epochs {
				c := p.capture(ep, 37, tc.systems...)
				sol, err := s.Solve(gnss.Request{Captures: []gnss.Capture{c}, AssistPosition: p.m.Near(45e3, float64(40*i))})
				if err != nil {
					t.Fatalf("epoch %d: %v", i, err)
				}
				if d := geo.Distance(sol.ECEF, p.m.Truth); d > 0.5 {
					t.Errorf("epoch %d: %.3f m from the truth", i, d)
				}
				if sol.NumSVs != tc.nSV {
					t.Errorf("epoch %d: %d SVs, want %d", i, sol.NumSVs, tc.nSV)
				}
				if d := sol.CaptureTimeGPS - p.m.TrueTime(p.m.DataEpochs()[i].Time); math.Abs(d) > 1e-3 {
					t.Errorf("epoch %d: capture time off by %.4f s", i, d)
				}
			}
		})
	}
	t.Run("NAV1 with Doppler, no AP", func(t *testing.T) {
		for i := range p.m.DataEpochs() {
			msg, err := nav.Decode(p.m.NAV1(i, nil, true))
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Constellations) != 2 || msg.NumSVs() != 21 {
				t.Fatalf("NAV1 blocks %d, %d SVs", len(msg.Constellations), msg.NumSVs())
			}
			c, ap, skipped := gnss.FromNAV(&msg, p.m.DataEpochs()[i].Time-50)
			if ap != nil || skipped != 0 {
				t.Fatalf("ap %v skipped %d", ap, skipped)
			}
			sol, err := s.Solve(gnss.Request{Captures: []gnss.Capture{c}})
			if err != nil {
				t.Fatalf("epoch %d: %v", i, err)
			}
			if h, v := geo.HorizontalVertical(p.m.TruthLLH, sol.ECEF); h > 2 || math.Abs(v) > 4 || !sol.DopplerSeed {
				t.Errorf("epoch %d: H %.2f V %.2f m, Doppler seed %v", i, h, v, sol.DopplerSeed)
			}
		}
	})
}

// Snapshot gives what the observation file holds.
func TestMixedSnapshot(t *testing.T) {
	m := NewMixed()
	for i := range m.DataEpochs() {
		ms := m.Snapshot(i)
		if len(ms) != 21 {
			t.Fatalf("epoch %d: %d measurements", i, len(ms))
		}
		for _, me := range ms {
			if !(me.CodePhaseMs >= 0 && me.CodePhaseMs < 1) || me.CN0 < 30 || me.Elevation < 10 {
				t.Errorf("epoch %d %v: %+v", i, me.Sat, me)
			}
			// Doppler matches the range rate from the orbit: ±5 kHz, and
			// NaN only where the file has a blank D2I.
			blank := i == 1 && me.Sat == orbit.SatID{Sys: orbit.BeiDou, PRN: 11}
			if math.IsNaN(me.DopplerHz) != blank || math.Abs(me.DopplerHz) > 5000 {
				t.Errorf("epoch %d %v: Doppler %v", i, me.Sat, me.DopplerHz)
			}
		}
	}
	if got := fmt.Sprint(OrbitGEO, OrbitType(9)); got != "BeiDou GEO OrbitType(9)" {
		t.Errorf("String: %s", got)
	}
}

func BenchmarkNewMixed(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		m := NewMixed()
		_ = m.RINEXNav()
		_ = m.RINEXObs("GPS")
	}
}
