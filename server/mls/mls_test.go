package mls_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/server/mls"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/wifidb"
)

// server serves the MLS endpoints behind a token check ("secret") and
// everything else with a stub that answers 299.
func server(t *testing.T) (*httptest.Server, *wifidb.DB) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := wifidb.Open(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := wifi.NewSolver(db, wifi.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	h, err := mls.New(mls.Options{Locator: s, Submitter: db, Now: func() time.Time { return time.Unix(1_700_000_500, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	protect := func(path string, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "secret" {
				http.Error(w, "token "+path, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	srv := httptest.NewServer(mls.Mount(other, h, protect))
	t.Cleanup(srv.Close)
	return srv, db
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if !strings.Contains(url, "key=") {
		req.Header.Set("Authorization", "secret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode < 299 && ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	return resp.StatusCode, string(b)
}

// A 3 × 3 grid of APs 30 m apart around (48.8566, 2.3522).
func grid() []wifidb.Record {
	var recs []wifidb.Record
	for i := range 9 {
		recs = append(recs, wifidb.Record{MAC: [6]byte{0x00, 0x24, 0x01, 0x00, 0x00, byte(i + 1)},
			Lat: 48.8566 + float64(i/3-1)*0.00027, Lon: 2.3522 + float64(i%3-1)*0.00041, Accuracy: 5, Observations: 20})
	}
	return recs
}

const query = `{"considerIp": false, "wifiAccessPoints": [
	{"macAddress": "00:24:01:00:00:05", "signalStrength": -50, "ssid": "a"},
	{"macAddress": "00-24-01-00-00-02", "signalStrength": -68, "channel": 6},
	{"macAddress": "002401000008", "signalStrength": -69, "age": 3000},
	{"macAddress": "00:24:01:00:00:04", "signalStrength": -69},
	{"macAddress": "00:24:01:00:00:06", "signalStrength": -68},
	{"macAddress": "da:a1:19:00:00:01", "signalStrength": -30},
	{"macAddress": "00:24:01:00:00:01", "signalStrength": -40, "ssid": "hidden_nomap"}
]}`

func TestGeolocate(t *testing.T) {
	srv, db := server(t)
	if err := db.Put(context.Background(), grid()...); err != nil {
		t.Fatal(err)
	}
	code, body := post(t, srv.URL+mls.GeolocatePath, query)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var resp mls.GeolocateResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	// The strongest AP is the centre one; the _nomap AP (SW corner, −40) is
	// ignored, else it would pull the fix 30 m away.
	dy := (resp.Location.Lat - 48.8566) * 111_195
	dx := (resp.Location.Lng - 2.3522) * 111_195 * math.Cos(48.8566*math.Pi/180)
	if d := math.Hypot(dx, dy); d > 15 || !(resp.Accuracy >= 16 && resp.Accuracy <= 1700) {
		t.Fatalf("fix %.1f m from the centre, accuracy %.1f: %s", d, resp.Accuracy, body)
	}
	var raw struct {
		Location map[string]float64
		Accuracy float64
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Location) != 2 || len(body) > 80 {
		t.Fatalf("shape %s", body)
	}

	// The key query parameter stands for the Authorization header.
	if code, _ := post(t, srv.URL+mls.GeolocatePath+"?key=secret", query); code != http.StatusOK {
		t.Fatalf("?key=: %d", code)
	}
	if code, _ := post(t, srv.URL+mls.GeolocatePath+"?key=wrong", query); code != http.StatusUnauthorized {
		t.Fatalf("?key=wrong: %d", code)
	}
	// Other paths go to the next handler.
	if code, _ := post(t, srv.URL+"/api/v1/uplink/send", "{}"); code != 299 {
		t.Fatalf("other path: %d", code)
	}
}

func TestGeolocateNotFoundAndErrors(t *testing.T) {
	srv, db := server(t)
	if err := db.Put(context.Background(), grid()...); err != nil {
		t.Fatal(err)
	}
	notFound := `{"error":{"errors":[{"domain":"geolocation","reason":"notFound","message":"Not found"}],"code":404,"message":"Not found"}}`
	for name, q := range map[string]string{
		"unknown":     `{"wifiAccessPoints":[{"macAddress":"00:99:00:00:00:01"},{"macAddress":"00:99:00:00:00:02"}]}`,
		"one AP":      `{"wifiAccessPoints":[{"macAddress":"00:24:01:00:00:05","signalStrength":-50}]}`,
		"one known":   `{"wifiAccessPoints":[{"macAddress":"00:24:01:00:00:05"},{"macAddress":"00:99:00:00:00:02"}]}`,
		"no wifi":     `{"cellTowers":[{"radioType":"gsm","mobileCountryCode":208}]}`,
		"bad MACs":    `{"wifiAccessPoints":[{"macAddress":"nope"},{"macAddress":"ff:ff:ff:ff:ff:ff"}]}`,
		"empty":       `{}`,
		"hotspot too": `{"wifiAccessPoints":[{"macAddress":"00:24:01:00:00:05"},{"macAddress":"02:24:01:00:00:02"}]}`,
	} {
		code, body := post(t, srv.URL+mls.GeolocatePath, q)
		if code != http.StatusNotFound || strings.TrimSpace(body) != notFound {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	code, body := post(t, srv.URL+mls.GeolocatePath, `{"wifiAccessPoints":[`)
	if code != http.StatusBadRequest || !strings.Contains(body, `"reason":"parseError"`) || !strings.Contains(body, `"code":400`) {
		t.Errorf("bad JSON: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+mls.GeolocatePath, nil)
	req.Header.Set("Authorization", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	big := `{"wifiAccessPoints":[` + strings.Repeat(`{"macAddress":"00:24:01:00:00:05"},`, 40000) + `{}]}`
	if code, _ := post(t, srv.URL+mls.GeolocatePath, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MB body: %d", code)
	}
}

func TestGeosubmitFeedsGeolocate(t *testing.T) {
	srv, db := server(t)
	// A walk past three APs, with GPS positions; then a query finds them.
	submit := `{"items":[
	  {"timestamp": 1700000000000, "position": {"latitude": 50.1100, "longitude": 8.6800, "accuracy": 6},
	   "wifiAccessPoints": [{"macAddress":"00:31:00:00:00:01","signalStrength":-50},{"macAddress":"00:31:00:00:00:02","signalStrength":-70},
	                        {"macAddress":"02:31:00:00:00:09","signalStrength":-40},{"macAddress":"00:31:00:00:00:07","ssid":"x_nomap"}]},
	  {"timestamp": 1700000060000, "position": {"latitude": 50.1103, "longitude": 8.6805, "accuracy": 6, "age": 1000},
	   "wifiAccessPoints": [{"macAddress":"00:31:00:00:00:02","signalStrength":-55,"age":2000},{"macAddress":"00:31:00:00:00:03","signalStrength":-50}]},
	  {"position": {"latitude": 50.1106, "longitude": 8.6810},
	   "wifiAccessPoints": [{"macAddress":"00:31:00:00:00:03","signalStrength":-60},{"macAddress":"00:31:00:00:00:01","signalStrength":-80}]},
	  {"position": {"latitude": 95, "longitude": 8.68}, "wifiAccessPoints": [{"macAddress":"00:31:00:00:00:04"}]},
	  {"wifiAccessPoints": [{"macAddress":"00:31:00:00:00:05"}]}
	]}`
	code, body := post(t, srv.URL+mls.GeosubmitPath, submit)
	if code != http.StatusOK || strings.TrimSpace(body) != "{}" {
		t.Fatalf("geosubmit: %d %s", code, body)
	}
	if db.Len() != 3 {
		t.Fatalf("%d APs after geosubmit", db.Len())
	}
	r, err := db.Get(context.Background(), [6]byte{0, 0x31, 0, 0, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Observations != 2 || r.Source != wifidb.SourceSubmitted || r.FirstSeen != 1_700_000_000 || r.LastSeen != 1_700_000_060 {
		t.Fatalf("record %+v", r)
	}
	r3, _ := db.Get(context.Background(), [6]byte{0, 0x31, 0, 0, 0, 3})
	if r3.FirstSeen != 1_700_000_060 || r3.LastSeen != 1_700_000_500 { // the item without timestamp is "now"
		t.Fatalf("record %+v", r3)
	}
	code, body = post(t, srv.URL+mls.GeolocatePath, `{"wifiAccessPoints":[{"macAddress":"00:31:00:00:00:02","signalStrength":-60},{"macAddress":"00:31:00:00:00:03","signalStrength":-62},{"macAddress":"00:31:00:00:00:01","signalStrength":-66}]}`)
	if code != http.StatusOK {
		t.Fatalf("geolocate after geosubmit: %d %s", code, body)
	}
	var resp mls.GeolocateResponse
	json.Unmarshal([]byte(body), &resp)
	if math.Abs(resp.Location.Lat-50.1103) > 0.001 || math.Abs(resp.Location.Lng-8.6805) > 0.001 {
		t.Fatalf("fix %+v", resp)
	}
	if code, body := post(t, srv.URL+mls.GeosubmitPath, `{"items": 3}`); code != http.StatusBadRequest {
		t.Fatalf("bad items: %d %s", code, body)
	}
}

func TestNewAndSubmitDisabled(t *testing.T) {
	if _, err := mls.New(mls.Options{}); err == nil {
		t.Fatal("New without Locator")
	}
	idx := wifi.NewIndex(0)
	s, _ := wifi.NewSolver(idx, wifi.DefaultConfig())
	if _, err := mls.New(mls.Options{Locator: s, Confidence: 1}); err == nil {
		t.Fatal("New with Confidence 1")
	}
	h, err := mls.New(mls.Options{Locator: s})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, mls.GeosubmitPath, strings.NewReader(`{"items":[]}`)))
	var body map[string]map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusForbidden || body["error"]["code"] != float64(403) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("other path %d", rec.Code)
	}
	_ = cmp.Diff
}

// FuzzHandler posts arbitrary bodies to both endpoints: never a panic, a
// 500, or a body that is not JSON.
func FuzzHandler(f *testing.F) {
	f.Add(query, false)
	f.Add(`{"items":[{"position":{"latitude":1,"longitude":2},"wifiAccessPoints":[{"macAddress":"00:31:00:00:00:01","age":-5}]}]}`, true)
	f.Add(`{"wifiAccessPoints":[{"macAddress":"00:24:01:00:00:05","signalStrength":1e308}]}`, false)
	st, err := boltstore.Open(filepath.Join(f.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	db, err := wifidb.Open(context.Background(), st, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := db.Put(context.Background(), grid()...); err != nil {
		f.Fatal(err)
	}
	s, _ := wifi.NewSolver(db, wifi.DefaultConfig())
	h, _ := mls.New(mls.Options{Locator: s, Submitter: db})
	f.Fuzz(func(t *testing.T, body string, submit bool) {
		path := mls.GeolocatePath
		if submit {
			path = mls.GeosubmitPath
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
	})
}
