package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRateLimit429(t *testing.T) {
	s := newServer(t, []string{"root", "other"}, func(o *httpapi.Options, _ *auth.Options, _ *boltstore.Options) {
		o.RateLimit = server.NewRateLimiter(0.001, 2)
	})
	for range 2 {
		s.do(http.MethodGet, "/api/v1/account/ports", nil, "Authorization", "root").ok(t)
	}
	r := s.do(http.MethodGet, "/api/v1/account/ports", nil, "Authorization", "root")
	r.failed(t, http.StatusTooManyRequests, `rate limit exceeded for token "static token 1"`, "burst 2", "retry in")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// device/send failures carry the top-level "error" too.
	r = s.post("/api/v1/device/send", `{"deveui":"0102030405060708","uplink":{"fcnt":1}}`)
	if r.status != http.StatusTooManyRequests || r.env.Error == nil {
		t.Fatalf("device/send over the limit: %d %s", r.status, r.raw)
	}
	// Another token has its own bucket; the public OpenAPI document is not limited.
	s.do(http.MethodGet, "/api/v1/account/ports", nil, "Authorization", "other").ok(t)
	for range 3 {
		resp, err := http.Get(s.url + "/api/openapi.json")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("openapi.json: %v %v", resp, err)
		}
		resp.Body.Close()
	}
}

// TestConcurrencyLimitAndProtect serves a blocking handler through
// Protect with MaxConcurrent 1: a second request at the same time gets
// 429; Protect checks the token's capability.
func TestConcurrencyLimitAndProtect(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := auth.New(context.Background(), db, auth.Options{Static: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := a.Add(context.Background(), "ro", []string{"read"})
	up, _ := a.Add(context.Background(), "up", []string{"uplink"})
	var logs lockedBuf
	var observed []string
	var mu sync.Mutex
	api, err := httpapi.New(httpapi.Options{Modem: server.NewModem(uplink.New(db, uplink.Config{}), nil), Auth: a, MaxConcurrent: 1,
		AccessLog: true, Logger: slog.New(server.LogHandler(slog.NewTextHandler(&logs, nil))),
		Observe: func(route string, code int, _ time.Duration) {
			mu.Lock()
			observed = append(observed, route+" "+http.StatusText(code))
			mu.Unlock()
		},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics\n") })})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	slow := api.Protect("/slow", auth.CapRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.FromContext(r.Context()); !ok || p.Name != "ro" {
			t.Errorf("principal %v", p)
		}
		if server.RequestID(r.Context()) == "" {
			t.Error("no request id in the handler's context")
		}
		close(entered)
		<-release
		io.WriteString(w, "done")
	}))
	mux := http.NewServeMux()
	mux.Handle("/slow", slow)
	mux.Handle("/", api)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	call := func(path, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		req.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := call("/slow", up.Token); code != http.StatusForbidden {
		t.Fatalf("Protect with an uplink token: %d", code)
	}
	done := make(chan int)
	go func() {
		code, _ := call("/slow", ro.Token)
		done <- code
	}()
	<-entered
	code, body := call("/api/v1/account/ports", "root")
	if code != http.StatusTooManyRequests || !strings.Contains(body, "too many concurrent requests (the server serves at most 1 at once)") {
		t.Fatalf("second request at once: %d %s", code, body)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("slow request: %d", code)
	}
	if code, body := call("/metrics", ro.Token); code != 200 || body != "metrics\n" {
		t.Fatalf("/metrics: %d %q", code, body)
	}
	if code, _ := call("/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d", code)
	}
	// A token in the path is never logged: the route pattern is.
	call("/api/v1/token/"+ro.Token, "root")
	out := logs.String()
	if strings.Contains(out, ro.Token) || strings.Contains(out, up.Token) {
		t.Fatalf("a token is logged:\n%s", out)
	}
	for _, want := range []string{`msg="http request" method=GET route=/slow status=200`, `token_name=ro request_id=`,
		`route=limited status=429`, `route=/api/v1/token/{token} status=200`, `route=/metrics status=401`} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(observed, ","); !strings.Contains(got, "/slow OK") || !strings.Contains(got, "limited Too Many Requests") {
		t.Fatalf("observed %s", got)
	}
}

func TestBodyLimitOption(t *testing.T) {
	s := newServer(t, []string{"root"}, func(o *httpapi.Options, _ *auth.Options, _ *boltstore.Options) { o.MaxBodyBytes = 2048 })
	r := s.post("/api/v1/uplink/send", `{"0102030405060708":{"fcnt":1,"port":199,"payload":"`+strings.Repeat("00", 2000)+`"}}`)
	r.failed(t, http.StatusRequestEntityTooLarge, "body: more than 2048 bytes")
}
