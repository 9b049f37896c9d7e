package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
	"github.com/openmgs/openmgs/wifidb"
)

// startWiFiServer runs the gRPC server with the Wi-Fi RPCs.
func startWiFiServer(t *testing.T) string {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	orbits, err := gnssdata.Open(ctx, db, gnssdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	aps, err := wifidb.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := wifi.NewSolver(aps, wifi.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{WiFi: s}), server.Options{GNSS: orbits})
	g.Geolocation.WiFi = server.NewWiFi(aps, s, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	t.Cleanup(g.Server.Stop)
	return lis.Addr().String()
}

func TestWiFiCommands(t *testing.T) {
	addr := startWiFiServer(t)
	dir := t.TempDir()
	// A CSV of 20,000 APs (over 256 KiB: several chunks, progress lines)
	// with three bad rows, and a WiGLE file.
	var b strings.Builder
	b.WriteString("mac,lat,lon,accuracy\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "00:66:00:%02x:%02x:01,%.6f,%.6f,8\n", i>>8, i&0xff, 48.1+float64(i/100)*0.0002, 11.5+float64(i%100)*0.0003)
	}
	b.WriteString("02:66:00:00:00:01,48.1,11.5,8\n00:66:00:00:00:01,48.1,11.5,8\nnope,48.1,11.5,8\n")
	csvPath := filepath.Join(dir, "aps.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mgsctl(t, addr, "wifi", "import", "--format", "csv", csvPath)
	if r.code != 0 {
		t.Fatalf("import: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"rows: 20003", "accepted: 20000", "rejected: 3", "bad_mac: 1", "duplicate: 1", "locally_administered: 1",
		"access points added: 20000", "database size: 20000"} {
		if !strings.Contains(squeeze(r.stdout), want) {
			t.Errorf("import output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "aps.csv: 100%") || strings.Count(r.stderr, "aps.csv: ") < 4 {
		t.Errorf("progress:\n%s", r.stderr)
	}

	wigle := "WigleWifi-1.6,appRelease=1\nMAC,SSID,AuthMode,FirstSeen,Channel,Frequency,RSSI,CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,RCOIs,MfgrId,Type\n" +
		"00:77:00:00:00:01,a,[ESS],2024-01-01 00:00:00,6,2437,-60,48.2,11.6,500,5,,,WIFI\n" +
		"00:77:00:00:00:01,a,[ESS],2024-01-01 00:01:00,6,2437,-60,48.2001,11.6,500,5,,,WIFI\n" +
		"00:77:00:00:00:02,b,[ESS],2024-01-01 00:01:00,0,0,-60,48.2,11.6,500,5,,,BLE\n"
	wiglePath := filepath.Join(dir, "walk.wiglecsv")
	os.WriteFile(wiglePath, []byte(wigle), 0o600)
	r = mgsctl(t, addr, "-o", "json", "wifi", "import", wiglePath)
	var res struct {
		Format   string
		Rows     string
		Accepted string
		Rejected map[string]string
		Created  string
		Total    string
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Format != "wigle" || res.Rows != "3" || res.Created != "1" ||
		res.Rejected["not_wifi"] != "1" || res.Total != "20001" {
		t.Fatalf("wigle import: %d %+v\n%s\n%s", r.code, res, r.stdout, r.stderr)
	}

	out := ok(t, addr, "wifi", "get", "00:77:00:00:00:01", "00-66-00-00-05-01")
	if !strings.Contains(out, "00:77:00:00:00:01  48.2000500") || !strings.Contains(out, "wigle") || !strings.Contains(out, "00:66:00:00:05:01") {
		t.Errorf("get:\n%s", out)
	}
	r = mgsctl(t, addr, "wifi", "get", "00:99:00:00:00:01")
	if r.code != 1 || !strings.Contains(r.stderr, "00:99:00:00:00:01: not in the access-point database") {
		t.Errorf("get unknown: %d %s", r.code, r.stderr)
	}
	if out := ok(t, addr, "wifi", "get"); strings.TrimSpace(out) != "20001 access points" {
		t.Errorf("get without MACs: %q", out)
	}

	exportPath := filepath.Join(dir, "export.csv")
	r = mgsctl(t, addr, "wifi", "export", exportPath)
	if r.code != 0 || !strings.Contains(r.stderr, "wrote 20001 access points") {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	data, _ := os.ReadFile(exportPath)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 20002 || lines[0] != "mac,lat,lon,accuracy,observations,first_seen,last_seen,sources" ||
		!strings.HasPrefix(lines[1], "00:66:00:00:00:01,48.1,11.5,8,1,") {
		t.Fatalf("export: %d lines, %q %q", len(lines), lines[0], lines[1])
	}
	if r := mgsctl(t, addr, "wifi", "export", exportPath); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("export over an existing file: %d %s", r.code, r.stderr)
	}
	// JSON lines to stdout re-import as JSON.
	js := ok(t, addr, "-o", "json", "wifi", "export")
	if n := strings.Count(js, "\n"); n != 20001 || !strings.HasPrefix(js, `{"mac":"00:66:00:00:00:01","lat":48.1,"lon":11.5,"accuracy":8,`) {
		t.Fatalf("json export: %d lines, %.100s", n, js)
	}

	r = mgsctl(t, addr, "wifi", "delete", "00:77:00:00:00:01", "00:99:00:00:00:01")
	if r.code != 1 || !strings.Contains(r.stdout, "deleted 1 access point") || !strings.Contains(r.stderr, "00:99:00:00:00:01") {
		t.Errorf("delete: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// Re-importing the export replaces every AP (counted as updates).
	r = mgsctl(t, addr, "wifi", "import", exportPath)
	if r.code != 0 || !strings.Contains(squeeze(r.stdout), "access points updated: 20000") || !strings.Contains(squeeze(r.stdout), "access points added: 1") {
		t.Errorf("re-import: %d %s %s", r.code, r.stdout, r.stderr)
	}

	for _, args := range [][]string{{"wifi", "import"}, {"wifi", "import", "--format", "kml", csvPath}, {"wifi", "delete"}, {"wifi", "nope"}} {
		if r := mgsctl(t, addr, args...); r.code != 2 {
			t.Errorf("%v: exit %d", args, r.code)
		}
	}
	if r := mgsctl(t, addr, "wifi", "import", filepath.Join(dir, "missing.csv")); r.code != 1 {
		t.Errorf("missing file: exit %d", r.code)
	}
}

// squeeze collapses runs of blanks (table alignment).
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestWiFiEval(t *testing.T) {
	out := ok(t, "127.0.0.1:1", "wifi", "eval", "--scans", "300", "--seed", "3")
	for _, want := range []string{"n=3.0, shadowing σ=6.0 dB, moved 5%", "scans: 300 drawn", "solver    solved", "baseline  solved", "ratio"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	js := ok(t, "127.0.0.1:1", "-o", "json", "wifi", "eval", "--scans", "200", "--exponent", "3.5", "--mac-only")
	var rep struct {
		Scans  int
		Solver struct {
			Solved   int
			MedianM  float64 `json:"median_m"`
			Coverage float64
		}
		Centroid int
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || rep.Scans != 200 || rep.Solver.Solved < 150 || rep.Centroid != rep.Solver.Solved ||
		!(rep.Solver.MedianM > 1 && rep.Solver.MedianM < 60) {
		t.Fatalf("json eval %v: %s", err, js)
	}
	if r := mgsctl(t, "127.0.0.1:1", "wifi", "eval", "--shadowing", "-1"); r.code != 2 {
		t.Errorf("bad shadowing: exit %d", r.code)
	}
}
