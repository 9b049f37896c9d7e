package gnss

import (
	"math"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

const (
	msRange = orbit.SpeedOfLight * 1e-3 // metres per millisecond of code
	// nominalTau is a typical signal travel time, used before ranges are known.
	nominalTau = 0.075
	maxGNIter  = 12
)

// elevSigma is the zenith σ of the elevation-dependent error (residual
// atmosphere, multipath), m; it grows as 1/sin(elevation) and adds to the
// code noise in quadrature.
const elevSigma = 1.0

// obsRec is one code-phase measurement in a problem.
type obsRec struct {
	sat   orbit.SatID
	idx   int     // position in the full measurement list (state caches)
	cap   int     // capture index
	z     float64 // code phase, ms
	sigma float64 // a-priori zenith σ including the C/N0 factor, m
	isBDS bool

	// Integer resolution.
	n   int     // integer milliseconds
	rho float64 // full pseudorange (n + z)·msRange

	// Linearisation at the current estimate.
	tau   float64    // signal travel time, s
	los   [3]float64 // unit vector receiver → satellite
	rate  float64    // range rate along los, m/s
	pred  float64    // r − c·dts + atmosphere (no receiver clock), m
	sinEl float64    // sine of the elevation
	w     float64    // weight 1/σ²
	resid float64    // ρ − predicted, m
}

// problem holds the data of one Solve and its workspace. Parameter layout:
// x, y, z, then per capture (b_j metres, δt_j seconds), then the BeiDou−GPS
// inter-system bias when both systems are present.
type problem struct {
	s       *Solver
	obs     []obsRec
	nAll    int // measurements before fault exclusion
	nCap    int
	tCenter []float64 // centre of each capture's time window, GPS s
	tHalf   float64   // half-width of the time windows, s
	isb     bool
	nParam  int

	ap       geo.ECEF // search centre
	apLLH    geo.LLH
	apRadius float64 // plausible distance of the solution from ap

	use2D bool
	alt   float64

	dopplerSeed bool // the search centre came from a Doppler-only fix

	// Workspace.
	nrm, rhs, inv, col []float64
}

func (p *problem) isbIndex() int { return 3 + 2*p.nCap }

// estimate is a point in parameter space plus the hypothesis times.
type estimate struct {
	x    []float64 // nParam
	tHyp []float64 // per capture
}

func (p *problem) newEstimate() estimate {
	return estimate{x: make([]float64, p.nParam), tHyp: make([]float64, p.nCap)}
}

func (e estimate) copyTo(d estimate) {
	copy(d.x, e.x)
	copy(d.tHyp, e.tHyp)
}

func (e estimate) pos() geo.ECEF { return geo.ECEF{e.x[0], e.x[1], e.x[2]} }

// captureTime returns the current time of capture j.
func (e estimate) captureTime(j int) float64 { return e.tHyp[j] + e.x[4+2*j] }

// satState returns the state of o's satellite for a signal received at tRx
// after travel time tau, rotated into the ECEF frame at reception (Sagnac).
func (p *problem) satState(o *obsRec, tRx, tau float64) (pos, vel [3]float64, clk float64, err error) {
	st, err := p.s.orbits.State(o.sat, tRx-tau)
	if err != nil {
		return pos, vel, 0, err
	}
	th := orbit.OmegaEarth * tau
	sn, cs := math.Sincos(th)
	pos = [3]float64{cs*st.Pos[0] + sn*st.Pos[1], -sn*st.Pos[0] + cs*st.Pos[1], st.Pos[2]}
	vel = [3]float64{cs*st.Vel[0] + sn*st.Vel[1], -sn*st.Vel[0] + cs*st.Vel[1], st.Vel[2]}
	return pos, vel, st.ClockBias, nil
}

// linearize evaluates every measurement at e: line of sight, range rate,
// prediction and weight. The travel time comes from the previous call (or
// nominalTau), which converges with the Gauss-Newton iteration.
func (p *problem) linearize(e estimate, atmos bool) bool {
	rx := e.pos()
	llh := rx.LLH()
	up := geo.Up(llh)
	for i := range p.obs {
		o := &p.obs[i]
		if o.tau == 0 {
			o.tau = nominalTau
		}
		tRx := e.captureTime(o.cap)
		sp, sv, clk, err := p.satState(o, tRx, o.tau)
		if err != nil {
			return false
		}
		p.fill(o, rx, up, sp, sv, clk)
		if atmos {
			p.addAtmosphere(o, rx, llh, tRx, sp)
		}
	}
	return true
}

// satCache is a satellite state evaluated once per time hypothesis.
type satCache struct {
	pos, vel [3]float64
	clk      float64
}

// cacheStates evaluates every satellite at the window centres shifted by
// toff, with the nominal travel time, indexed by obsRec.idx. A satellite
// whose orbit fails keeps a zero state and is screened out by its residual.
func (p *problem) cacheStates(toff float64) []satCache {
	out := make([]satCache, p.nAll)
	for i := range p.obs {
		o := &p.obs[i]
		sp, sv, clk, err := p.satState(o, p.tCenter[o.cap]+toff, nominalTau)
		if err == nil {
			out[o.idx] = satCache{sp, sv, clk}
		}
	}
	return out
}

// linearizeCached is linearize with cached states and no atmosphere, for
// screening hypotheses (range errors of about ten metres). up is the local
// vertical at the hypothesis position.
func (p *problem) linearizeCached(e estimate, up geo.ECEF, cache []satCache) {
	rx := e.pos()
	for i := range p.obs {
		o := &p.obs[i]
		c := &cache[o.idx]
		p.fill(o, rx, up, c.pos, c.vel, c.clk)
	}
}

// fill derives the geometry, prediction (without atmosphere) and weight of o
// from a satellite state.
func (p *problem) fill(o *obsRec, rx, up geo.ECEF, sp, sv [3]float64, clk float64) {
	d := [3]float64{sp[0] - rx[0], sp[1] - rx[1], sp[2] - rx[2]}
	r := math.Sqrt(d[0]*d[0] + d[1]*d[1] + d[2]*d[2])
	o.los = [3]float64{d[0] / r, d[1] / r, d[2] / r}
	o.tau = r / orbit.SpeedOfLight
	o.rate = o.los[0]*sv[0] + o.los[1]*sv[1] + o.los[2]*sv[2]
	o.sinEl = o.los[0]*up[0] + o.los[1]*up[1] + o.los[2]*up[2]
	o.pred = r - orbit.SpeedOfLight*clk
	se := elevSigma / math.Max(o.sinEl, sinMinWeightEl)
	o.w = 1 / (o.sigma*o.sigma + se*se)
}

// sinMinWeightEl is sin 5°: the elevation weighting stops growing below it.
const sinMinWeightEl = 0.08715574274765817

// addAtmosphere adds the ionosphere and troposphere delays to o's prediction.
func (p *problem) addAtmosphere(o *obsRec, rx geo.ECEF, llh geo.LLH, tRx float64, sp [3]float64) {
	if o.sinEl <= 0 {
		return
	}
	cfg := &p.s.cfg
	el := math.Asin(math.Min(1, o.sinEl))
	if cfg.Iono != nil {
		az, _ := geo.AzEl(llh, rx, geo.ECEF(sp))
		o.pred += cfg.Iono.L1Delay(tRx, llh.Lat, llh.Lon, az, el) * ionoScale(o.sat.Sys)
	}
	if !cfg.NoTropo {
		o.pred += saastamoinen(llh.Lat, llh.Height, el)
	}
}

// initClock sets each capture's bias to the mean of ρ − prediction.
func (p *problem) initClock(e estimate) {
	for j := range p.nCap {
		s, n := 0.0, 0
		for i := range p.obs {
			if o := &p.obs[i]; o.cap == j {
				d := o.rho - o.pred
				if o.isBDS && p.isb {
					d -= e.x[p.isbIndex()]
				}
				s += d
				n++
			}
		}
		if n > 0 {
			e.x[3+2*j] = s / float64(n)
		}
	}
}

// residuals computes residuals from the last linearization and returns the
// weighted sum of squares and the plain RMS in metres.
func (p *problem) residuals(e estimate) (ssr, rms float64) {
	var sum float64
	for i := range p.obs {
		o := &p.obs[i]
		pr := o.pred + e.x[3+2*o.cap]
		if o.isBDS && p.isb {
			pr += e.x[p.isbIndex()]
		}
		o.resid = o.rho - pr
		ssr += o.w * o.resid * o.resid
		sum += o.resid * o.resid
	}
	if p.use2D {
		d := p.alt - e.pos().LLH().Height
		ssr += d * d / (p.s.cfg.AltitudeSigma * p.s.cfg.AltitudeSigma)
	}
	return ssr, math.Sqrt(sum / float64(len(p.obs)))
}

// normal builds the weighted normal equations at the last linearization.
// With unit weights it gives the geometry matrix HᵀH used for the DOP.
func (p *problem) normal(e estimate, unit bool) {
	n := p.nParam
	for i := range p.nrm[:n*n] {
		p.nrm[i] = 0
	}
	for i := range p.rhs[:n] {
		p.rhs[i] = 0
	}
	var row [8]float64
	var idx [8]int
	add := func(k int, w, v float64) {
		for a := range k {
			ia := idx[a]
			p.rhs[ia] += w * row[a] * v
			for b := 0; b <= a; b++ {
				ib := idx[b]
				if ia >= ib {
					p.nrm[ia*n+ib] += w * row[a] * row[b]
				} else {
					p.nrm[ib*n+ia] += w * row[a] * row[b]
				}
			}
		}
	}
	for i := range p.obs {
		o := &p.obs[i]
		k := 0
		for c := range 3 {
			idx[k], row[k] = c, -o.los[c]
			k++
		}
		idx[k], row[k] = 3+2*o.cap, 1
		k++
		idx[k], row[k] = 4+2*o.cap, o.rate
		k++
		if o.isBDS && p.isb {
			idx[k], row[k] = p.isbIndex(), 1
			k++
		}
		w := o.w
		if unit {
			w = 1
		}
		add(k, w, o.resid)
	}
	if unit {
		return
	}
	// Weak prior keeping each capture time inside its window.
	sig := math.Max(p.tHalf, 1)
	for j := range p.nCap {
		idx[0], row[0] = 4+2*j, 1
		add(1, 1/(sig*sig), p.tCenter[j]-e.captureTime(j))
	}
	if p.use2D {
		llh := e.pos().LLH()
		up := geo.Up(llh)
		for c := range 3 {
			idx[c], row[c] = c, up[c]
		}
		s := p.s.cfg.AltitudeSigma
		add(3, 1/(s*s), p.alt-llh.Height)
	}
	// Mirror the lower triangle.
	for a := range n {
		for b := a + 1; b < n; b++ {
			p.nrm[a*n+b] = p.nrm[b*n+a]
		}
	}
}

// stepRMS takes one linear least-squares step from the last linearization
// (residuals already computed) without applying it, and returns the RMS of
// the linearised post-fit residuals in metres. Wrong integer sets leave
// residuals of kilometres; a right set leaves the linearisation error only.
func (p *problem) stepRMS(e estimate) (float64, bool) {
	n := p.nParam
	p.normal(e, false)
	if !cholesky(p.nrm, n) {
		return 0, false
	}
	cholSolve(p.nrm, n, p.rhs)
	dx := p.rhs
	var sum float64
	for i := range p.obs {
		o := &p.obs[i]
		pred := -o.los[0]*dx[0] - o.los[1]*dx[1] - o.los[2]*dx[2] + dx[3+2*o.cap] + o.rate*dx[4+2*o.cap]
		if o.isBDS && p.isb {
			pred += dx[p.isbIndex()]
		}
		r := o.resid - pred
		sum += r * r
	}
	return math.Sqrt(sum / float64(len(p.obs))), true
}

// gaussNewton iterates from e (integers fixed) to convergence. It returns
// false if the geometry is singular, the orbit source fails or the iteration
// diverges.
func (p *problem) gaussNewton(e estimate) bool {
	n := p.nParam
	for range maxGNIter {
		if !p.linearize(e, true) {
			return false
		}
		p.residuals(e)
		p.normal(e, false)
		if !cholesky(p.nrm, n) {
			return false
		}
		cholSolve(p.nrm, n, p.rhs)
		for i := range n {
			e.x[i] += p.rhs[i]
		}
		r := math.Sqrt(e.x[0]*e.x[0] + e.x[1]*e.x[1] + e.x[2]*e.x[2])
		if r < 5e6 || r > 8e6 || math.IsNaN(r) {
			return false
		}
		step := math.Sqrt(p.rhs[0]*p.rhs[0] + p.rhs[1]*p.rhs[1] + p.rhs[2]*p.rhs[2])
		if step < 1e-3 {
			break
		}
	}
	return p.linearize(e, true)
}
