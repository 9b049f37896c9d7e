package main

import (
	"strings"
	"testing"
)

func TestTokenCommands(t *testing.T) {
	addr, _ := startServer(t, "root")
	out := ok(t, addr, "--token", "root", "token", "add", "--name", "lns", "--cap", "uplink,read")
	f := row(t, out, "token:")
	if len(f) != 2 || !strings.HasPrefix(f[1], "mgs_") {
		t.Fatalf("token add: %q", out)
	}
	secret := f[1]
	id := row(t, out, "id:")[1]

	// The new token works and carries only its capabilities.
	ok(t, addr, "--token", secret, "device", "list")
	r := mgsctl(t, addr, "--token", secret, "token", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "PermissionDenied") {
		t.Fatalf("token list with a non-admin token: %+v", r)
	}

	out = ok(t, addr, "--token", "root", "token", "list")
	if got := row(t, out, id); got[1] != "lns" || got[2] != "read,uplink" || got[3] != "stored" {
		t.Fatalf("token list row %q", got)
	}
	if !hasRow(out, "static-1") || strings.Contains(out, secret) {
		t.Fatalf("token list:\n%s", out)
	}
	j := okJSON(t, addr, "--token", "root", "token", "list")
	if path(t, j, "tokens", 1, "id") != id || path(t, j, "tokens", 1, "token") != "" {
		t.Fatalf("token list -o json: %v", j)
	}

	wantContains(t, "remove", ok(t, addr, "--token", "root", "token", "remove", secret), "removed token "+id)
	r = mgsctl(t, addr, "--token", secret, "device", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "Unauthenticated") {
		t.Fatalf("removed token still works: %+v", r)
	}
	r = mgsctl(t, addr, "--token", "root", "token", "remove", "static-1")
	if r.code != 1 || !strings.Contains(r.stderr, "FailedPrecondition") {
		t.Fatalf("remove static token: %+v", r)
	}

	// Usage errors exit 2.
	for _, args := range [][]string{
		{"token", "add", "--cap", "read"},
		{"token", "add", "--name", "x"},
		{"token", "remove"},
		{"token", "list", "extra"},
		{"token", "frobnicate"},
	} {
		if r := mgsctl(t, addr, append([]string{"--token", "root"}, args...)...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	r = mgsctl(t, addr, "--token", "root", "token", "add", "--name", "x", "--cap", "superuser")
	if r.code != 1 || !strings.Contains(r.stderr, "InvalidArgument") || !strings.Contains(r.stderr, "capabilities[0]") {
		t.Fatalf("unknown capability: %+v", r)
	}
}
