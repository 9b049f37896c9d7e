package wifi

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// AP is a known access point as an APSource returns it.
type AP struct {
	MAC      [6]byte
	Lat, Lon float64 // degrees, WGS 84
	// Accuracy is the 1-σ uncertainty of the stored position per horizontal
	// axis, in metres; 0 means unknown (Config.DefaultAPAccuracy is used).
	Accuracy float64
	// Observations is how many sightings the position is built from; APs with
	// fewer than Config.MinObservations are ignored.
	Observations int
}

// APSource looks up known APs. LookupAPs appends to dst the known APs among
// macs, in any order, and returns the extended slice; unknown MACs are simply
// absent. Implementations must be safe for concurrent use if the Solver is.
type APSource interface {
	LookupAPs(macs [][6]byte, dst []AP) []AP
}

// NearbySource is optionally implemented by an APSource that can list the
// known APs within radius metres of a point (appending to dst, any order).
// The solver then also uses the APs a scan did not report (Config.Absence).
type NearbySource interface {
	NearbyAPs(lat, lon, radius float64, dst []AP) []AP
}

// Method says how a Solution was computed.
type Method uint8

const (
	// MethodPathLoss: log-distance path-loss maximum likelihood on RSSI (§3.2).
	MethodPathLoss Method = iota + 1
	// MethodCentroid: centroid of the agreeing APs (MAC-only scans, or too
	// few usable RSSIs for ranging).
	MethodCentroid
	// MethodSingleAP: the position of the only known AP (Config.AllowSingleAP).
	MethodSingleAP
)

func (m Method) String() string {
	switch m {
	case MethodPathLoss:
		return "pathloss"
	case MethodCentroid:
		return "centroid"
	case MethodSingleAP:
		return "single-ap"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// Solution is a Wi-Fi position fix.
type Solution struct {
	Lat, Lon float64 // degrees, WGS 84
	// Accuracy is the radius in metres expected to contain the true position
	// with probability Config.Confidence, clamped to [MinAccuracy, MaxAccuracy].
	Accuracy float64
	APsUsed  int    // APs that contributed to the position
	APsKnown int    // distinct observed APs the source knew (and found valid)
	Method   Method // how the position was computed
	// Rejected lists known APs left out because they disagreed with the
	// chosen cluster or with the path-loss fit (likely moved); nil when none.
	Rejected [][6]byte
}

// Config tunes the solver. The zero value is not valid; start from DefaultConfig.
type Config struct {
	// Log-distance path loss RSSI(d) = RefPower − 10·PathLossExponent·log10(d / 1 m).
	PathLossExponent float64 // n; default 3 (urban/indoor 2.4 GHz)
	RefPower         float64 // P0 at 1 m in dBm; default −40
	RefPowerSigma    float64 // prior σ (dB) of the per-scan offset from RefPower that is estimated; default 3
	ShadowingSigma   float64 // σ (dB) of log-normal shadowing per AP; default 6
	APHeight         float64 // vertical offset (m) floored into every distance; default 3

	ClusterRadius float64 // complete-linkage cut (m): APs further apart never combine; default 500
	MaxAPs        int     // APs kept from the chosen cluster, strongest first; default 20
	// OutlierSigma: an AP whose normalised RSSI residual exceeds this after the
	// fit is dropped and the fit repeated (while ≥ 3 RSSI APs remain); default 3.5.
	OutlierSigma float64

	// APSpread is the prior per-axis spread (m) of heard APs around the device,
	// blended with the observed spread for the centroid's uncertainty; default 25.
	APSpread          float64
	DefaultAPAccuracy float64 // used when AP.Accuracy is 0; default 20 m
	MinObservations   int     // APs with fewer sightings are ignored; default 0

	Confidence  float64 // probability that the truth lies within Accuracy; default 0.68
	MinAccuracy float64 // default 10 m
	MaxAccuracy float64 // default 1000 m

	// Absence enables negative evidence when the APSource also implements
	// NearbySource: a known AP near the estimate that the scan did not report
	// must have been weaker than the weakest reported RSSI. Presence is the
	// probability that such an AP still exists where the database says (not
	// moved, removed or switched off); it bounds the penalty. Defaults true, 0.8.
	Absence  bool
	Presence float64

	// AllowSingleAP permits a fix from one known AP (its own position);
	// otherwise at least two agreeing APs are required.
	AllowSingleAP bool
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		PathLossExponent:  3,
		RefPower:          -40,
		RefPowerSigma:     3,
		ShadowingSigma:    6,
		APHeight:          3,
		ClusterRadius:     500,
		MaxAPs:            20,
		OutlierSigma:      3.5,
		APSpread:          25,
		DefaultAPAccuracy: 20,
		Confidence:        0.68,
		MinAccuracy:       10,
		MaxAccuracy:       1000,
		Absence:           true,
		Presence:          0.8,
	}
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	bad := func(field string, v any) error { return fmt.Errorf("%w: %s = %v", ErrConfig, field, v) }
	pos := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	switch {
	case !(c.PathLossExponent >= 1 && c.PathLossExponent <= 10):
		return bad("PathLossExponent", c.PathLossExponent)
	case !(c.RefPower > -150 && c.RefPower < 50):
		return bad("RefPower", c.RefPower)
	case !pos(c.RefPowerSigma):
		return bad("RefPowerSigma", c.RefPowerSigma)
	case !pos(c.ShadowingSigma):
		return bad("ShadowingSigma", c.ShadowingSigma)
	case !pos(c.APHeight):
		return bad("APHeight", c.APHeight)
	case !pos(c.ClusterRadius):
		return bad("ClusterRadius", c.ClusterRadius)
	case c.MaxAPs < 2:
		return bad("MaxAPs", c.MaxAPs)
	case !(c.OutlierSigma >= 1) || math.IsInf(c.OutlierSigma, 0):
		return bad("OutlierSigma", c.OutlierSigma)
	case !pos(c.APSpread):
		return bad("APSpread", c.APSpread)
	case !pos(c.DefaultAPAccuracy):
		return bad("DefaultAPAccuracy", c.DefaultAPAccuracy)
	case c.MinObservations < 0:
		return bad("MinObservations", c.MinObservations)
	case !(c.Presence >= 0 && c.Presence < 1):
		return bad("Presence", c.Presence)
	case !(c.Confidence > 0 && c.Confidence < 1):
		return bad("Confidence", c.Confidence)
	case !(c.MinAccuracy >= 0) || math.IsInf(c.MinAccuracy, 0):
		return bad("MinAccuracy", c.MinAccuracy)
	case !pos(c.MaxAccuracy) || c.MaxAccuracy < c.MinAccuracy:
		return bad("MaxAccuracy", c.MaxAccuracy)
	}
	return nil
}

// Solver positions Wi-Fi scans against an APSource. It is safe for
// concurrent use when the source is.
type Solver struct {
	src  APSource
	cfg  Config
	pool sync.Pool // *scratch
}

// NewSolver returns a solver over src with cfg (validated).
func NewSolver(src APSource, cfg Config) (*Solver, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil APSource", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Solver{src: src, cfg: cfg}
	s.pool.New = func() any { return new(scratch) }
	return s, nil
}

// Config returns the solver's configuration.
func (s *Solver) Config() Config { return s.cfg }

// maxConsidered bounds the known APs entering the O(n³) clustering; a real
// scan has at most 32 (the LR11xx maximum).
const maxConsidered = 64

// known is a looked-up AP joined with its observation.
type known struct {
	ap      AP
	rssi    float64 // dBm, valid when hasRSSI
	hasRSSI bool    // observation carried a usable RSSI
	sigmaA  float64 // AP position σ per axis (m)
	x, y    float64 // plane coordinates
}

// scratch holds per-call buffers, pooled so that Solve does not allocate.
type scratch struct {
	obs   []Observation
	macs  [][6]byte
	aps   []AP
	known []known
	dist  []float64
	label []int
	sel   []known
	keys  []uint64
	seen  []bool
	near  []AP
	neg   []absentAP
}

// Solve positions one scan. Observations may contain duplicates, unusable
// RSSIs and unknown MACs; those are handled here. The error wraps
// ErrTooFewKnownAPs or ErrNoConsistentCluster with counts.
func (s *Solver) Solve(obs []Observation) (Solution, error) {
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	cfg := &s.cfg

	// Distinct MACs, strongest usable RSSI kept, sorted by MAC for the join.
	sc.obs = append(sc.obs[:0], obs...)
	slices.SortFunc(sc.obs, func(a, b Observation) int {
		if c := compareMAC(a.MAC, b.MAC); c != 0 {
			return c
		}
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	sc.obs = slices.CompactFunc(sc.obs, func(a, b Observation) bool { return a.MAC == b.MAC })
	sc.macs = sc.macs[:0]
	sc.keys = sc.keys[:0] // sorted like sc.obs: MACKey preserves MAC order
	thr := math.Inf(1)
	for _, o := range sc.obs {
		sc.macs = append(sc.macs, o.MAC)
		sc.keys = append(sc.keys, MACKey(o.MAC))
		if o.UsableRSSI() {
			thr = math.Min(thr, float64(o.RSSI))
		}
	}
	sc.aps = s.src.LookupAPs(sc.macs, sc.aps[:0])

	// Join, validate and dedup what the source returned.
	sc.known = sc.known[:0]
	sc.seen = slices.Grow(sc.seen[:0], len(sc.obs))[:len(sc.obs)]
	clear(sc.seen)
	for _, ap := range sc.aps {
		i, ok := slices.BinarySearch(sc.keys, MACKey(ap.MAC))
		if !ok || sc.seen[i] || !validAP(ap, cfg.MinObservations) {
			continue
		}
		sc.seen[i] = true
		o := sc.obs[i]
		k := known{ap: ap, hasRSSI: o.UsableRSSI(), sigmaA: ap.Accuracy}
		if k.hasRSSI {
			k.rssi = float64(o.RSSI)
		}
		if k.sigmaA <= 0 {
			k.sigmaA = cfg.DefaultAPAccuracy
		}
		sc.known = append(sc.known, k)
	}
	nKnown := len(sc.known)
	need := 2
	if cfg.AllowSingleAP {
		need = 1
	}
	if nKnown < need {
		return Solution{}, fmt.Errorf("%w: %d of %d distinct observed APs known, need %d", ErrTooFewKnownAPs, nKnown, len(sc.obs), need)
	}
	// Strongest first: usable RSSI descending, then without RSSI.
	slices.SortStableFunc(sc.known, func(a, b known) int {
		switch {
		case a.hasRSSI && !b.hasRSSI:
			return -1
		case !a.hasRSSI && b.hasRSSI:
			return 1
		case a.rssi > b.rssi:
			return -1
		case a.rssi < b.rssi:
			return 1
		}
		return 0
	})
	var rejected [][6]byte
	if len(sc.known) > maxConsidered {
		sc.known = sc.known[:maxConsidered] // the weakest are simply not considered
	}
	if nKnown == 1 {
		return s.singleAP(sc.known[0], nKnown), nil
	}

	// Cluster, keep the best cluster.
	best := s.cluster(sc)
	sc.sel = sc.sel[:0]
	for i, k := range sc.known {
		if sc.label[i] == best && len(sc.sel) < cfg.MaxAPs {
			sc.sel = append(sc.sel, k)
		} else if sc.label[i] != best {
			rejected = append(rejected, k.ap.MAC)
		}
	}
	if len(sc.sel) < 2 {
		return Solution{}, fmt.Errorf("%w: %d known APs, all more than %g m apart", ErrNoConsistentCluster, nKnown, cfg.ClusterRadius)
	}

	sol := s.locate(sc, thr, &rejected)
	sol.APsKnown = nKnown
	sol.Rejected = rejected
	return sol, nil
}

func compareMAC(a, b [6]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// validAP rejects records a broken source could return.
func validAP(ap AP, minObs int) bool {
	return finite(ap.Lat) && finite(ap.Lon) && ap.Lat >= -90 && ap.Lat <= 90 && ap.Lon >= -180 && ap.Lon <= 180 &&
		!math.IsNaN(ap.Accuracy) && !math.IsInf(ap.Accuracy, 0) && ap.Accuracy >= 0 && ap.Accuracy < 1e6 &&
		ap.Observations >= minObs
}

// cluster runs complete-linkage clustering over sc.known cut at
// ClusterRadius, fills sc.label and returns the label of the best cluster:
// the most APs, then the largest sum of RSSI weights.
func (s *Solver) cluster(sc *scratch) int {
	n := len(sc.known)
	sc.dist = slices.Grow(sc.dist[:0], n*n)[:n*n]
	sc.label = slices.Grow(sc.label[:0], n)[:n]
	d, label := sc.dist, sc.label
	for i := range n {
		label[i] = i
		d[i*n+i] = 0
		for j := i + 1; j < n; j++ {
			a, b := sc.known[i].ap, sc.known[j].ap
			v := pairDist(a.Lat, a.Lon, b.Lat, b.Lon)
			d[i*n+j], d[j*n+i] = v, v
		}
	}
	// d rows/columns of merged-away clusters are ignored via label[j] != j.
	for {
		bi, bj, bd := -1, -1, math.Inf(1)
		for i := range n {
			if label[i] != i {
				continue
			}
			for j := i + 1; j < n; j++ {
				if label[j] == j && d[i*n+j] < bd {
					bi, bj, bd = i, j, d[i*n+j]
				}
			}
		}
		if bi < 0 || !(bd <= s.cfg.ClusterRadius) {
			break
		}
		// Complete linkage: the merged cluster's distance is the maximum.
		for k := range n {
			if label[k] == k && k != bi && k != bj {
				v := math.Max(d[bi*n+k], d[bj*n+k])
				d[bi*n+k], d[k*n+bi] = v, v
			}
		}
		for k := range n {
			if label[k] == bj {
				label[k] = bi
			}
		}
	}
	best, bestN, bestW := -1, 0, -1.0
	for c := range n {
		if label[c] != c {
			continue
		}
		cnt, w := 0, 0.0
		for i := range n {
			if label[i] == c {
				cnt++
				w += s.weight(sc.known[i])
			}
		}
		if cnt > bestN || (cnt == bestN && w > bestW) {
			best, bestN, bestW = c, cnt, w
		}
	}
	return best
}

// weight is the centroid weight of an AP: 1/d̂² with d̂ the path-loss range
// (so a 10 dB stronger AP counts 10^(2/n)× more); APs without RSSI count as if
// heard at the range of a −85 dBm signal.
func (s *Solver) weight(k known) float64 {
	r := -85.0
	if k.hasRSSI {
		r = k.rssi
	}
	return math.Pow(10, (r-s.cfg.RefPower)/(5*s.cfg.PathLossExponent))
}
