package wifi

import (
	"math"
	"slices"
)

// robustCut scales OutlierSigma at the robust fit, where good APs take
// larger residuals; cauchyC is the Cauchy loss scale (in σ). Chosen on the
// wifisim city: 1.3/3 halve false rejections against 1.0/3 at equal error.
const (
	robustCut = 1.3
	cauchyC   = 3
)

// Pseudo-observations behind the prior spread APSpread when blending it with
// the spread seen in a scan, and behind σ=1 when estimating the residual
// variance factor of a fit; the position prior's variance in units of the
// centroid's; the most APs used as absence evidence.
const (
	spreadPriorN   = 1
	varFactorPrior = 3
	priorScale     = 4
	maxIter        = 40
	maxAbsent      = 24
)

// locate positions the device from one agreeing cluster sc.sel (≥ 2 APs,
// strongest first), appending APs dropped by the fit to rejected. thr is the
// weakest usable RSSI in the scan (+Inf when none).
func (s *Solver) locate(sc *scratch, thr float64, rejected *[][6]byte) Solution {
	cfg := &s.cfg
	sel := sc.sel
	pl := newPlane(sel[0].ap.Lat, sel[0].ap.Lon)
	nR := 0
	for i := range sel {
		sel[i].x, sel[i].y = pl.toXY(sel[i].ap.Lat, sel[i].ap.Lon)
		if sel[i].hasRSSI {
			nR++
		}
	}
	// use[i] marks APs still in the fit (len(sel) ≤ maxConsidered).
	var useBuf [maxConsidered]bool
	use := useBuf[:len(sel)]
	for i := range use {
		use[i] = true
	}

	if nR < 3 {
		c := s.centroid(sel, use)
		acc := clampAcc(cfg, math.Sqrt(2*c.varMean*radiusF(cfg.Confidence, c.dof)))
		lat, lon := pl.toLatLon(c.x, c.y)
		return Solution{Lat: lat, Lon: lon, Accuracy: acc, APsUsed: len(sel), Method: MethodCentroid}
	}

	pr := problem{s: s, sel: sel, use: use, thr: thr - 0.5} // RSSIs are whole dBm
	if ns, ok := s.src.(NearbySource); ok && cfg.Absence && finite(thr) {
		pr.neg = s.absent(sc, ns, pl, s.centroid(sel, use), thr)
	}
	// A robust (Cauchy) fit first, so that a moved AP cannot drag the fit
	// towards itself: drop the APs whose residual there exceeds
	// robustCut·OutlierSigma. Then refit with the Gaussian likelihood and drop,
	// one at a time, any AP whose residual exceeds OutlierSigma. Each drop
	// keeps ≥ 3 RSSI APs.
	pr.c = s.centroid(sel, use)
	pr.ip = 1 / (pr.c.varMean * priorScale)
	pr.robust = true
	f := pr.fitBest()
	pr.robust = false
	for {
		worst, wr := -1, cfg.OutlierSigma*robustCut
		for i, k := range sel {
			if use[i] && k.hasRSSI && math.Abs(f.res[i]) > wr {
				worst, wr = i, math.Abs(f.res[i])
			}
		}
		if worst < 0 || f.nR-1 < 3 {
			break
		}
		use[worst] = false
		*rejected = append(*rejected, sel[worst].ap.MAC)
		f.nR--
		f.res[worst] = 0
	}
	for {
		// Refit without the dropped APs, from the last fit and the centroid.
		pr.c = s.centroid(sel, use)
		pr.ip = 1 / (pr.c.varMean * priorScale)
		g := pr.fit(f.x, f.y)
		if h := pr.fit(pr.c.x, pr.c.y); h.cost < g.cost {
			g = h
		}
		f = g
		worst, wr := -1, cfg.OutlierSigma
		for i, k := range sel {
			if use[i] && k.hasRSSI && math.Abs(f.res[i]) > wr {
				worst, wr = i, math.Abs(f.res[i])
			}
		}
		if worst < 0 || f.nR-1 < 3 {
			break
		}
		use[worst] = false
		*rejected = append(*rejected, sel[worst].ap.MAC)
	}
	used := 0
	for i := range sel {
		if use[i] {
			used++
		}
	}
	// Scale the covariance by the residual variance factor when the data are
	// noisier than the model says (never below 1: few APs can look lucky).
	dof := float64(f.nR - 2)
	vf := math.Max(1, (f.chi2+varFactorPrior)/(math.Max(dof, 0)+varFactorPrior))
	r := ellipseRadius(f.cxx*vf, f.cyy*vf, f.cxy*vf, cfg.Confidence)
	lat, lon := pl.toLatLon(f.x, f.y)
	return Solution{Lat: lat, Lon: lon, Accuracy: clampAcc(cfg, r), APsUsed: used, Method: MethodPathLoss}
}

// absentAP is a known AP near the device that the scan did not report.
type absentAP struct {
	x, y, sigmaA float64
	d2           float64 // squared distance from the centroid, for selection
}

// absent returns the known APs near the centroid c that the scan did not
// report, nearest first, at most maxAbsent. The radius reaches where an AP
// would still be heard above thr on a 2σ lucky draw, plus the cluster spread.
func (s *Solver) absent(sc *scratch, ns NearbySource, pl plane, c centroidResult, thr float64) []absentAP {
	cfg := &s.cfg
	rad := math.Pow(10, (cfg.RefPower+2*cfg.RefPowerSigma-thr+2*cfg.ShadowingSigma)/(10*cfg.PathLossExponent))
	rad = math.Min(math.Max(rad+math.Sqrt(c.spread2), 20), 500)
	lat, lon := pl.toLatLon(c.x, c.y)
	sc.near = ns.NearbyAPs(lat, lon, rad, sc.near[:0])
	sc.neg = sc.neg[:0]
	for _, ap := range sc.near {
		if !validAP(ap, cfg.MinObservations) {
			continue
		}
		x, y := pl.toXY(ap.Lat, ap.Lon)
		dx, dy := x-c.x, y-c.y
		d2 := dx*dx + dy*dy
		if d2 > rad*rad {
			continue
		}
		if _, heard := slices.BinarySearch(sc.keys, MACKey(ap.MAC)); heard {
			continue
		}
		sa := ap.Accuracy
		if sa <= 0 {
			sa = cfg.DefaultAPAccuracy
		}
		sc.neg = append(sc.neg, absentAP{x: x, y: y, sigmaA: sa, d2: d2})
	}
	if len(sc.neg) > maxAbsent {
		selectNearest(sc.neg, maxAbsent)
		sc.neg = sc.neg[:maxAbsent]
	}
	return sc.neg
}

// selectNearest reorders s so that its k smallest d2 come first (in any
// order): quickselect with a middle pivot, O(len(s)) expected.
func selectNearest(s []absentAP, k int) {
	lo, hi := 0, len(s)-1
	for lo < hi {
		pv := s[lo+(hi-lo)/2].d2
		i, j := lo, hi
		for i <= j {
			for s[i].d2 < pv {
				i++
			}
			for s[j].d2 > pv {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

func clampAcc(cfg *Config, r float64) float64 {
	if !(r >= cfg.MinAccuracy) { // also catches NaN
		if math.IsNaN(r) {
			return cfg.MaxAccuracy
		}
		return cfg.MinAccuracy
	}
	return math.Min(r, cfg.MaxAccuracy)
}

// centroidResult is a weighted centroid with the per-axis variance of the
// device's offset from it (varMean) and the per-axis spread of APs (spread2).
type centroidResult struct {
	x, y    float64
	varMean float64
	spread2 float64
	dof     float64 // degrees of freedom behind spread2
}

// radiusF returns x with P(|e|² ≤ 2σ̂²x) = p for a circular 2-D Gaussian
// error whose per-axis variance σ̂² was estimated with dof degrees of freedom
// (|e|²/2σ̂² is F(2, dof)); it tends to −ln(1−p) as dof grows.
func radiusF(p, dof float64) float64 {
	if dof > 1e6 {
		return -math.Log(1 - p)
	}
	return dof / 2 * (math.Pow(1-p, -2/dof) - 1)
}

// centroid is the 1/d̂²-weighted centroid of the used APs. Its uncertainty is
// that of a weighted mean of the APs' offsets from the device: spread²/Neff
// plus the APs' own position variance, with the observed spread blended with
// APSpread (spreadPriorN pseudo-observations).
func (s *Solver) centroid(sel []known, use []bool) centroidResult {
	var sw, sw2, sx, sy, sa float64
	for i, k := range sel {
		if !use[i] {
			continue
		}
		w := s.weight(k)
		sw += w
		sw2 += w * w
		sx += w * k.x
		sy += w * k.y
		sa += w * k.sigmaA * k.sigmaA
	}
	c := centroidResult{x: sx / sw, y: sy / sw}
	neff := sw * sw / sw2
	var ss float64
	for i, k := range sel {
		if use[i] {
			dx, dy := k.x-c.x, k.y-c.y
			ss += s.weight(k) * (dx*dx + dy*dy)
		}
	}
	// Weighted mean squared distance, made unbiased, halved to per axis.
	v := 0.0
	if neff > 1 {
		v = ss / sw * neff / (neff - 1) / 2
	}
	dofs := math.Max(neff-1, 0)
	sp := s.cfg.APSpread * s.cfg.APSpread
	c.dof = dofs + spreadPriorN
	c.spread2 = (dofs*v + spreadPriorN*sp) / c.dof
	c.varMean = (c.spread2 + sa/sw) / neff
	return c
}

// fitResult is a converged path-loss fit in plane coordinates.
type fitResult struct {
	x, y, b       float64
	cost          float64                // −2·log-likelihood including priors (up to a constant)
	chi2          float64                // Σ standardised residuals² of the reported APs
	nR            int                    // RSSI APs in the fit
	cxx, cyy, cxy float64                // position covariance (m²)
	res           [maxConsidered]float64 // standardised residual per sel index
}

// problem is one path-loss fit: the APs in use, the absent APs, the centroid
// prior and the reporting threshold.
type problem struct {
	s   *Solver
	sel []known
	use []bool
	neg []absentAP // known APs near the device that the scan did not report
	c   centroidResult
	ip  float64 // 1/prior variance of the position
	thr float64 // an unreported AP was weaker than this (dBm)
	// robust replaces the squared residual by a Cauchy loss, so that a moved
	// AP cannot drag the first fit towards itself.
	robust bool
}

// fitBest runs the fit from the centroid and from next to each of the
// strongest APs (three when the scan has few RSSIs, else one), keeping the
// lowest cost: RSSI likelihoods are not convex.
func (p *problem) fitBest() fitResult {
	best := p.fit(p.c.x, p.c.y)
	starts, maxStarts := 0, 3
	if p.nRSSI() >= 6 {
		maxStarts = 1
	}
	for i, k := range p.sel {
		if starts == maxStarts {
			break
		}
		if !p.use[i] || !k.hasRSSI {
			continue
		}
		starts++
		f := p.fit(k.x+p.s.cfg.APHeight, k.y)
		if f.cost < best.cost {
			best = f
		}
	}
	return best
}

func (p *problem) nRSSI() int {
	n := 0
	for i, k := range p.sel {
		if p.use[i] && k.hasRSSI {
			n++
		}
	}
	return n
}

// fit minimises −2·log of the posterior over the device position p = (x, y)
// and a common RSSI offset b:
//
//	Σᵢ [((RSSIᵢ − μᵢ)/σᵢ)² + 2·log σᵢ] − 2·Σⱼ log((1−q) + q·Φ((T − μⱼ)/σⱼ)) + (b/σ_b)² + |p − c|²/σ_p²
//
// with μ = P0 + b − 10n·log10 d, d² = |p − a|² + h² + 2σ_a² (the mean squared
// distance to an AP whose position has per-axis σ_a), and
// σ² = σ_sh² + (10n/ln10 · σ_a · ρ/d²)², the AP position error mapped into dB.
// i runs over reported APs, j over absent ones (T: the weakest reported RSSI,
// q: Config.Presence); c is the weighted centroid, σ_p² = 4× its variance, a
// weak prior that keeps two- and three-AP geometries well posed. With
// p.robust the squared residual becomes a Cauchy loss. Levenberg–Marquardt
// with Gauss–Newton curvature (Fisher information for the absent APs).
func (p *problem) fit(x0, y0 float64) fitResult {
	f := fitResult{x: x0, y: y0}
	var a [3][3]float64
	var g [3]float64
	f.cost = p.eval(&f, &a, &g)
	lambda := 1e-3
	for range maxIter {
		accepted := false
		prev := f.cost
		var d [3]float64
		for lambda < 1e10 {
			m := a
			for i := range 3 {
				m[i][i] += lambda * a[i][i]
			}
			var ok bool
			d, ok = solve3(m, [3]float64{-g[0], -g[1], -g[2]})
			if !ok {
				lambda *= 10
				continue
			}
			t := fitResult{x: f.x + d[0], y: f.y + d[1], b: f.b + d[2]}
			var ta [3][3]float64
			var tg [3]float64
			t.cost = p.eval(&t, &ta, &tg)
			if t.cost < f.cost {
				f, a, g = t, ta, tg
				lambda = math.Max(lambda/3, 1e-9)
				accepted = true
				break
			}
			lambda *= 4
		}
		// Stop when the step or the cost change no longer matters: 1e-3 in
		// −2·log-likelihood units is far inside the estimate's uncertainty.
		if !accepted || prev-f.cost < 1e-3 || math.Hypot(d[0], d[1]) < 0.05 && math.Abs(d[2]) < 0.02 {
			break
		}
	}
	// Covariance from the curvature at the optimum; eval left res and chi2
	// of the accepted point in f.
	if inv, ok := inverse3(a); ok {
		f.cxx, f.cyy, f.cxy = inv[0][0], inv[1][1], inv[0][1]
	} else {
		f.cxx, f.cyy = p.c.spread2, p.c.spread2
	}
	return f
}

// model returns μ and σ for an AP at (ax, ay) with position σ sa when the
// device is at (x, y) with offset b, and their derivatives by (x, y, b).
func (p *problem) model(ax, ay, sa, x, y, b float64) (mu, sig float64, jm, js [3]float64) {
	cfg := &p.s.cfg
	n := cfg.PathLossExponent
	kk := 10 * n / math.Ln10
	dx, dy := x-ax, y-ay
	rho2 := dx*dx + dy*dy
	d2 := rho2 + cfg.APHeight*cfg.APHeight + 2*sa*sa
	mu = cfg.RefPower + b - 5*n*math.Log10(d2)
	ka := kk * sa
	sig = math.Sqrt(cfg.ShadowingSigma*cfg.ShadowingSigma + ka*ka*rho2/(d2*d2))
	// dσ/dx = (kσ_a)²·dx·(d² − 2ρ²) / (σ·d⁶), d² written d2.
	ds := ka * ka * (d2 - 2*rho2) / (sig * d2 * d2 * d2)
	return mu, sig, [3]float64{-kk * dx / d2, -kk * dy / d2, 1}, [3]float64{ds * dx, ds * dy, 0}
}

// cauchyC is the scale (in σ) of the Cauchy loss of the robust first pass.

// eval returns the cost at (f.x, f.y, f.b) and fills f.res, f.chi2, f.nR;
// when a and g are non-nil it sets the Gauss–Newton curvature and half the
// gradient.
func (p *problem) eval(f *fitResult, a *[3][3]float64, g *[3]float64) float64 {
	cfg := &p.s.cfg
	f.chi2, f.nR = 0, 0
	cost := 0.0
	// g += gs·v; a += hs·v·vᵀ (upper triangle; mirrored at the end).
	acc := func(v [3]float64, gs, hs float64) {
		g[0] += gs * v[0]
		g[1] += gs * v[1]
		g[2] += gs * v[2]
		h0, h1 := hs*v[0], hs*v[1]
		a[0][0] += h0 * v[0]
		a[0][1] += h0 * v[1]
		a[0][2] += h0 * v[2]
		a[1][1] += h1 * v[1]
		a[1][2] += h1 * v[2]
		a[2][2] += hs * v[2] * v[2]
	}
	for i := range p.sel {
		k := &p.sel[i]
		f.res[i] = 0
		if !p.use[i] || !k.hasRSSI {
			continue
		}
		mu, sig, jm, js := p.model(k.x, k.y, k.sigmaA, f.x, f.y, f.b)
		r := (k.rssi - mu) / sig
		f.res[i] = r
		f.chi2 += r * r
		f.nR++
		// −2·log of a normal density: r² + 2·log σ (σ depends on the position).
		w := 1.0
		if p.robust {
			w = 1 / (1 + r*r/(cauchyC*cauchyC))
			cost += cauchyC * cauchyC * math.Log1p(r*r/(cauchyC*cauchyC))
		} else {
			cost += r * r
		}
		cost += 2 * math.Log(sig)
		if a != nil {
			is := 1 / sig
			jr := [3]float64{(-jm[0] - r*js[0]) * is, (-jm[1] - r*js[1]) * is, -jm[2] * is}
			acc(jr, w*r, w)
			acc([3]float64{js[0] * is, js[1] * is, 0}, 1, 2)
		}
	}
	q := cfg.Presence
	for j := range p.neg {
		k := &p.neg[j]
		mu, sig, jm, js := p.model(k.x, k.y, k.sigmaA, f.x, f.y, f.b)
		z := (p.thr - mu) / sig
		if z > 7 {
			continue // surely too weak to be heard: P ≈ 1, no gradient
		}
		if z < -7 {
			cost -= 2 * math.Log(1-q) // surely loud enough: P = 1−q, no gradient
			continue
		}
		phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
		pr := (1 - q) + q*0.5*math.Erfc(-z/math.Sqrt2) // P(not reported)
		cost -= 2 * math.Log(pr)
		if a != nil {
			// dP = q·φ(z)·dz, dz = (−dμ − z·dσ)/σ; Fisher curvature of a binary outcome.
			c := q * phi / sig
			dp := [3]float64{c * (-jm[0] - z*js[0]), c * (-jm[1] - z*js[1]), -c * jm[2]}
			acc(dp, -1/pr, 1/(pr*(1-pr)+1e-12))
		}
	}
	sb := cfg.RefPowerSigma
	px, py := f.x-p.c.x, f.y-p.c.y
	cost += f.b*f.b/(sb*sb) + (px*px+py*py)*p.ip
	if a != nil {
		a[0][0] += p.ip
		a[1][1] += p.ip
		a[2][2] += 1 / (sb * sb)
		g[0] += px * p.ip
		g[1] += py * p.ip
		g[2] += f.b / (sb * sb)
		a[1][0], a[2][0], a[2][1] = a[0][1], a[0][2], a[1][2]
	}
	if math.IsNaN(cost) {
		return math.Inf(1)
	}
	return cost
}

// solve3 solves the symmetric positive-definite system m·x = v by Cholesky.
func solve3(m [3][3]float64, v [3]float64) ([3]float64, bool) {
	var l [3][3]float64
	for i := range 3 {
		for j := 0; j <= i; j++ {
			sum := m[i][j]
			for k := range j {
				sum -= l[i][k] * l[j][k]
			}
			if i == j {
				if !(sum > 0) {
					return v, false
				}
				l[i][i] = math.Sqrt(sum)
			} else {
				l[i][j] = sum / l[j][j]
			}
		}
	}
	var y [3]float64
	for i := range 3 {
		sum := v[i]
		for k := range i {
			sum -= l[i][k] * y[k]
		}
		y[i] = sum / l[i][i]
	}
	var x [3]float64
	for i := 2; i >= 0; i-- {
		sum := y[i]
		for k := i + 1; k < 3; k++ {
			sum -= l[k][i] * x[k]
		}
		x[i] = sum / l[i][i]
	}
	for _, e := range x {
		if !finite(e) {
			return x, false
		}
	}
	return x, true
}

// inverse3 inverts a symmetric positive-definite 3×3 matrix.
func inverse3(m [3][3]float64) ([3][3]float64, bool) {
	var inv [3][3]float64
	for c := range 3 {
		var e [3]float64
		e[c] = 1
		col, ok := solve3(m, e)
		if !ok {
			return inv, false
		}
		for r := range 3 {
			inv[r][c] = col[r]
		}
	}
	return inv, true
}

// ellipseRadius returns the radius of the circle around the mean holding
// probability p of a 2-D Gaussian with covariance [[cxx cxy] [cxy cyy]].
func ellipseRadius(cxx, cyy, cxy, p float64) float64 {
	tr, det := cxx+cyy, cxx*cyy-cxy*cxy
	disc := math.Sqrt(math.Max(tr*tr/4-det, 0))
	l1 := math.Max(tr/2+disc, 0)
	l2 := math.Max(tr/2-disc, 0)
	s1, s2 := math.Sqrt(l1), math.Sqrt(l2)
	if !(s1 > 0) || !finite(s1) {
		return s1 // 0 or NaN/Inf; the caller clamps
	}
	s2 = math.Max(s2, s1*1e-9)
	// P is increasing in r; bisect between the minor- and major-axis
	// circular radii, which bracket it.
	k := math.Sqrt(-2 * math.Log(1-p))
	lo, hi := 0.0, k*s1*1.5+s1
	for range 40 {
		mid := (lo + hi) / 2
		if ellipseProb(mid, s1, s2) < p {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-3*hi {
			break
		}
	}
	return hi
}

// ellipseProb is P(|e| < r) for e = (s1·z1, s2·z2), z standard normal:
// 2∫₀^{π/2} φ(r sinθ/s1) · erf(r cosθ/(s2√2)) · (r/s1) cosθ dθ (Simpson).
func ellipseProb(r, s1, s2 float64) float64 {
	if r <= 0 {
		return 0
	}
	const n = 32
	h := math.Pi / 2 / n
	sum := 0.0
	for i := 0; i <= n; i++ {
		t := float64(i) * h
		sn, cs := math.Sincos(t)
		z := r * sn / s1
		v := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) * math.Erf(r*cs/(s2*math.Sqrt2)) * r / s1 * cs
		w := 2.0
		switch {
		case i == 0 || i == n:
			w = 1
		case i%2 == 1:
			w = 4
		}
		sum += w * v
	}
	return 2 * sum * h / 3
}

// singleAP places the device at the only known AP. With a usable RSSI the
// radius is the one-sided Confidence quantile of the path-loss range;
// otherwise the APSpread circle; the AP's own uncertainty is added in quadrature.
func (s *Solver) singleAP(k known, nKnown int) Solution {
	cfg := &s.cfg
	kc := math.Sqrt(-2 * math.Log(1-cfg.Confidence))
	var r float64
	if k.hasRSSI {
		z := math.Sqrt2 * math.Erfinv(2*cfg.Confidence-1)
		d := math.Pow(10, (cfg.RefPower-k.rssi+z*cfg.ShadowingSigma)/(10*cfg.PathLossExponent))
		r = math.Sqrt(math.Max(d*d-cfg.APHeight*cfg.APHeight, 0))
	} else {
		r = kc * cfg.APSpread
	}
	r = math.Hypot(r, kc*k.sigmaA)
	return Solution{Lat: k.ap.Lat, Lon: k.ap.Lon, Accuracy: clampAcc(cfg, r), APsUsed: 1, APsKnown: nKnown, Method: MethodSingleAP}
}
