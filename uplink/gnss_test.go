package uplink_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/eval"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// gnssPipeline returns a pipeline whose GNSS solver is s and whose clock
// starts at GPS time gps.
func gnssPipeline(t testing.TB, s uplink.GNSSSolver, gps float64) *uplink.Pipeline {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := lora.GPSToTime(gps)
	var mu sync.Mutex
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	return uplink.New(db, uplink.Config{Now: now, GNSS: s, MaxPositions: 3})
}

// fixtureSolver is a gnss.Solver over the generated constellation.
func fixtureSolver(t testing.TB, f *gnsstest.Fixture) *gnss.Solver {
	t.Helper()
	s, err := gnss.New(f.Set, gnss.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var gnssDev = lora.MustParseEUI64("00-16-c0-01-f0-00-67-01")

// gnssUplink is an updf uplink on port 198 received 8 s after the capture.
func gnssUplink(fcnt uint32, payload []byte, capture float64) uplink.Message {
	return uplink.Message{Type: store.MsgUpdf, FCnt: fcnt, HasFCnt: true, Port: 198, HasPort: true, Payload: payload,
		Timestamp: lora.GPSToUnix(capture + 8)}
}

func withAP(m uplink.Message, p *geo.LLH) uplink.Message {
	m.GNSS.AssistLat, m.GNSS.AssistLon, m.GNSS.HasAssistPosition = p.Lat, p.Lon, true
	return m
}

func gnssHandle(t *testing.T, p *uplink.Pipeline, m uplink.Message) *uplink.Result {
	t.Helper()
	r, err := p.Handle(context.Background(), gnssDev, m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkFix checks a gnss position against the fixture.
func checkFix(t *testing.T, r *uplink.Result, f *gnsstest.Fixture, alg string, capture, maxH float64) {
	t.Helper()
	if r.Operation != uplink.OpGNSS {
		t.Errorf("operation %q", r.Operation)
	}
	pos := r.Position
	if pos == nil {
		t.Fatalf("no position; logs %v", logText(r))
	}
	if pos.Algorithm != alg {
		t.Errorf("algorithm %q, want %q", pos.Algorithm, alg)
	}
	h, v := geo.HorizontalVertical(f.TruthLLH, geo.ECEF(pos.ECEF))
	if h > maxH || math.Abs(v) > 3*maxH {
		t.Errorf("error H %.1f m V %.1f m, want H ≤ %g m", h, v, maxH)
	}
	llh := geo.ECEF(pos.ECEF).LLH()
	if math.Abs(llh.Lat-pos.LLH[0]) > 1e-9 || math.Abs(llh.Lon-pos.LLH[1]) > 1e-9 || math.Abs(llh.Height-pos.LLH[2]) > 1e-3 {
		t.Errorf("llh %v does not match ecef %v", pos.LLH, pos.ECEF)
	}
	if math.Abs(pos.CaptureTimeGPS-capture) > 0.05 {
		t.Errorf("capture_time_gps %.3f, want %.3f", pos.CaptureTimeGPS, capture)
	}
	if pos.GDOP <= 0 || pos.GDOP > 20 || pos.Accuracy <= 0 || pos.Accuracy > 100 {
		t.Errorf("gdop %.2f accuracy %.2f", pos.GDOP, pos.Accuracy)
	}
}

func logText(r *uplink.Result) string {
	var b strings.Builder
	for _, l := range r.Logs {
		b.WriteString(l.Level.String() + " " + l.Msg + "\n")
	}
	return b.String()
}

func hasLog(r *uplink.Result, level store.Level, substr string) bool {
	for _, l := range r.Logs {
		if l.Level == level && strings.Contains(l.Msg, substr) {
			return true
		}
	}
	return false
}

func aidp(t *testing.T, r *uplink.Result) geo.LLH {
	t.Helper()
	if r.Dnlink == nil || r.Dnlink.Port != 198 {
		t.Fatalf("dnlink %+v, want an aiding downlink on port 198; logs:\n%s", r.Dnlink, logText(r))
	}
	lat, lon, err := nav.DecodeAIDPDownlink(r.Dnlink.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return geo.LLH{Lat: lat, Lon: lon}
}

func TestGNSSNAVSolves(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 900
	p := gnssPipeline(t, fixtureSolver(t, f), tc+8)
	// The NAV's AP agrees with the caller's: no aiding downlink.
	nav1 := f.NAV1(tc, gnsstest.Options{AP: f.Near(20e3, 30)})
	r := gnssHandle(t, p, withAP(gnssUplink(1, nav1, tc), f.Near(30e3, 200)))
	checkFix(t, r, f, uplink.AlgorithmGNSS, tc, 5)
	if r.Dnlink != nil || r.Position.Time != lora.GPSToUnix(tc+8) {
		t.Errorf("dnlink %+v, timestamp %v", r.Dnlink, r.Position.Time)
	}
	if hasLog(r, store.LevelWarning, "not available") {
		t.Errorf("unexpected 'not available' warning: %s", logText(r))
	}
	// msgtype gnss with gnss_capture_time (60 s off) and no AP at all: the
	// device's last position is the assistance position.
	m := uplink.Message{Type: store.MsgGNSS, Payload: f.NAV1(tc+30, gnsstest.Options{}),
		GNSS: store.GNSSParams{CaptureTime: tc + 90, HasCaptureTime: true}}
	r = gnssHandle(t, p, m)
	checkFix(t, r, f, uplink.AlgorithmGNSS, tc+30, 5)
	// No AP in the NAV: aiding downlink with the solved position.
	if got := aidp(t, r); geo.GreatCircle(got, f.TruthLLH) > 8e3 {
		t.Errorf("aiding position %v is %.1f km off", got, geo.GreatCircle(got, f.TruthLLH)/1e3)
	}
	if !hasLog(r, store.LevelInfo, "the NAV carries no assistance position") {
		t.Errorf("aiding reason not logged: %s", logText(r))
	}
	dev, err := p.Device(context.Background(), gnssDev)
	if err != nil {
		t.Fatal(err)
	}
	if len(dev.Positions) != 2 || dev.Positions[1].CaptureTimeGPS != r.Position.CaptureTimeGPS {
		t.Errorf("position history %+v", dev.Positions)
	}
	// The history is bounded (MaxPositions 3).
	for i := range 3 {
		gnssHandle(t, p, gnssUplink(uint32(10+i), f.NAV1(tc+60+float64(i)*10, gnsstest.Options{AP: f.Near(1e3, 0)}), tc+60+float64(i)*10))
	}
	if dev, _ = p.Device(context.Background(), gnssDev); len(dev.Positions) != 3 {
		t.Errorf("%d positions kept, want 3", len(dev.Positions))
	}
}

func TestGNSSAidingRules(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 600
	for _, c := range []struct {
		name   string
		o      gnsstest.Options
		caller *geo.LLH
		reason string
	}{
		{"doppler error flag", gnsstest.Options{AP: f.Near(10e3, 0), Doppler: true, DopplerError: true}, nil, "Doppler-error flag"},
		{"far from caller", gnsstest.Options{AP: f.Near(10e3, 0)}, f.Near(170e3, 90), "from gnss_assist_position"},
		{"far from solution", gnsstest.Options{AP: f.Near(400e3, 180)}, f.Near(5e3, 0), "km from the solved position"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := gnssPipeline(t, fixtureSolver(t, f), tc)
			m := gnssUplink(1, f.NAV1(tc, c.o), tc)
			if c.caller != nil {
				m = withAP(m, c.caller)
			}
			r := gnssHandle(t, p, m)
			checkFix(t, r, f, uplink.AlgorithmGNSS, tc, 5)
			if got := aidp(t, r); geo.GreatCircle(got, f.TruthLLH) > 8e3 {
				t.Errorf("aiding position %.1f km off", geo.GreatCircle(got, f.TruthLLH)/1e3)
			}
			if !hasLog(r, store.LevelInfo, c.reason) {
				t.Errorf("reason %q not logged:\n%s", c.reason, logText(r))
			}
		})
	}
	// A pending modem request takes the downlink; the aiding waits.
	p := gnssPipeline(t, fixtureSolver(t, f), tc)
	if _, err := p.AddRequests(context.Background(), gnssDev, []store.Request{{Type: store.RequestGetInfo,
		Tags: []modemproto.Tag{modemproto.TagCharge}}}, 0, 0); err != nil {
		t.Fatal(err)
	}
	r := gnssHandle(t, p, withAP(gnssUplink(1, f.NAV1(tc, gnsstest.Options{}), tc), f.Near(9e3, 0)))
	checkFix(t, r, f, uplink.AlgorithmGNSS, tc, 5)
	if r.Dnlink == nil || r.Dnlink.Port != 199 || !hasLog(r, store.LevelInfo, "deferred") {
		t.Errorf("dnlink %+v; logs:\n%s", r.Dnlink, logText(r))
	}
}

func TestGNSSReqAid(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 600
	p := gnssPipeline(t, fixtureSolver(t, f), tc)
	// No assist position and no history: an error, no downlink.
	r := gnssHandle(t, p, gnssUplink(1, []byte{0x00}, tc))
	if r.Dnlink != nil || !hasLog(r, store.LevelError, "gnss_assist_position is required") || r.Operation != uplink.OpGNSS {
		t.Fatalf("REQAID without position: dnlink %+v, logs:\n%s", r.Dnlink, logText(r))
	}
	// With gnss_assist_position: D-GNSSLOC-AIDP, ahead of a pending request.
	if _, err := p.AddRequests(context.Background(), gnssDev, []store.Request{{Type: store.RequestGetInfo,
		Tags: []modemproto.Tag{modemproto.TagCharge}}}, 0, 0); err != nil {
		t.Fatal(err)
	}
	want := geo.LLH{Lat: -33.852482, Lon: 151.210686}
	r = gnssHandle(t, p, withAP(gnssUplink(2, []byte{0x00}, tc), &want))
	if got := aidp(t, r); math.Abs(got.Lat-want.Lat) > nav.APLatScale/2 || math.Abs(got.Lon-want.Lon) > nav.APLonScale/2 {
		t.Errorf("AIDP %v, want %v", got, want)
	}
	if len(r.Pending) != 1 || r.Position != nil {
		t.Errorf("pending %d, position %+v", len(r.Pending), r.Position)
	}
	// After a fix, the device's last position answers.
	gnssHandle(t, p, withAP(gnssUplink(3, f.NAV1(tc, gnsstest.Options{AP: f.Near(3e3, 0)}), tc), f.Near(3e3, 0)))
	r = gnssHandle(t, p, gnssUplink(4, []byte{0x00}, tc))
	if got := aidp(t, r); geo.GreatCircle(got, f.TruthLLH) > 8e3 {
		t.Errorf("AIDP from the last position is %.1f km off", geo.GreatCircle(got, f.TruthLLH)/1e3)
	}
}

func TestGNSSRejects(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 600
	p := gnssPipeline(t, fixtureSolver(t, f), tc)
	for i, c := range []struct {
		payload []byte
		m       func(uplink.Message) uplink.Message
		level   store.Level
		want    string
	}{
		{payload: mustHex(t, "a25e7200"), level: store.LevelError, want: "GNSS NAV2 message (first byte 0xa2) is not supported"},
		{payload: mustHex(t, "631052c0"), level: store.LevelError, want: "GNSS NAV3 message (first byte 0x63) is not supported"},
		{payload: mustHex(t, "0401"), level: store.LevelError, want: "neither U-GNSSLOC-REQAID nor a NAV"},
		{payload: mustHex(t, "01e2"), level: store.LevelError, want: "GNSS NAV message: nav: decode"},
		// Three satellites cannot give a fix.
		{payload: f.NAV1(tc, gnsstest.Options{AP: f.Near(1e3, 0), MaxSats: 3}), level: store.LevelWarning, want: "too few satellites"},
		// The capture time is 120 s off, but the caller claims 5 s.
		{payload: f.NAV1(tc, gnsstest.Options{AP: f.Near(1e3, 0)}), level: store.LevelWarning, want: "GNSS solve failed",
			m: func(m uplink.Message) uplink.Message {
				m.GNSS.CaptureTime, m.GNSS.HasCaptureTime, m.GNSS.CaptureTimeAccuracy = tc+120, true, 5
				return m
			}},
	} {
		m := gnssUplink(uint32(i+1), c.payload, tc)
		if c.m != nil {
			m = c.m(m)
		}
		r := gnssHandle(t, p, m)
		if r.Position != nil || !hasLog(r, c.level, c.want) {
			t.Errorf("%x: position %+v; want %v %q in:\n%s", c.payload, r.Position, c.level, c.want, logText(r))
		}
	}
}

func TestGNSSCaptureTimeAndModes(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 1200
	p := gnssPipeline(t, fixtureSolver(t, f), tc)
	// Accuracy below 16 s: the estimate alone places the capture.
	m := withAP(gnssUplink(1, f.NAV1(tc, gnsstest.Options{}), tc), f.Near(50e3, 10))
	m.GNSS.CaptureTime, m.GNSS.HasCaptureTime, m.GNSS.CaptureTimeAccuracy = tc+3, true, 5
	checkFix(t, gnssHandle(t, p, m), f, uplink.AlgorithmGNSS, tc, 5)
	// Doppler-only seed: no AP anywhere (new device).
	p = gnssPipeline(t, fixtureSolver(t, f), tc)
	checkFix(t, gnssHandle(t, p, gnssUplink(1, f.NAV1(tc, gnsstest.Options{Doppler: true}), tc)), f, uplink.AlgorithmGNSS, tc, 5)
	// 2D with five satellites and the true altitude.
	p = gnssPipeline(t, fixtureSolver(t, f), tc)
	m = withAP(gnssUplink(1, f.NAV1(tc, gnsstest.Options{MaxSats: 5}), tc), f.Near(20e3, 300))
	m.GNSS.Use2D, m.GNSS.AssistAltitude, m.GNSS.HasAssistAltitude = true, f.TruthLLH.Height, true
	r := gnssHandle(t, p, m)
	checkFix(t, r, f, uplink.AlgorithmGNSS, tc, 5)
	if d := math.Abs(r.Position.LLH[2] - f.TruthLLH.Height); d > 10 {
		t.Errorf("2D height off by %.1f m", d)
	}
	// A wrong caller AP (1000 km off) falls back to the NAV's own AP.
	p = gnssPipeline(t, fixtureSolver(t, f), tc)
	m = withAP(gnssUplink(1, f.NAV1(tc+30, gnsstest.Options{AP: f.Near(5e3, 0)}), tc+30), f.Near(1000e3, 270))
	r = gnssHandle(t, p, m)
	checkFix(t, r, f, uplink.AlgorithmGNSS, tc+30, 5)
	if !hasLog(r, store.LevelInfo, "solved from the NAV's assistance position instead") {
		t.Errorf("fallback not logged:\n%s", logText(r))
	}
	// The NAV's AP agrees with the fix but not with the caller: aiding.
	aidp(t, r)
}

// ngUplink is a GNSS-NG uplink on port 192.
func ngUplink(fcnt uint32, token uint8, last bool, navb []byte, capture float64) uplink.Message {
	h := nav.NGHeader{Token: token, Last: last}
	return uplink.Message{Type: store.MsgUpdf, FCnt: fcnt, HasFCnt: true, Port: 192, HasPort: true,
		Payload: append([]byte{h.Byte()}, navb...), Timestamp: lora.GPSToUnix(capture + 10)}
}

func TestGNSSNGGroups(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 300
	p := gnssPipeline(t, fixtureSolver(t, f), tc)
	ap := f.Near(30e3, 45)
	// Five satellites per scan, three scans 15 s apart.
	scan := func(i int) []byte {
		return f.NAV1(tc+15*float64(i), gnsstest.Options{AP: ap, MaxSats: 5, NoiseM: 3, Seed: uint64(i)})
	}
	for i := range 2 {
		r := gnssHandle(t, p, ngUplink(uint32(i+1), 7, false, scan(i), tc+15*float64(i)))
		if r.Position != nil || r.Operation != uplink.OpGNSS || len(r.Logs) != 0 {
			t.Fatalf("NAV %d of the group: position %+v, logs %s", i, r.Position, logText(r))
		}
	}
	r := gnssHandle(t, p, ngUplink(3, 7, true, scan(2), tc+30))
	checkFix(t, r, f, uplink.AlgorithmGNSSNG, tc+30, 10)
	if len(r.Position.CaptureTimesGPS) != 1 || math.Abs(r.Position.CaptureTimesGPS[0]-(tc+30)) > 0.05 || r.Dnlink != nil {
		t.Errorf("capture_times_gps %v, dnlink %+v", r.Position.CaptureTimesGPS, r.Dnlink)
	}
	// The next group of the same token is solved with the previous one.
	gnssHandle(t, p, ngUplink(4, 7, false, scan(10), tc+150))
	r = gnssHandle(t, p, ngUplink(5, 7, true, scan(11), tc+165))
	checkFix(t, r, f, uplink.AlgorithmGNSSNG, tc+165, 10)
	if got := r.Position.CaptureTimesGPS; len(got) != 2 || math.Abs(got[0]-(tc+30)) > 0.05 || math.Abs(got[1]-(tc+165)) > 0.05 {
		t.Errorf("sliding solve: capture_times_gps %v", got)
	}
	// A new token drops an unfinished group and restarts.
	gnssHandle(t, p, ngUplink(6, 7, false, scan(20), tc+300))
	r = gnssHandle(t, p, ngUplink(7, 8, true, scan(21), tc+315))
	if !hasLog(r, store.LevelWarning, "1 NAV(s) dropped without their last NAV") {
		t.Errorf("token change not logged:\n%s", logText(r))
	}
	checkFix(t, r, f, uplink.AlgorithmGNSSNG, tc+315, 15)
	if len(r.Position.CaptureTimesGPS) != 1 {
		t.Errorf("capture_times_gps %v after a token change", r.Position.CaptureTimesGPS)
	}
	dev, err := p.Device(context.Background(), gnssDev)
	if err != nil {
		t.Fatal(err)
	}
	if len(dev.Sessions[uplink.SessionGNSSNG]) == 0 {
		t.Error("no GNSS-NG session stored")
	}
	// msgtype gnssng with a bad token and a NAV3.
	r = gnssHandle(t, p, uplink.Message{Type: store.MsgGNSSNG, Payload: mustHex(t, "8101")})
	if !hasLog(r, store.LevelError, "gnss-ng token") {
		t.Errorf("token 1: %s", logText(r))
	}
	r = gnssHandle(t, p, uplink.Message{Type: store.MsgGNSSNG, Payload: mustHex(t, "88631052c0")})
	if !hasLog(r, store.LevelError, "NAV3") || r.Position != nil {
		t.Errorf("NAV3: %s", logText(r))
	}
}

// TestGNSSNoSolverData: a gnssdata service without imports logs an ERROR.
func TestGNSSNoOrbitData(t *testing.T) {
	f := gnsstest.New()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "orbits.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := gnssdata.Open(context.Background(), db, gnssdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tc := f.T0 + 60
	p := gnssPipeline(t, svc, tc)
	r := gnssHandle(t, p, gnssUplink(1, f.NAV1(tc, gnsstest.Options{AP: f.Near(1e3, 0)}), tc))
	if r.Position != nil || !hasLog(r, store.LevelError, "no orbit data imported") {
		t.Errorf("logs:\n%s", logText(r))
	}
	if _, err := svc.Import(context.Background(), "fixture.n", gnssdata.FormatAuto, f.RINEXNav()); err != nil {
		t.Fatal(err)
	}
	checkFix(t, gnssHandle(t, p, gnssUplink(2, f.NAV1(tc, gnsstest.Options{AP: f.Near(1e3, 0)}), tc)), f, uplink.AlgorithmGNSS, tc, 5)
}

// TestGNSSSharedRINEX sends NAV1 snapshots built from the 0759 observation
// file through the pipeline, with the orbit service over its navigation file.
func TestGNSSSharedRINEX(t *testing.T) {
	dir := sharedGNSS(t)
	obsF, err := os.Open(filepath.Join(dir, "rtklib-0759", "07590920.05o"))
	if err != nil {
		t.Fatal(err)
	}
	defer obsF.Close()
	obs, err := rinex.ParseObs(obsF)
	if err != nil {
		t.Fatal(err)
	}
	navData, err := os.ReadFile(filepath.Join(dir, "rtklib-0759", "07590920.05n"))
	if err != nil {
		t.Fatal(err)
	}
	nf, err := rinex.ParseNav(strings.NewReader(string(navData)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "orbits.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := gnssdata.Open(context.Background(), db, gnssdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import(context.Background(), "07590920.05n", gnssdata.FormatAuto, navData); err != nil {
		t.Fatal(err)
	}
	snaps, err := eval.Snapshots(obs, nf, eval.Config{Seed: 1, APErrorKm: 100, TimeErrorS: 60, MaxEpochs: 12})
	if err != nil {
		t.Fatal(err)
	}
	truth := geo.ECEF(obs.ApproxPosition).LLH()
	p := gnssPipeline(t, svc, snaps[0].Time)
	for i, s := range snaps {
		m := uplink.Message{Type: store.MsgGNSS, Payload: s.NAV, Timestamp: lora.GPSToUnix(s.Estimate)}
		if i%2 == 1 {
			m = withAP(m, &s.AP)
		}
		r := gnssHandle(t, p, m)
		if r.Position == nil {
			t.Fatalf("epoch %d: no position:\n%s", i, logText(r))
		}
		if h, _ := geo.HorizontalVertical(truth, geo.ECEF(r.Position.ECEF)); h > 8 {
			t.Errorf("epoch %d: horizontal error %.1f m", i, h)
		}
		if math.Abs(r.Position.CaptureTimeGPS-s.Time) > 0.01 {
			t.Errorf("epoch %d: capture time off by %.3f s", i, r.Position.CaptureTimeGPS-s.Time)
		}
	}
}

func sharedGNSS(t testing.TB) string {
	return sharedtest.Path(t, "testdata", "gnss")
}

func BenchmarkGNSSUplink(b *testing.B) {
	f := gnsstest.New()
	tc := f.T0 + 600
	p := gnssPipeline(b, fixtureSolver(b, f), tc)
	m := withAP(gnssUplink(1, f.NAV1(tc, gnsstest.Options{AP: f.Near(20e3, 0)}), tc), f.Near(20e3, 0))
	b.ReportAllocs()
	for b.Loop() {
		m.FCnt++
		if _, err := p.Handle(context.Background(), gnssDev, m); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzGNSSUplink sends arbitrary payloads on the GNSS and GNSS-NG ports:
// the pipeline never fails or panics on them (problems are log messages),
// and any position it reports is finite.
func FuzzGNSSUplink(f *testing.F) {
	fx := gnsstest.New()
	tc := fx.T0 + 600
	f.Add(uint8(198), fx.NAV1(tc, gnsstest.Options{AP: fx.Near(1e3, 0)}))
	f.Add(uint8(198), fx.NAV1(tc, gnsstest.Options{Doppler: true, DopplerError: true}))
	f.Add(uint8(198), []byte{0x00})
	f.Add(uint8(192), append([]byte{0x87}, fx.NAV1(tc, gnsstest.Options{MaxSats: 5})...))
	f.Add(uint8(192), append([]byte{0x07}, fx.NAV1(tc, gnsstest.Options{MaxSats: 5})...))
	f.Add(uint8(198), mustHex(f, "a25e7200"))
	p := gnssPipeline(f, fixtureSolver(f, fx), tc)
	fcnt := uint32(0)
	f.Fuzz(func(t *testing.T, port uint8, payload []byte) {
		if port != 192 {
			port = 198
		}
		if len(payload) == 0 || len(payload) > 255 {
			return
		}
		fcnt++
		r, err := p.Handle(context.Background(), gnssDev, uplink.Message{Type: store.MsgUpdf, FCnt: fcnt, HasFCnt: true, Port: port,
			HasPort: true, Payload: payload, Timestamp: lora.GPSToUnix(tc + 5)})
		if err != nil {
			t.Fatal(err)
		}
		if pos := r.Position; pos != nil {
			for _, v := range append(pos.ECEF[:], pos.LLH[0], pos.LLH[1], pos.GDOP, pos.Accuracy) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite position %+v", pos)
				}
			}
		}
	})
}
