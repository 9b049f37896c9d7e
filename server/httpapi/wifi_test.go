package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/wifidb"
)

// wifiServer is a test server whose loraWifi endpoint solves against a
// database of three APs around (52.37, 4.89).
func wifiServer(t *testing.T) *testServer {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "aps.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	aps, err := wifidb.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := aps.Put(ctx,
		wifidb.Record{MAC: [6]byte{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}, Lat: 52.37, Lon: 4.89, Accuracy: 5},
		wifidb.Record{MAC: [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}, Lat: 52.37036, Lon: 4.89, Accuracy: 5},
		wifidb.Record{MAC: [6]byte{0x6c, 0x7d, 0x8e, 0x9f, 0xa0, 0xb1}, Lat: 52.37, Lon: 4.8906, Accuracy: 5}); err != nil {
		t.Fatal(err)
	}
	s, err := wifi.NewSolver(aps, wifi.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	orbits, err := gnssdata.Open(ctx, db, gnssdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGeolocation(orbits, nil)
	g.WiFi = server.NewWiFi(aps, s, nil)
	return newServer(t, []string{"root"}, func(ho *httpapi.Options, _ *auth.Options, _ *boltstore.Options) { ho.Geolocation = g })
}

func TestLoraWifi(t *testing.T) {
	s := wifiServer(t)
	// The TTS/SWSD004 shape: one fake gateway plus the scan.
	body := `{"lorawan":[{"gatewayId":"fake","rssi":-80,"snr":5,"toa":0,"antennaId":0,"antennaLocation":{"latitude":0,"longitude":0,"altitude":0}}],
	  "wifiAccessPoints":[{"macAddress":"A0:B1:C2:D3:E4:F5","signalStrength":-60},{"macAddress":"00-11-22-33-44-55","signalStrength":-66.4},
	  {"macAddress":"6c7d8e9fa0b1","signalStrength":-64},{"macAddress":"da:a1:19:00:00:01","signalStrength":-30}]}`
	r := s.post("/api/v1/solve/loraWifi", body)
	if r.status != http.StatusOK || len(r.env.Errors) != 0 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	var res map[string]any
	if err := json.Unmarshal(r.env.Result, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 7 || res["algorithmType"] != "Wifi" || res["numberOfGatewaysReceived"] != 1.0 || res["numberOfGatewaysUsed"] != 0.0 ||
		res["altitude"] != 0.0 || math.Abs(res["latitude"].(float64)-52.37018) > 0.0004 || math.Abs(res["longitude"].(float64)-4.8902) > 0.0006 ||
		!(res["accuracy"].(float64) >= 10) {
		t.Fatalf("result %s", r.env.Result)
	}
	if len(r.env.Warnings) != 1 || !strings.Contains(r.env.Warnings[0], "da:a1:19:00:00:01") {
		t.Fatalf("warnings %q", r.env.Warnings)
	}

	// No fix: 200, result null, the reason in errors.
	r = s.post("/api/v1/solve/loraWifi", `{"wifiAccessPoints":[{"macAddress":"00:99:00:00:00:01"},{"macAddress":"00:99:00:00:00:02"}]}`)
	if r.status != http.StatusOK || string(r.env.Result) != "null" || len(r.env.Errors) != 1 || !strings.Contains(r.env.Errors[0], "too few known") {
		t.Fatalf("no fix: %d %s", r.status, r.raw)
	}
	// Malformed: 400 naming the loraWifi field.
	s.post("/api/v1/solve/loraWifi", `{"wifiAccessPoints":[{"macAddress":"00:99:00:00:00:01"},{"macAddress":"xyz"}]}`).
		failed(t, http.StatusBadRequest, "wifiAccessPoints[1].macAddress")
	s.post("/api/v1/solve/loraWifi", `{"wifiAccessPoints":[{"macAddress":"00:99:00:00:00:01","signalStrength":12},{"macAddress":"00:99:00:00:00:02"}]}`).
		failed(t, http.StatusBadRequest, "wifiAccessPoints[0].signalStrength")
	s.post("/api/v1/solve/loraWifi", `{"wifiAccessPoints":[{"macAddress":"00:99:00:00:00:01"}]}`).failed(t, http.StatusBadRequest, "wifiAccessPoints")
	s.post("/api/v1/solve/loraWifi", `{"wifi":[]}`).failed(t, http.StatusBadRequest, "wifi: unknown field")
	// A token without the uplink capability.
	ro, err := s.auth.Add(context.Background(), "ro", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	s.post("/api/v1/solve/loraWifi", body, "Authorization", ro.Token).failed(t, http.StatusForbidden)
}
