package httpapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// openAPIOps returns "METHOD path" → x-capability of every documented
// operation.
func openAPIOps(t *testing.T) map[string]string {
	t.Helper()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	ops := map[string]string{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				Capability string                     `json:"x-capability"`
				Responses  map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if _, ok := op.Responses["200"]; !ok {
				t.Errorf("%s %s documents no 200 response", method, path)
			}
			ops[strings.ToUpper(method)+" "+path] = op.Capability
		}
	}
	return ops
}

// TestOpenAPIMatchesRoutes: every route is documented with its capability,
// and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := openAPIOps(t)
	served := map[string]string{}
	for _, r := range routes() {
		c := ""
		if r.cap != 0 {
			c = r.cap.String()
		}
		served[r.method+" "+r.path] = c
	}
	if diff := cmp.Diff(served, doc); diff != "" {
		keys := func(m map[string]string) []string {
			return slices.Sorted(func(yield func(string) bool) {
				for k := range m {
					if !yield(k) {
						return
					}
				}
			})
		}
		t.Fatalf("routes (-served +documented):\n%s\nserved: %q\ndocumented: %q", diff, keys(served), keys(doc))
	}
}
