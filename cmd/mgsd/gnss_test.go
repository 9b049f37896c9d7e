package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/sharedtest"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/eval"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// gnssClients dials mgsd's gRPC address.
func gnssClients(t *testing.T, addr string) (mgsv1.ModemServiceClient, mgsv1.GeolocationServiceClient) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return mgsv1.NewModemServiceClient(cc), mgsv1.NewGeolocationServiceClient(cc)
}

// importOrbits streams a file through ImportOrbits in 64 KiB chunks.
func importOrbits(t *testing.T, geoc mgsv1.GeolocationServiceClient, name string, data []byte) *mgsv1.ImportOrbitsResponse {
	t.Helper()
	st, err := geoc.ImportOrbits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 64 << 10 {
		m := &mgsv1.ImportOrbitsRequest{Data: data[i:min(i+64<<10, len(data))]}
		if i == 0 {
			m.Name = name
		}
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	res, err := st.CloseAndRecv()
	if err != nil {
		t.Fatalf("ImportOrbits %s: %v", name, err)
	}
	return res
}

// gnssUplinkPB is a port-198 uplink received 8 s after the capture.
func gnssUplinkPB(fcnt uint32, payload []byte, capture float64) *mgsv1.UplinkMsg {
	port, ts := uint32(198), lora.GPSToUnix(capture+8)
	return &mgsv1.UplinkMsg{Msgtype: "updf", Fcnt: &fcnt, Port: &port, Payload: hex.EncodeToString(payload), Timestamp: &ts}
}

func horizontal(t *testing.T, truth geo.LLH, p *mgsv1.PositionSolution) float64 {
	t.Helper()
	if p == nil || len(p.Ecef) != 3 {
		t.Fatalf("no position_solution: %v", p)
	}
	h, _ := geo.HorizontalVertical(truth, geo.ECEF{p.Ecef[0], p.Ecef[1], p.Ecef[2]})
	return h
}

// TestGNSSEndToEndFixture imports the generated constellation through
// ImportOrbits, sends a NAV1 uplink on port 198 over real gRPC and gets a
// position_solution (also streamed by WatchEvents and kept in the device
// history), then solves through the LoRa Cloud HTTP endpoint, and checks
// that the orbit data survives a restart.
func TestGNSSEndToEndFixture(t *testing.T) {
	f := gnsstest.New()
	dir := t.TempDir()
	addrs, stop := startMgsd(t, dir)
	modem, geoc := gnssClients(t, addrs["grpc"])

	res := importOrbits(t, geoc, "fixture.24n", f.RINEXNav())
	if res.Duplicate || res.Import.GpsEphemerides != 10 {
		t.Fatalf("import %v", res)
	}
	st, err := geoc.GetOrbitStatus(context.Background(), &mgsv1.GetOrbitStatusRequest{})
	if err != nil || st.EphemerisSatellites != 10 || st.AgeSeconds < 86400 {
		t.Fatalf("status %v, %v", st, err)
	}

	watchCtx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	watch, err := modem.WatchEvents(watchCtx, &mgsv1.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Header(); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	tc := f.T0 + 1500
	up := gnssUplinkPB(1, f.NAV1(tc, gnsstest.Options{AP: f.Near(80e3, 120)}), tc)
	resp, err := modem.SendUplink(context.Background(), &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: up})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Result
	ps := r.PositionSolution
	if h := horizontal(t, f.TruthLLH, ps); h > 5 {
		t.Errorf("horizontal error %.1f m", h)
	}
	if r.Operation != "gnss" || ps.AlgorithmType != "gnss" || math.Abs(ps.CaptureTimeGps-tc) > 0.05 || ps.Gdop <= 0 || ps.Accuracy <= 0 ||
		ps.Timestamp != up.GetTimestamp() || r.Dnlink != nil {
		t.Errorf("response %v", r)
	}
	ev, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Response.GetPositionSolution().GetCaptureTimeGps() != ps.CaptureTimeGps {
		t.Errorf("WatchEvents: %v", ev)
	}
	// A NAV without assistance position: fix from the last position, and
	// the aiding downlink D-GNSSLOC-AIDP on port 198.
	resp, err = modem.SendUplink(context.Background(), &mgsv1.SendUplinkRequest{Deveui: devEUI,
		Uplink: gnssUplinkPB(2, f.NAV1(tc+60, gnsstest.Options{}), tc+60)})
	if err != nil {
		t.Fatal(err)
	}
	if h := horizontal(t, f.TruthLLH, resp.Result.PositionSolution); h > 5 {
		t.Errorf("second fix: horizontal error %.1f m", h)
	}
	dn := resp.Result.Dnlink
	if dn == nil || dn.Port != 198 {
		t.Fatalf("dnlink %v", dn)
	}
	b, _ := hex.DecodeString(dn.Payload)
	if lat, lon, err := nav.DecodeAIDPDownlink(b); err != nil || geo.GreatCircle(geo.LLH{Lat: lat, Lon: lon}, f.TruthLLH) > 8e3 {
		t.Errorf("AIDP %s: %v %v %v", dn.Payload, lat, lon, err)
	}
	info, err := modem.GetDeviceInfo(context.Background(), &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.Results[0].GetInfo().GetPositions()); n != 2 {
		t.Errorf("%d positions in the device history", n)
	}

	// The LoRa Cloud solve endpoint over HTTP.
	body := fmt.Sprintf(`{"payload":%q,"gnss_capture_time":%v,"gnss_assist_position":[47.3,8.7]}`,
		hex.EncodeToString(f.NAV1(tc, gnsstest.Options{})), tc+5)
	code, env := httpDo(t, http.MethodPost, "http://"+addrs["http"]+"/api/v1/solve/gnss_lr1110_singleframe", "", body)
	var result struct {
		ECEF           []float64 `json:"ecef"`
		CaptureTimeGPS float64   `json:"capture_time_gps"`
	}
	if code != http.StatusOK || json.Unmarshal(env["result"], &result) != nil || len(result.ECEF) != 3 {
		t.Fatalf("HTTP solve: %d %s", code, env["errors"])
	}
	if h, _ := geo.HorizontalVertical(f.TruthLLH, geo.ECEF(result.ECEF)); h > 5 || math.Abs(result.CaptureTimeGPS-tc) > 0.05 {
		t.Errorf("HTTP solve: H %.1f m, capture time %v", h, result.CaptureTimeGPS)
	}
	cancelWatch()
	stop()

	// After a restart the orbit data is loaded from the store.
	addrs, stop = startMgsd(t, dir)
	defer stop()
	modem, geoc = gnssClients(t, addrs["grpc"])
	st, err = geoc.GetOrbitStatus(context.Background(), &mgsv1.GetOrbitStatusRequest{})
	if err != nil || len(st.Imports) != 1 || st.Imports[0].Name != "fixture.24n" {
		t.Fatalf("status after restart: %v, %v", st, err)
	}
	resp, err = modem.SendUplink(context.Background(), &mgsv1.SendUplinkRequest{Deveui: devEUI,
		Uplink: gnssUplinkPB(3, f.NAV1(tc+120, gnsstest.Options{AP: f.Near(10e3, 0)}), tc+120)})
	if err != nil {
		t.Fatal(err)
	}
	if h := horizontal(t, f.TruthLLH, resp.Result.PositionSolution); h > 5 {
		t.Errorf("after restart: horizontal error %.1f m", h)
	}
}

// TestGNSSEndToEndRINEX imports the shared RINEX navigation file through
// ImportOrbits and sends NAV1 snapshots built from epochs of the 0759
// observation file (eval helpers) as port-198 uplinks over real gRPC; every
// position_solution must be within the accuracy bars of the surveyed
// station position.
func TestGNSSEndToEndRINEX(t *testing.T) {
	dir := sharedRTKLIBDir(t)
	navData, err := os.ReadFile(filepath.Join(dir, "07590920.05n"))
	if err != nil {
		t.Fatal(err)
	}
	obsF, err := os.Open(filepath.Join(dir, "07590920.05o"))
	if err != nil {
		t.Fatal(err)
	}
	defer obsF.Close()
	obs, err := rinex.ParseObs(obsF)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := rinex.ParseNav(strings.NewReader(string(navData)))
	if err != nil {
		t.Fatal(err)
	}
	truth := geo.ECEF(obs.ApproxPosition).LLH()

	addrs, stop := startMgsd(t, t.TempDir())
	defer stop()
	modem, geoc := gnssClients(t, addrs["grpc"])
	res := importOrbits(t, geoc, "07590920.05n", navData)
	if res.Import.GpsEphemerides < 20 || !res.Import.Iono || res.Import.Version != 2.1 {
		t.Fatalf("import %v", res)
	}
	// Every 10th epoch, AP up to 100 km off, uplink time up to 60 s off.
	snaps, err := eval.Snapshots(obs, nf, eval.Config{Seed: 4, APErrorKm: 100, TimeErrorS: 60})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; i < len(snaps); i += 10 {
		s := snaps[i]
		port, fcnt, ts := uint32(198), uint32(i+1), lora.GPSToUnix(s.Estimate)
		up := &mgsv1.UplinkMsg{Msgtype: "updf", Fcnt: &fcnt, Port: &port, Payload: hex.EncodeToString(s.NAV), Timestamp: &ts}
		resp, err := modem.SendUplink(context.Background(), &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: up})
		if err != nil {
			t.Fatal(err)
		}
		ps := resp.Result.PositionSolution
		if ps == nil {
			t.Fatalf("epoch %d: no position; logs %v", i, resp.Result.LogMessages)
		}
		// Noise-free snapshots: the eval bar is p95 ≤ 8 m (median ≤ 3 m).
		if h := horizontal(t, truth, ps); h > 8 {
			t.Errorf("epoch %d: horizontal error %.2f m", i, h)
		}
		if math.Abs(ps.CaptureTimeGps-s.Time) > 0.01 {
			t.Errorf("epoch %d: capture time off by %.4f s", i, ps.CaptureTimeGps-s.Time)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d uplinks", n)
	}
}

func sharedRTKLIBDir(t *testing.T) string {
	return sharedtest.Path(t, "testdata", "gnss", "rtklib-0759")
}
