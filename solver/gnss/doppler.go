package gnss

import (
	"fmt"
	"math"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

const (
	muEarth = 3.986005e14
	// dopplerSigma is the a-priori range-rate noise (1 Hz quantisation plus
	// oscillator and multipath effects), m/s.
	dopplerSigma = 0.5
	// surfaceSigma holds the Doppler fix near the ellipsoid, m.
	surfaceSigma = 2000.0
	// Bounds of the search radius derived from a Doppler fix, m.
	minDopplerRadius = 30e3
	maxDopplerRadius = 500e3
)

// dopplerObs is one Doppler measurement as a range rate.
type dopplerObs struct {
	sat  orbit.SatID
	rr   float64 // measured range rate, m/s (−λ·Doppler)
	pred float64
	h    [5]float64
}

// DopplerFix computes a coarse position from the Doppler measurements of one
// capture (Fernández-Hernández & Borre 2016; gnss.md §5 step 8). States are
// position, receiver frequency offset (m/s) and capture-time offset; a soft
// constraint holds the receiver near the ellipsoid. It returns the position
// and its horizontal 1-σ uncertainty in metres. Accuracy is kilometres.
func (s *Solver) DopplerFix(c Capture, timeAccuracy float64) (geo.LLH, float64, error) {
	if timeAccuracy == 0 {
		timeAccuracy = DefaultTimeAccuracy
	}
	centre, half := timeWindow(c, timeAccuracy)
	return s.dopplerSolve(c, centre, half)
}

// dopplerFix seeds a request without an assistance position from the capture
// with the most Doppler measurements. It may narrow the capture-time windows.
func (s *Solver) dopplerFix(req Request, tCenter []float64, tHalf float64) (geo.LLH, float64, error) {
	bestJ, bestN := -1, 0
	for j, c := range req.Captures {
		n := 0
		for _, m := range c.Measurements {
			if m.HasDoppler {
				n++
			}
		}
		if n > bestN {
			bestJ, bestN = j, n
		}
	}
	if bestJ < 0 {
		return geo.LLH{}, 0, fmt.Errorf("%w: the request has no Doppler measurements", ErrNoAssistance)
	}
	llh, sigma, err := s.dopplerSolve(req.Captures[bestJ], tCenter[bestJ], tHalf)
	if err != nil {
		return geo.LLH{}, 0, err
	}
	return llh, math.Max(minDopplerRadius, math.Min(maxDopplerRadius, 5*sigma+10e3)), nil
}

func (s *Solver) dopplerSolve(c Capture, tCenter, tHalf float64) (geo.LLH, float64, error) {
	var obs []dopplerObs
	var sum [3]float64
	for _, m := range c.Measurements {
		if !m.HasDoppler || (m.Sat.Sys != orbit.GPS && m.Sat.Sys != orbit.BeiDou) {
			continue
		}
		st, err := s.orbits.State(m.Sat, tCenter-nominalTau)
		if err != nil {
			continue
		}
		r := math.Sqrt(st.Pos[0]*st.Pos[0] + st.Pos[1]*st.Pos[1] + st.Pos[2]*st.Pos[2])
		for i := range 3 {
			sum[i] += st.Pos[i] / r
		}
		obs = append(obs, dopplerObs{sat: m.Sat, rr: -m.Doppler * Wavelength(m.Sat.Sys)})
	}
	if len(obs) < 5 {
		return geo.LLH{}, 0, fmt.Errorf("%w: %d Doppler measurements with orbits, need 5", ErrNoAssistance, len(obs))
	}
	// Start below the mean direction of the satellites, then around it.
	centre := geo.ECEF(sum).LLH()
	centre.Height = 0
	starts := []geo.LLH{centre}
	for k := range 6 {
		starts = append(starts, geo.Destination(centre, float64(k)*math.Pi/3, 2500e3))
	}
	bestSSR := math.Inf(1)
	var bestX [5]float64
	var bestCov [25]float64
	for _, st := range starts {
		x, cov, ssr, ok := s.dopplerGN(obs, st.ECEF(), tCenter, tHalf)
		if ok && ssr < bestSSR {
			bestSSR, bestX, bestCov = ssr, x, cov
		}
	}
	if math.IsInf(bestSSR, 1) {
		return geo.LLH{}, 0, fmt.Errorf("%w: Doppler fix did not converge", ErrNoAssistance)
	}
	dof := len(obs) + 2 - 5
	scale := math.Max(1, bestSSR/float64(dof))
	llh := geo.ECEF{bestX[0], bestX[1], bestX[2]}.LLH()
	e, n, _ := enuAxes(llh)
	q := func(a [3]float64) float64 {
		var v float64
		for i := range 3 {
			for k := range 3 {
				v += a[i] * bestCov[i*5+k] * a[k]
			}
		}
		return v
	}
	sigma := math.Sqrt(scale * (q(e) + q(n)))
	if bestSSR/float64(dof) > 400 {
		return geo.LLH{}, 0, fmt.Errorf("%w: Doppler fix inconsistent (normalised residual %.0f)", ErrNoAssistance, math.Sqrt(bestSSR/float64(dof)))
	}
	return llh, sigma, nil
}

// dopplerGN iterates the Doppler-only solution from x0. State: x, y, z,
// receiver frequency offset (m/s), time offset (s).
func (s *Solver) dopplerGN(obs []dopplerObs, x0 geo.ECEF, tCenter, tHalf float64) (x [5]float64, cov [25]float64, ssr float64, ok bool) {
	copy(x[:], x0[:])
	const w = 1 / (dopplerSigma * dopplerSigma)
	for iter := range 30 {
		rx := geo.ECEF{x[0], x[1], x[2]}
		t := tCenter + x[4]
		var nrm [25]float64
		var rhs [5]float64
		ssr = 0
		add := func(h [5]float64, wt, v float64) {
			for a := range 5 {
				rhs[a] += wt * h[a] * v
				for b := range 5 {
					nrm[a*5+b] += wt * h[a] * h[b]
				}
			}
		}
		for i := range obs {
			o := &obs[i]
			st, err := s.orbits.State(o.sat, t-nominalTau)
			if err != nil {
				return x, cov, 0, false
			}
			d := [3]float64{st.Pos[0] - rx[0], st.Pos[1] - rx[1], st.Pos[2] - rx[2]}
			r := math.Sqrt(d[0]*d[0] + d[1]*d[1] + d[2]*d[2])
			e := [3]float64{d[0] / r, d[1] / r, d[2] / r}
			v := st.Vel
			ev := e[0]*v[0] + e[1]*v[1] + e[2]*v[2]
			sr := math.Sqrt(st.Pos[0]*st.Pos[0] + st.Pos[1]*st.Pos[1] + st.Pos[2]*st.Pos[2])
			g := -muEarth / (sr * sr * sr)
			const om = orbit.OmegaEarth
			acc := [3]float64{
				g*st.Pos[0] + 2*om*v[1] + om*om*st.Pos[0],
				g*st.Pos[1] - 2*om*v[0] + om*om*st.Pos[1],
				g * st.Pos[2],
			}
			vv := v[0]*v[0] + v[1]*v[1] + v[2]*v[2]
			o.pred = ev + x[3] - orbit.SpeedOfLight*st.ClockDrift
			for c := range 3 {
				o.h[c] = -(v[c] - e[c]*ev) / r
			}
			o.h[3] = 1
			o.h[4] = e[0]*acc[0] + e[1]*acc[1] + e[2]*acc[2] + (vv-ev*ev)/r
		}
		if iter == 0 {
			// Initial frequency offset: the mean unexplained range rate.
			var drift float64
			for i := range obs {
				drift += (obs[i].rr - obs[i].pred) / float64(len(obs))
			}
			x[3] = drift
			for i := range obs {
				obs[i].pred += drift
			}
		}
		for i := range obs {
			res := obs[i].rr - obs[i].pred
			ssr += w * res * res
			add(obs[i].h, w, res)
		}
		llh := rx.LLH()
		up := geo.Up(llh)
		add([5]float64{up[0], up[1], up[2], 0, 0}, 1/(surfaceSigma*surfaceSigma), -llh.Height)
		ts := math.Max(tHalf, 1)
		add([5]float64{0, 0, 0, 0, 1}, 1/(ts*ts), -x[4])
		l := nrm
		if !cholesky(l[:], 5) {
			return x, cov, 0, false
		}
		dx := rhs
		cholSolve(l[:], 5, dx[:])
		// Limit steps so a far start cannot jump through the Earth.
		step := math.Sqrt(dx[0]*dx[0] + dx[1]*dx[1] + dx[2]*dx[2])
		if step > 1500e3 {
			f := 1500e3 / step
			for i := range dx {
				dx[i] *= f
			}
		}
		for i := range x {
			x[i] += dx[i]
		}
		if rn := math.Sqrt(x[0]*x[0] + x[1]*x[1] + x[2]*x[2]); rn < 5e6 || rn > 8e6 || math.IsNaN(rn) {
			return x, cov, 0, false
		}
		if step < 1 && iter > 2 {
			var inv, col [25]float64
			cholInverse(l[:], 5, inv[:], col[:5])
			return x, inv, ssr, true
		}
	}
	return x, cov, 0, false
}
