package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWith runs mgsd in process with args (loopback ports added), env and
// a log sink; stop waits for a clean exit.
func startWith(t *testing.T, env map[string]string, logw io.Writer, args ...string) (map[string]string, func()) {
	t.Helper()
	if logw == nil {
		logw = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan map[string]string, 1)
	errc := make(chan error, 1)
	all := append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--coap-addr", "127.0.0.1:0"}, args...)
	go func() {
		errc <- run(ctx, all, func(k string) string { return env[k] }, io.Discard, logw, func(a map[string]string) { ready <- a })
	}()
	select {
	case a := <-ready:
		var once sync.Once
		return a, func() {
			once.Do(func() {
				cancel()
				select {
				case err := <-errc:
					if err != nil {
						t.Errorf("run: %v", err)
					}
				case <-time.After(15 * time.Second):
					t.Error("mgsd did not stop")
				}
			})
		}
	case err := <-errc:
		cancel()
		t.Fatalf("mgsd did not start: %v", err)
	}
	return nil, nil
}

func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func withToken(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", tok)
}

// get does an HTTP request and returns status, headers and body.
func get(t *testing.T, method, url, token, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFileLayers checks every layer and the precedence flag > env
// > file > default, and that a bad value names its key and its source.
func TestConfigFileLayers(t *testing.T) {
	file := writeFile(t, "mgsd.conf", `# OpenMGS
data = /from/file
grpc-addr = 127.0.0.1:7001
http-addr = "127.0.0.1:7002"
max-logs = 7
log-format=json
rate-limit = 30/m
tokens = "a, b"
`)
	env := map[string]string{"MGS_CONFIG": file, "MGS_GRPC_ADDR": "127.0.0.1:7101", "MGS_MAX_LOGS": "8"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig([]string{"--max-logs", "9"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got, want any
		what      string
	}{
		{c.DataDir, "/from/file", "file"},
		{c.HTTPAddr, "127.0.0.1:7002", "file (quoted)"},
		{c.GRPCAddr, "127.0.0.1:7101", "env over file"},
		{c.MaxLogs, 9, "flag over env over file"},
		{c.LogFormat, "json", "file without spaces"},
		{c.RateLimit, 0.5, "rate per minute"},
		{c.Tokens, []string{"a", "b"}, "list"},
		{c.MaxFiles, 32, "default"},
		{c.ConfigFile, file, "MGS_CONFIG"},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if src := c.settings.src; src["data"] != "config file "+file+":2" || src["grpc-addr"] != "env MGS_GRPC_ADDR" ||
		src["max-logs"] != "flag --max-logs" || src["max-files"] != "default" {
		t.Errorf("sources %v", src)
	}
	// --config beats MGS_CONFIG.
	other := writeFile(t, "other.conf", "data = /other\n")
	if c, err := parseConfig([]string{"--config", other}, getenv, io.Discard); err != nil || c.DataDir != "/other" {
		t.Fatalf("--config over MGS_CONFIG: %v %v", c, err)
	}

	// Errors name the key and where the value came from.
	for _, tc := range []struct {
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{file: "grpc-adr = x\n", want: []string{":1", `unknown key "grpc-adr"`}},
		{file: "# c\n\nmax-logs = 1\nmax-logs = 2\n", want: []string{":4", "max-logs: set twice (first on line 3)"}},
		{file: "drain\n", want: []string{":1", "expected 'key = value'"}},
		{file: "restore = x\n", want: []string{"restore: only allowed on the command line"}},
		{file: "http-addr = \"unterminated\n", want: []string{"http-addr: bad quoted value"}},
		{file: "drain = soon\n", want: []string{`drain: "soon" is not a duration`, "config file", ":1"}},
		{file: "max-logs = 0\n", want: []string{"max-logs", "config file"}},
		{env: map[string]string{"MGS_LOG_LEVEL": "loud"}, want: []string{"log-level", "env MGS_LOG_LEVEL"}},
		{args: []string{"--rate-limit", "fast"}, want: []string{"rate-limit", "flag --rate-limit"}},
		{args: []string{"--http-max-body-bytes", "10"}, want: []string{"http-max-body-bytes"}},
		{args: []string{"--grpc-max-streams", "0"}, want: []string{"grpc-max-streams"}},
		{args: []string{"--access-log=maybe"}, want: []string{"access-log"}},
		{args: []string{"--ops-addr", "nope"}, want: []string{"ops-addr"}},
		{args: []string{"--config", "/does/not/exist"}, want: []string{"config:", "no such file"}},
	} {
		env := map[string]string{}
		for k, v := range tc.env {
			env[k] = v
		}
		args := tc.args
		if tc.file != "" {
			args = append([]string{"--config", writeFile(t, "bad.conf", tc.file)}, args...)
		}
		_, err := parseConfig(args, func(k string) string { return env[k] }, io.Discard)
		if err == nil {
			t.Errorf("%q %v %v: accepted", tc.file, tc.env, tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %v %v: error %q lacks %q", tc.file, tc.env, tc.args, err, w)
			}
		}
	}
	// run fails at start on invalid configuration, before touching data.
	dir := filepath.Join(t.TempDir(), "data")
	err = run(context.Background(), []string{"--data", dir, "--config", writeFile(t, "x.conf", "max-files = many\n")},
		func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "max-files") {
		t.Fatalf("run with a bad file: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("data directory created despite the bad configuration")
	}
}

// TestPrintConfig prints the effective configuration with secrets
// redacted; the output is itself a valid configuration file.
func TestPrintConfig(t *testing.T) {
	file := writeFile(t, "mgsd.conf", "everynet-token = evtoken-secret-1\nmax-positions = 5\n")
	var out bytes.Buffer
	err := run(context.Background(), []string{"--print-config", "--config", file, "--tokens", "static-secret-1,static-secret-2",
		"--everynet-url", "wss://user:pw-secret@ns.example/api/v1.0/data?access_token=url-secret-1"},
		func(k string) string { return map[string]string{"MGS_DRAIN": "3s"}[k] }, &out, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, secret := range []string{"static-secret", "evtoken-secret", "pw-secret", "url-secret"} {
		if strings.Contains(s, secret) {
			t.Errorf("print-config shows %q:\n%s", secret, s)
		}
	}
	for _, want := range []string{
		`tokens = "REDACTED (2)"`, "# flag --tokens",
		`everynet-token = "REDACTED (1)"`, "# config file " + file + ":1",
		`drain = "3s"`, "# env MGS_DRAIN",
		`max-positions = "5"`, `grpc-addr = "127.0.0.1:7070"`, "# default",
		"ns.example", "access_token=REDACTED",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("print-config lacks %q:\n%s", want, s)
		}
	}
	// Round trip: the printed configuration (minus the redacted secrets)
	// parses back to the same values.
	var kept []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, "REDACTED") {
			kept = append(kept, line)
		}
	}
	c, err := parseConfig([]string{"--config", writeFile(t, "printed.conf", strings.Join(kept, "\n"))}, func(string) string { return "" }, io.Discard)
	if err != nil || c.Drain != 3*time.Second || c.MaxPositions != 5 {
		t.Fatalf("printed configuration does not parse back: %v %+v", err, c)
	}
}

// TestMetricsEndpoints checks /metrics on the HTTP API listener and on the
// ops listener: a token with read is needed; the uplink, store, gRPC,
// HTTP, queue and Go runtime metrics are there.
func TestMetricsEndpoints(t *testing.T) {
	addrs, stop := startWith(t, nil, nil, "--data", t.TempDir(), "--tokens", "root", "--ops-addr", "127.0.0.1:0", "--log-level", "error")
	defer stop()
	cc := grpcConn(t, addrs["grpc"])
	tok, err := mgsv1.NewTokenServiceClient(cc).AddToken(withToken("root"), &mgsv1.AddTokenRequest{Name: "prometheus", Capabilities: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	up, err := mgsv1.NewTokenServiceClient(cc).AddToken(withToken("root"), &mgsv1.AddTokenRequest{Name: "ns", Capabilities: []string{"uplink"}})
	if err != nil {
		t.Fatal(err)
	}
	fcnt, port := uint32(1), uint32(199)
	if _, err := mgsv1.NewModemServiceClient(cc).SendUplink(withToken("root"), &mgsv1.SendUplinkRequest{Deveui: "01-02-03-04-05-06-07-08",
		Uplink: &mgsv1.UplinkMsg{Fcnt: &fcnt, Port: &port, Payload: "0319"}}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, "POST", "http://"+addrs["http"]+"/api/v1/uplink/send", "root", `{"0102030405060709":{"fcnt":1,"port":199,"payload":"0319"}}`); code != 200 {
		t.Fatalf("uplink/send: %d", code)
	}
	for _, base := range []string{"http://" + addrs["http"], "http://" + addrs["ops"]} {
		if code, _, _ := get(t, "GET", base+"/metrics", "", ""); code != 401 {
			t.Errorf("%s/metrics without token: %d", base, code)
		}
		if code, _, _ := get(t, "GET", base+"/metrics", up.Token.Token, ""); code != 403 {
			t.Errorf("%s/metrics with an uplink-only token: %d", base, code)
		}
		code, _, body := get(t, "GET", base+"/metrics", "Bearer "+tok.Token.Token, "") // as Prometheus sends it
		if code != 200 {
			t.Fatalf("%s/metrics: %d %s", base, code, body)
		}
		for _, want := range []string{
			`mgs_uplinks_total{msgtype="updf",operation="modem",result="ok"} 2`,
			`mgs_uplink_duration_seconds_bucket{result="ok",le="+Inf"} 2`,
			`mgs_uplink_stage_duration_seconds_count{stage="commit"} 2`,
			`mgs_uplink_stage_duration_seconds_count{stage="plan_downlink"} 2`,
			`mgs_store_commit_duration_seconds_count `,
			`mgs_store_commit_writes_bucket{le="1"} `,
			`mgs_grpc_requests_total{code="OK",method="/mgs.v1.ModemService/SendUplink"} 1`,
			`mgs_http_requests_total{code="200",route="/api/v1/uplink/send"} 1`,
			`mgs_uplinks_in_flight 0`,
			`mgs_watch_subscribers 0`,
			`mgs_api_tokens 3`,
			`mgs_store_size_bytes `,
			`go_goroutines `,
			`process_resident_memory_bytes `,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s/metrics lacks %q", base, want)
			}
		}
	}
	if code, _, body := get(t, "GET", "http://"+addrs["ops"]+"/healthz", "", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
}

// logLines parses JSON log lines.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// TestLogsRequestIDAndNoSecrets runs mgsd with JSON debug logs through
// calls that carry tokens and an AppSKey, then checks that every uplink
// line has dev_eui, msgtype, fcnt and the request id of its API call,
// that access lines carry it too, and that no token or key is logged.
func TestLogsRequestIDAndNoSecrets(t *testing.T) {
	const (
		static  = "static-token-7f3a9c"
		wrong   = "wrong-token-41d2e8"
		appSKey = "2B7E151628AED2A6ABF7158809CF4F3C"
	)
	var logs syncBuffer
	dir := t.TempDir()
	addrs, stop := startWith(t, nil, &logs, "--data", dir, "--tokens", static, "--log-level", "debug", "--log-format", "json")
	cc := grpcConn(t, addrs["grpc"])
	admin := withToken(static)
	stored, err := mgsv1.NewTokenServiceClient(cc).AddToken(admin, &mgsv1.AddTokenRequest{Name: "ttn", Capabilities: []string{"uplink", "read"}})
	if err != nil {
		t.Fatal(err)
	}
	secret := stored.Token.Token
	modem := mgsv1.NewModemServiceClient(cc)
	const eui = "00-16-C0-01-F0-00-40-6E"
	if _, err := modem.SetAppSKey(admin, &mgsv1.SetAppSKeyRequest{Deveuis: []string{eui}, Appskey: appSKey}); err != nil {
		t.Fatal(err)
	}
	// A bad AppSKey is refused; its value must not be logged either.
	if _, err := modem.SetAppSKey(admin, &mgsv1.SetAppSKeyRequest{Deveuis: []string{eui}, Appskey: appSKey[:30]}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("short AppSKey: %v", err)
	}
	// gRPC uplink with the client's request id.
	ctx := metadata.AppendToOutgoingContext(withToken(secret), "x-request-id", "grpc-req-1")
	fcnt, port := uint32(5), uint32(199)
	var hdr metadata.MD
	if _, err := modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: eui, Uplink: &mgsv1.UplinkMsg{Fcnt: &fcnt, Port: &port,
		Payload: "00080100000319040e1c0500000600000700000000000000000f0300120500"}}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "grpc-req-1" {
		t.Fatalf("gRPC response x-request-id %v", got)
	}
	// HTTP uplink with the client's request id; another one without.
	code, h, _ := get(t, "POST", "http://"+addrs["http"]+"/api/v1/uplink/send", secret,
		`{"0016C001F000406E":{"fcnt":6,"port":199,"payload":"0319"}}`, "X-Request-Id", "http-req-1")
	if code != 200 || h.Get("X-Request-Id") != "http-req-1" {
		t.Fatalf("uplink/send: %d %q", code, h.Get("X-Request-Id"))
	}
	code, h, _ = get(t, "POST", "http://"+addrs["http"]+"/api/v1/device/send", secret,
		`{"deveui":"0016C001F000406E","uplink":{"fcnt":7,"port":199,"payload":"0319"}}`, "X-Request-Id", "bad id with spaces")
	generated := h.Get("X-Request-Id")
	if code != 200 || len(generated) != 16 {
		t.Fatalf("device/send: %d, generated request id %q", code, generated)
	}
	// Failures with secrets in them: a wrong token, a token in the path.
	if code, _, _ := get(t, "GET", "http://"+addrs["http"]+"/api/v1/token/list", wrong, ""); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if _, err := modem.ListDevices(withToken(wrong), &mgsv1.ListDevicesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong gRPC token: %v", err)
	}
	if code, _, _ := get(t, "GET", "http://"+addrs["http"]+"/api/v1/token/"+secret, static, ""); code != 200 {
		t.Fatalf("token/{token}: %d", code)
	}
	stop()

	all := logs.String()
	for _, s := range []string{static, wrong, secret, appSKey, strings.ToLower(appSKey), appSKey[:30], strings.ToLower(appSKey[:30])} {
		if strings.Contains(all, s) {
			t.Errorf("the log contains the secret %q", s)
		}
	}
	lines := logLines(t, all)
	byID := map[string][]map[string]any{}
	uplinks := 0
	for _, l := range lines {
		if id, ok := l["request_id"].(string); ok {
			byID[id] = append(byID[id], l)
		}
		if l["msg"] != "uplink" {
			continue
		}
		uplinks++
		for _, k := range []string{"dev_eui", "msgtype", "fcnt", "request_id"} {
			if _, ok := l[k]; !ok {
				t.Errorf("uplink log line without %s: %v", k, l)
			}
		}
	}
	if uplinks != 3 {
		t.Errorf("%d uplink lines, want 3", uplinks)
	}
	for id, want := range map[string][]string{"grpc-req-1": {"uplink", "grpc call"}, "http-req-1": {"uplink", "http request"},
		generated: {"uplink", "http request"}} {
		var got []string
		for _, l := range byID[id] {
			got = append(got, l["msg"].(string))
		}
		for _, w := range want {
			if !strings.Contains(strings.Join(got, "|"), w) {
				t.Errorf("request %s: lines %q lack %q", id, got, w)
			}
		}
	}
	// Access lines: the route pattern (never the token in the path), the
	// token's id and name.
	found := false
	for _, l := range lines {
		if l["msg"] == "http request" && l["route"] == "/api/v1/token/{token}" {
			found = true
			if l["token_name"] != "static token 1" {
				t.Errorf("access line %v", l)
			}
		}
		if l["msg"] == "grpc call" && l["method"] == "/mgs.v1.ModemService/SendUplink" && l["token_name"] != "ttn" {
			t.Errorf("grpc access line %v", l)
		}
	}
	if !found {
		t.Error("no access line for token/{token}")
	}
}

// TestLimits runs mgsd with small limits and hits each: the gRPC request
// size (ResourceExhausted), the HTTP body size (413), the per-token rate
// limit shared by gRPC and HTTP (ResourceExhausted / 429 with
// Retry-After).
func TestLimits(t *testing.T) {
	addrs, stop := startWith(t, nil, nil, "--data", t.TempDir(), "--tokens", "root,other", "--log-level", "error",
		"--grpc-max-recv-bytes", "4096", "--http-max-body-bytes", "2048", "--rate-limit", "1/h", "--rate-burst", "4")
	defer stop()
	cc := grpcConn(t, addrs["grpc"])
	modem := mgsv1.NewModemServiceClient(cc)

	// Request size (does not reach the rate limit: refused before).
	big := &mgsv1.SendUplinksRequest{}
	for i := range 10 {
		fcnt := uint32(i + 1)
		big.Uplinks = append(big.Uplinks, &mgsv1.DeviceUplink{Deveui: "0102030405060708",
			Uplink: &mgsv1.UplinkMsg{Fcnt: &fcnt, Payload: strings.Repeat("00", 240)}})
	}
	if _, err := modem.SendUplinks(withToken("root"), big); status.Code(err) != codes.ResourceExhausted ||
		!strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("oversized gRPC request: %v", err)
	}
	if code, _, body := get(t, "POST", "http://"+addrs["http"]+"/api/v1/uplink/send", "other",
		`{"0102030405060708":{"fcnt":1,"port":199,"payload":"`+strings.Repeat("00", 1100)+`"}}`); code != 413 ||
		!strings.Contains(body, "body: more than 2048 bytes") {
		t.Fatalf("oversized HTTP body: %d %s", code, body)
	}

	// Rate limit: "root" has a burst of 4 shared by both APIs.
	var refused error
	for i := 0; i < 6 && refused == nil; i++ {
		if i%2 == 0 {
			_, refused = modem.GetDefaultPorts(withToken("root"), &mgsv1.GetDefaultPortsRequest{})
		} else if code, h, body := get(t, "GET", "http://"+addrs["http"]+"/api/v1/account/ports", "root", ""); code == 429 {
			if h.Get("Retry-After") == "" || !strings.Contains(body, `rate limit exceeded for token \"static token 1\" (0.0002777777777777778 calls/s, burst 4)`) {
				t.Fatalf("429: %v %s", h, body)
			}
			refused = fmt.Errorf("429")
		}
	}
	if refused == nil {
		t.Fatal("the rate limit never refused")
	}
	if _, err := modem.GetDefaultPorts(withToken("root"), &mgsv1.GetDefaultPortsRequest{}); status.Code(err) != codes.ResourceExhausted ||
		!strings.Contains(err.Error(), "rate limit exceeded") {
		t.Fatalf("gRPC over the limit: %v", err)
	}
	if code, _, _ := get(t, "GET", "http://"+addrs["http"]+"/api/v1/account/ports", "root", ""); code != 429 {
		t.Fatalf("HTTP over the limit: %d", code)
	}
	// The other token still has its own burst.
	if _, err := modem.GetDefaultPorts(withToken("other"), &mgsv1.GetDefaultPortsRequest{}); err != nil {
		t.Fatalf("other token: %v", err)
	}
}

// TestStreamLimit: with --grpc-max-streams 1, a watch holds the only
// stream of its connection and a call on the same connection waits.
func TestStreamLimit(t *testing.T) {
	addrs, stop := startWith(t, nil, nil, "--data", t.TempDir(), "--log-level", "error", "--grpc-max-streams", "1")
	defer stop()
	modem := mgsv1.NewModemServiceClient(grpcConn(t, addrs["grpc"]))
	// Streams per connection: a watch holds the only stream; a unary call
	// on the same connection waits until it ends.
	wctx, cancelWatch := context.WithCancel(context.Background())
	w, err := modem.WatchEvents(wctx, &mgsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Header(); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, body := get(t, "GET", "http://"+addrs["http"]+"/metrics", "", "")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		if strings.Contains(body, "mgs_watch_subscribers 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch stream did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = modem.GetDefaultPorts(short, &mgsv1.GetDefaultPortsRequest{})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a second stream on the connection: %v", err)
	}
	cancelWatch()
	w.Recv()

	if _, err := modem.GetDefaultPorts(context.Background(), &mgsv1.GetDefaultPortsRequest{}); err != nil {
		t.Fatalf("after the watch ended: %v", err)
	}
}

// backupTo takes an online backup over gRPC into path and checks it
// against the info message.
func backupTo(t *testing.T, ops mgsv1.OpsServiceClient, path string) {
	t.Helper()
	st, err := ops.Backup(withToken("root"), &mgsv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.Info == nil {
		t.Fatalf("backup info: %v %v", first, err)
	}
	var data []byte
	for {
		m, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, m.Data...)
	}
	if uint64(len(data)) != first.Info.Size {
		t.Fatalf("backup: %d of %d bytes", len(data), first.Info.Size)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func allDevices(t *testing.T, modem mgsv1.ModemServiceClient) []string {
	t.Helper()
	var out []string
	req := &mgsv1.ListDevicesRequest{PageSize: 1000}
	for {
		resp, err := modem.ListDevices(withToken("root"), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.Devices {
			out = append(out, d.Deveui)
		}
		if resp.NextPageToken == "" {
			return out
		}
		req.PageToken = resp.NextPageToken
	}
}

func deviceInfos(t *testing.T, modem mgsv1.ModemServiceClient, euis []string) map[string]*mgsv1.DeviceInfoResult {
	t.Helper()
	resp, err := modem.GetDeviceInfo(withToken("root"), &mgsv1.GetDeviceInfoRequest{Deveuis: euis})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*mgsv1.DeviceInfoResult{}
	for _, r := range resp.Results {
		out[r.Deveui] = r
	}
	return out
}

// TestBackupUnderLoadAndRestore takes one backup while uplinks are being
// processed and one after, restores both with --restore and checks: the
// quiet backup gives identical GetDeviceInfo for every device; the one
// taken under load is a consistent snapshot between what was acknowledged
// when it started and what was sent when it ended.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	root := t.TempDir()
	dirA := filepath.Join(root, "a")
	addrs, stopA := startWith(t, nil, nil, "--data", dirA, "--tokens", "root", "--log-level", "error", "--http-addr", "")
	defer stopA()
	cc := grpcConn(t, addrs["grpc"])
	modem, ops := mgsv1.NewModemServiceClient(cc), mgsv1.NewOpsServiceClient(cc)
	stored, err := mgsv1.NewTokenServiceClient(cc).AddToken(withToken("root"), &mgsv1.AddTokenRequest{Name: "ttn", Capabilities: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 8, 25
	euiOf := func(w, i int) string { return fmt.Sprintf("00-00-00-00-00-00-%02x-%02x", w, i) }
	var acked [workers][perWorker]uint32 // each entry written by its worker only
	var stopLoad = make(chan struct{})
	var wg sync.WaitGroup
	var rounds [workers]atomic.Int32 // rounds each worker completed
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				if round > 0 {
					rounds[w].Store(int32(round))
				}
				for i := range perWorker {
					select {
					case <-stopLoad:
						return
					default:
					}
					fcnt, port := acked[w][i]+1, uint32(199)
					payload := fmt.Sprintf("01%02x%02x0319", fcnt&0xff, fcnt>>8&0xff)
					_, err := modem.SendUplink(withToken("root"), &mgsv1.SendUplinkRequest{Deveui: euiOf(w, i),
						Uplink: &mgsv1.UplinkMsg{Fcnt: &fcnt, Port: &port, Payload: payload}})
					if err != nil {
						t.Error(err)
						return
					}
					acked[w][i] = fcnt
					if round == 1 && i%5 == 0 {
						// Richer state: queued requests and an AppSKey.
						if _, err := modem.AddRequests(withToken("root"), &mgsv1.AddRequestsRequest{Deveuis: []string{euiOf(w, i)},
							Requests: []*mgsv1.Request{{Type: "REJOIN"}}}); err != nil {
							t.Error(err)
						}
						if _, err := modem.SetAppSKey(withToken("root"), &mgsv1.SetAppSKeyRequest{Deveuis: []string{euiOf(w, i)},
							Appskey: "000102030405060708090a0b0c0d0e0f"}); err != nil {
							t.Error(err)
						}
					}
				}
			}
		}()
	}
	// Under load: the stored fcnt of each device before the backup started
	// (at least what was acknowledged) and after it ended bound what the
	// snapshot may hold.
	time.Sleep(300 * time.Millisecond)
	var all []string
	for w := range workers {
		for i := range perWorker {
			all = append(all, euiOf(w, i))
		}
	}
	fcnts := func() map[string]uint32 {
		out := map[string]uint32{}
		for e, r := range deviceInfos(t, modem, all) {
			out[e] = r.GetInfo().GetLastUplink().GetFcnt()
		}
		return out
	}
	before := fcnts()
	underLoad := filepath.Join(root, "under-load.db")
	backupTo(t, ops, underLoad)
	afterSnap := fcnts()
	// Every device has had its requests and key (round 1) before the
	// load stops.
	giveUp := time.Now().Add(30 * time.Second)
	for w := range workers {
		for rounds[w].Load() < 2 && !t.Failed() && time.Now().Before(giveUp) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stopLoad)
	wg.Wait()
	quiet := filepath.Join(root, "quiet.db")
	backupTo(t, ops, quiet)

	// Restore the quiet backup: identical DEVICEINFO for every device.
	dirB := filepath.Join(root, "b")
	run1 := func(dir, file string, extra ...string) error {
		return run(context.Background(), append([]string{"--data", dir, "--restore", file, "--log-level", "error"}, extra...),
			func(string) string { return "" }, io.Discard, io.Discard, nil)
	}
	if err := run1(dirB, quiet); err != nil {
		t.Fatal(err)
	}
	addrsB, stopB := startWith(t, nil, nil, "--data", dirB, "--tokens", "root", "--log-level", "error", "--http-addr", "")
	modemB := mgsv1.NewModemServiceClient(grpcConn(t, addrsB["grpc"]))
	euis := allDevices(t, modem)
	if len(euis) != workers*perWorker {
		t.Fatalf("%d devices", len(euis))
	}
	if got := allDevices(t, modemB); fmt.Sprint(got) != fmt.Sprint(euis) {
		t.Fatalf("restored device list differs: %d vs %d devices", len(got), len(euis))
	}
	a, b := deviceInfos(t, modem, euis), deviceInfos(t, modemB, euis)
	withRequests := 0
	for _, e := range euis {
		if a[e].GetInfo() == nil || !proto.Equal(a[e], b[e]) {
			t.Errorf("%s: DEVICEINFO differs after restore:\n%v\n%v", e, a[e], b[e])
		}
		if len(a[e].GetInfo().GetPendingRequests().GetRequests()) > 0 {
			withRequests++
		}
	}
	if withRequests == 0 {
		t.Error("no device with pending requests: the comparison is too weak")
	}
	// The stored token came with the backup.
	if _, err := modemB.GetDefaultPorts(withToken(stored.Token.Token), &mgsv1.GetDefaultPortsRequest{}); err != nil {
		t.Fatalf("stored token after restore: %v", err)
	}
	// Restore rules: in use, not empty, --force.
	if err := run1(dirB, quiet, "--force"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore while mgsd runs: %v", err)
	}
	stopB()
	if err := run1(dirB, underLoad); err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "force") {
		t.Fatalf("restore over data: %v", err)
	}
	if err := run1(dirB, filepath.Join(root, "missing.db"), "--force"); err == nil {
		t.Fatal("restore of a missing file")
	}

	// Restore the backup taken under load (over B, forced): a consistent
	// snapshot within the window.
	if err := run1(dirB, underLoad, "--force"); err != nil {
		t.Fatal(err)
	}
	addrsC, stopC := startWith(t, nil, nil, "--data", dirB, "--tokens", "root", "--log-level", "error", "--http-addr", "")
	defer stopC()
	c := deviceInfos(t, mgsv1.NewModemServiceClient(grpcConn(t, addrsC["grpc"])), euis)
	moved := 0
	for _, e := range all {
		info := c[e].GetInfo()
		f := info.GetLastUplink().GetFcnt()
		if f < before[e] || f > afterSnap[e] {
			t.Errorf("%s: fcnt %d in the snapshot, outside [%d, %d]", e, f, before[e], afterSnap[e])
		}
		if afterSnap[e] > before[e] {
			moved++
		}
		if info.GetUplinkCount() != uint64(f) || uint32(info.GetInfoFields().GetCharge().GetValue()) != f&0xffff {
			t.Errorf("%s: snapshot not consistent: fcnt %d, count %d, charge %v", e, f, info.GetUplinkCount(),
				info.GetInfoFields().GetCharge().GetValue())
		}
	}
	if moved == 0 {
		t.Error("no uplink was processed during the backup: not a backup under load")
	}
}

func TestBoolFlags(t *testing.T) {
	c, err := parseConfig([]string{"--unsafe-no-sync", "--access-log=false", "--everynet-downlink-claim", "--everynet-url", "wss://a/x",
		"--everynet-token", "t"}, func(string) string { return "" }, io.Discard)
	if err != nil || !c.NoSync || c.AccessLog || !c.Everynet[0].DownlinkClaim {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := parseConfig([]string{"--unsafe-no-sync=perhaps"}, func(string) string { return "" }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "unsafe-no-sync") {
		t.Fatalf("bad bool: %v", err)
	}
}
