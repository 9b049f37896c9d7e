package eval

import (
	"math"
	"testing"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
)

func TestSnapshots(t *testing.T) {
	obs, nf := loadPair(t, "0759")
	cfg := Config{Seed: 7, APErrorKm: 50, TimeErrorS: 30, MaxEpochs: 20, MaxSats: 7}
	snaps, err := Snapshots(obs, nf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 20 {
		t.Fatalf("%d snapshots, want 20", len(snaps))
	}
	truth := geo.ECEF(obs.ApproxPosition).LLH()
	scfg := gnss.DefaultConfig()
	scfg.Iono = nf.Iono
	sv, err := gnss.New(nf.Orbits(), scfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range snaps {
		if s.Time != obs.Epochs[i].Time || math.Abs(s.Estimate-s.Time) > 30 || s.NumSVs != 7 || !s.HasAP {
			t.Fatalf("snapshot %d: time %v estimate %v, %d SVs", i, s.Time, s.Estimate, s.NumSVs)
		}
		if d := geo.GreatCircle(s.AP, truth); d > 50e3 {
			t.Errorf("snapshot %d: AP %.0f km off", i, d/1e3)
		}
		m, err := nav.Decode(s.NAV)
		if err != nil {
			t.Fatal(err)
		}
		if m.TimeIndicator != nav.TimeIndicatorAt(s.Time) {
			t.Errorf("snapshot %d: time indicator %d", i, m.TimeIndicator)
		}
		c, ap, _ := gnss.FromNAV(&m, s.Estimate)
		sol, err := sv.Solve(gnss.Request{Captures: []gnss.Capture{c}, AssistPosition: ap, TimeAccuracy: 30})
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if h, _ := geo.HorizontalVertical(truth, sol.ECEF); h > 10 {
			t.Errorf("snapshot %d: horizontal error %.1f m", i, h)
		}
	}
	// Without an AP the NAV carries none.
	snaps, err = Snapshots(obs, nf, Config{NoAP: true, MaxEpochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := nav.Decode(snaps[0].NAV); err != nil || m.HasAP || snaps[0].HasAP {
		t.Errorf("NoAP snapshot: HasAP %v, %v", m.HasAP, err)
	}
	if _, err := Snapshots(obs, nf, Config{NoiseM: -1}); err == nil {
		t.Error("negative noise accepted")
	}
}
