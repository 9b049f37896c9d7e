package wifisim

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/solver/wifi"
)

func run(t *testing.T, cfg Config) Report {
	t.Helper()
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r)
	return r
}

// TestDefaultScenarioBars asserts the acceptance bars on the default scenario
// (n = 3, shadowing σ = 6 dB, 5 % moved APs) for two seeds: median error at
// most 0.7 × the baseline's and at most 20 m, and reported accuracy covering
// at least 68 % of true errors.
func TestDefaultScenarioBars(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		cfg := DefaultConfig()
		cfg.Seed = seed
		r := run(t, cfg)
		if r.Sent < cfg.Scans*9/10 {
			t.Errorf("seed %d: only %d of %d scans sent", seed, r.Sent, cfg.Scans)
		}
		if r.Solver.Solved < r.Baseline.Solved*98/100 {
			t.Errorf("seed %d: solver answered %d scans, baseline %d", seed, r.Solver.Solved, r.Baseline.Solved)
		}
		if r.Solver.Median > 20 {
			t.Errorf("seed %d: median %.1f m > 20 m", seed, r.Solver.Median)
		}
		if r.Solver.Median > 0.7*r.Baseline.Median || r.SolverMedianBoth > 0.7*r.BaselineMedianBoth {
			t.Errorf("seed %d: median %.1f m (common set %.1f) vs baseline %.1f m (%.1f): ratio above 0.7",
				seed, r.Solver.Median, r.SolverMedianBoth, r.Baseline.Median, r.BaselineMedianBoth)
		}
		if r.Solver.Coverage < 0.68 {
			t.Errorf("seed %d: accuracy covers %.1f%% of errors, want ≥ 68%%", seed, 100*r.Solver.Coverage)
		}
		if r.RejectedMoved < r.MovedHeard*9/10 {
			t.Errorf("seed %d: rejected %d of %d moved APs heard", seed, r.RejectedMoved, r.MovedHeard)
		}
		if r.Hotspots == 0 || r.PathLoss == 0 {
			t.Errorf("seed %d: hotspots %d, path-loss fixes %d", seed, r.Hotspots, r.PathLoss)
		}
	}
}

// TestMACOnlyScenario: without RSSI the solver falls back to the centroid of
// the agreeing APs; it must still beat the baseline and stay calibrated.
func TestMACOnlyScenario(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Format = wifi.FormatMACOnly
	r := run(t, cfg)
	if r.PathLoss != 0 || r.Centroid != r.Solver.Solved {
		t.Errorf("methods: %d path loss, %d centroid of %d", r.PathLoss, r.Centroid, r.Solver.Solved)
	}
	if r.Solver.Median > r.Baseline.Median || r.Solver.Coverage < 0.68 {
		t.Errorf("median %.1f m vs baseline %.1f m, coverage %.1f%%", r.Solver.Median, r.Baseline.Median, 100*r.Solver.Coverage)
	}
}

// TestAbsenceHelps: negative evidence (known APs not heard) must lower the
// median error; measured about 20 % on the default city.
func TestAbsenceHelps(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scans = 1000
	with := run(t, cfg)
	cfg.Solver.Absence = false
	without := run(t, cfg)
	if !(with.Solver.Median < 0.9*without.Solver.Median) {
		t.Errorf("median %.1f m with absence, %.1f m without", with.Solver.Median, without.Solver.Median)
	}
}

func TestRunDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scans = 200
	a, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("same config, different reports:\n%s", d)
	}
	cfg.Seed = 99
	c, _ := Run(cfg)
	if cmp.Equal(a, c) {
		t.Error("another seed gave the same report")
	}
}

func TestSamples(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HotspotRate = 2
	city, err := NewCity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if city.APs() != 8000 || city.Index().Len() < 6000 || city.Index().Len() > 7000 {
		t.Errorf("%d APs, %d in the database (want 8000, ~80 %%)", city.APs(), city.Index().Len())
	}
	rng := rand.New(rand.NewPCG(5, 5))
	hot := 0
	for range 200 {
		s := city.Sample(rng)
		if s.Payload == nil {
			if s.Detected >= cfg.MinSend {
				t.Errorf("not sent with %d detected", s.Detected)
			}
			continue
		}
		sc, err := wifi.DecodeScan(s.Payload)
		if err != nil {
			t.Fatalf("payload %x: %v", s.Payload, err)
		}
		if sc.Format != wifi.FormatRSSIMAC || len(sc.APs) != min(s.Detected, cfg.MaxResults) || len(s.Payload) > 51 {
			t.Errorf("format %d, %d APs of %d detected, %d bytes", sc.Format, len(sc.APs), s.Detected, len(s.Payload))
		}
		for i, o := range sc.APs {
			if i > 0 && o.RSSI > sc.APs[i-1].RSSI {
				t.Errorf("not sorted by RSSI: %v", sc.APs)
			}
			if !o.UsableRSSI() || float64(o.RSSI) < cfg.Sensitivity {
				t.Errorf("RSSI %d", o.RSSI)
			}
			if wifi.IsLocallyAdministered(o.MAC) {
				hot++
			} else if _, ok := city.ap(o.MAC); !ok {
				t.Errorf("unknown fixed AP %x", o.MAC)
			}
		}
	}
	if hot == 0 {
		t.Error("no hotspots reported at HotspotRate 2")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"Size":       func(c *Config) { c.Size = 10 },
		"Density":    func(c *Config) { c.Density = 0 },
		"MaxResults": func(c *Config) { c.MaxResults = 1 },
		"MinSend":    func(c *Config) { c.MinSend = 9 },
		"Format":     func(c *Config) { c.Format = 3 },
		"MovedShare": func(c *Config) { c.MovedShare = 1.5 },
		"Scans":      func(c *Config) { c.Scans = 0 },
		"Solver":     func(c *Config) { c.Solver.Confidence = 2 },
		"Lat/Lon":    func(c *Config) { c.Lat = 85 },
	} {
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(name, "Solver")) {
			t.Errorf("%s: %v", name, err)
		}
		if name != "Solver" && !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v is not ErrConfig", name, err)
		}
		if _, err := Run(c); err == nil {
			t.Errorf("%s: Run accepted the config", name)
		}
	}
}

func BenchmarkRun(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Scans = 200
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
