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

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// startOpsServer serves the modem and ops services over bbolt with an
// admin token "root" and a read token; it returns the address, the read
// token and the database path.
func startOpsServer(t *testing.T) (addr, readToken, dbPath string, db *boltstore.DB) {
	t.Helper()
	dbPath = filepath.Join(t.TempDir(), "mgs.db")
	db, err := boltstore.Open(dbPath, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(t.Context(), db, auth.Options{Static: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := a.Add(t.Context(), "dashboard", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{Auth: a, Backup: db, BackupDir: t.TempDir()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	t.Cleanup(func() {
		g.Server.Stop()
		db.Close()
	})
	return lis.Addr().String(), ro.Token, dbPath, db
}

func TestBackupAndDBCommands(t *testing.T) {
	addr, readToken, _, _ := startOpsServer(t)
	for i := range 5 {
		ok(t, addr, "--token", "root", "uplink", "send", "--deveui", fmt.Sprintf("00-00-00-00-00-00-00-%02x", i+1),
			"--fcnt", "1", "--port", "199", "--payload", dmFirstReport)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")

	// A read token may not take backups: they hold keys and token hashes.
	r := mgsctl(t, addr, "--token", readToken, "backup", file)
	if r.code != 1 || !strings.Contains(r.stderr, "PermissionDenied") {
		t.Fatalf("backup with a read token: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused backup left a file")
	}
	out := ok(t, addr, "--token", "root", "backup", file)
	wantContains(t, "backup", out, "table devices")
	if f := row(t, out, "table"); len(f) < 3 {
		t.Fatalf("summary %q", out)
	}
	wantContains(t, "backup", out, "sha256:")
	// FILE exists: refused without --force.
	if r := mgsctl(t, addr, "--token", "root", "backup", file); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("backup over an existing file: exit %d %s", r.code, r.stderr)
	}
	m := okJSON(t, addr, "--token", "root", "backup", "--force", file)
	if path(t, m, "keys", "devices") != 5.0 || path(t, m, "keys", "tokens") != 1.0 {
		t.Fatalf("backup summary %v", m)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(leftovers) > 0 {
		t.Fatalf("partial files left: %v", leftovers)
	}

	// db verify, restore, compact work offline.
	m = okJSON(t, addr, "db", "verify", file)
	if path(t, m, "keys", "devices") != 5.0 {
		t.Fatalf("verify %v", m)
	}
	data := filepath.Join(dir, "data")
	ok(t, addr, "db", "restore", "--data", data, file)
	if r := mgsctl(t, addr, "db", "restore", "--data", data, file); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("restore over data: exit %d %s", r.code, r.stderr)
	}
	ok(t, addr, "db", "restore", "--data", data, "--force", file)
	m = okJSON(t, addr, "db", "compact", "--data", data)
	if path(t, m, "bytes_after").(float64) <= 0 { // a tiny database may grow to bbolt's minimum size
		t.Fatalf("compact %v", m)
	}
	// The restored, compacted database serves the same devices.
	db, err := boltstore.Open(filepath.Join(data, "mgs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	devs, _, _, err := uplink.New(db, uplink.Config{}).ListDevices(context.Background(), [8]byte{}, 100)
	if err != nil || len(devs) != 5 {
		t.Fatalf("restored devices: %d %v", len(devs), err)
	}
	// In use: compact and restore refuse.
	if r := mgsctl(t, addr, "db", "compact", "--data", data); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("compact while open: exit %d %s", r.code, r.stderr)
	}
	if r := mgsctl(t, addr, "db", "restore", "--data", data, "--force", file); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("restore while open: exit %d %s", r.code, r.stderr)
	}
	db.Close()
	// MGS_DATA is the default of --data.
	var o, e strings.Builder
	code := runEnv(t.Context(), []string{"-o", "json", "db", "compact"}, func(k string) string {
		if k == "MGS_DATA" {
			return data
		}
		return ""
	}, nil, &o, &e)
	if code != 0 || !json.Valid([]byte(o.String())) {
		t.Fatalf("compact with MGS_DATA: exit %d %s %s", code, o.String(), e.String())
	}
	// A damaged file is refused by verify and restore.
	b, _ := os.ReadFile(file)
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	if r := mgsctl(t, addr, "db", "verify", bad); r.code != 1 {
		t.Fatalf("verify of a damaged file: exit %d", r.code)
	}
	if r := mgsctl(t, addr, "db", "restore", "--data", filepath.Join(dir, "other"), bad); r.code != 1 {
		t.Fatalf("restore of a damaged file: exit %d", r.code)
	}
}
