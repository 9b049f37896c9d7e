package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/solver/wifi"
)

// wifiGrid is n × n access points 25 m apart starting at (lat0, lon0),
// MACs 00:57:00:00:i:j.
type wifiGrid struct {
	lat0, lon0 float64
	n          int
}

func (g wifiGrid) mac(i, j int) [6]byte { return [6]byte{0x00, 0x57, 0, 0, byte(i), byte(j)} }

// pos returns the position of AP (i, j).
func (g wifiGrid) pos(i, j int) (float64, float64) {
	return g.lat0 + float64(i)*25/111_195, g.lon0 + float64(j)*25/(111_195*math.Cos(g.lat0*math.Pi/180))
}

func (g wifiGrid) csv() []byte {
	var b strings.Builder
	b.WriteString("mac,lat,lon,accuracy\n")
	for i := range g.n {
		for j := range g.n {
			lat, lon := g.pos(i, j)
			fmt.Fprintf(&b, "%s,%.7f,%.7f,5\n", wifi.MACString(g.mac(i, j)), lat, lon)
		}
	}
	return []byte(b.String())
}

// scanAt returns the RSSI+MAC observations of the 6 APs nearest to
// (lat, lon) with log-distance RSSI (n = 3, −40 dBm at 1 m).
func (g wifiGrid) scanAt(lat, lon float64) []wifi.Observation {
	var obs []wifi.Observation
	for i := range g.n {
		for j := range g.n {
			alat, alon := g.pos(i, j)
			dy := (alat - lat) * 111_195
			dx := (alon - lon) * 111_195 * math.Cos(lat*math.Pi/180)
			d := math.Max(1, math.Hypot(dx, dy))
			obs = append(obs, wifi.Observation{MAC: g.mac(i, j), RSSI: int(math.Round(-40 - 30*math.Log10(d))), HasRSSI: true})
		}
	}
	// Strongest first, six of them (a LoRa Edge scan).
	for a := range obs {
		for b := a + 1; b < len(obs); b++ {
			if obs[b].RSSI > obs[a].RSSI {
				obs[a], obs[b] = obs[b], obs[a]
			}
		}
	}
	return obs[:6]
}

func metres(lat1, lon1, lat2, lon2 float64) float64 {
	return math.Hypot((lat2-lat1)*111_195, (lon2-lon1)*111_195*math.Cos(lat1*math.Pi/180))
}

func wifiPayload(t *testing.T, format uint8, obs []wifi.Observation) string {
	t.Helper()
	b, err := wifi.AppendScan(nil, wifi.Scan{Format: format, APs: obs})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// wifiClients dials mgsd with the token "root".
func wifiClients(t *testing.T, addr string) (context.Context, mgsv1.ModemServiceClient, mgsv1.GeolocationServiceClient) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "root")
	return ctx, mgsv1.NewModemServiceClient(cc), mgsv1.NewGeolocationServiceClient(cc)
}

func wifiImport(t *testing.T, ctx context.Context, geo mgsv1.GeolocationServiceClient, format string, data []byte) *mgsv1.ImportAccessPointsResponse {
	t.Helper()
	st, err := geo.ImportAccessPoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for first := true; first || len(data) > 0; first = false {
		k := min(len(data), 4096)
		m := &mgsv1.ImportAccessPointsRequest{Data: data[:k]}
		if first {
			m.Format = format
		}
		data = data[k:]
		if err := st.Send(m); err != nil {
			break
		}
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		t.Fatalf("ImportAccessPoints: %v", err)
	}
	return res
}

func httpStatus(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWiFiEndToEnd imports access points over gRPC, gets a Wi-Fi position
// for an uplink on port 197 (response, WatchEvents, device history), solves
// through SolveWifi, the MLS geolocate endpoint and loraWifi, learns new
// access points from a real GNSS fix and a scan of the same device, and
// finds the database again after a restart.
func TestWiFiEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addrs, stop := startMgsd(t, dir, "--tokens", "root", "--wifi-learn", "on")
	ctx, modem, geo := wifiClients(t, addrs["grpc"])

	grid := wifiGrid{lat0: 47.37, lon0: 8.54, n: 20}
	res := wifiImport(t, ctx, geo, "csv", append(grid.csv(), "02:57:00:00:00:00,47.37,8.54,5\n"...))
	if res.Created != 400 || res.Rejected["locally_administered"] != 1 || res.Total != 400 {
		t.Fatalf("import %v", res)
	}

	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	watch, err := modem.WatchEvents(watchCtx, &mgsv1.WatchEventsRequest{Deveuis: []string{devEUI}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Header(); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	events := make(chan *mgsv1.WatchEventsResponse, 64)
	go func() {
		for {
			ev, err := watch.Recv()
			if err != nil {
				close(events)
				return
			}
			events <- ev
		}
	}()
	// The device between APs (7, 7) and (8, 8); a phone hotspot too.
	lat, lon := grid.pos(7, 7)
	lat, lon = lat+12/111_195.0, lon+10/(111_195*math.Cos(lat*math.Pi/180))
	obs := append(grid.scanAt(lat, lon), wifi.Observation{MAC: [6]byte{0xda, 0xa1, 0x19, 0, 0, 1}, RSSI: -35, HasRSSI: true})
	port, ts := uint32(197), 1_700_000_000.0
	var ps *mgsv1.PositionSolution
	var ev *mgsv1.WatchEventsResponse
	// The watch stream may subscribe after the first uplink: send again
	// (a new fcnt each time) until an event arrives.
	for fcnt := uint32(1); ev == nil && fcnt <= 40; fcnt++ {
		resp, err := modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Msgtype: "updf", Fcnt: &fcnt,
			Port: &port, Payload: wifiPayload(t, wifi.FormatRSSIMAC, obs), Timestamp: &ts}})
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Result
		ps = r.PositionSolution
		if r.Operation != "wifi" || ps == nil || ps.AlgorithmType != "wifi" || len(ps.Llh) != 3 || ps.Timestamp != ts || !(ps.Accuracy >= 10 && ps.Accuracy < 100) {
			t.Fatalf("response %v", r)
		}
		if d := metres(lat, lon, ps.Llh[0], ps.Llh[1]); d > 15 {
			t.Errorf("Wi-Fi fix %.1f m from the truth", d)
		}
		if len(r.LogMessages) != 1 || r.LogMessages[0].Level != "INFO" || !strings.Contains(r.LogMessages[0].Logmsg, "da:a1:19:00:00:01") {
			t.Errorf("logs %v", r.LogMessages)
		}
		select {
		case ev = <-events:
		case <-time.After(250 * time.Millisecond):
		}
	}
	if ev.GetResponse().GetPositionSolution().GetAlgorithmType() != "wifi" || ev.Response.GetPositionSolution().GetLlh()[0] != ps.Llh[0] {
		t.Errorf("WatchEvents %v", ev)
	}
	cancelWatch()
	info, err := modem.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
	if err != nil {
		t.Fatal(err)
	}
	if p := info.Results[0].GetInfo().GetPositions(); len(p) == 0 || p[len(p)-1].AlgorithmType != "wifi" || p[len(p)-1].Llh[0] != ps.Llh[0] {
		t.Errorf("history %v", p)
	}

	// SolveWifi, with the same scan given as MAC + RSSI.
	req := &mgsv1.SolveWifiRequest{}
	for _, o := range obs {
		req.AccessPoints = append(req.AccessPoints, &mgsv1.WifiObservation{Mac: wifi.MACString(o.MAC), Rssi: int32(o.RSSI)})
	}
	sol, err := geo.SolveWifi(ctx, req)
	if err != nil || sol.Solution == nil || sol.Solution.Latitude != ps.Llh[0] || len(sol.Warnings) != 1 {
		t.Fatalf("SolveWifi %v %v", sol, err)
	}

	// MLS geolocate on the HTTP listener, behind the same tokens.
	var q strings.Builder
	q.WriteString(`{"wifiAccessPoints":[`)
	for i, o := range obs {
		if i > 0 {
			q.WriteString(",")
		}
		fmt.Fprintf(&q, `{"macAddress":%q,"signalStrength":%d}`, wifi.MACString(o.MAC), o.RSSI)
	}
	q.WriteString("]}")
	base := "http://" + addrs["http"]
	code, body := httpStatus(t, base+"/v1/geolocate", "root", q.String())
	var loc struct {
		Location struct{ Lat, Lng float64 }
		Accuracy float64
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &loc) != nil || metres(lat, lon, loc.Location.Lat, loc.Location.Lng) > 15 {
		t.Fatalf("geolocate: %d %s", code, body)
	}
	if code, body := httpStatus(t, base+"/v1/geolocate?key=root", "", q.String()); code != http.StatusOK {
		t.Errorf("geolocate ?key=: %d %s", code, body)
	}
	if code, _ := httpStatus(t, base+"/v1/geolocate", "", q.String()); code != http.StatusUnauthorized {
		t.Errorf("geolocate without token: %d", code)
	}
	if code, body := httpStatus(t, base+"/v1/geolocate", "root", `{"wifiAccessPoints":[{"macAddress":"00:99:00:00:00:01"},{"macAddress":"00:99:00:00:00:02"}]}`); code != http.StatusNotFound ||
		!strings.Contains(body, `"code":404`) {
		t.Errorf("geolocate unknown: %d %s", code, body)
	}
	code, body = httpStatus(t, base+"/api/v1/solve/loraWifi", "root", strings.Replace(q.String(), "{", `{"lorawan":[],`, 1))
	if code != http.StatusOK || !strings.Contains(body, `"algorithmType":"Wifi"`) {
		t.Errorf("loraWifi: %d %s", code, body)
	}
	// The API still answers beside the MLS paths.
	if code, _ := httpStatus(t, base+"/api/v1/device/list", "root", "{}"); code != http.StatusOK {
		t.Errorf("device/list: %d", code)
	}

	// Learning: a GNSS fix (real NAV1 through the GNSS solver), then a scan
	// of unknown APs by the same device 20 s later.
	f := gnsstest.New()
	if _, err := geoImportOrbits(ctx, geo, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	const dev2 = "00-16-C0-01-F0-00-40-99"
	tc := f.T0 + 1500
	up := gnssUplinkPB(1, f.NAV1(tc, gnsstest.Options{AP: f.Near(80e3, 120)}), tc)
	resp, err := modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: dev2, Uplink: up})
	if err != nil || resp.Result.PositionSolution.GetAlgorithmType() != "gnss" {
		t.Fatalf("GNSS uplink: %v %v", resp, err)
	}
	fix := resp.Result.PositionSolution
	fresh := []wifi.Observation{{MAC: [6]byte{0, 0x58, 0, 0, 0, 1}, RSSI: -55, HasRSSI: true},
		{MAC: [6]byte{0, 0x58, 0, 0, 0, 2}, RSSI: -62, HasRSSI: true}, {MAC: [6]byte{0, 0x58, 0, 0, 0, 3}, RSSI: -70, HasRSSI: true}}
	scanTS := up.GetTimestamp() + 20
	resp, err = modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: dev2, Uplink: &mgsv1.UplinkMsg{Msgtype: "wifi",
		Payload: wifiPayload(t, wifi.FormatRSSIMAC, fresh), Timestamp: &scanTS}})
	if err != nil || resp.Result.PositionSolution != nil {
		t.Fatalf("scan of unknown APs: %v %v", resp, err)
	}
	macs := []string{"00:58:00:00:00:01", "00:58:00:00:00:02", "00:58:00:00:00:03"}
	var got *mgsv1.GetAccessPointsResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err = geo.GetAccessPoints(ctx, &mgsv1.GetAccessPointsRequest{Macs: macs})
		if err != nil {
			t.Fatal(err)
		}
		// The store is written before the solver's in-memory index; Total
		// counts the index, so 403 means the solver sees the new APs too.
		if len(got.AccessPoints) == 3 && got.Total == 403 || time.Now().After(deadline) {
			break
		}
	}
	if len(got.AccessPoints) != 3 || got.AccessPoints[0].Sources[0] != "learned" ||
		metres(fix.Llh[0], fix.Llh[1], got.AccessPoints[0].Latitude, got.AccessPoints[0].Longitude) > 0.01 {
		t.Fatalf("learned %v", got)
	}
	scanTS += 30
	resp, err = modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: dev2, Uplink: &mgsv1.UplinkMsg{Msgtype: "wifi",
		Payload: wifiPayload(t, wifi.FormatRSSIMAC, fresh), Timestamp: &scanTS}})
	if err != nil || resp.Result.PositionSolution == nil ||
		metres(f.TruthLLH.Lat, f.TruthLLH.Lon, resp.Result.PositionSolution.Llh[0], resp.Result.PositionSolution.Llh[1]) > 30 {
		t.Fatalf("fix from learned APs: %v %v", resp, err)
	}
	stop()

	// After a restart the database is loaded again.
	addrs, stop = startMgsd(t, dir, "--tokens", "root")
	defer stop()
	ctx, modem, geo = wifiClients(t, addrs["grpc"])
	if got, err := geo.GetAccessPoints(ctx, &mgsv1.GetAccessPointsRequest{}); err != nil || got.Total != 403 {
		t.Fatalf("after restart: %v %v", got, err)
	}
	fcnt := uint32(100)
	resp, err = modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Msgtype: "updf", Fcnt: &fcnt,
		Port: &port, Payload: wifiPayload(t, wifi.FormatRSSIMAC, obs), Timestamp: &ts}})
	if err != nil || resp.Result.PositionSolution.GetLlh()[0] != ps.Llh[0] {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	_ = lora.GPSToUnix
}

// geoImportOrbits uploads an orbit file in one message.
func geoImportOrbits(ctx context.Context, geo mgsv1.GeolocationServiceClient, data []byte) (*mgsv1.ImportOrbitsResponse, error) {
	st, err := geo.ImportOrbits(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&mgsv1.ImportOrbitsRequest{Name: "fixture.24n", Data: data}); err != nil {
		return nil, err
	}
	return st.CloseAndRecv()
}
