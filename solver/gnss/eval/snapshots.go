package eval

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// Snapshot is one observation epoch as a LR11xx device would send it.
type Snapshot struct {
	// Time is the true capture time (the epoch), GPS seconds.
	Time float64
	// Estimate is the capture-time estimate with the configured time
	// error, GPS seconds.
	Estimate float64
	// NAV is the NAV1 payload, without the destination byte.
	NAV []byte
	// AP is the assistance position written into the NAV before its 12-bit
	// quantisation (HasAP false with Config.NoAP).
	AP    geo.LLH
	HasAP bool
	// NumSVs is the number of satellite records in the NAV.
	NumSVs int
}

// Snapshots turns the epochs of obs (at most cfg.MaxEpochs) into NAV1
// payloads with the perturbations of cfg that concern the device: NoiseM,
// APErrorKm, TimeErrorS, ExactErrors, MaxSats, Doppler, FreqOffsetHz, NoAP,
// Seed. It is how Run builds its input, exposed so that service tests can
// send the same snapshots through the API.
func Snapshots(obs *rinex.ObsFile, navFile *rinex.NavFile, cfg Config) ([]Snapshot, error) {
	if obs == nil || navFile == nil {
		return nil, errors.New("eval: nil input")
	}
	if cfg.NoiseM < 0 || cfg.APErrorKm < 0 || cfg.TimeErrorS < 0 || cfg.MaxSats < 0 || cfg.FreqOffsetHz < 0 {
		return nil, fmt.Errorf("eval: negative setting in %+v", cfg)
	}
	truth := geo.ECEF(obs.ApproxPosition)
	if cfg.Truth != nil {
		truth = *cfg.Truth
	}
	if truth.Norm() < 6e6 {
		return nil, errors.New("eval: no station position (header APPROX POSITION XYZ is empty)")
	}
	epochs := obs.Epochs
	if cfg.MaxEpochs > 0 && len(epochs) > cfg.MaxEpochs {
		epochs = epochs[:cfg.MaxEpochs]
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x736e6170))
	g := generator{obs: obs, orbits: navFile.Orbits(), cfg: cfg, truth: truth, truthLLH: truth.LLH(), rng: rng}
	out := make([]Snapshot, 0, len(epochs))
	for _, ep := range epochs {
		var s Snapshot
		if !cfg.NoAP {
			d := cfg.APErrorKm * 1e3
			if !cfg.ExactErrors {
				d *= math.Sqrt(rng.Float64())
			}
			s.AP, s.HasAP = geo.Destination(g.truthLLH, 2*math.Pi*rng.Float64(), d), true
		}
		g.freqOffset = cfg.FreqOffsetHz * (2*rng.Float64() - 1)
		dt := cfg.TimeErrorS
		if cfg.ExactErrors {
			if rng.IntN(2) == 0 {
				dt = -dt
			}
		} else {
			dt *= 2*rng.Float64() - 1
		}
		msg, err := g.snapshot(ep, s.AP)
		if err != nil {
			return nil, err
		}
		if s.NAV, err = msg.MarshalBinary(); err != nil {
			return nil, fmt.Errorf("eval: encode epoch %.0f: %w", ep.Time, err)
		}
		s.Time, s.Estimate, s.NumSVs = ep.Time, ep.Time+dt, msg.NumSVs()
		out = append(out, s)
	}
	return out, nil
}
