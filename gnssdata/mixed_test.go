package gnssdata_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"path/filepath"
	"testing"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// A gzip-compressed RINEX 3.04 mixed navigation file (the project's
// generated one) imports with its GPS and BeiDou records and its GPS
// Klobuchar model, and the service then solves mixed GPS + BeiDou snapshots.
func TestImportMixedRINEX3(t *testing.T) {
	m := gnsstest.NewMixed()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(m.RINEXNav())
	zw.Close()

	p, err := gnssdata.Parse("mixed.rnx.gz", gnssdata.FormatAuto, gz.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != gnssdata.FormatRINEX || p.Version != 3.04 || p.Iono == nil || *p.Iono != m.Iono || len(p.Ephemerides) != len(m.Ephemerides) {
		t.Fatalf("parsed %v %v iono %+v, %d records", p.Format, p.Version, p.Iono, len(p.Ephemerides))
	}

	db := openStore(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	now := m.T0 + 400
	s := open(t, db, now)
	res, err := s.Import(context.Background(), "OPEN00MGS_S_20240630000_01D_MN.rnx.gz", gnssdata.FormatAuto, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	c := res.Counts
	if c.GPS != 18 || c.BeiDou != 24 || c.Skipped != 9 || c.From != m.T0 || c.To != m.T0+7200 || !res.Iono {
		t.Errorf("import counts %+v, iono %v", c, res.Iono)
	}
	st := s.Status()
	if st.EphemerisSats != 21 || st.ValidNow != 21 || !st.Iono {
		t.Errorf("status: %d satellites, %d valid now, iono %v", st.EphemerisSats, st.ValidNow, st.Iono)
	}
	for _, sat := range st.Sats {
		// BeiDou records are valid ±1 h, GPS ±2 h, around their Toe.
		want := [2]float64{m.T0 - 7200, m.T0 + 7200 + 7200}
		if sat.Sat.Sys == orbit.BeiDou {
			want = [2]float64{m.T0 + 14 - 3600, m.T0 + 14 + 3600 + 3600}
		}
		if sat.Ephemerides != 2 || sat.EphemerisFrom != want[0] || sat.EphemerisTo != want[1] {
			t.Errorf("%v: %+v", sat.Sat, sat)
		}
	}

	for i := range m.DataEpochs() {
		tCap := m.TrueTime(m.DataEpochs()[i].Time)
		// Exact code phases: sub-metre.
		cp := gnss.Capture{TimeEstimate: tCap + 25, TimeIndicator: nav.TimeIndicatorAt(tCap), HasTimeIndicator: true}
		for _, me := range m.Snapshot(i) {
			cp.Measurements = append(cp.Measurements, gnss.Measurement{Sat: me.Sat, CodePhase: me.CodePhaseMs, HasCodePhase: true, CN0: me.CN0})
		}
		sol, err := s.Solve(gnss.Request{Captures: []gnss.Capture{cp}, AssistPosition: m.Near(60e3, 300)})
		if err != nil {
			t.Fatalf("epoch %d: %v", i, err)
		}
		if d := geo.Distance(sol.ECEF, m.Truth); d > 0.5 || sol.NumSVs != 21 {
			t.Errorf("epoch %d: %.3f m from the truth with %d SVs", i, d, sol.NumSVs)
		}
		// Through NAV1 (0.9 m code-phase quantum): metres.
		msg, err := nav.Decode(m.NAV1(i, m.Near(30e3, 45), false))
		if err != nil {
			t.Fatal(err)
		}
		cn, ap, _ := gnss.FromNAV(&msg, tCap-20)
		sol, err = s.Solve(gnss.Request{Captures: []gnss.Capture{cn}, AssistPosition: ap})
		if err != nil {
			t.Fatalf("epoch %d NAV1: %v", i, err)
		}
		if h, v := geo.HorizontalVertical(m.TruthLLH, sol.ECEF); h > 2 || v > 4 || v < -4 {
			t.Errorf("epoch %d NAV1: H %.2f V %.2f m", i, h, v)
		}
	}
}
