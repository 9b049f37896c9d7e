package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// sharedDir returns ../shared relative to the repository root, or skips.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	shared := filepath.Join(dir, "..", "shared")
	if _, err := os.Stat(filepath.Join(shared, "testdata", "gnss")); err != nil {
		t.Skipf("shared test data absent: %v", err)
	}
	return shared
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
