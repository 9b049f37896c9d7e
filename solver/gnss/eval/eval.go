package eval

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// Config selects the perturbations of one evaluation run.
type Config struct {
	Seed uint64
	// NoiseM is the σ of Gaussian noise added to each pseudorange, m.
	NoiseM float64
	// APErrorKm is the largest assistance-position error; the AP is drawn
	// uniformly over the disc of that radius (exactly on its edge with
	// ExactErrors). 0 puts the AP on the station (before 12-bit quantisation).
	APErrorKm float64
	// TimeErrorS bounds the capture-time estimate error, drawn uniformly in
	// ±TimeErrorS (exactly ±TimeErrorS with ExactErrors).
	TimeErrorS  float64
	ExactErrors bool
	// TimeAccuracyS is the accuracy passed to the solver; 0 means
	// max(TimeErrorS, 16) (max(TimeErrorS, 1) with NoTimeIndicator).
	TimeAccuracyS float64
	// NoTimeIndicator hides the NAV time indicator from the solver, so the
	// capture time comes from the estimate alone.
	NoTimeIndicator bool
	// MaxSats keeps at most this many satellites per snapshot, chosen at
	// random (0: all, up to 15 per constellation block).
	MaxSats int
	// Doppler adds a Doppler to every SV (D1 if observed, else computed).
	Doppler bool
	// FreqOffsetHz bounds a receiver oscillator offset added to every
	// computed Doppler of a request (uniform in ±FreqOffsetHz).
	FreqOffsetHz float64
	// NoAP sends no assistance position (the solver seeds itself from a
	// Doppler-only fix); implies Doppler.
	NoAP bool
	// Use2D solves with the true altitude as a constraint.
	Use2D bool
	// Frames > 1 solves groups of that many consecutive epochs as one
	// multi-frame request.
	Frames int
	// MaxEpochs limits the number of epochs used (0: all).
	MaxEpochs int
	// Truth overrides the station position (default: the obs header's
	// APPROX POSITION XYZ).
	Truth *geo.ECEF
	// Solver overrides the solver configuration (default: gnss.DefaultConfig
	// with the navigation file's Klobuchar model).
	Solver *gnss.Config
}

// Report summarises a run. Error statistics are over solved fixes; Within200
// counts failures as misses.
type Report struct {
	Config  Config
	Station string
	// Count is the number of solves attempted, Solved the number that
	// returned a fix.
	Count, Solved int
	SuccessRate   float64 // % of Count solved
	Within200     float64 // % of Count solved with horizontal error < 200 m
	HMedian, HP95 float64 // horizontal error, m
	VMedian, VP95 float64 // |vertical error|, m
	// AccuracyCoverage is the % of fixes whose horizontal error is within
	// the reported accuracy (about 63–68 % if the estimate is honest).
	AccuracyCoverage float64
	// TimeErrMedian is the median |solved − true capture time|, s.
	TimeErrMedian float64
	MeanSVs       float64
	// Solve-time statistics over all attempts (solver only, not codec).
	SolveMedian, SolveP95, SolveMax time.Duration
	// Failures counts errors by class.
	Failures map[string]int
	// HErrors are the horizontal errors of the solved fixes, in epoch order.
	HErrors []float64
}

// Run evaluates the solver on obs with the ephemerides of navFile.
func Run(obs *rinex.ObsFile, navFile *rinex.NavFile, cfg Config) (Report, error) {
	if obs == nil || navFile == nil {
		return Report{}, errors.New("eval: nil input")
	}
	if cfg.NoiseM < 0 || cfg.APErrorKm < 0 || cfg.TimeErrorS < 0 || cfg.MaxSats < 0 || cfg.Frames < 0 || cfg.FreqOffsetHz < 0 {
		return Report{}, fmt.Errorf("eval: negative setting in %+v", cfg)
	}
	if cfg.MaxSats > 0 && cfg.MaxSats < 4 {
		return Report{}, fmt.Errorf("eval: MaxSats %d < 4", cfg.MaxSats)
	}
	truth := geo.ECEF(obs.ApproxPosition)
	if cfg.Truth != nil {
		truth = *cfg.Truth
	}
	if truth.Norm() < 6e6 {
		return Report{}, errors.New("eval: no station position (header APPROX POSITION XYZ is empty)")
	}
	orbits := navFile.Orbits()
	scfg := gnss.DefaultConfig()
	scfg.Iono = navFile.Iono
	if cfg.Solver != nil {
		scfg = *cfg.Solver
	}
	solver, err := gnss.New(orbits, scfg)
	if err != nil {
		return Report{}, err
	}
	frames := max(cfg.Frames, 1)
	epochs := obs.Epochs
	if cfg.MaxEpochs > 0 && len(epochs) > cfg.MaxEpochs {
		epochs = epochs[:cfg.MaxEpochs]
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6f70656e6d6773))
	g := generator{obs: obs, orbits: orbits, cfg: cfg, truth: truth, truthLLH: truth.LLH(), rng: rng}
	rep := Report{Config: cfg, Station: obs.MarkerName, Failures: map[string]int{}}
	var vErrs, tErrs []float64
	var times []time.Duration
	covered, svs := 0, 0
	for start := 0; start+frames <= len(epochs); start += frames {
		req, trueTimes, err := g.request(epochs[start : start+frames])
		if err != nil {
			return Report{}, err
		}
		rep.Count++
		t0 := time.Now()
		sol, err := solver.Solve(req)
		times = append(times, time.Since(t0))
		if err != nil {
			rep.Failures[failureClass(err)]++
			continue
		}
		rep.Solved++
		h, v := geo.HorizontalVertical(g.truthLLH, sol.ECEF)
		rep.HErrors = append(rep.HErrors, h)
		vErrs = append(vErrs, math.Abs(v))
		if h < 200 {
			rep.Within200++
		}
		if h <= sol.Accuracy {
			covered++
		}
		svs += sol.NumSVs
		for j, t := range sol.CaptureTimesGPS {
			tErrs = append(tErrs, math.Abs(t-trueTimes[j]))
		}
	}
	if rep.Count == 0 {
		return rep, errors.New("eval: no epochs to evaluate")
	}
	rep.SuccessRate = 100 * float64(rep.Solved) / float64(rep.Count)
	rep.Within200 = 100 * rep.Within200 / float64(rep.Count)
	if rep.Solved > 0 {
		rep.HMedian, rep.HP95 = quantile(rep.HErrors, 0.5), quantile(rep.HErrors, 0.95)
		rep.VMedian, rep.VP95 = quantile(vErrs, 0.5), quantile(vErrs, 0.95)
		rep.AccuracyCoverage = 100 * float64(covered) / float64(rep.Solved)
		rep.TimeErrMedian = quantile(tErrs, 0.5)
		rep.MeanSVs = float64(svs) / float64(rep.Solved)
	}
	ds := make([]float64, len(times))
	for i, d := range times {
		ds[i] = float64(d)
	}
	rep.SolveMedian = time.Duration(quantile(ds, 0.5))
	rep.SolveP95 = time.Duration(quantile(ds, 0.95))
	rep.SolveMax = time.Duration(quantile(ds, 1))
	return rep, nil
}

// quantile returns the q-quantile of v with linear interpolation (v unchanged).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - float64(i)
	return s[i]*(1-f) + s[i+1]*f
}

func failureClass(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{gnss.ErrNoOrbit, "no orbit"},
		{gnss.ErrTooFewSVs, "too few SVs"},
		{gnss.ErrCaptureTime, "capture time"},
		{gnss.ErrIntegrity, "integrity"},
		{gnss.ErrNoAssistance, "no assistance"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "other"
}

// generator turns epochs into solver requests.
type generator struct {
	obs      *rinex.ObsFile
	orbits   *orbit.Set
	cfg      Config
	truth    geo.ECEF
	truthLLH geo.LLH
	rng      *rand.Rand
	// freqOffset is the receiver oscillator offset of the current request, Hz.
	freqOffset float64
}

// codes lists the observation codes used per system letter, in preference order.
var (
	codeObs    = map[byte][]string{'G': {"C1C", "C1", "C1X"}, 'C': {"C2I", "C1I"}}
	dopplerObs = map[byte][]string{'G': {"D1C", "D1", "D1X"}, 'C': {"D2I", "D1I"}}
)

func (g *generator) request(eps []rinex.ObsEpoch) (gnss.Request, []float64, error) {
	cfg := g.cfg
	var req gnss.Request
	// One AP and time error per request (a device's errors are common to
	// the captures of a group).
	var apLLH geo.LLH
	if !cfg.NoAP {
		d := cfg.APErrorKm * 1e3
		if !cfg.ExactErrors {
			d *= math.Sqrt(g.rng.Float64())
		}
		apLLH = geo.Destination(g.truthLLH, 2*math.Pi*g.rng.Float64(), d)
	}
	g.freqOffset = cfg.FreqOffsetHz * (2*g.rng.Float64() - 1)
	dt := cfg.TimeErrorS
	if cfg.ExactErrors {
		if g.rng.IntN(2) == 0 {
			dt = -dt
		}
	} else {
		dt *= 2*g.rng.Float64() - 1
	}
	acc := cfg.TimeAccuracyS
	if acc == 0 {
		acc = math.Max(cfg.TimeErrorS, 16)
		if cfg.NoTimeIndicator {
			acc = math.Max(cfg.TimeErrorS, 1)
		}
	}
	req.TimeAccuracy = acc
	var trueTimes []float64
	for _, ep := range eps {
		msg, err := g.snapshot(ep, apLLH)
		if err != nil {
			return req, nil, err
		}
		// Through the wire format and back, as the service would see it.
		b, err := msg.MarshalBinary()
		if err != nil {
			return req, nil, fmt.Errorf("eval: encode epoch %.0f: %w", ep.Time, err)
		}
		dec, err := nav.Decode(b)
		if err != nil {
			return req, nil, fmt.Errorf("eval: decode epoch %.0f: %w", ep.Time, err)
		}
		c, ap, _ := gnss.FromNAV(&dec, ep.Time+dt)
		c.HasTimeIndicator = !cfg.NoTimeIndicator
		if ap != nil && req.AssistPosition == nil {
			req.AssistPosition = ap
		}
		req.Captures = append(req.Captures, c)
		trueTimes = append(trueTimes, ep.Time)
	}
	if cfg.Use2D {
		h := g.truthLLH.Height
		req.AssistAltitude = &h
		req.Use2D = true
	}
	return req, trueTimes, nil
}

// snapshot builds the NAV1 message of one epoch.
func (g *generator) snapshot(ep rinex.ObsEpoch, ap geo.LLH) (nav.Message, error) {
	cfg := g.cfg
	msg := nav.Message{FrameType: nav.FrameNAV, TimeIndicator: nav.TimeIndicatorAt(ep.Time)}
	if !cfg.NoAP {
		msg.SetAssistPosition(ap.Lat, ap.Lon)
	}
	type sv struct {
		sys nav.SVSystem
		id  uint8
		s   nav.SV
	}
	var svs []sv
	for _, so := range ep.Sats {
		codes, ok := codeObs[so.Sys]
		if !ok {
			continue
		}
		c1, ok := g.obs.Value(so, codes...)
		if !ok || c1 < 1e6 {
			continue
		}
		sys, osys := nav.SysGPS, orbit.GPS
		if so.Sys == 'C' {
			sys, osys = nav.SysBeiDou, orbit.BeiDou
		}
		id, err := nav.SVIDFromPRN(sys, so.PRN)
		if err != nil {
			continue
		}
		pr := c1 + cfg.NoiseM*g.rng.NormFloat64()
		s := nav.SV{ID: id, CN: nav.CN0Class(43), HasTimestamp1: true,
			Timestamp1: nav.TimestampFromCodePhase(pr / (orbit.SpeedOfLight * 1e-3))}
		if cfg.Doppler || cfg.NoAP {
			d, ok := g.obs.Value(so, dopplerObs[so.Sys]...)
			if !ok {
				d, ok = g.doppler(orbit.SatID{Sys: osys, PRN: so.PRN}, ep.Time)
				d += g.freqOffset
			}
			if ok {
				s.HasDoppler, s.Doppler = true, nav.DopplerField(d)
			}
		}
		svs = append(svs, sv{sys, id, s})
	}
	if cfg.MaxSats > 0 && len(svs) > cfg.MaxSats {
		g.rng.Shuffle(len(svs), func(i, j int) { svs[i], svs[j] = svs[j], svs[i] })
		svs = svs[:cfg.MaxSats]
	}
	slices.SortFunc(svs, func(a, b sv) int { return int(a.id) - int(b.id) })
	for _, blk := range []struct {
		sys nav.SVSystem
		mod nav.Modulation
	}{{nav.SysGPS, nav.ModGPS}, {nav.SysBeiDou, nav.ModBeiDou}} {
		c := nav.Constellation{Modulation: blk.mod}
		for _, s := range svs {
			if s.sys == blk.sys && len(c.SVs) < 15 {
				c.SVs = append(c.SVs, s.s)
			}
		}
		if len(c.SVs) > 0 {
			msg.Constellations = append(msg.Constellations, c)
		}
	}
	if len(msg.Constellations) == 0 {
		msg.Constellations = []nav.Constellation{{Modulation: nav.ModGPS}}
	}
	return msg, nil
}

// doppler predicts the Doppler (Hz, positive approaching) of id seen from the
// static station at GPS time t, with no receiver frequency offset.
func (g *generator) doppler(id orbit.SatID, t float64) (float64, bool) {
	st, err := g.orbits.State(id, t-0.075)
	if err != nil {
		return 0, false
	}
	d := geo.ECEF(st.Pos).Sub(g.truth)
	rate := d.Dot(geo.ECEF(st.Vel))/d.Norm() - orbit.SpeedOfLight*st.ClockDrift
	return -rate / gnss.Wavelength(id.Sys), true
}

// String renders the report as a small table.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "station %s: %s\n", r.Station, r.Config.describe())
	fmt.Fprintf(&b, "  %-18s %d of %d (%.1f %%)\n", "solved", r.Solved, r.Count, r.SuccessRate)
	fmt.Fprintf(&b, "  %-18s %.1f %%\n", "H error < 200 m", r.Within200)
	fmt.Fprintf(&b, "  %-18s median %s  p95 %s\n", "H error", metres(r.HMedian), metres(r.HP95))
	fmt.Fprintf(&b, "  %-18s median %s  p95 %s\n", "|V error|", metres(r.VMedian), metres(r.VP95))
	fmt.Fprintf(&b, "  %-18s %.0f %% of fixes within the reported accuracy\n", "accuracy coverage", r.AccuracyCoverage)
	fmt.Fprintf(&b, "  %-18s median %.3f s\n", "capture time error", r.TimeErrMedian)
	fmt.Fprintf(&b, "  %-18s %.1f\n", "SVs per fix", r.MeanSVs)
	fmt.Fprintf(&b, "  %-18s median %v  p95 %v  max %v\n", "solve time", r.SolveMedian.Round(time.Microsecond),
		r.SolveP95.Round(time.Microsecond), r.SolveMax.Round(time.Microsecond))
	if len(r.Failures) > 0 {
		keys := make([]string, 0, len(r.Failures))
		for k := range r.Failures {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, r.Failures[k])
		}
		fmt.Fprintf(&b, "  %-18s %s\n", "failures", strings.Join(parts, ", "))
	}
	return b.String()
}

// Table renders several reports as one row each.
func Table(rs []Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-46s %4s %7s %7s %9s %9s %8s %8s %6s %9s %9s\n",
		"scenario", "n", "solved", "<200m", "H med", "H p95", "V med", "V p95", "cover", "t med", "t max")
	for _, r := range rs {
		fmt.Fprintf(&b, "%-46s %4d %6.1f%% %6.1f%% %9s %9s %8s %8s %5.0f%% %9v %9v\n",
			r.Station+" "+r.Config.describe(), r.Count, r.SuccessRate, r.Within200,
			metres(r.HMedian), metres(r.HP95), metres(r.VMedian), metres(r.VP95), r.AccuracyCoverage,
			r.SolveMedian.Round(time.Microsecond), r.SolveMax.Round(time.Microsecond))
	}
	return b.String()
}

func metres(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 10e3:
		return fmt.Sprintf("%.0f km", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f m", v)
	}
	return fmt.Sprintf("%.2f m", v)
}

func (c Config) describe() string {
	parts := []string{fmt.Sprintf("noise %gm", c.NoiseM), fmt.Sprintf("AP %gkm", c.APErrorKm), fmt.Sprintf("dt %gs", c.TimeErrorS)}
	if c.ExactErrors {
		parts = append(parts, "exact")
	}
	if c.MaxSats > 0 {
		parts = append(parts, fmt.Sprintf("%dSV", c.MaxSats))
	}
	if c.NoTimeIndicator {
		parts = append(parts, "no-TI")
	}
	if c.NoAP {
		parts = append(parts, "no-AP")
	} else if c.Doppler {
		parts = append(parts, "doppler")
	}
	if c.FreqOffsetHz > 0 {
		parts = append(parts, fmt.Sprintf("fo%gHz", c.FreqOffsetHz))
	}
	if c.Use2D {
		parts = append(parts, "2D")
	}
	if c.Frames > 1 {
		parts = append(parts, fmt.Sprintf("%dframes", c.Frames))
	}
	return strings.Join(parts, " ")
}
