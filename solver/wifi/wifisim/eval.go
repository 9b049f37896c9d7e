package wifisim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"

	"github.com/openmgs/openmgs/solver/wifi"
)

// Stats summarises one estimator over the scans it answered.
type Stats struct {
	Solved         int     // scans with a position
	Median, P95    float64 // true horizontal error (m)
	Mean           float64
	MedianAccuracy float64 // median reported accuracy (m)
	// Coverage is the share of answered scans whose true error is at most the
	// reported accuracy (the calibration the accuracy promises).
	Coverage float64
	Over100  float64 // share of answers reporting accuracy > 100 m (SWSD004 would drop them)
}

// Report is the outcome of Run.
type Report struct {
	Config   Config
	APs      int // access points in the city
	Scans    int // device positions drawn
	Sent     int // scans with ≥ MinSend detected APs (the device uplinks those)
	Hotspots int // locally administered MACs dropped before solving

	Solver   Stats // wifi.Solver
	Baseline Stats // plain 1/RSSI² weighted centroid of every known AP (wifi.md §3.1 step 4)
	// Both is the number of scans both answered; the medians on that common
	// set compare like with like.
	Both                                 int
	SolverMedianBoth, BaselineMedianBoth float64

	PathLoss, Centroid, SingleAP int // solver answers by method
	TooFewKnown, NoCluster       int // solver refusals by reason
	OtherErrors                  int

	MovedHeard    int // known moved APs appearing in sent scans
	RejectedMoved int // solver rejections that were moved APs
	RejectedGood  int // solver rejections that were not
}

// Run builds the city of cfg, simulates cfg.Scans scans, decodes each payload,
// drops locally administered MACs, and positions every scan with both the
// solver and the baseline against the city's database.
func Run(cfg Config) (Report, error) {
	city, err := NewCity(cfg)
	if err != nil {
		return Report{}, err
	}
	solver, err := wifi.NewSolver(city.Index(), cfg.Solver)
	if err != nil {
		return Report{}, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x51ab1e5eed))
	rep := Report{Config: cfg, APs: city.APs(), Scans: cfg.Scans}
	var se, sa, be, ba, bothS, bothB []float64
	var aps []wifi.AP
	for range cfg.Scans {
		smp := city.Sample(rng)
		if smp.Payload == nil {
			continue
		}
		rep.Sent++
		scan, err := wifi.DecodeScan(smp.Payload)
		if err != nil {
			return rep, fmt.Errorf("wifisim: decode own payload %x: %w", smp.Payload, err)
		}
		kept, dropped := wifi.SplitLocallyAdministered(scan.APs)
		rep.Hotspots += len(dropped)
		for _, o := range kept {
			if a, ok := city.ap(o.MAC); ok && a.moved && a.inDB {
				rep.MovedHeard++
			}
		}

		sol, serr := solver.Solve(kept)
		switch {
		case serr == nil:
			e := city.errorM(smp, sol.Lat, sol.Lon)
			se, sa = append(se, e), append(sa, sol.Accuracy)
			switch sol.Method {
			case wifi.MethodPathLoss:
				rep.PathLoss++
			case wifi.MethodCentroid:
				rep.Centroid++
			case wifi.MethodSingleAP:
				rep.SingleAP++
			}
			for _, m := range sol.Rejected {
				if a, ok := city.ap(m); ok && a.moved {
					rep.RejectedMoved++
				} else {
					rep.RejectedGood++
				}
			}
		case errors.Is(serr, wifi.ErrTooFewKnownAPs):
			rep.TooFewKnown++
		case errors.Is(serr, wifi.ErrNoConsistentCluster):
			rep.NoCluster++
		default:
			rep.OtherErrors++
		}

		var bok bool
		var blat, blon, bacc float64
		aps, blat, blon, bacc, bok = baseline(city.Index(), kept, aps[:0])
		if bok {
			e := city.errorM(smp, blat, blon)
			be, ba = append(be, e), append(ba, bacc)
		}
		if serr == nil && bok {
			bothS = append(bothS, se[len(se)-1])
			bothB = append(bothB, be[len(be)-1])
		}
	}
	rep.Solver = summarise(se, sa)
	rep.Baseline = summarise(be, ba)
	rep.Both = len(bothS)
	rep.SolverMedianBoth = quantile(bothS, 0.5)
	rep.BaselineMedianBoth = quantile(bothB, 0.5)
	return rep, nil
}

// ap returns the city's AP with this MAC.
func (c *City) ap(mac [6]byte) (*simAP, bool) {
	i, ok := c.byMAC[mac]
	if !ok {
		return nil, false
	}
	return &c.aps[i], true
}

// errorM is the horizontal distance (m) from the true position of smp.
func (c *City) errorM(smp Sample, lat, lon float64) float64 {
	x0, y0 := c.pl.toXY(smp.Lat, smp.Lon)
	x, y := c.pl.toXY(lat, lon)
	return math.Hypot(x-x0, y-y0)
}

// baseline is the plain weighted centroid of every known AP with weight
// 1/RSSI² (a missing RSSI counts as −100 dBm), without clustering or
// refinement, and ichnaea's accuracy: the 95th percentile of the distances to
// the APs, clamped to [10, 1000] m. It needs two known APs, like the solver.
func baseline(src wifi.APSource, obs []wifi.Observation, buf []wifi.AP) ([]wifi.AP, float64, float64, float64, bool) {
	macs := make([][6]byte, len(obs))
	for i, o := range obs {
		macs[i] = o.MAC
	}
	buf = src.LookupAPs(macs, buf)
	if len(buf) < 2 {
		return buf, 0, 0, 0, false
	}
	pl := newPlane(buf[0].Lat, buf[0].Lon)
	var sw, sx, sy float64
	xs := make([][2]float64, len(buf))
	for i, ap := range buf {
		r := -100.0
		for _, o := range obs {
			if o.MAC == ap.MAC && o.UsableRSSI() {
				r = float64(o.RSSI)
			}
		}
		w := 1 / (r * r)
		x, y := pl.toXY(ap.Lat, ap.Lon)
		xs[i] = [2]float64{x, y}
		sw += w
		sx += w * x
		sy += w * y
	}
	cx, cy := sx/sw, sy/sw
	ds := make([]float64, len(xs))
	for i, p := range xs {
		ds[i] = math.Hypot(p[0]-cx, p[1]-cy)
	}
	acc := math.Max(10, math.Min(1000, quantile(ds, 0.95)))
	lat, lon := pl.toLatLon(cx, cy)
	return buf, lat, lon, acc, true
}

func quantile(x []float64, p float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return stat.Quantile(p, stat.LinInterp, s, nil)
}

func summarise(errs, accs []float64) Stats {
	st := Stats{Solved: len(errs)}
	if len(errs) == 0 {
		st.Median, st.P95, st.Mean, st.MedianAccuracy = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return st
	}
	st.Median = quantile(errs, 0.5)
	st.P95 = quantile(errs, 0.95)
	st.Mean = stat.Mean(errs, nil)
	st.MedianAccuracy = quantile(accs, 0.5)
	var in, over int
	for i, e := range errs {
		if e <= accs[i] {
			in++
		}
		if accs[i] > 100 {
			over++
		}
	}
	st.Coverage = float64(in) / float64(len(errs))
	st.Over100 = float64(over) / float64(len(errs))
	return st
}

// String renders the report as a small table.
func (r Report) String() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "city: %.0f m square, %d APs (%.0f/km²), n=%.1f, shadowing σ=%.1f dB, moved %.0f%%, unknown %.0f%%, format 0x%02x, ≤%d APs/scan, seed %d\n",
		c.Size, r.APs, c.Density, c.PathLossExponent, c.Shadowing, 100*c.MovedShare, 100*c.MissingShare, c.Format, c.MaxResults, c.Seed)
	fmt.Fprintf(&b, "scans: %d drawn, %d sent, %d hotspot MACs dropped\n", r.Scans, r.Sent, r.Hotspots)
	row := func(name string, s Stats) {
		fmt.Fprintf(&b, "%-9s solved %5d  median %6.1f m  p95 %7.1f m  mean %7.1f m  accuracy median %6.1f m  coverage %5.1f%%  >100 m %5.1f%%\n",
			name, s.Solved, s.Median, s.P95, s.Mean, s.MedianAccuracy, 100*s.Coverage, 100*s.Over100)
	}
	row("solver", r.Solver)
	row("baseline", r.Baseline)
	fmt.Fprintf(&b, "common set: %d scans, median solver %.1f m vs baseline %.1f m (ratio %.2f)\n",
		r.Both, r.SolverMedianBoth, r.BaselineMedianBoth, r.SolverMedianBoth/r.BaselineMedianBoth)
	fmt.Fprintf(&b, "solver methods: pathloss %d, centroid %d, single-ap %d; refused: too few known %d, no cluster %d, other %d\n",
		r.PathLoss, r.Centroid, r.SingleAP, r.TooFewKnown, r.NoCluster, r.OtherErrors)
	fmt.Fprintf(&b, "moved APs heard %d; rejected %d moved, %d not moved\n", r.MovedHeard, r.RejectedMoved, r.RejectedGood)
	return b.String()
}
