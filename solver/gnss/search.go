package gnss

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// DefaultTimeAccuracy is the capture-time accuracy assumed when a request
// gives none (LoRa Cloud's default).
const DefaultTimeAccuracy = 300.0

// indicatorAccuracy is the accuracy below which the time indicator is ignored.
const indicatorAccuracy = 16.0

// captureTimeSlack is added to the accuracy in the final capture-time check,
// so that a capture exactly at the accuracy bound is not rejected for the
// millisecond-level uncertainty of the solved time.
const captureTimeSlack = 1.0

// Solve computes a position from req (see Request). Errors wrap ErrTooFewSVs,
// ErrNoOrbit, ErrCaptureTime, ErrIntegrity, ErrNoAssistance or ErrInvalidInput.
func (s *Solver) Solve(req Request) (Solution, error) {
	p, err := s.newProblem(req)
	if err != nil {
		return Solution{}, err
	}
	return p.search(req)
}

// timeWindow returns the centre and half-width of a capture's time window.
func timeWindow(c Capture, acc float64) (centre, half float64) {
	if c.HasTimeIndicator && acc >= indicatorAccuracy {
		start := nav.TimeWindow(c.TimeIndicator, c.TimeEstimate)
		return start + nav.TimeIndicatorPeriod/2, nav.TimeIndicatorPeriod/2 + nav.TimeIndicatorSlack*nav.TimeIndicatorPeriod
	}
	return c.TimeEstimate, acc
}

// cnFactor scales the code noise with C/N0 (amplitude ratio to 45 dB-Hz, 1…4).
func cnFactor(cn0 float64) float64 {
	if cn0 <= 0 {
		return 1
	}
	return math.Max(1, math.Min(4, math.Pow(10, (45-cn0)/20)))
}

func (s *Solver) newProblem(req Request) (*problem, error) {
	if len(req.Captures) == 0 {
		return nil, fmt.Errorf("%w: no capture", ErrInvalidInput)
	}
	if len(req.Captures) > 16 {
		return nil, fmt.Errorf("%w: %d captures (at most 16)", ErrInvalidInput, len(req.Captures))
	}
	acc := req.TimeAccuracy
	if acc == 0 {
		acc = DefaultTimeAccuracy
	}
	if !(acc > 0) || acc > 7*86400 {
		return nil, fmt.Errorf("%w: time accuracy %g s", ErrInvalidInput, req.TimeAccuracy)
	}
	if req.Use2D && req.AssistAltitude == nil {
		return nil, fmt.Errorf("%w: 2D solve needs an assist altitude", ErrInvalidInput)
	}
	if a := req.AssistAltitude; a != nil && !(*a > -1000 && *a < 1e5) {
		return nil, fmt.Errorf("%w: assist altitude %g m", ErrInvalidInput, *a)
	}
	if ap := req.AssistPosition; ap != nil && !(math.Abs(ap.Lat) <= 90 && math.Abs(ap.Lon) <= 360 && math.Abs(ap.Height) < 1e5) {
		return nil, fmt.Errorf("%w: assist position %+v", ErrInvalidInput, *ap)
	}
	p := &problem{s: s, nCap: len(req.Captures), tCenter: make([]float64, len(req.Captures)), use2D: req.Use2D}
	if req.AssistAltitude != nil {
		p.alt = *req.AssistAltitude
	}
	var missing []string
	var orbitErr error
	var gps, bds bool
	for j, c := range req.Captures {
		if !(c.TimeEstimate > 0 && c.TimeEstimate < 1e11) {
			return nil, fmt.Errorf("%w: capture %d time estimate %g", ErrInvalidInput, j, c.TimeEstimate)
		}
		var half float64
		p.tCenter[j], half = timeWindow(c, acc)
		if math.Abs(p.tCenter[j]-c.TimeEstimate) > acc+half {
			return nil, fmt.Errorf("%w: capture %d time indicator %d is %.0f s from the estimate (accuracy %g s)",
				ErrCaptureTime, j, c.TimeIndicator, p.tCenter[j]-c.TimeEstimate, acc)
		}
		p.tHalf = math.Max(p.tHalf, half)
		seen := map[orbit.SatID]bool{}
		for _, m := range c.Measurements {
			if !m.HasCodePhase || seen[m.Sat] || !(m.CodePhase >= 0 && m.CodePhase < 1) {
				continue
			}
			if m.Sat.Sys != orbit.GPS && m.Sat.Sys != orbit.BeiDou {
				missing = append(missing, m.Sat.String())
				continue
			}
			if _, err := s.orbits.State(m.Sat, p.tCenter[j]-nominalTau); err != nil {
				missing = append(missing, m.Sat.String())
				if orbitErr == nil {
					orbitErr = err
				}
				continue
			}
			seen[m.Sat] = true
			o := obsRec{sat: m.Sat, cap: j, z: m.CodePhase, sigma: s.cfg.SigmaCode * cnFactor(m.CN0), isBDS: m.Sat.Sys == orbit.BeiDou}
			gps = gps || !o.isBDS
			bds = bds || o.isBDS
			p.obs = append(p.obs, o)
		}
	}
	p.isb = gps && bds
	p.nParam = 3 + 2*p.nCap
	if p.isb {
		p.nParam++
	}
	if err := p.checkCount(missing, orbitErr); err != nil {
		return nil, err
	}
	n := p.nParam
	p.nrm, p.rhs, p.inv, p.col = make([]float64, n*n), make([]float64, n), make([]float64, n*n), make([]float64, n)

	switch {
	case req.AssistPosition != nil:
		p.apLLH = *req.AssistPosition
		if req.AssistAltitude != nil {
			p.apLLH.Height = *req.AssistAltitude
		}
		p.apRadius = s.cfg.APSearchRadius
	default:
		llh, radius, err := s.dopplerFix(req, p.tCenter, p.tHalf)
		if err != nil {
			return nil, err
		}
		p.apLLH, p.apRadius, p.dopplerSeed = llh, radius, true
		if req.AssistAltitude != nil {
			p.apLLH.Height = *req.AssistAltitude
		}
	}
	p.ap = p.apLLH.ECEF()
	p.applyMask()
	return p, nil
}

// minObs is the number of code measurements the states need.
func (p *problem) minObs() int {
	n := p.nParam
	if p.use2D {
		n--
	}
	return n
}

func (p *problem) checkCount(missing []string, orbitErr error) error {
	perCap := make([]int, p.nCap)
	for _, o := range p.obs {
		perCap[o.cap]++
	}
	short := len(p.obs) < p.minObs()
	for _, c := range perCap {
		short = short || c < 2
	}
	if !short {
		return nil
	}
	if len(missing) > 0 {
		if orbitErr == nil {
			orbitErr = errors.New("unsupported system")
		}
		return fmt.Errorf("%w: %d usable code phases, need %d (%w: %s: %v)",
			ErrTooFewSVs, len(p.obs), p.minObs(), ErrNoOrbit, strings.Join(missing, " "), orbitErr)
	}
	return fmt.Errorf("%w: %d usable code phases, need %d", ErrTooFewSVs, len(p.obs), p.minObs())
}

// applyMask drops satellites below the elevation mask, as seen from the
// search centre, while enough measurements remain for one degree of freedom.
func (p *problem) applyMask() {
	e := p.newEstimate()
	copy(e.x, p.ap[:])
	copy(e.tHyp, p.tCenter)
	if !p.linearize(e, false) {
		return
	}
	slices.SortStableFunc(p.obs, func(a, b obsRec) int { return cmp.Compare(b.sinEl, a.sinEl) })
	for len(p.obs) > p.minObs()+1 {
		last := p.obs[len(p.obs)-1]
		if last.sinEl >= math.Sin(p.s.cfg.ElevationMask) {
			break
		}
		n := 0
		for _, o := range p.obs {
			if o.cap == last.cap {
				n++
			}
		}
		if n <= 2 {
			break
		}
		p.obs = p.obs[:len(p.obs)-1]
	}
	for i := range p.obs {
		p.obs[i].tau = 0
		p.obs[i].idx = i
	}
	p.nAll = len(p.obs)
}

// hypothesis is one starting point of the search.
type hypothesis struct {
	pos  geo.ECEF
	up   geo.ECEF // local vertical at pos
	toff float64  // time offset from the window centres, s
	ti   int      // index of toff in the time grid
	rank float64  // expected error of predicted range differences, m
}

// prescreenRMS rejects an integer hypothesis whose linearised post-fit
// residuals at the hypothesis exceed it, m. The linearisation error of a
// right set stays below a few hundred metres within one grid cell.
const prescreenRMS = 3000.0

// rangeRateScale converts a time offset into an equivalent range-difference
// error for ordering hypotheses (a typical |ρ̇_k − ρ̇_ref|).
const rangeRateScale = 800.0

func (p *problem) hypotheses() ([]hypothesis, int) {
	cfg := &p.s.cfg
	var aps, ups []geo.ECEF
	var dists []float64
	gs := cfg.APGridStep
	lim := p.apRadius + 0.6*gs
	nj := int(lim/(gs*math.Sqrt(3)/2)) + 1
	ni := int(lim/gs) + 2
	for j := -nj; j <= nj; j++ {
		for i := -ni; i <= ni; i++ {
			e := (float64(i) + float64(j)/2) * gs
			n := float64(j) * gs * math.Sqrt(3) / 2
			d := math.Hypot(e, n)
			if d > lim || (p.apRadius == 0 && d > 0) {
				continue
			}
			q := p.apLLH
			if d > 0 {
				q = geo.Destination(p.apLLH, math.Atan2(e, n), d)
			}
			aps, ups = append(aps, q.ECEF()), append(ups, geo.Up(q))
			dists = append(dists, d)
		}
	}
	// Time offsets nearest first, no more than the budget can visit.
	var toffs []float64
	step := cfg.TimeGridStep
	maxT := max(1, cfg.MaxHypotheses/len(aps))
	for k := 0; float64(k)*step < p.tHalf+step/2 && len(toffs) < maxT; k++ {
		toffs = append(toffs, float64(k)*step)
		if k > 0 && len(toffs) < maxT {
			toffs = append(toffs, -float64(k)*step)
		}
	}
	hs := make([]hypothesis, 0, len(aps)*len(toffs))
	for ti, t := range toffs {
		for i, a := range aps {
			hs = append(hs, hypothesis{pos: a, up: ups[i], toff: t, ti: ti, rank: dists[i] + rangeRateScale*math.Abs(t)})
		}
	}
	slices.SortStableFunc(hs, func(a, b hypothesis) int { return cmp.Compare(a.rank, b.rank) })
	return hs, len(toffs)
}

// candidate is a converged solution of one integer set.
type candidate struct {
	est      estimate
	obs      []obsRec // the measurements used, with their integers
	ssr, rms float64
}

// evaluate computes the fit statistics of the current (converged) estimate.
func (p *problem) evaluate(e estimate) (ssr, rms float64, plausible bool) {
	ssr, rms = p.residuals(e)
	llh := e.pos().LLH()
	plausible = geo.Distance(e.pos(), p.ap) <= p.apRadius+50e3
	if !p.use2D {
		plausible = plausible && llh.Height >= p.s.cfg.MinHeight && llh.Height <= p.s.cfg.MaxHeight
	}
	for j := range p.nCap {
		plausible = plausible && math.Abs(e.captureTime(j)-p.tCenter[j]) <= p.tHalf+10
	}
	return ssr, rms, plausible
}

// refine runs Gauss-Newton from e with the current integers, re-resolving
// them at the solution until they no longer change.
func (p *problem) refine(e estimate, seen map[uint64]bool) bool {
	key := p.hashInts()
	for range 4 {
		if !p.gaussNewton(e) {
			return false
		}
		k2 := p.resolveAt(e)
		if k2 == key {
			return true
		}
		seen[k2] = true
		key = k2
	}
	return p.linearize(e, true)
}

// resolveAt re-resolves integers at a solution, keeping each reference
// integer consistent with the estimated clock so the bias stays valid.
func (p *problem) resolveAt(e estimate) uint64 {
	for j := range p.nCap {
		ref := p.refIndex(j)
		if ref < 0 {
			continue
		}
		r := &p.obs[ref]
		pr := r.pred + e.x[3+2*j]
		if r.isBDS && p.isb {
			pr += e.x[p.isbIndex()]
		}
		r.n = int(math.Round(pr/msRange - r.z))
		p.assign(j, ref)
	}
	return p.hashInts()
}

func (p *problem) refIndex(j int) int {
	ref := -1
	for i := range p.obs {
		if p.obs[i].cap == j && (ref < 0 || p.obs[i].sinEl > p.obs[ref].sinEl) {
			ref = i
		}
	}
	return ref
}

func (p *problem) hashInts() uint64 {
	h := uint64(14695981039346656037)
	for j := range p.nCap {
		first := -1
		for i := range p.obs {
			if p.obs[i].cap != j {
				continue
			}
			if first < 0 {
				first = i
			}
			h = (h ^ uint64(int64(p.obs[i].n-p.obs[first].n)+1<<20)) * 1099511628211
		}
	}
	return h
}

func (p *problem) snapshot(e estimate, ssr, rms float64, c *candidate) {
	if c.est.x == nil {
		c.est = p.newEstimate()
	}
	e.copyTo(c.est)
	c.obs = append(c.obs[:0], p.obs...)
	c.ssr, c.rms = ssr, rms
}

func (p *problem) dof() int { return len(p.obs) + b2i(p.use2D) - p.nParam }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// search runs the hypothesis search and builds the solution. When no
// integer set passes the residual test with all satellites, the search is
// repeated without each satellite in turn (one fault: a wrong code phase or
// a cross-correlation), lowest elevation first.
func (p *problem) search(req Request) (Solution, error) {
	cfg := &p.s.cfg
	hs, nt := p.hypotheses()
	caches := make([][]satCache, nt)
	var best candidate
	best.ssr = math.Inf(1)
	budget := cfg.MaxHypotheses
	visited := p.searchSet(hs, caches, &best, budget)
	var excluded []orbit.SatID
	if best.rms > cfg.IntegrityRMS || math.IsInf(best.ssr, 1) {
		all := p.obs
		var alt candidate
		alt.ssr = math.Inf(1)
		drop := -1
		if len(all)-1 >= p.minObs()+1 {
			sub := make([]obsRec, 0, len(all)-1)
			for k := len(all) - 1; k >= 0; k-- {
				sub = append(append(sub[:0], all[:k]...), all[k+1:]...)
				p.obs = sub
				if p.checkCount(nil, nil) != nil {
					continue
				}
				var c candidate
				c.ssr = math.Inf(1)
				if visited >= budget {
					break
				}
				visited += p.searchSet(hs, caches, &c, budget-visited)
				if c.rms <= cfg.IntegrityRMS && c.ssr < alt.ssr {
					alt, drop = c, k
					if p.early(c.rms) {
						break
					}
				}
			}
		}
		p.obs = all
		if drop < 0 {
			if math.IsInf(best.ssr, 1) {
				return Solution{}, fmt.Errorf("%w: no plausible solution among %d hypotheses%s", ErrIntegrity, visited, exhausted(visited, budget))
			}
			return Solution{}, fmt.Errorf("%w: residual RMS %.0f m > %.0f m with %d satellites (%d hypotheses%s)",
				ErrIntegrity, best.rms, cfg.IntegrityRMS, len(p.obs), visited, exhausted(visited, budget))
		}
		best = alt
		excluded = []orbit.SatID{all[drop].sat}
	}
	p.obs = best.obs
	sol, err := p.solution(best.est, req)
	if err != nil {
		return Solution{}, err
	}
	sol.Hypotheses = visited
	sol.Excluded = excluded
	sol.DopplerSeed = p.dopplerSeed
	return sol, nil
}

func exhausted(visited, budget int) string {
	if visited >= budget {
		return ", search budget exhausted"
	}
	return ""
}

// early reports whether a fit is good enough to stop searching: spare
// measurements to test it and residuals well inside the limit.
func (p *problem) early(rms float64) bool {
	return p.dof() >= 2 && rms <= p.s.cfg.IntegrityRMS/2
}

// searchSet runs the hypotheses over the current measurement set, keeping the
// plausible candidate with the smallest weighted residual in best. It returns
// the number of hypotheses visited. caches hold satellite states per time
// offset, indexed by obsRec.idx.
func (p *problem) searchSet(hs []hypothesis, caches [][]satCache, best *candidate, budget int) int {
	seen := map[uint64]bool{}
	cur := p.newEstimate()
	visited := 0
	for _, h := range hs {
		if visited >= budget {
			break
		}
		visited++
		for i := range cur.x {
			cur.x[i] = 0
		}
		copy(cur.x, h.pos[:])
		for j := range cur.tHyp {
			cur.tHyp[j] = p.tCenter[j] + h.toff
		}
		if caches[h.ti] == nil {
			caches[h.ti] = p.cacheStates(h.toff)
		}
		p.linearizeCached(cur, h.up, caches[h.ti])
		for j := range p.nCap {
			if ref := p.refIndex(j); ref >= 0 {
				r := &p.obs[ref]
				r.n = int(math.Floor(r.pred / msRange))
				p.assign(j, ref)
			}
		}
		key := p.hashInts()
		if seen[key] {
			continue
		}
		p.initClock(cur)
		p.residuals(cur)
		// A far start can fail the screen with the right integers, so only
		// screened sets are marked as seen.
		if r, ok := p.stepRMS(cur); !ok || r > prescreenRMS {
			continue
		}
		seen[key] = true
		if !p.refine(cur, seen) {
			continue
		}
		ssr, rms, plausible := p.evaluate(cur)
		if !plausible {
			continue
		}
		if ssr < best.ssr {
			p.snapshot(cur, ssr, rms, best)
		}
		if p.early(rms) {
			break
		}
	}
	return visited
}

// assign derives every integer of capture j from its reference ref.
func (p *problem) assign(j, ref int) {
	r := &p.obs[ref]
	for i := range p.obs {
		o := &p.obs[i]
		if o.cap != j {
			continue
		}
		if i != ref {
			o.n = int(math.Round(float64(r.n) + r.z - o.z + (o.pred-r.pred)/msRange))
		}
		o.rho = (float64(o.n) + o.z) * msRange
	}
}

// solution builds the output at e with the current integers.
func (p *problem) solution(e estimate, req Request) (Solution, error) {
	if !p.linearize(e, true) {
		return Solution{}, fmt.Errorf("%w: orbit evaluation failed at the solution", ErrNoOrbit)
	}
	ssr, rms := p.residuals(e)
	sol := Solution{
		ECEF:        e.pos(),
		NumSVs:      len(p.obs),
		ResidualRMS: rms,
		Redundancy:  p.dof(),
	}
	sol.LLH = sol.ECEF.LLH()
	acc := req.TimeAccuracy
	if acc == 0 {
		acc = DefaultTimeAccuracy
	}
	sol.CaptureTimesGPS = make([]float64, p.nCap)
	for j := range p.nCap {
		t := e.captureTime(j)
		sol.CaptureTimesGPS[j] = t
		if d := t - req.Captures[j].TimeEstimate; math.Abs(d) > acc+captureTimeSlack {
			return Solution{}, fmt.Errorf("%w: capture %d solved %.1f s from the estimate (accuracy %g s)", ErrCaptureTime, j, d, acc)
		}
	}
	sol.CaptureTimeGPS = sol.CaptureTimesGPS[p.nCap-1]

	n := p.nParam
	// GDOP from the unweighted geometry (position + first clock block).
	p.normal(e, true)
	if cholesky(p.nrm, n) {
		cholInverse(p.nrm, n, p.inv, p.col)
		sol.GDOP = math.Sqrt(p.inv[0] + p.inv[n+1] + p.inv[2*n+2] + p.inv[3*n+3])
	}
	// Accuracy from the weighted covariance, scaled by the residuals.
	p.normal(e, false)
	if !cholesky(p.nrm, n) {
		return Solution{}, fmt.Errorf("%w: singular geometry at the solution", ErrIntegrity)
	}
	cholInverse(p.nrm, n, p.inv, p.col)
	// Variance factor: median-unbiased (the χ² median by Wilson–Hilferty),
	// so that few spare measurements do not make the estimate optimistic
	// half of the time; never below the a-priori noise.
	scale := 1.0
	if dof := float64(p.dof()); dof > 0 {
		med := math.Pow(1-2/(9*dof), 3)
		scale = math.Max(1, ssr/(dof*med))
	}
	east, north, _ := enuAxes(sol.LLH)
	q := func(a [3]float64) float64 {
		var s float64
		for i := range 3 {
			for k := range 3 {
				s += a[i] * p.inv[i*n+k] * a[k]
			}
		}
		return s
	}
	sol.Accuracy = math.Sqrt(scale * (q(east) + q(north)))
	return sol, nil
}

func enuAxes(ref geo.LLH) (e, n, u [3]float64) {
	ev := geo.FromENU(ref, geo.ENU{E: 1})
	nv := geo.FromENU(ref, geo.ENU{N: 1})
	uv := geo.Up(ref)
	return [3]float64(ev), [3]float64(nv), [3]float64(uv)
}
