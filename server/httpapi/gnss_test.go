package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/store/boltstore"
)

// gnssServer is a test server whose solve endpoints use an orbit service
// with the fixture's navigation data (unless empty), clock at GPS time gps.
func gnssServer(t *testing.T, f *gnsstest.Fixture, gps float64, empty bool) *testServer {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "orbits.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := func() time.Time { return lora.GPSToTime(gps) }
	svc, err := gnssdata.Open(context.Background(), db, gnssdata.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !empty {
		if _, err := svc.Import(context.Background(), "fixture.24n", gnssdata.FormatAuto, f.RINEXNav()); err != nil {
			t.Fatal(err)
		}
	}
	g := server.NewGeolocation(svc, nil)
	g.Now = now
	return newServer(t, []string{"root"}, func(ho *httpapi.Options, _ *auth.Options, _ *boltstore.Options) { ho.Geolocation = g })
}

type gnssResultJSON struct {
	ECEF            []float64 `json:"ecef"`
	LLH             []float64 `json:"llh"`
	CaptureTimeGPS  float64   `json:"capture_time_gps"`
	CaptureTimeUTC  float64   `json:"capture_time_utc"`
	CaptureTimesGPS []float64 `json:"capture_times_gps"`
	GDOP            float64   `json:"gdop"`
	Accuracy        float64   `json:"accuracy"`
}

func TestGNSSSolveEndpoints(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 720
	s := gnssServer(t, f, tc+12, false)
	navHex := func(t0 float64, o gnsstest.Options) string { return hex.EncodeToString(f.NAV1(t0, o)) }
	fix := func(path string, body any, capture float64, keys ...string) gnssResultJSON {
		t.Helper()
		r := s.post(path, body)
		if r.status != http.StatusOK || len(r.env.Errors) != 0 {
			t.Fatalf("%s: %d %q %s", path, r.status, r.env.Errors, r.raw)
		}
		var res gnssResultJSON
		if err := json.Unmarshal(r.env.Result, &res); err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		json.Unmarshal(r.env.Result, &raw)
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range raw {
				if !yield(k) {
					return
				}
			}
		})
		want := append([]string{"accuracy", "capture_time_gps", "capture_time_utc", "ecef", "gdop", "llh"}, keys...)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: result keys %q, want %q", path, got, want)
		}
		h, _ := geo.HorizontalVertical(f.TruthLLH, geo.ECEF{res.ECEF[0], res.ECEF[1], res.ECEF[2]})
		if h > 10 || len(res.LLH) != 3 || res.GDOP <= 0 || res.Accuracy <= 0 {
			t.Errorf("%s: H error %.1f m, %+v", path, h, res)
		}
		if math.Abs(res.CaptureTimeGPS-capture) > 0.05 || math.Abs(res.CaptureTimeUTC-lora.GPSToUnix(res.CaptureTimeGPS)) > 1e-6 {
			t.Errorf("%s: capture time %.3f / utc %.3f, want %.3f", path, res.CaptureTimeGPS, res.CaptureTimeUTC, capture)
		}
		return res
	}
	// gnss_capture_time with accuracy 15 (RadioLib's lora-cloud.sh).
	nav := navHex(tc, gnsstest.Options{AP: f.Near(60e3, 200)})
	fix("/api/v1/solve/gnss_lr1110_singleframe", map[string]any{"payload": nav, "gnss_capture_time": tc + 4,
		"gnss_capture_time_accuracy": 15}, tc)
	// Server time as the estimate; caller assistance position and 2D.
	fix("/api/v1/solve/gnss_lora_edge_singleframe", map[string]any{"payload": navHex(tc, gnsstest.Options{MaxSats: 6}),
		"gnss_assist_position": []float64{47.3, 8.9}, "gnss_assist_altitude": 400, "gnss_use_2D_solver": true}, tc)
	res := fix("/api/v1/solve/gnss_lr1110_multiframe", map[string]any{"captures": []map[string]any{
		{"payload": navHex(tc-30, gnsstest.Options{MaxSats: 5, AP: f.Near(5e3, 0)}), "gnss_capture_time": tc - 25},
		{"payload": navHex(tc, gnsstest.Options{MaxSats: 5, AP: f.Near(5e3, 0)})},
	}}, tc, "capture_times_gps")
	if len(res.CaptureTimesGPS) != 2 || math.Abs(res.CaptureTimesGPS[0]-(tc-30)) > 0.05 {
		t.Errorf("capture_times_gps %v", res.CaptureTimesGPS)
	}

	// No fix: 200, result null, the reason in errors.
	r := s.post("/api/v1/solve/gnss_lr1110_singleframe", map[string]any{"payload": navHex(tc, gnsstest.Options{MaxSats: 3, AP: f.Near(1e3, 0)})})
	if r.status != http.StatusOK || string(r.env.Result) != "null" || len(r.env.Errors) != 1 || !strings.Contains(r.env.Errors[0], "too few satellites") {
		t.Errorf("three satellites: %d %s", r.status, r.raw)
	}
	// Bad requests.
	for _, c := range []struct {
		path, body, want string
	}{
		{"gnss_lr1110_singleframe", `{"payload":"631052c0"}`, "NAV3"},
		{"gnss_lr1110_singleframe", `{}`, "payload: required"},
		{"gnss_lr1110_singleframe", `{"payload":"` + nav + `","captures":[]}`, "captures"},
		{"gnss_lr1110_singleframe", `{"payload":"` + nav + `","gnss_assist_position":[100,0]}`, "gnss_assist_position"},
		{"gnss_lr1110_singleframe", `{"payload":"` + nav + `","gnss_use_2D_solver":true}`, "gnss_assist_altitude"},
		{"gnss_lr1110_multiframe", `{"captures":[]}`, "captures: at least one"},
		{"gnss_lr1110_multiframe", `{"captures":[{"payload":"zz"}]}`, "captures[0].payload: not hex"},
		{"gnss_lora_edge_singleframe", `{"payload":"` + nav + `","gnss_capture_time_accuracy":-3}`, "gnss_capture_time_accuracy"},
	} {
		r := s.post("/api/v1/solve/"+c.path, c.body)
		if r.status != http.StatusBadRequest || len(r.env.Errors) != 1 || !strings.Contains(r.env.Errors[0], c.want) {
			t.Errorf("%s %s: %d %q, want 400 with %q", c.path, c.body, r.status, r.env.Errors, c.want)
		}
	}
	// The uplink capability is needed.
	ro, err := s.auth.Add(context.Background(), "ro", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.post("/api/v1/solve/gnss_lr1110_singleframe", map[string]any{"payload": nav}, "Authorization", ro.Token); r.status != http.StatusForbidden {
		t.Errorf("read token: %d", r.status)
	}
}

func TestGNSSSolveWithoutOrbitData(t *testing.T) {
	f := gnsstest.New()
	s := gnssServer(t, f, f.T0, true)
	r := s.post("/api/v1/solve/gnss_lr1110_singleframe", map[string]any{"payload": hex.EncodeToString(f.NAV1(f.T0, gnsstest.Options{AP: f.Near(1e3, 0)}))})
	if r.status != http.StatusServiceUnavailable || len(r.env.Errors) != 1 || !strings.Contains(r.env.Errors[0], "no orbit data") {
		t.Errorf("%d %s", r.status, r.raw)
	}
}

// TestGNSSDocumentedExamples posts the OpenAPI examples of the solve
// endpoints to a server with the GNSS solver: sample A of gnss.md decodes,
// and without 2020 orbit data the answer is 200 without a fix.
func TestGNSSDocumentedExamples(t *testing.T) {
	f := gnsstest.New()
	s := gnssServer(t, f, f.T0, false)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths {
		if !strings.Contains(path, "/solve/gnss_") {
			continue
		}
		n++
		ex := item["post"].RequestBody.Content["application/json"].Example
		r := s.post(path, []byte(ex))
		if r.status != http.StatusOK || string(r.env.Result) != "null" || len(r.env.Errors) != 1 || !strings.Contains(r.env.Errors[0], "orbit") {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
		}
	}
	if n != 3 {
		t.Errorf("%d GNSS solve paths documented, want 3", n)
	}
}
