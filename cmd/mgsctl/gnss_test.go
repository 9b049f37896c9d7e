package main

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// startGNSSServer runs the gRPC server with the GeolocationService; its
// orbit clock is GPS time gps.
func startGNSSServer(t *testing.T, gps float64) string {
	t.Helper()
	return startGNSSServerRetention(t, gps, 0)
}

// startGNSSServerRetention is startGNSSServer with an orbit retention.
func startGNSSServerRetention(t *testing.T, gps float64, retention time.Duration) string {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := gnssdata.Open(context.Background(), db, gnssdata.Options{Now: func() time.Time { return lora.GPSToTime(gps) }, Retention: retention})
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{GNSS: svc}), server.Options{GNSS: svc})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	t.Cleanup(g.Server.Stop)
	return lis.Addr().String()
}

func TestGNSSImportAndStatus(t *testing.T) {
	f := gnsstest.New()
	addr := startGNSSServer(t, f.T0+3600)
	dir := t.TempDir()
	navPath := filepath.Join(dir, "fixture.24n")
	almPath := filepath.Join(dir, "current.alm")
	// A large file: random comment lines keep it above one 256 KiB chunk
	// after compression, so progress is reported.
	rng := rand.New(rand.NewPCG(1, 2))
	var pad strings.Builder
	for range 12000 {
		for range 60 {
			pad.WriteByte(byte('a' + rng.IntN(26)))
		}
		pad.WriteString("COMMENT             \n")
	}
	lines := strings.SplitN(string(f.RINEXNav()), "\n", 2)
	big := []byte(lines[0] + "\n" + pad.String() + lines[1])
	if err := os.WriteFile(navPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(almPath, f.YUMA(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mgsctl(t, addr, "gnss", "import", navPath, almPath)
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "fixture.24n: parsed 10 GPS + 0 BeiDou ephemerides, 0 almanacs") ||
		!strings.Contains(r.stderr, "fixture.24n: compressed") || !strings.Contains(r.stderr, "fixture.24n: sent 262144/") || !strings.Contains(r.stderr, "current.alm: parsed 0 GPS + 0 BeiDou ephemerides, 10 almanacs") {
		t.Errorf("progress:\n%s", r.stderr)
	}
	if got := row(t, r.stdout, "1"); got[1] != "fixture.24n" || got[2] != "rinex" || got[3] != "10" {
		t.Errorf("import row %q", got)
	}
	if got := row(t, r.stdout, "2"); got[1] != "current.alm" || got[2] != "yuma" || got[5] != "10" {
		t.Errorf("import row %q", got)
	}
	// Again: reported as already imported; a bad file fails (exit 1) without
	// stopping the others.
	bad := filepath.Join(dir, "notes.txt")
	os.WriteFile(bad, []byte("hello"), 0o600)
	r = mgsctl(t, addr, "gnss", "import", bad, almPath)
	if r.code != 1 || !strings.Contains(r.stderr, "notes.txt: gnssdata: unsupported orbit file: neither a RINEX navigation file nor a YUMA almanac") ||
		!strings.Contains(r.stdout, "already imported") {
		t.Errorf("re-import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := ok(t, addr, "gnss", "status", "--sats")
	for _, want := range []string{"imports:", "10 with ephemerides, 10 with almanacs", "10 from ephemerides, 0 from almanacs only",
		"2024-03-01T11:59:42.000Z (age 1h0m0s)", "Satellites:", "retention:          off (every import is kept)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if got := row(t, out, "G05"); got[1] != "1" || got[4] != "1" {
		t.Errorf("G05 row %q", got)
	}
	m := okJSON(t, addr, "gnss", "status")
	if path(t, m, "valid_now") != float64(10) || len(path(t, m, "imports").([]any)) != 2 {
		t.Errorf("status JSON %v", m)
	}
	// Usage errors.
	if r := mgsctl(t, addr, "gnss", "import"); r.code != 2 {
		t.Errorf("import without a file: exit %d", r.code)
	}
	if r := mgsctl(t, addr, "gnss", "import", "--format", "sp3", navPath); r.code != 2 {
		t.Errorf("bad format: exit %d", r.code)
	}
}

func TestGNSSRetentionAndDelete(t *testing.T) {
	const day = 86400.0
	f := gnsstest.New()
	addr := startGNSSServerRetention(t, f.T0+30*day, gnssdata.DefaultRetention)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nav0, alm0, nav20, nav1 := write("day0.nav", f.RINEXNav()), write("day0.alm", f.YUMA()), write("day20.nav", f.Shifted(20).RINEXNav()),
		write("day1.nav", f.Shifted(1).RINEXNav())
	r := mgsctl(t, addr, "gnss", "import", nav0, alm0, nav20)
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	pruned := r.stdout[strings.Index(r.stdout, "Pruned (data older than the server's retention):"):]
	if got := row(t, pruned, "1"); got[1] != "day0.nav" {
		t.Errorf("pruned row %q in\n%s", got, r.stdout)
	}
	r = mgsctl(t, addr, "gnss", "import", nav1)
	if r.code != 1 || !strings.Contains(r.stderr, "day1.nav: FailedPrecondition: gnssdata: orbit file older than the retention window") {
		t.Errorf("expired import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := ok(t, addr, "gnss", "status")
	if !strings.Contains(out, "retention:          14d (imports whose data ends before 2024-03-07T13:59:42.000Z are pruned") ||
		!strings.Contains(out, "imports:            2") {
		t.Errorf("status:\n%s", out)
	}
	if m := okJSON(t, addr, "gnss", "status"); path(t, m, "retention_seconds") != 14*day {
		t.Errorf("status JSON %v", m)
	}
	r = mgsctl(t, addr, "gnss", "delete", "3", "42")
	if r.code != 1 || !strings.Contains(r.stdout, "deleted 1 import(s)") || !strings.Contains(r.stderr, "mgsctl: 42: no such orbit import") {
		t.Errorf("delete: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if m := okJSON(t, addr, "gnss", "status"); len(path(t, m, "imports").([]any)) != 1 {
		t.Errorf("status after delete: %v", m)
	}
	for _, args := range [][]string{{"gnss", "delete"}, {"gnss", "delete", "abc"}, {"gnss", "delete", "-1"}} {
		if r := mgsctl(t, addr, args...); r.code != 2 {
			t.Errorf("%v: exit %d", args, r.code)
		}
	}
}

func TestGNSSEval(t *testing.T) {
	if r := mgsctl(t, "127.0.0.1:1", "gnss", "eval", "--obs", "x"); r.code != 2 || !strings.Contains(r.stderr, "--obs and --nav are required") {
		t.Errorf("missing --nav: %d %s", r.code, r.stderr)
	}
	if r := mgsctl(t, "127.0.0.1:1", "gnss", "eval", "--obs", "x", "--nav", "y", "--noise", "-1"); r.code != 2 {
		t.Errorf("negative noise: %d %s", r.code, r.stderr)
	}
	dir := sharedRTKLIB(t)
	obs, nav := filepath.Join(dir, "07590920.05o"), filepath.Join(dir, "07590920.05n")
	// No server is needed: eval runs locally.
	out := ok(t, "127.0.0.1:1", "gnss", "eval", "--obs", obs, "--nav", nav, "--noise", "0,10", "--ap-error", "100", "--time-error", "60",
		"--max-epochs", "30")
	if !strings.Contains(out, "scenario") || !strings.Contains(out, "0759 noise 0m AP 100km dt 60s") ||
		!strings.Contains(out, "0759 noise 10m AP 100km dt 60s") {
		t.Fatalf("table:\n%s", out)
	}
	if f := row(t, out, "0759"); f[7] != "30" || f[8] != "100.0%" {
		t.Errorf("first row %q: not all solved", f)
	}
	m := okJSON(t, "127.0.0.1:1", "gnss", "eval", "--obs", obs, "--nav", nav, "--max-sats", "6", "--noise", "10", "--max-epochs", "10",
		"--truth", "-3976219.5082,3382372.5671,3652512.9849")
	if path(t, m, "reports", 0, "Count") != float64(10) || path(t, m, "reports", 0, "Config", "MaxSats") != float64(6) {
		t.Errorf("json %v", m)
	}
}

func sharedRTKLIB(t *testing.T) string {
	return sharedtest.Path(t, "testdata", "gnss", "rtklib-0759")
}
