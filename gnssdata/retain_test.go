package gnssdata

import (
	"slices"
	"testing"
	"time"
)

// TestRetain is the retention rule on import descriptions alone.
func TestRetain(t *testing.T) {
	const day = 86400.0
	const t0 = 1.4e9 // GPS seconds; "now" of every case unless set
	nav := func(id uint64, end float64) *entry {
		return &entry{meta: Import{ID: id, Format: FormatRINEX, DataEnd: t0 + end*day}}
	}
	alm := func(id uint64, end float64) *entry {
		return &entry{meta: Import{ID: id, Format: FormatYUMA, DataEnd: t0 + end*day}}
	}
	for _, tc := range []struct {
		name      string
		entries   []*entry
		retention time.Duration
		now       float64 // days after t0
		drop      []uint64
		horizon   float64 // days after t0; ignored when want0
		want0     bool    // horizon 0
	}{
		{name: "no imports", retention: DefaultRetention, want0: true},
		{name: "retention 0 keeps all", entries: []*entry{nav(1, -400), alm(2, -300), nav(3, 0)}, want0: true},
		{name: "daily files", retention: 14 * 24 * time.Hour,
			entries: []*entry{nav(1, -20), nav(2, -15), nav(3, -14.5), nav(4, -10), nav(5, -1), nav(6, 0)},
			drop:    []uint64{1, 2, 3}, horizon: -14},
		{name: "end exactly at the horizon is kept", retention: 10 * 24 * time.Hour,
			entries: []*entry{nav(1, -10), nav(2, -10.001), nav(3, 0)}, drop: []uint64{2}, horizon: -10},
		{name: "data time, not the clock", retention: 14 * 24 * time.Hour, now: 365,
			entries: []*entry{nav(1, -20), nav(2, -3), nav(3, 0)}, drop: []uint64{1}, horizon: -14},
		{name: "only almanac kept however old", retention: 14 * 24 * time.Hour,
			entries: []*entry{alm(1, -90), nav(2, -30), nav(3, 0)}, drop: []uint64{2}, horizon: -14},
		{name: "older almanacs go, the newest stays", retention: 14 * 24 * time.Hour,
			entries: []*entry{alm(1, -90), alm(2, -60), alm(3, -30), alm(4, -10), nav(5, 0)}, drop: []uint64{1, 2, 3}, horizon: -14},
		{name: "newest navigation file kept behind newer almanacs", retention: 7 * 24 * time.Hour,
			entries: []*entry{nav(1, -40), nav(2, -30), alm(3, -20), alm(4, 0)}, drop: []uint64{1, 3}, horizon: -7},
		{name: "tie of newest: higher id kept", retention: 24 * time.Hour,
			entries: []*entry{alm(4, -30), alm(7, -30), nav(8, 0)}, drop: []uint64{4}, horizon: -1},
		{name: "mis-dated future file capped by the clock", retention: 14 * 24 * time.Hour,
			entries: []*entry{nav(1, -20), nav(2, -6), nav(3, -1), nav(4, 7300)}, drop: []uint64{1}, horizon: 7 - 14},
		{name: "a clock behind the data prunes less", retention: 14 * 24 * time.Hour, now: -100,
			entries: []*entry{nav(1, -20), nav(2, 0)}, horizon: -100 + 7 - 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, drop, horizon := retain(tc.entries, tc.retention, t0+tc.now*day)
			var ids []uint64
			for _, e := range drop {
				ids = append(ids, e.meta.ID)
			}
			if !slices.Equal(ids, tc.drop) {
				t.Errorf("dropped %v, want %v", ids, tc.drop)
			}
			if len(keep)+len(drop) != len(tc.entries) {
				t.Errorf("kept %d + dropped %d of %d", len(keep), len(drop), len(tc.entries))
			}
			for _, e := range keep {
				if slices.Contains(tc.drop, e.meta.ID) {
					t.Errorf("%d both kept and dropped", e.meta.ID)
				}
			}
			want := t0 + tc.horizon*day
			if tc.want0 {
				want = 0
			}
			if diff := horizon - want; diff > 1e-3 || diff < -1e-3 {
				t.Errorf("horizon %.3f days after t0, want %.3f", (horizon-t0)/day, tc.horizon)
			}
		})
	}
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "off": 0, "OFF": 0, "0s": 0, "336h": 14 * 24 * time.Hour, "14d": 14 * 24 * time.Hour, "2w": 14 * 24 * time.Hour,
		" 1.5d ": 36 * time.Hour, "90m": 90 * time.Minute,
	} {
		if got, err := ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1d", "-3h", "d", "14days", "1e300w", "x"} {
		if got, err := ParseRetention(in); err == nil {
			t.Errorf("ParseRetention(%q) = %v, want an error", in, got)
		}
	}
}
