// Package sharedtest finds the steering repository's shared/ directory,
// which sits beside the project (../shared from the module root), for
// tests that use its specs, seeds and real GNSS data. A user's clone has no
// shared/: those tests skip.
package sharedtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Path returns ../shared/rel… from the module root, skipping the test when
// it does not exist.
func Path(t testing.TB, rel ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{moduleRoot(t), "..", "shared"}, rel...)...)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		t.Skipf("shared test data absent: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	return p
}

// ReadFile reads ../shared/rel…, skipping the test when it is absent.
func ReadFile(t testing.TB, rel ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, rel...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// moduleRoot walks up from the test's directory to the one with go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root (go.mod) not found")
		}
		dir = parent
	}
}
