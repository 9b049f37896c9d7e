package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// sharedDir returns ../shared, skipping when its GNSS data is absent.
func sharedDir(t testing.TB) string {
	sharedtest.Path(t, "testdata", "gnss")
	return sharedtest.Path(t)
}

// loadPair parses a station's observation and navigation files.
func loadPair(t testing.TB, station string) (*rinex.ObsFile, *rinex.NavFile) {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "testdata", "gnss", "rtklib-0759")
	of, err := os.Open(filepath.Join(dir, station+"0920.05o"))
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	obs, err := rinex.ParseObs(of)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := os.Open(filepath.Join(dir, station+"0920.05n"))
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	navFile, err := rinex.ParseNav(nf)
	if err != nil {
		t.Fatal(err)
	}
	return obs, navFile
}
