package gnssdata_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// clockAt returns a clock fixed at GPS time gps.
func clockAt(gps float64) func() time.Time { return func() time.Time { return lora.GPSToTime(gps) } }

func open(t testing.TB, db store.Store, gps float64) *gnssdata.Service {
	t.Helper()
	s, err := gnssdata.Open(context.Background(), db, gnssdata.Options{Now: clockAt(gps)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func solveFixture(t testing.TB, s *gnssdata.Service, f *gnsstest.Fixture) (gnss.Solution, error) {
	t.Helper()
	tc := f.T0 + 300
	m, err := nav.Decode(f.NAV1(tc, gnsstest.Options{AP: f.Near(40e3, 100)}))
	if err != nil {
		t.Fatal(err)
	}
	c, ap, _ := gnss.FromNAV(&m, tc+20)
	return s.Solve(gnss.Request{Captures: []gnss.Capture{c}, AssistPosition: ap})
}

func TestImportSurvivesRestart(t *testing.T) {
	f := gnsstest.New()
	path := filepath.Join(t.TempDir(), "mgs.db")
	db := openStore(t, path)
	s := open(t, db, f.T0)
	if _, err := solveFixture(t, s, f); !errors.Is(err, gnssdata.ErrNoData) {
		t.Fatalf("solve before any import: %v, want ErrNoData", err)
	}
	res, err := s.Import(context.Background(), "fixture.24n", gnssdata.FormatAuto, f.RINEXNav())
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.Format != gnssdata.FormatRINEX || res.Counts.GPS != 10 || res.Version != 2.11 || res.ID != 1 {
		t.Fatalf("import result %+v", res)
	}
	sol, err := solveFixture(t, s, f)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := geo.HorizontalVertical(f.TruthLLH, sol.ECEF); h > 5 {
		t.Errorf("horizontal error %.1f m", h)
	}
	// The same content again (gzip-compressed this time) is a duplicate.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(f.RINEXNav())
	zw.Close()
	dup, err := s.Import(context.Background(), "again.gz", gnssdata.FormatRINEX, gz.Bytes())
	if err != nil || !dup.Duplicate || dup.ID != 1 {
		t.Fatalf("duplicate import: %+v, %v", dup, err)
	}
	db.Close()

	db = openStore(t, path)
	defer db.Close()
	s = open(t, db, f.T0+600)
	st := s.Status()
	if len(st.Imports) != 1 || st.Imports[0].Name != "fixture.24n" || st.Imports[0].Counts.GPS != 10 {
		t.Fatalf("imports after restart: %+v", st.Imports)
	}
	if st.EphemerisSats != 10 || st.ValidNow != 10 || st.AlmanacSats != 0 || st.Age != 600 || st.Iono {
		t.Errorf("status after restart: %+v", st)
	}
	if st.ValidFrom != f.T0-7200 || st.ValidTo != f.T0+7200 {
		t.Errorf("validity %v…%v, want T0 ± 2 h", st.ValidFrom, st.ValidTo)
	}
	if _, err := solveFixture(t, s, f); err != nil {
		t.Fatalf("solve after restart: %v", err)
	}
	// A second file gets the next id.
	res, err = s.Import(context.Background(), "alm.txt", gnssdata.FormatAuto, f.YUMA())
	if err != nil || res.ID != 2 || res.Counts.Almanacs != 10 {
		t.Fatalf("second import %+v, %v", res, err)
	}
}

func TestAlmanacFallback(t *testing.T) {
	f := gnsstest.New()
	db := openStore(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	// A week after T0 no ephemeris is valid: the almanac carries the solve.
	s := open(t, db, f.T0)
	if _, err := s.Import(context.Background(), "nav", gnssdata.FormatRINEX, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(context.Background(), "current.alm", gnssdata.FormatYUMA, f.YUMA()); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if st.AlmanacSats != 10 || st.EphemerisSats != 10 || st.ValidNow != 10 {
		t.Fatalf("status %+v", st)
	}
	_, src, err := s.Orbits().StateSource(orbit.SatID{Sys: orbit.GPS, PRN: 5}, f.T0+3*86400)
	if err != nil || src != orbit.SourceAlmanac {
		t.Fatalf("three days later: source %v, %v; want the almanac", src, err)
	}
	if _, err := s.State(orbit.SatID{Sys: orbit.GPS, PRN: 5}, f.T0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.State(orbit.SatID{Sys: orbit.GPS, PRN: 6}, f.T0); !errors.Is(err, orbit.ErrNoOrbit) {
		t.Fatalf("unknown satellite: %v", err)
	}
}

func TestAlmanacOnlySolve(t *testing.T) {
	f := gnsstest.New()
	db := openStore(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	s := open(t, db, f.T0)
	if _, err := s.Import(context.Background(), "current.alm", gnssdata.FormatAuto, f.YUMA()); err != nil {
		t.Fatal(err)
	}
	sol, err := solveFixture(t, s, f)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's almanac differs from its ephemeris by the TGD and
	// rounding only, so the fix stays within tens of metres.
	if h, _ := geo.HorizontalVertical(f.TruthLLH, sol.ECEF); h > 50 {
		t.Errorf("almanac-only horizontal error %.1f m", h)
	}
}

func TestImportRejects(t *testing.T) {
	f := gnsstest.New()
	db := openStore(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	s, err := gnssdata.Open(context.Background(), db, gnssdata.Options{MaxFileBytes: 5000, Now: clockAt(f.T0)})
	if err != nil {
		t.Fatal(err)
	}
	obs := "     2.10           OBSERVATION DATA    G (GPS)             RINEX VERSION / TYPE\n                                                            END OF HEADER\n"
	glo := "     3.04           N: GNSS NAV DATA    R: GLONASS          RINEX VERSION / TYPE\n                                                            END OF HEADER\n" +
		"R01 2024 03 01 12 00 00 1.000000000000E-05 0.000000000000E+00 0.000000000000E+00\n" +
		strings.Repeat("     0.000000000000E+00 0.000000000000E+00 0.000000000000E+00 0.000000000000E+00\n", 3)
	for _, tc := range []struct {
		name, data string
		format     gnssdata.Format
		err        error
		msg        string
	}{
		{"empty", "", gnssdata.FormatAuto, gnssdata.ErrFormat, "neither"},
		{"text", "hello\nworld\n", gnssdata.FormatAuto, gnssdata.ErrFormat, "neither"},
		{"obs", obs, gnssdata.FormatAuto, gnssdata.ErrFormat, "RINEX navigation"},
		{"glonass only", glo, gnssdata.FormatAuto, gnssdata.ErrFormat, "1 records of other systems"},
		{"yuma as rinex", string(f.YUMA()[:2000]), gnssdata.FormatRINEX, gnssdata.ErrFormat, "RINEX navigation"},
		{"too large", string(f.RINEXNav()), gnssdata.FormatAuto, gnssdata.ErrTooLarge, "limit 5000"},
		{"bad gzip", "\x1f\x8b\x08garbage", gnssdata.FormatAuto, gnssdata.ErrFormat, "gzip"},
	} {
		_, err := s.Import(context.Background(), tc.name, tc.format, []byte(tc.data))
		var fe *gnssdata.FileError
		if !errors.Is(err, tc.err) || !errors.As(err, &fe) || fe.Name != tc.name || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.err, tc.msg)
		}
	}
	if st := s.Status(); len(st.Imports) != 0 {
		t.Errorf("failed imports were stored: %+v", st.Imports)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]gnssdata.Format{"": gnssdata.FormatAuto, "AUTO": gnssdata.FormatAuto, "rinex": gnssdata.FormatRINEX,
		"Yuma": gnssdata.FormatYUMA} {
		if got, err := gnssdata.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := gnssdata.ParseFormat("sp3"); !errors.Is(err, gnssdata.ErrFormat) {
		t.Errorf("sp3: %v", err)
	}
}

// TestConcurrentSolveAndImport runs solves while files are imported (go
// test -race checks the snapshot swap).
func TestConcurrentSolveAndImport(t *testing.T) {
	f := gnsstest.New()
	db := openStore(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	s := open(t, db, f.T0)
	if _, err := s.Import(context.Background(), "nav", gnssdata.FormatAuto, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := solveFixture(t, s, f); err != nil {
					t.Error(err)
					return
				}
				s.Status()
			}
		})
	}
	for i := range 5 {
		// Distinct content each time: a comment line differs.
		data := append([]byte(nil), f.RINEXNav()...)
		data = bytes.Replace(data, []byte("openmgs gnsstest"), []byte("openmgs gnsstest "+string(rune('a'+i))), 1)
		if _, err := s.Import(context.Background(), "nav", gnssdata.FormatAuto, data); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if st := s.Status(); len(st.Imports) != 6 || st.Sats[0].Ephemerides != 1 {
		t.Errorf("after 6 imports of the same records: %d imports, %d ephemerides for %v", len(st.Imports), st.Sats[0].Ephemerides, st.Sats[0].Sat)
	}
}

// sharedFile returns ../shared/testdata/gnss/rel, skipping when absent.
func sharedFile(t testing.TB, rel string) []byte {
	return sharedtest.ReadFile(t, "testdata", "gnss", rel)
}

func TestImportSharedRINEX(t *testing.T) {
	data := sharedFile(t, "rtklib-0759/07590920.05n")
	db := openStore(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	// 2005-04-02 00:30 GPST.
	s := open(t, db, 796435200+1800)
	res, err := s.Import(context.Background(), "07590920.05n", gnssdata.FormatAuto, data)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.GPS < 20 || res.Counts.BeiDou != 0 || res.Version != 2.10 || !res.Iono {
		t.Errorf("import %+v", res)
	}
	st := s.Status()
	if st.EphemerisSats < 20 || st.ValidNow < 10 || !st.Iono {
		t.Errorf("status: %d satellites with ephemerides, %d valid now, iono %v", st.EphemerisSats, st.ValidNow, st.Iono)
	}
}

// BenchmarkParseRINEX parses the shared 95 KB RINEX 2.10 navigation file
// (skipped without ../shared).
func BenchmarkParseRINEX(b *testing.B) {
	data := sharedFile(b, "rtklib-0759/07590920.05n")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gnssdata.Parse("nav", gnssdata.FormatAuto, data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport stores a file and rebuilds the orbit set (fixture data,
// a fresh store per iteration batch).
func BenchmarkImport(b *testing.B) {
	f := gnsstest.New()
	db := openStore(b, filepath.Join(b.TempDir(), "mgs.db"))
	defer db.Close()
	s := open(b, db, f.T0)
	nav := f.RINEXNav()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		// Distinct content each time, so that it is not a duplicate.
		data := bytes.Replace(nav, []byte("openmgs gnsstest"), []byte("openmgs gnsstest "+strconv.Itoa(i)), 1)
		if _, err := s.Import(context.Background(), "nav", gnssdata.FormatAuto, data); err != nil {
			b.Fatal(err)
		}
	}
}
