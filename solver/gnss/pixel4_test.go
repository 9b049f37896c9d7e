package gnss

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// pixelRow is one GPS L1 row of Pixel4_derived.csv.
type pixelRow struct {
	millis        int64
	prn           int
	tTx           float64 // transmission time, GPS s
	pos, vel      [3]float64
	clk, clkDrift float64 // s, s/s
	pr            float64 // rawPrM − ISRB − iono − tropo, m
}

// pixelOrbits serves the states given in the CSV, propagated from the
// nearest row with the ECEF two-body acceleration (no ephemeris involved).
type pixelOrbits struct{ rows map[int][]pixelRow }

func (p pixelOrbits) State(id orbit.SatID, t float64) (orbit.State, error) {
	rows := p.rows[id.PRN]
	if id.Sys != orbit.GPS || len(rows) == 0 {
		return orbit.State{}, fmt.Errorf("%w: %v not in the CSV", orbit.ErrNoOrbit, id)
	}
	r := rows[0]
	for _, c := range rows {
		if math.Abs(c.tTx-t) < math.Abs(r.tTx-t) {
			r = c
		}
	}
	dt := t - r.tTx
	if math.Abs(dt) > 600 {
		return orbit.State{}, fmt.Errorf("%w: %v at %.0f is %.0f s from the CSV", orbit.ErrNoOrbit, id, t, dt)
	}
	s, v := r.pos, r.vel
	rn := math.Sqrt(s[0]*s[0] + s[1]*s[1] + s[2]*s[2])
	g := -3.986005e14 / (rn * rn * rn)
	const om = orbit.OmegaEarth
	a := [3]float64{g*s[0] + 2*om*v[1] + om*om*s[0], g*s[1] - 2*om*v[0] + om*om*s[1], g * s[2]}
	var st orbit.State
	for i := range 3 {
		st.Pos[i] = s[i] + v[i]*dt + a[i]*dt*dt/2
		st.Vel[i] = v[i] + a[i]*dt
	}
	st.ClockBias = r.clk + r.clkDrift*dt
	st.ClockDrift = r.clkDrift
	return st, nil
}

func readCSV(t *testing.T, rel string) []map[string]string {
	t.Helper()
	f, err := os.Open(sharedPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, k := range recs[0] {
			m[k] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func num(t *testing.T, m map[string]string, k string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(m[k], 64)
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return v
}

// pixelSPP is a classic 4-state single-point solution from the full
// pseudoranges (Sagnac-rotated states): the reference the snapshot solution
// must reproduce. It returns the position and the reception time implied by
// the satellite transmission times.
func pixelSPP(rows []pixelRow, start geo.ECEF) (geo.ECEF, float64) {
	const c = orbit.SpeedOfLight
	x := [4]float64{start[0], start[1], start[2], 0}
	rot := func(r pixelRow) (geo.ECEF, float64) {
		d0 := geo.Distance(geo.ECEF(r.pos), geo.ECEF{x[0], x[1], x[2]})
		th := orbit.OmegaEarth * d0 / c
		s, cs := math.Sincos(th)
		p := geo.ECEF{cs*r.pos[0] + s*r.pos[1], -s*r.pos[0] + cs*r.pos[1], r.pos[2]}
		return p, p.Sub(geo.ECEF{x[0], x[1], x[2]}).Norm()
	}
	for range 10 {
		var n [16]float64
		var g [4]float64
		for _, r := range rows {
			p, rr := rot(r)
			d := p.Sub(geo.ECEF{x[0], x[1], x[2]})
			h := [4]float64{-d[0] / rr, -d[1] / rr, -d[2] / rr, 1}
			v := r.pr + c*r.clk - rr - x[3]
			for a := range 4 {
				g[a] += h[a] * v
				for b := range 4 {
					n[a*4+b] += h[a] * h[b]
				}
			}
		}
		cholesky(n[:], 4)
		cholSolve(n[:], 4, g[:])
		for i := range x {
			x[i] += g[i]
		}
	}
	var tRx float64
	for _, r := range rows {
		_, rr := rot(r)
		tRx += (r.tTx + rr/c) / float64(len(rows))
	}
	return geo.ECEF{x[0], x[1], x[2]}, tRx
}

// TestPixel4 validates the solver in isolation on a phone's measurements
// with the satellite states given (no ephemeris code involved): the Pixel 4
// raw pseudoranges (minus the file's ISRB, iono and tropo values) are reduced
// modulo 1 ms and solved with a 40 km AP error and a 20 s time error. The
// snapshot fix must reproduce the full-pseudorange single-point fix of the
// same data; both are also compared with the NovAtel truth. (The file's
// millisSinceGpsEpoch runs about 1 s ahead of the satellite-derived reception
// time; the coarse-time solution recovers the latter.)
func TestPixel4(t *testing.T) {
	const c = orbit.SpeedOfLight
	byEpoch := map[int64][]pixelRow{}
	orbits := pixelOrbits{rows: map[int][]pixelRow{}}
	for _, m := range readCSV(t, "pixel4/Pixel4_derived.csv") {
		if m["signalType"] != "GPS_L1" {
			continue
		}
		r := pixelRow{millis: int64(num(t, m, "millisSinceGpsEpoch")), prn: int(num(t, m, "svid"))}
		r.clk = num(t, m, "satClkBiasM") / c
		r.clkDrift = num(t, m, "satClkDriftMps") / c
		r.tTx = num(t, m, "receivedSvTimeInGpsNanos")/1e9 - r.clk
		r.pos = [3]float64{num(t, m, "xSatPosM"), num(t, m, "ySatPosM"), num(t, m, "zSatPosM")}
		r.vel = [3]float64{num(t, m, "xSatVelMps"), num(t, m, "ySatVelMps"), num(t, m, "zSatVelMps")}
		r.pr = num(t, m, "rawPrM") - num(t, m, "isrbM") - num(t, m, "ionoDelayM") - num(t, m, "tropoDelayM")
		byEpoch[r.millis] = append(byEpoch[r.millis], r)
		orbits.rows[r.prn] = append(orbits.rows[r.prn], r)
	}
	truth := map[int64]geo.LLH{}
	for _, m := range readCSV(t, "pixel4/Pixel4_ground_truth.csv") {
		truth[int64(num(t, m, "millisSinceGpsEpoch"))] = geo.LLH{Lat: num(t, m, "latDeg"), Lon: num(t, m, "lngDeg"), Height: num(t, m, "heightAboveWgs84EllipsoidM")}
	}
	cfg := DefaultConfig()
	cfg.NoTropo = true // the CSV's tropo delays are removed from the ranges
	cfg.SigmaCode = 5
	sv, err := New(orbits, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hs, sppHs []float64
	for millis, rows := range byEpoch {
		tr, ok := truth[millis]
		if !ok {
			t.Fatalf("no truth at %d", millis)
		}
		spp, tRx := pixelSPP(rows, tr.ECEF())
		capt := Capture{TimeEstimate: float64(millis)/1e3 + 20}
		for _, r := range rows {
			ms := r.pr / msRange
			capt.Measurements = append(capt.Measurements, Measurement{Sat: orbit.SatID{Sys: orbit.GPS, PRN: r.prn}, CodePhase: ms - math.Floor(ms), HasCodePhase: true})
		}
		ap := geo.Destination(tr, 0.7, 40e3)
		sol, err := sv.Solve(Request{Captures: []Capture{capt}, TimeAccuracy: 30, AssistPosition: &ap})
		if err != nil {
			t.Fatalf("epoch %d: %v", millis, err)
		}
		h, v := geo.HorizontalVertical(tr, sol.ECEF)
		sh, svv := geo.HorizontalVertical(tr, spp)
		hs, sppHs = append(hs, h), append(sppHs, sh)
		t.Logf("epoch %d: %d SVs; snapshot H %.1f V %.1f m (accuracy %.1f m); full-range SPP H %.1f V %.1f m; time %.4f s from SPP",
			millis, sol.NumSVs, h, v, sol.Accuracy, sh, svv, sol.CaptureTimeGPS-tRx)
		if d := geo.Distance(sol.ECEF, spp); d > 30 {
			t.Errorf("epoch %d: snapshot fix %.1f m from the full-range fix", millis, d)
		}
		if d := sol.CaptureTimeGPS - tRx; math.Abs(d) > 0.03 { // CTN time is good to milliseconds
			t.Errorf("epoch %d: capture time %.4f s from the satellite-derived reception time", millis, d)
		}
	}
	if len(hs) != 7 {
		t.Fatalf("%d epochs", len(hs))
	}
	t.Logf("H median: snapshot %.1f m, full-range SPP %.1f m", median(hs), median(sppHs))
	if med := median(hs); med > 15 || slices.Max(hs) > 40 {
		t.Errorf("Pixel 4: H median %.1f m, max %.1f m", med, slices.Max(hs))
	}
}
