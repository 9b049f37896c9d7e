package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

const (
	testEUI  = "00-16-c0-01-f0-00-40-6e"
	otherEUI = "00-16-c0-01-f0-00-40-6f"
	// modem-protocol.md §2.6, first example: status joined, charge 0, temp
	// 25, signal, uptime, rxtime, firmware, rstcount 3, session 5.
	dmFirstReport = "0008" + "010000" + "0319" + "040e1c" + "050000" + "060000" + "07" + "0000000000000000" + "0f0300" + "120500"
)

// startServer runs the real gRPC server over bbolt on a loopback port;
// with tokens, calls need one of them.
func startServer(t *testing.T, tokens ...string) (string, *uplink.Pipeline) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := uplink.New(db, uplink.Config{})
	var opts server.Options
	if len(tokens) > 0 {
		if opts.Auth, err = auth.New(t.Context(), db, auth.Options{Static: tokens}); err != nil {
			t.Fatal(err)
		}
	}
	g := server.NewGRPC(p, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	t.Cleanup(g.Server.Stop) // runs before db.Close
	return lis.Addr().String(), p
}

type result struct {
	stdout, stderr string
	code           int
}

// mgsctl runs one command in process against addr.
func mgsctl(t *testing.T, addr string, args ...string) result {
	t.Helper()
	return mgsctlCtx(t, t.Context(), addr, args...)
}

func mgsctlCtx(t *testing.T, ctx context.Context, addr string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runEnv(ctx, append([]string{"--addr", addr}, args...), func(string) string { return "" },
		strings.NewReader(""), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// ok runs a command that must succeed.
func ok(t *testing.T, addr string, args ...string) string {
	t.Helper()
	r := mgsctl(t, addr, args...)
	if r.code != 0 {
		t.Fatalf("mgsctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs a command with -o json and decodes its output.
func okJSON(t *testing.T, addr string, args ...string) map[string]any {
	t.Helper()
	out := ok(t, addr, append([]string{"-o", "json"}, args...)...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("mgsctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// row returns the fields of the first table line whose first field is key.
func row(t *testing.T, out, key string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return f
		}
	}
	t.Fatalf("no row %q in:\n%s", key, out)
	return nil
}

func hasRow(out, key string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return true
		}
	}
	return false
}

// path walks a decoded JSON value: string keys and int indexes.
func path(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at [%d]: not a long enough list: %v", k, v)
			}
			v = l[k]
		}
	}
	return v
}

func wantContains(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s: %q not in:\n%s", what, want, got)
	}
}

func TestDeviceAndRequestsFlow(t *testing.T) {
	addr, _ := startServer(t)

	// First DM report: info fields of the first §2.6 example.
	out := ok(t, addr, "uplink", "send", "--deveui", testEUI, "--port", "199", "--fcnt", "1", "--payload", dmFirstReport)
	if got := row(t, out, "operation:"); got[1] != "modem" {
		t.Errorf("operation row %q", got)
	}
	if got := row(t, out, "rstcount"); got[1] != "3" {
		t.Errorf("rstcount row %q, want value 3", got)
	}
	if got := row(t, out, "session"); got[1] != "5" {
		t.Errorf("session row %q, want value 5", got)
	}
	if got := row(t, out, "temp"); got[1] != "25" || got[2] != "°C" {
		t.Errorf("temp row %q, want 25 °C", got)
	}
	if got := row(t, out, "status"); got[1] != "joined" {
		t.Errorf("status row %q, want joined", got)
	}
	if got := row(t, out, "dnlink:"); got[1] != "none" {
		t.Errorf("dnlink row %q", got)
	}
	wantContains(t, "pending", out, "Pending requests: none")

	// Queue GETINFO temp.
	out = ok(t, addr, "requests", "add", "--deveui", testEUI, "--type", "getinfo", "--param", `["temp"]`)
	wantContains(t, "requests add", out, testEUI+": 1 pending, upcount 0, updelay 0")
	if got := row(t, out, "1"); got[1] != "GETINFO" || got[2] != `["temp"]` {
		t.Errorf("request row %q", got)
	}

	// A metadata-only uplink is a downlink opportunity: GETINFO temp on
	// the DM port.
	want, err := modemproto.Downlink{Command: modemproto.GetInfo{Tags: []modemproto.Tag{modemproto.TagTemp}}}.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	out = ok(t, addr, "uplink", "send", testEUI, "--fcnt", "2")
	wantContains(t, "dnlink", out, "port 199, payload "+hex.EncodeToString(want))
	wantContains(t, "updated", out, "Info fields updated: none")
	if got := row(t, out, "1"); got[1] != "GETINFO" || !strings.Contains(got[len(got)-1], `"sent":1`) {
		t.Errorf("pending row %q, want GETINFO sent once", got)
	}

	// The device answers with temp: the request is fulfilled.
	m := okJSON(t, addr, "uplink", "send", "--deveui", testEUI, "--port", "199", "--fcnt", "3", "--payload", "00 08 03 1a")
	if got := path(t, m, "result", "fulfilled_requests", 0, "request", "type"); got != "GETINFO" {
		t.Errorf("fulfilled request type %v", got)
	}
	if got := path(t, m, "result", "info_fields", "temp", "value"); got != float64(26) {
		t.Errorf("temp %v, want 26", got)
	}
	if got := path(t, m, "result", "pending_requests", "requests"); len(got.([]any)) != 0 {
		t.Errorf("pending %v, want none", got)
	}
	if got := path(t, m, "result", "dnlink"); got != nil {
		t.Errorf("dnlink %v, want null", got)
	}

	// Several requests at once, then clear by id and all.
	out = ok(t, addr, "requests", "add", testEUI, "--json", `[{"type":"MUTE","param":7},{"type":"RESET","param":3}]`, "--upcount", "2", "--updelay", "5")
	wantContains(t, "requests add --json", out, testEUI+": 2 pending, upcount 2, updelay 5")
	muteID := row(t, out, "2")
	if muteID[1] != "MUTE" || muteID[2] != "7" {
		t.Fatalf("MUTE row %q", muteID)
	}
	out = ok(t, addr, "requests", "list", testEUI)
	if !hasRow(out, "2") || !hasRow(out, "3") {
		t.Errorf("requests list:\n%s", out)
	}
	out = ok(t, addr, "requests", "clear", testEUI, "--id", "2")
	if hasRow(out, "2") || row(t, out, "3")[1] != "RESET" {
		t.Errorf("requests clear --id 2:\n%s", out)
	}
	m = okJSON(t, addr, "requests", "clear", testEUI)
	if got := path(t, m, "results", 0, "pending_requests", "requests"); len(got.([]any)) != 0 {
		t.Errorf("after clear: %v", got)
	}

	// An empty payload on the DM port is logged.
	out = ok(t, addr, "uplink", "send", "--deveui", testEUI, "--port", "199", "--fcnt", "4")
	if got := row(t, out, "Log"); !strings.Contains(out, "WARNING  empty payload on protocol port 199") {
		t.Errorf("log section %q:\n%s", got, out)
	}

	// Devices.
	ok(t, addr, "uplink", "send", "--deveui", otherEUI, "--fcnt", "1")
	out = ok(t, addr, "device", "list")
	if got := row(t, out, testEUI); got[1] != "4" {
		t.Errorf("device list row %q, want 4 uplinks", got)
	}
	m = okJSON(t, addr, "device", "list", "--page-size", "1", "--all")
	if got := path(t, m, "devices"); len(got.([]any)) != 2 {
		t.Errorf("device list --all: %v", got)
	}
	out = ok(t, addr, "device", "list", "--page-size", "1")
	if !hasRow(out, testEUI) || hasRow(out, otherEUI) {
		t.Errorf("device list --page-size 1:\n%s", out)
	}
	out = ok(t, addr, "device", "info", testEUI)
	if got := row(t, out, "uplinks:"); got[1] != "4" {
		t.Errorf("uplinks row %q", got)
	}
	if got := row(t, out, "rstcount"); got[1] != "3" {
		t.Errorf("device info rstcount %q", got)
	}
	m = okJSON(t, addr, "device", "info", testEUI)
	if got := path(t, m, "results", 0, "info", "info_fields", "session", "value"); got != float64(5) {
		t.Errorf("session %v", got)
	}
	if got := path(t, m, "results", 0, "info", "log_messages"); len(got.([]any)) == 0 {
		t.Errorf("expected log messages before logs clear")
	}

	// Logs.
	out = ok(t, addr, "logs", "clear", testEUI)
	wantContains(t, "logs clear", out, "cleared the log of "+testEUI)
	m = okJSON(t, addr, "device", "info", testEUI)
	if got := path(t, m, "results", 0, "info", "log_messages"); len(got.([]any)) != 0 {
		t.Errorf("log after clear: %v", got)
	}

	// Ports: default, then one device.
	out = ok(t, addr, "ports", "set", "--wifi", "150")
	if got := row(t, out, "default"); got[4] != "150" || got[1] != "199" {
		t.Errorf("ports set default %q", got)
	}
	out = ok(t, addr, "ports", "get")
	if got := row(t, out, "default"); got[4] != "150" {
		t.Errorf("ports get %q", got)
	}
	out = ok(t, addr, "ports", "set", "--deveui", testEUI, "--dm", "200", "--stream", "201")
	if got := row(t, out, testEUI); got[1] != "200" || got[5] != "201" {
		t.Errorf("ports set device %q", got)
	}
	m = okJSON(t, addr, "ports", "get", testEUI, otherEUI)
	if got := path(t, m, "results", 0, "fports", "dmport"); got != float64(200) {
		t.Errorf("ports get dmport %v", got)
	}
	if got := path(t, m, "results", 1, "fports", "dmport"); got != float64(199) {
		t.Errorf("ports get other dmport %v", got)
	}
	out = ok(t, addr, "ports", "set", testEUI, "--reset-stream")
	if got := row(t, out, testEUI); got[5] != "200" {
		t.Errorf("after --reset-stream the stream port follows dm: %q", got)
	}

	// Delete.
	out = ok(t, addr, "device", "delete", testEUI)
	wantContains(t, "device delete", out, "deleted "+testEUI)
	r := mgsctl(t, addr, "device", "delete", testEUI)
	if r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("second delete: %+v", r)
	}
	r = mgsctl(t, addr, "device", "info", testEUI, otherEUI)
	if r.code != 1 || !strings.Contains(r.stderr, testEUI+" not found") || !hasRow(r.stdout, "deveui:") {
		t.Errorf("info of a deleted and an existing device: %+v", r)
	}
	r = mgsctl(t, addr, "-o", "json", "requests", "list", testEUI)
	if r.code != 1 || !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, `"error": "device `+testEUI+` not found"`) {
		t.Errorf("requests list of a deleted device: %+v", r)
	}
}

func TestUplinkJSONInput(t *testing.T) {
	addr, _ := startServer(t)
	file := filepath.Join(t.TempDir(), "up.json")
	body := `{"msgtype": "updf", "fcnt": 1, "port": 199, "payload": "` + dmFirstReport + `", "timestamp": 1700000000.5, "dr": 5, "freq": 868100000, "dn_mtu": 51}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out := ok(t, addr, "uplink", "send", "--deveui", testEUI, "--file", file)
	if got := row(t, out, "rstcount"); got[1] != "3" || got[2] != "2023-11-14T22:13:20.500Z" {
		t.Errorf("rstcount row %q", got)
	}
	m := okJSON(t, addr, "device", "info", testEUI)
	last := path(t, m, "results", 0, "info", "last_uplink")
	for k, want := range map[string]any{"fcnt": float64(1), "port": float64(199), "dr": float64(5), "freq": float64(868100000),
		"dn_mtu": float64(51), "timestamp": 1700000000.5} {
		if got := path(t, last, k); got != want {
			t.Errorf("last_uplink.%s = %v, want %v", k, got, want)
		}
	}

	// --json with a flag overriding the frame counter; camelCase accepted.
	m = okJSON(t, addr, "uplink", "send", "--deveui", testEUI, "--json", `{"fcnt": 1, "port": 199, "payload": "00080319", "dnMtu": 20}`, "--fcnt", "2", "--freq", "868.3e6")
	if got := path(t, m, "result", "info_fields", "temp", "value"); got != float64(25) {
		t.Errorf("temp %v", got)
	}
	m = okJSON(t, addr, "device", "info", testEUI)
	last = path(t, m, "results", 0, "info", "last_uplink")
	if path(t, last, "fcnt") != float64(2) || path(t, last, "freq") != float64(868300000) || path(t, last, "dn_mtu") != float64(20) {
		t.Errorf("last uplink %v", last)
	}

	// Unknown JSON fields are refused.
	r := mgsctl(t, addr, "uplink", "send", "--deveui", testEUI, "--json", `{"fcnt": 3, "bogus": 1}`)
	if r.code != 1 || !strings.Contains(r.stderr, "bogus") {
		t.Errorf("unknown field: %+v", r)
	}
}

func TestErrors(t *testing.T) {
	addr, _ := startServer(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"bad EUI uplink", []string{"uplink", "send", "--deveui", "xyz", "--fcnt", "1"}, 1,
			[]string{"mgsctl: InvalidArgument: deveui: ", `"xyz"`}},
		{"bad EUI info", []string{"device", "info", "00-16-c0-01-f0-00-40-6e", "nope"}, 1,
			[]string{"mgsctl: InvalidArgument: deveuis[1]: "}},
		{"bad payload", []string{"uplink", "send", "--deveui", testEUI, "--fcnt", "1", "--payload", "0g"}, 1,
			[]string{"mgsctl: InvalidArgument: payload: "}},
		{"missing fcnt", []string{"uplink", "send", "--deveui", testEUI, "--port", "1"}, 1,
			[]string{"mgsctl: InvalidArgument: fcnt: "}},
		{"bad request type", []string{"requests", "add", testEUI, "--type", "REBOOT"}, 1,
			[]string{"mgsctl: InvalidArgument: requests[0]"}},
		{"clear unknown device", []string{"logs", "clear", testEUI}, 1, []string{"mgsctl: ", "not found"}},
		{"no command", nil, 2, []string{"mgsctl: missing command", "usage: mgsctl [global flags]"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"no subcommand", []string{"device"}, 2, []string{"missing device command", "usage: mgsctl device <command>"}},
		{"unknown subcommand", []string{"ports", "show"}, 2, []string{`unknown ports command "show"`}},
		{"missing deveui", []string{"uplink", "send", "--fcnt", "1"}, 2, []string{"--deveui is required", "usage: mgsctl uplink send"}},
		{"bad number", []string{"uplink", "send", "--deveui", testEUI, "--fcnt", "abc"}, 2, []string{"invalid value \"abc\" for flag -fcnt"}},
		{"port too big", []string{"ports", "set", "--dm", "300"}, 2, []string{"300 is more than 255"}},
		{"unknown flag", []string{"device", "list", "--bogus"}, 2, []string{"flag provided but not defined: -bogus"}},
		{"bad output", []string{"-o", "yaml", "device", "list"}, 2, []string{`-o: "yaml" is not table or json`}},
		{"bad output after command", []string{"device", "list", "-o", "xml"}, 2, []string{`-o: "xml" is not table or json`}},
		{"json and file", []string{"uplink", "send", testEUI, "--json", "{}", "--file", "x"}, 2, []string{"exclude each other"}},
		{"no EUI", []string{"device", "info"}, 2, []string{"at least one device EUI"}},
		{"nothing to set", []string{"ports", "set", testEUI}, 2, []string{"nothing to set"}},
		{"requests without type", []string{"requests", "add", testEUI}, 2, []string{"--type or --json is required"}},
		{"requests bad json", []string{"requests", "add", testEUI, "--json", "[{"}, 2, []string{"--json: "}},
		{"bad id", []string{"requests", "clear", testEUI, "--id", "x"}, 2, []string{`--id: "x"`}},
		{"list args", []string{"device", "list", testEUI}, 2, []string{"unexpected argument"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mgsctl(t, addr, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, s := range tc.stderr {
				wantContains(t, "stderr", r.stderr, s)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"usage: mgsctl [global flags]", "uplink", "watch", "-addr", "127.0.0.1:7070"}},
		{[]string{"help"}, []string{"Commands:"}},
		{[]string{"help", "device"}, []string{"usage: mgsctl device <command>", "info    show the DEVICEINFO", "delete  delete devices"}},
		{[]string{"requests", "--help"}, []string{"add    queue modem requests"}},
		{[]string{"requests", "add", "--help"}, []string{"usage: mgsctl requests add --deveui EUI", "-param JSON"}},
		{[]string{"uplink", "send", "-h"}, []string{"usage: mgsctl uplink send", "-payload", "-dn-mtu", "Global flags:"}},
		{[]string{"help", "watch"}, []string{"usage: mgsctl watch", "-count"}},
		{[]string{"help", "backup"}, []string{"usage: mgsctl backup [--force] FILE", "-force"}},
		{[]string{"db", "-h"}, []string{"verify ", "restore ", "compact "}},
		{[]string{"db", "restore", "-h"}, []string{"usage: mgsctl db restore", "-data", "-force"}},
	} {
		var out, errb bytes.Buffer
		code := runEnv(t.Context(), tc.args, func(string) string { return "" }, nil, &out, &errb)
		if code != 0 {
			t.Errorf("%q: exit %d, stderr %s", tc.args, code, errb.String())
		}
		for _, w := range tc.want {
			wantContains(t, strings.Join(tc.args, " "), out.String(), w)
		}
	}
	// The token from the environment never shows in the help.
	var out bytes.Buffer
	runEnv(t.Context(), []string{"-h"}, func(k string) string {
		if k == "MGS_TOKEN" {
			return "hunter2"
		}
		return ""
	}, nil, &out, &out)
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("help shows the token:\n%s", out.String())
	}
}

func TestToken(t *testing.T) {
	addr, p := startServer(t, "s3cret")

	r := mgsctl(t, addr, "device", "list")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "mgsctl: Unauthenticated: ") {
		t.Errorf("without token: %+v", r)
	}
	r = mgsctl(t, addr, "--token", "wrong", "device", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "Unauthenticated: invalid API token") {
		t.Errorf("wrong token: %+v", r)
	}
	ok(t, addr, "--token", "s3cret", "device", "list")
	ok(t, addr, "uplink", "send", testEUI, "--fcnt", "1", "--token", "s3cret") // global flag after the command

	// MGS_TOKEN and MGS_ADDR from the environment.
	env := func(k string) string {
		return map[string]string{"MGS_TOKEN": "s3cret", "MGS_ADDR": addr}[k]
	}
	var out, errb bytes.Buffer
	if code := runEnv(t.Context(), []string{"device", "list"}, env, nil, &out, &errb); code != 0 || !hasRow(out.String(), testEUI) {
		t.Errorf("env token: exit %d\n%s%s", code, out.String(), errb.String())
	}

	// The stream carries the token too.
	r = mgsctl(t, addr, "watch", "--count", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "Unauthenticated") {
		t.Errorf("watch without token: %+v", r)
	}
	done := make(chan result, 1)
	go func() { done <- mgsctl(t, addr, "--token", "s3cret", "watch", "--count", "1") }()
	waitSubscribers(t, p, 1)
	ok(t, addr, "--token", "s3cret", "uplink", "send", testEUI, "--fcnt", "2")
	if r := <-done; r.code != 0 || !strings.Contains(r.stdout, testEUI) {
		t.Errorf("watch with token: %+v", r)
	}
}

func waitSubscribers(t *testing.T, p *uplink.Pipeline, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Events().Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("watch subscribers: %d, want %d", p.Events().Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	addr, p := startServer(t)

	// Table: filtered to one device, two events.
	done := make(chan result, 1)
	go func() { done <- mgsctl(t, addr, "watch", "--count", "2", testEUI) }()
	waitSubscribers(t, p, 1)
	ok(t, addr, "uplink", "send", otherEUI, "--fcnt", "1")
	ok(t, addr, "uplink", "send", testEUI, "--fcnt", "1", "--port", "199", "--payload", dmFirstReport, "--timestamp", "1700000000")
	ok(t, addr, "requests", "add", testEUI, "--type", "MUTE", "--param", "7")
	ok(t, addr, "uplink", "send", testEUI, "--fcnt", "2")
	r := <-done
	if r.code != 0 {
		t.Fatalf("watch: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("watch printed %d lines, want 2:\n%s", len(lines), r.stdout)
	}
	for _, w := range []string{testEUI, "updf fcnt=1 port=199", "op=modem", "updated=status,charge,temp,signal,uptime,rxtime,firmware,rstcount,session", "pending=0"} {
		wantContains(t, "first event", lines[0], w)
	}
	for _, w := range []string{"updf fcnt=2", "op=other", "dnlink=199:00000607", "pending=1"} {
		wantContains(t, "second event", lines[1], w)
	}
	if strings.Contains(r.stdout, otherEUI) {
		t.Errorf("the filter let %s through:\n%s", otherEUI, r.stdout)
	}

	// JSON: one object per line; all devices.
	waitSubscribers(t, p, 0)
	go func() { done <- mgsctl(t, addr, "-o", "json", "watch", "--count", "2") }()
	waitSubscribers(t, p, 1)
	ok(t, addr, "uplink", "send", otherEUI, "--fcnt", "2")
	ok(t, addr, "uplink", "send", testEUI, "--fcnt", "3")
	r = <-done
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("watch -o json: %+v", r)
	}
	for i, want := range []string{otherEUI, testEUI} {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, lines[i])
		}
		if m["deveui"] != want {
			t.Errorf("line %d deveui %v, want %s", i, m["deveui"], want)
		}
	}

	// Interrupt: exit 0.
	waitSubscribers(t, p, 0)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- mgsctlCtx(t, ctx, addr, "watch") }()
	waitSubscribers(t, p, 1)
	cancel()
	if r := <-done; r.code != 0 {
		t.Errorf("interrupted watch: %+v", r)
	}
}

func TestUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	r := mgsctl(t, addr, "--timeout", "5s", "device", "list")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "mgsctl: Unavailable: ") {
		t.Errorf("closed port: %+v", r)
	}
}

func TestFormatHelpers(t *testing.T) {
	for _, tc := range []struct {
		sec  float64
		want string
	}{{0, "-"}, {1700000000, "2023-11-14T22:13:20.000Z"}, {1700000000.25, "2023-11-14T22:13:20.250Z"}} {
		if got := fmtTime(tc.sec); got != tc.want {
			t.Errorf("fmtTime(%v) = %q, want %q", tc.sec, got, tc.want)
		}
	}
	var l listFlag
	l.Set("a, b")
	l.Set("c")
	if l.String() != "a,b,c" {
		t.Errorf("listFlag %q", l.String())
	}
	o := optUint{max: 1<<32 - 1}
	for in, want := range map[string]uint64{"868100000": 868100000, "868.1e6": 868100000, "0": 0} {
		if err := o.Set(in); err != nil || o.v != want {
			t.Errorf("optUint.Set(%q) = %d, %v", in, o.v, err)
		}
	}
	for _, in := range []string{"-1", "1.5", "x", "5e9"} {
		if err := o.Set(in); err == nil {
			t.Errorf("optUint.Set(%q) accepted", in)
		}
	}
}

func TestJSONOutputEveryCommand(t *testing.T) {
	addr, _ := startServer(t)
	// The uplink comes from stdin (--file -).
	var out, errb bytes.Buffer
	code := runEnv(t.Context(), []string{"--addr", addr, "-o", "json", "uplink", "send", testEUI, "--file", "-"},
		func(string) string { return "" }, strings.NewReader(`{"fcnt": 1, "port": 199, "payload": "`+dmFirstReport+`"}`), &out, &errb)
	if code != 0 || !json.Valid(out.Bytes()) || !strings.Contains(out.String(), `"rstcount": {`) {
		t.Fatalf("uplink send --file -: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		{"requests", "add", testEUI, "--type", "REJOIN"},
		{"requests", "list", testEUI},
		{"requests", "clear", testEUI, "--id", "1"},
		{"device", "info", testEUI},
		{"device", "list"},
		{"ports", "set", "--gnss", "100"},
		{"ports", "set", testEUI, "--gnss", "101"},
		{"ports", "get"},
		{"ports", "get", testEUI},
		{"logs", "clear", testEUI},
		{"device", "delete", testEUI},
	} {
		okJSON(t, addr, args...)
	}
}
