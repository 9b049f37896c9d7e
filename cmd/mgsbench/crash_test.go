package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildMgsd builds mgsd into a temporary directory, with the race
// detector when this test runs with it (the packages are then already
// compiled that way, so only the link is left).
func buildMgsd(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build mgsd")
	}
	bin := filepath.Join(t.TempDir(), "mgsd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	start := time.Now()
	out, err := exec.Command(goBin, append(args, "github.com/openmgs/openmgs/cmd/mgsd")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build mgsd: %v\n%s", err, out)
	}
	t.Logf("built mgsd in %v (race %v)", time.Since(start).Round(time.Millisecond), raceEnabled)
	return bin
}

// TestCrashSafety is the CI form of "mgsbench crash": mgsd as a real
// subprocess is killed with SIGKILL 20 times under load and restarted on
// the same data; every acknowledged uplink must be in the state read
// after each restart, and the database must pass its consistency check
// after every kill.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	bin := buildMgsd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	seed := uint64(time.Now().UnixNano())
	r, err := crash(ctx, crashOptions{mgsd: bin, data: t.TempDir(), kills: 20, devices: 200, concurrency: 16,
		minRun: 150 * time.Millisecond, maxRun: 600 * time.Millisecond, seed: seed, progress: &progress})
	if err != nil {
		t.Fatalf("seed %d: %v\n%s", seed, err, progress.String())
	}
	t.Logf("seed %d: %s", seed, r)
	if r.Kills < 20 || r.Acked == 0 || r.Checks < 20*200 {
		t.Errorf("the test did too little: %s", r)
	}
	if r.Lost != 0 || len(r.Problems) > 0 {
		t.Errorf("seed %d: %s\n%s", seed, r, strings.Join(r.Problems, "\n"))
	}
	if r.Duplicates > r.Committed {
		t.Errorf("%d resent uplinks answered as duplicates, but only %d were found committed", r.Duplicates, r.Committed)
	}
}

// TestCrashCommandFlags checks the command line of "mgsbench crash".
func TestCrashCommandFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"crash", "--kills", "0"}, &out, &errb); err == nil {
		t.Fatal("--kills 0 accepted")
	}
	if err := run(context.Background(), []string{"crash", "--min-run", "2s", "--max-run", "1s"}, &out, &errb); err == nil {
		t.Fatal("min-run > max-run accepted")
	}
	if err := run(context.Background(), []string{"crash", "--mgsd", "/does/not/exist", "--kills", "1"}, &out, &errb); err == nil ||
		!strings.Contains(err.Error(), "start 1") {
		t.Fatalf("missing binary: %v", err)
	}
}
