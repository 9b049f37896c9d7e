package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/server/httpapi"
)

// TestOpenAPIRoutesAreServed calls every documented operation over HTTP:
// none may answer 404 (no route) or 405 (wrong method), and the document
// served is the embedded one.
func TestOpenAPIRoutesAreServed(t *testing.T) {
	s := newServer(t, []string{"root"})
	r := s.do(http.MethodGet, "/api/openapi.json", nil)
	if r.status != http.StatusOK || string(r.raw) != string(httpapi.OpenAPI()) {
		t.Fatalf("GET /api/openapi.json: %d", r.status)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody *struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			n++
			p := strings.ReplaceAll(path, "{token}", "static-1x")
			var body []byte
			if op.RequestBody != nil {
				body = op.RequestBody.Content["application/json"].Example
			}
			if body == nil && (method == "post" || method == "put") {
				body = []byte("{}")
			}
			got := s.do(strings.ToUpper(method), p, body, "Authorization", "root")
			if got.status == http.StatusNotFound && !strings.Contains(got.env.Errors[0], "token") || got.status == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %q", method, path, got.status, got.env.Errors)
			}
			// Documented examples are valid requests.
			if op.RequestBody != nil && body != nil && got.status == http.StatusBadRequest {
				t.Errorf("%s %s: the documented example is refused: %q", method, path, got.env.Errors)
			}
		}
	}
	if n < 25 {
		t.Fatalf("only %d operations documented", n)
	}
}
