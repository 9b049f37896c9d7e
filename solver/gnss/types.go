package gnss

import (
	"errors"
	"fmt"
	"math"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// Orbits supplies satellite states. State returns the state of id at GPS time
// t (the transmission time) in the ECEF frame at t, with the clock bias
// convention of orbit.State. Errors should wrap orbit.ErrNoOrbit when the
// satellite is simply not covered. *orbit.Set implements it; implementations
// must be safe for concurrent use if the Solver is.
type Orbits interface {
	State(id orbit.SatID, t float64) (orbit.State, error)
}

// Measurement is one satellite of one capture.
type Measurement struct {
	Sat orbit.SatID
	// CodePhase is the fractional pseudorange in milliseconds, [0, 1).
	CodePhase    float64
	HasCodePhase bool
	// Doppler in Hz, positive when the satellite approaches.
	Doppler    float64
	HasDoppler bool
	// CN0 in dB-Hz; 0 means unknown.
	CN0 float64
}

// Capture is one snapshot: its measurements and what is known of its time.
type Capture struct {
	Measurements []Measurement
	// TimeEstimate is the capture-time estimate in GPS seconds (for example
	// the uplink time minus the known delay).
	TimeEstimate float64
	// TimeIndicator is the NAV's 16-s GPS time indicator (nav.TimeWindow).
	TimeIndicator    uint16
	HasTimeIndicator bool
}

// Request is one solve: one capture (single frame) or several captures of a
// static receiver (multi-frame) sharing one position.
type Request struct {
	Captures []Capture
	// TimeAccuracy bounds |capture time − estimate| in seconds; 0 means 300.
	// Below 16 s the time indicator is ignored and the estimate alone seeds
	// the search (LoRa Cloud semantics, cloud-api.md §3).
	TimeAccuracy float64
	// AssistPosition seeds the search; nil means none (a Doppler-only coarse
	// fix is tried instead).
	AssistPosition *geo.LLH
	// AssistAltitude in metres above the ellipsoid; required by Use2D.
	AssistAltitude *float64
	// Use2D holds the height at AssistAltitude (a pseudo-measurement with
	// Config.AltitudeSigma).
	Use2D bool
}

// Solution is a position fix.
type Solution struct {
	ECEF geo.ECEF
	LLH  geo.LLH
	// CaptureTimeGPS is the solved capture time of the last capture, GPS s;
	// CaptureTimesGPS has one entry per capture.
	CaptureTimeGPS  float64
	CaptureTimesGPS []float64
	GDOP            float64
	// Accuracy is the horizontal 1-σ radius estimate (DRMS) in metres: the
	// a-posteriori covariance, scaled by the residuals when they exceed the
	// a-priori noise.
	Accuracy float64
	NumSVs   int
	// ResidualRMS is the RMS of the post-fit code residuals in metres.
	ResidualRMS float64
	// Redundancy is measurements minus states; 0 means the residual test
	// could not run.
	Redundancy int
	// Hypotheses is how many (position, time) starting points the search
	// visited, fault-exclusion passes included.
	Hypotheses int
	// DopplerSeed reports that the search was seeded by a Doppler-only fix.
	DopplerSeed bool
	// Excluded lists satellites dropped by fault exclusion, if any.
	Excluded []orbit.SatID
}

// Errors returned by Solve, wrapped with detail.
var (
	ErrTooFewSVs    = errors.New("gnss: too few satellites")
	ErrNoOrbit      = errors.New("gnss: no orbit for satellite")
	ErrCaptureTime  = errors.New("gnss: capture time outside accuracy")
	ErrIntegrity    = errors.New("gnss: integrity check failed")
	ErrNoAssistance = errors.New("gnss: no assistance position and no Doppler fix")
	ErrInvalidInput = errors.New("gnss: invalid request")
	ErrConfig       = errors.New("gnss: invalid config")
)

// Config tunes the solver. Start from DefaultConfig.
type Config struct {
	// Iono is the broadcast Klobuchar model; nil disables the correction.
	Iono *orbit.Klobuchar
	// NoTropo disables the Saastamoinen troposphere correction.
	NoTropo bool
	// SigmaCode is the a-priori code-phase noise at zenith and ≥ 45 dB-Hz, m.
	SigmaCode float64
	// ElevationMask drops satellites below it (radians) when at least
	// MinSVs remain.
	ElevationMask float64
	// APSearchRadius is the radius around the assistance position that the
	// hypothesis search covers, m.
	APSearchRadius float64
	// APGridStep is the spacing of the hexagonal AP hypothesis grid, m.
	APGridStep float64
	// TimeGridStep is the spacing of capture-time hypotheses, s.
	TimeGridStep float64
	// MaxHypotheses bounds the starting points visited per solve, fault
	// exclusion included (about 1–2 µs each), so the worst case stays
	// bounded when an AP is far off or the data are inconsistent.
	MaxHypotheses int
	// IntegrityRMS is the largest accepted post-fit residual RMS, m.
	IntegrityRMS float64
	// MinHeight and MaxHeight bound a plausible receiver height, m.
	MinHeight, MaxHeight float64
	// AltitudeSigma is the weight of the 2D-mode altitude constraint, m.
	AltitudeSigma float64
}

// DefaultConfig returns the defaults: no ionosphere model (set Iono from the
// navigation data), troposphere on, 3 m code noise, 5° mask, 200 km × 60 km
// AP grid, 20 s time grid, 20 000 hypotheses, 100 m residual limit, heights
// −500 m … 9 km.
func DefaultConfig() Config {
	return Config{
		SigmaCode:      3,
		ElevationMask:  5 * math.Pi / 180,
		APSearchRadius: 200e3,
		APGridStep:     60e3,
		TimeGridStep:   20,
		MaxHypotheses:  20000,
		IntegrityRMS:   100,
		MinHeight:      -500,
		MaxHeight:      9000,
		AltitudeSigma:  10,
	}
}

// Validate checks the ranges of c.
func (c Config) Validate() error {
	bad := func(f string, v float64) error { return fmt.Errorf("%w: %s = %g", ErrConfig, f, v) }
	switch {
	case !(c.SigmaCode > 0):
		return bad("SigmaCode", c.SigmaCode)
	case !(c.ElevationMask >= 0 && c.ElevationMask < math.Pi/2):
		return bad("ElevationMask", c.ElevationMask)
	case !(c.APSearchRadius >= 0):
		return bad("APSearchRadius", c.APSearchRadius)
	case !(c.APGridStep > 1e3):
		return bad("APGridStep", c.APGridStep)
	case !(c.TimeGridStep > 0):
		return bad("TimeGridStep", c.TimeGridStep)
	case c.MaxHypotheses < 1:
		return bad("MaxHypotheses", float64(c.MaxHypotheses))
	case !(c.IntegrityRMS > 0):
		return bad("IntegrityRMS", c.IntegrityRMS)
	case !(c.MaxHeight > c.MinHeight):
		return bad("MaxHeight", c.MaxHeight)
	case !(c.AltitudeSigma > 0):
		return bad("AltitudeSigma", c.AltitudeSigma)
	}
	return nil
}

// Solver solves snapshots against an orbit source. It holds no mutable state
// and is safe for concurrent use when its Orbits is.
type Solver struct {
	orbits Orbits
	cfg    Config
}

// New returns a solver.
func New(o Orbits, cfg Config) (*Solver, error) {
	if o == nil {
		return nil, fmt.Errorf("%w: nil Orbits", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Solver{orbits: o, cfg: cfg}, nil
}
