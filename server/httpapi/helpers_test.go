package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// testServer is mgsd's HTTP API in miniature: a durable bbolt store in a
// temporary directory, the pipeline, the modem service, the
// authenticator, and a real HTTP server on loopback.
type testServer struct {
	t     testing.TB
	url   string
	db    *boltstore.DB
	auth  *auth.Authenticator
	modem *server.Modem
}

type serverOpt func(*httpapi.Options, *auth.Options, *boltstore.Options)

func newServer(t testing.TB, static []string, opts ...serverOpt) *testServer {
	t.Helper()
	ao := auth.Options{Static: static, AllowOpen: true}
	ho := httpapi.Options{}
	var bo boltstore.Options // durable: fsync on every commit
	for _, o := range opts {
		o(&ho, &ao, &bo)
	}
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &bo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(context.Background(), db, ao)
	if err != nil {
		t.Fatal(err)
	}
	m := server.NewModem(uplink.New(db, uplink.Config{}), nil)
	ho.Modem, ho.Auth = m, a
	api, err := httpapi.New(ho)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	t.Cleanup(func() {
		hs.Close()
		db.Close()
	})
	return &testServer{t: t, url: hs.URL, db: db, auth: a, modem: m}
}

// response is a decoded envelope plus the raw JSON.
type response struct {
	status int
	header http.Header
	raw    []byte
	env    struct {
		Result   json.RawMessage `json:"result"`
		Error    *string         `json:"error"`
		Errors   []string        `json:"errors"`
		Warnings []string        `json:"warnings"`
		Infos    []string        `json:"infos"`
	}
	keys map[string]json.RawMessage // top-level keys
}

// do sends a request; hdr are header name/value pairs.
func (s *testServer) do(method, path string, body []byte, hdr ...string) *response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &response{status: resp.StatusCode, header: resp.Header}
	if r.raw, err = io.ReadAll(resp.Body); err != nil {
		s.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if err := json.Unmarshal(r.raw, &r.env); err != nil {
		s.t.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, r.raw)
	}
	if err := json.Unmarshal(r.raw, &r.keys); err != nil {
		s.t.Fatalf("%s %s: response is not an object: %v", method, path, err)
	}
	return r
}

// post sends v (a string is sent as is, anything else as JSON) with the
// admin token "root" unless hdr is given.
func (s *testServer) post(path string, v any, hdr ...string) *response {
	s.t.Helper()
	if len(hdr) == 0 {
		hdr = []string{"Authorization", "root"}
	}
	return s.do(http.MethodPost, path, jsonBody(s.t, v), hdr...)
}

func jsonBody(t testing.TB, v any) []byte {
	t.Helper()
	switch b := v.(type) {
	case string:
		return []byte(b)
	case []byte:
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ok fails unless the response is 200 with no errors.
func (r *response) ok(t testing.TB) *response {
	t.Helper()
	if r.status != http.StatusOK || len(r.env.Errors) != 0 {
		t.Fatalf("status %d, errors %q\n%s", r.status, r.env.Errors, r.raw)
	}
	return r
}

// failed fails unless the response has the status and an error naming
// each of want.
func (r *response) failed(t testing.TB, status int, want ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.raw)
	}
	if len(r.env.Errors) != 1 {
		t.Fatalf("errors %q, want one", r.env.Errors)
	}
	for _, w := range want {
		if !strings.Contains(r.env.Errors[0], w) {
			t.Errorf("error %q does not mention %q", r.env.Errors[0], w)
		}
	}
	if string(r.env.Result) != "null" {
		t.Errorf("result %s on failure, want null", r.env.Result)
	}
}

// object decodes JSON into a key → raw value map.
func object(t testing.TB, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// perEUI decodes an EUI-keyed result map into its items.
func perEUI(t testing.TB, b []byte) map[string]struct {
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
} {
	t.Helper()
	var m map[string]struct {
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("per-EUI map: %v: %s", err, b)
	}
	return m
}

// deviceCount counts the devices in the store.
func (s *testServer) deviceCount() int {
	s.t.Helper()
	n := 0
	err := store.NewDevices(s.db).Range(context.Background(), [8]byte{}, func(*store.Device) error { n++; return nil })
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// fixture loads testdata/name into v.
func fixture(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
