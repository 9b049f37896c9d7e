package gnssdata_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/store"
)

const day = 86400.0

func openRetention(t testing.TB, db store.Store, gps float64, r time.Duration) *gnssdata.Service {
	t.Helper()
	s, err := gnssdata.Open(context.Background(), db, gnssdata.Options{Now: clockAt(gps), Retention: r})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func importIDs(imps []gnssdata.Import) []uint64 {
	var ids []uint64
	for _, i := range imps {
		ids = append(ids, i.ID)
	}
	return ids
}

// hasEphemeris reports whether s has an ephemeris of GPS prn valid at t.
func hasEphemeris(s *gnssdata.Service, prn int, t float64) bool {
	_, err := s.Orbits().Ephemeris(orbit.SatID{Sys: orbit.GPS, PRN: prn}, t)
	return err == nil
}

func TestRetentionOnImport(t *testing.T) {
	ctx := context.Background()
	f := gnsstest.New()
	path := filepath.Join(t.TempDir(), "mgs.db")
	db := openStore(t, path)
	s := openRetention(t, db, f.T0+30*day, gnssdata.DefaultRetention)
	imp := func(name string, format gnssdata.Format, data []byte) gnssdata.ImportResult {
		t.Helper()
		res, err := s.Import(ctx, name, format, data)
		if err != nil {
			t.Fatalf("import %s: %v", name, err)
		}
		return res
	}
	nav0 := imp("day0.nav", gnssdata.FormatRINEX, f.RINEXNav())                                // id 1, all ten
	alm0 := imp("day0.alm", gnssdata.FormatYUMA, f.YUMA())                                     // id 2
	nav10 := imp("day10.nav", gnssdata.FormatRINEX, f.Shifted(10, 2, 5, 7, 10, 13).RINEXNav()) // id 3
	if nav0.DataEnd != f.T0+7200 || alm0.DataEnd != f.T0 || nav10.DataEnd != f.T0+10*day+7200 {
		t.Fatalf("data ends %v %v %v", nav0.DataEnd-f.T0, alm0.DataEnd-f.T0, nav10.DataEnd-f.T0)
	}
	if len(nav10.Pruned) != 0 || !hasEphemeris(s, 17, f.T0) {
		t.Fatalf("10 days apart, within 14: pruned %v", nav10.Pruned)
	}
	// Day 20: day 0's navigation file ends before day 20 + 2 h − 14 d and
	// goes in the same write; the day-0 almanac, the only one, stays.
	nav20 := imp("day20.nav", gnssdata.FormatRINEX, f.Shifted(20, 2, 5, 7).RINEXNav())
	if got := importIDs(nav20.Pruned); !slices.Equal(got, []uint64{1}) || nav20.Pruned[0].Name != "day0.nav" || nav20.ID != 4 {
		t.Fatalf("day 20 import %d pruned %v, want [1]", nav20.ID, got)
	}
	st := s.Status()
	if got := importIDs(st.Imports); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Fatalf("imports %v", got)
	}
	horizon := f.T0 + 20*day + 7200 - 14*day
	if st.Retention != gnssdata.DefaultRetention || st.RetainFrom != horizon {
		t.Errorf("status retention %v from %v, want %v from %v", st.Retention, st.RetainFrom, gnssdata.DefaultRetention, horizon)
	}
	// The in-memory set lost day 0's ephemerides: G17 (only in day 0) has
	// the almanac left, G02 the days 10 and 20.
	if hasEphemeris(s, 2, f.T0) || hasEphemeris(s, 17, f.T0) || !hasEphemeris(s, 2, f.T0+10*day) || !hasEphemeris(s, 2, f.T0+20*day) {
		t.Error("ephemerides after pruning: want days 10 and 20 only")
	}
	if _, src, err := s.Orbits().StateSource(orbit.SatID{Sys: orbit.GPS, PRN: 17}, f.T0); err != nil || src != orbit.SourceAlmanac {
		t.Errorf("G17 at T0: %v, %v; want the almanac", src, err)
	}
	if st.EphemerisSats != 5 || st.AlmanacSats != 10 || st.ValidFrom != f.T0+10*day-7200 || st.ValidTo != f.T0+20*day+7200 {
		t.Errorf("status %d ephemeris sats, %d almanac sats, valid %v…%v", st.EphemerisSats, st.AlmanacSats, st.ValidFrom-f.T0, st.ValidTo-f.T0)
	}
	for _, sat := range st.Sats {
		want := map[int]int{2: 2, 5: 2, 7: 2, 10: 1, 13: 1}[sat.Sat.PRN]
		if sat.Ephemerides != want || sat.Almanacs != 1 {
			t.Errorf("%v: %d ephemerides, %d almanacs; want %d, 1", sat.Sat, sat.Ephemerides, sat.Almanacs, want)
		}
	}

	// A file that would expire at once is refused and nothing is stored.
	_, err := s.Import(ctx, "day1.nav", gnssdata.FormatAuto, f.Shifted(1).RINEXNav())
	if !errors.Is(err, gnssdata.ErrRetention) {
		t.Fatalf("importing day 1 after day 20: %v, want ErrRetention", err)
	}
	// A newer almanac replaces the old one (no longer the newest).
	alm19 := imp("day19.alm", gnssdata.FormatYUMA, f.Shifted(19).YUMA())
	if got := importIDs(alm19.Pruned); !slices.Equal(got, []uint64{2}) || alm19.ID != 5 {
		t.Fatalf("newer almanac %d pruned %v, want [2]", alm19.ID, got)
	}
	if _, err := s.State(orbit.SatID{Sys: orbit.GPS, PRN: 17}, f.T0); err != nil {
		t.Errorf("G17 at T0 from the day-19 almanac: %v", err)
	}
	db.Close()

	// The pruned imports are gone from the store: a service keeping
	// everything finds the three left.
	db = openStore(t, path)
	defer db.Close()
	s = openRetention(t, db, f.T0+30*day, 0)
	st = s.Status()
	if got := importIDs(st.Imports); !slices.Equal(got, []uint64{3, 4, 5}) || st.Retention != 0 || st.RetainFrom != 0 {
		t.Fatalf("after restart: imports %v, retention %v from %v", got, st.Retention, st.RetainFrom)
	}
	// Ids are not reused.
	if res, err := s.Import(ctx, "day1.nav", gnssdata.FormatAuto, f.Shifted(1).RINEXNav()); err != nil || res.ID != 6 {
		t.Fatalf("without retention, day 1 imports: %+v, %v", res, err)
	}
}

// TestRetentionAtOpen lowers the retention across a restart.
func TestRetentionAtOpen(t *testing.T) {
	ctx := context.Background()
	f := gnsstest.New()
	path := filepath.Join(t.TempDir(), "mgs.db")
	db := openStore(t, path)
	s := openRetention(t, db, f.T0+16*day, 0)
	for i, d := range []float64{0, 5, 10, 15} {
		res, err := s.Import(ctx, "nav", gnssdata.FormatRINEX, f.Shifted(d).RINEXNav())
		if err != nil || res.ID != uint64(i+1) || len(res.Pruned) != 0 {
			t.Fatalf("import day %v: %+v, %v", d, res, err)
		}
	}
	if st := s.Status(); len(st.Imports) != 4 || st.Sats[0].Ephemerides != 4 || st.RetainFrom != 0 {
		t.Fatalf("retention 0: %d imports, %d ephemerides of %v, retain from %v", len(st.Imports), st.Sats[0].Ephemerides, st.Sats[0].Sat, st.RetainFrom)
	}
	db.Close()

	// A week: days 10 and 15 stay (day 15 + 2 h − 7 d = day 8 + 2 h).
	db = openStore(t, path)
	s = openRetention(t, db, f.T0+16*day, 7*24*time.Hour)
	st := s.Status()
	if got := importIDs(st.Imports); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("after lowering the retention: imports %v", got)
	}
	if st.RetainFrom != f.T0+8*day+7200 || st.ValidFrom != f.T0+10*day-7200 || st.Sats[0].Ephemerides != 2 || st.EphemerisSats != 10 {
		t.Errorf("status: retain from %v, valid from %v, %d ephemerides of %v", st.RetainFrom-f.T0, st.ValidFrom-f.T0, st.Sats[0].Ephemerides, st.Sats[0].Sat)
	}
	if hasEphemeris(s, 5, f.T0) || hasEphemeris(s, 5, f.T0+5*day) || !hasEphemeris(s, 5, f.T0+10*day) {
		t.Error("ephemerides of days 0 and 5 still loaded")
	}
	db.Close()

	// Gone from the store, not only from memory.
	db = openStore(t, path)
	defer db.Close()
	if got := importIDs(openRetention(t, db, f.T0+16*day, 0).Status().Imports); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("reopened without retention: imports %v", got)
	}
	if _, err := gnssdata.Open(ctx, db, gnssdata.Options{Retention: -time.Hour}); err == nil {
		t.Error("negative retention accepted")
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	f := gnsstest.New()
	path := filepath.Join(t.TempDir(), "mgs.db")
	db := openStore(t, path)
	s := open(t, db, f.T0)
	if _, err := s.Import(ctx, "nav", gnssdata.FormatRINEX, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, "alm", gnssdata.FormatYUMA, f.YUMA()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Delete(ctx, 7); err != nil || got != nil {
		t.Fatalf("delete of an unknown id: %v, %v", got, err)
	}
	got, err := s.Delete(ctx, 1, 1, 9)
	if err != nil || len(got) != 1 || got[0].ID != 1 || got[0].Name != "nav" {
		t.Fatalf("delete: %+v, %v", got, err)
	}
	st := s.Status()
	if len(st.Imports) != 1 || st.Imports[0].ID != 2 || st.EphemerisSats != 0 || st.AlmanacSats != 10 || st.ValidNow != 0 || st.AlmanacNow != 10 {
		t.Fatalf("status after delete: %+v", st)
	}
	if hasEphemeris(s, 5, f.T0) {
		t.Error("deleted ephemerides still loaded")
	}
	// The last import may be deleted too; then there is no data.
	if got, err := s.Delete(ctx, 2); err != nil || len(got) != 1 {
		t.Fatalf("delete the almanac: %+v, %v", got, err)
	}
	if _, err := solveFixture(t, s, f); !errors.Is(err, gnssdata.ErrNoData) {
		t.Errorf("solve after deleting everything: %v", err)
	}
	// A stored record that no longer parses is skipped at Open and can be
	// deleted by id.
	tbl := db.Table(gnssdata.TableOrbits)
	if _, err := tbl.CompareAndSwap(ctx, []byte{0, 0, 0, 0, 0, 0, 0, 9}, 0, []byte{1, 2, '{', '}'}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openStore(t, path)
	defer db.Close()
	s = open(t, db, f.T0)
	if st := s.Status(); len(st.Imports) != 0 {
		t.Fatalf("imports after reopening: %+v", st.Imports)
	}
	if got, err := s.Delete(ctx, 9); err != nil || len(got) != 1 || got[0].ID != 9 {
		t.Fatalf("delete of a broken record: %+v, %v", got, err)
	}
	if _, _, err := db.Table(gnssdata.TableOrbits).Get(ctx, []byte{0, 0, 0, 0, 0, 0, 0, 9}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("broken record still stored: %v", err)
	}
	// Ids keep growing past deleted ones.
	if res, err := s.Import(ctx, "nav", gnssdata.FormatRINEX, f.RINEXNav()); err != nil || res.ID != 10 {
		t.Fatalf("import after deletes: %+v, %v", res, err)
	}
}

// failStore fails every Table.Write and CompareAndSwap while fail is set.
type failStore struct {
	store.Store
	fail *bool
}

func (s failStore) Table(name string) store.Table { return failTable{s.Store.Table(name), s.fail} }

type failTable struct {
	store.Table
	fail *bool
}

var errInjected = errors.New("injected write failure")

func (t failTable) Write(ctx context.Context, ops []store.Op) error {
	if *t.fail {
		return errInjected
	}
	return t.Table.Write(ctx, ops)
}

func (t failTable) CompareAndSwap(ctx context.Context, key []byte, rev uint64, value []byte) (uint64, error) {
	if *t.fail {
		return 0, errInjected
	}
	return t.Table.CompareAndSwap(ctx, key, rev, value)
}

// A failed store write of an import that prunes changes nothing, in the
// store or in memory; a failed prune at Open keeps serving everything.
func TestRetentionWriteFailure(t *testing.T) {
	ctx := context.Background()
	f := gnsstest.New()
	path := filepath.Join(t.TempDir(), "mgs.db")
	bolt := openStore(t, path)
	fail := false
	db := failStore{bolt, &fail}
	s := openRetention(t, db, f.T0+30*day, 7*24*time.Hour)
	if _, err := s.Import(ctx, "day0", gnssdata.FormatRINEX, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	fail = true
	if _, err := s.Import(ctx, "day10", gnssdata.FormatRINEX, f.Shifted(10).RINEXNav()); !errors.Is(err, errInjected) {
		t.Fatalf("import with a failing store: %v", err)
	}
	if got := importIDs(s.Status().Imports); !slices.Equal(got, []uint64{1}) || !hasEphemeris(s, 5, f.T0) {
		t.Fatalf("after the failed import: imports %v", got)
	}
	if got, err := s.Delete(ctx, 1); !errors.Is(err, errInjected) || got != nil || !hasEphemeris(s, 5, f.T0) {
		t.Fatalf("delete with a failing store: %v, %v", got, err)
	}
	fail = false
	if res, err := s.Import(ctx, "day10", gnssdata.FormatRINEX, f.Shifted(10).RINEXNav()); err != nil || res.ID != 2 || len(res.Pruned) != 1 {
		t.Fatalf("import after the failure: %+v, %v", res, err)
	}
	if _, err := s.Import(ctx, "day0", gnssdata.FormatRINEX, f.RINEXNav()); !errors.Is(err, gnssdata.ErrRetention) {
		t.Fatalf("re-import of the pruned file: %v", err)
	}
	bolt.Close()

	bolt = openStore(t, path)
	defer bolt.Close()
	db = failStore{bolt, &fail}
	s = openRetention(t, db, f.T0+30*day, 0)
	if _, err := s.Import(ctx, "day0", gnssdata.FormatRINEX, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	fail = true
	s = openRetention(t, db, f.T0+30*day, 7*24*time.Hour)
	if got := importIDs(s.Status().Imports); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("prune failed at Open: imports %v, want both kept", got)
	}
}
