package server_test

import (
	"context"
	"encoding/hex"
	"math"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// newGeoGRPC serves a GeolocationService (clock at GPS time gps) over
// bufconn, with static token "root" and a read-only token.
func newGeoGRPC(t *testing.T, gps float64) (mgsv1.GeolocationServiceClient, string) {
	t.Helper()
	return newGeoGRPCRetention(t, gps, 0)
}

// newGeoGRPCRetention is newGeoGRPC with an orbit retention.
func newGeoGRPCRetention(t *testing.T, gps float64, retention time.Duration) (mgsv1.GeolocationServiceClient, string) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(context.Background(), db, auth.Options{Static: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := a.Add(context.Background(), "ro", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return lora.GPSToTime(gps) }
	svc, err := gnssdata.Open(context.Background(), db, gnssdata.Options{Now: now, Retention: retention})
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{GNSS: svc}), server.Options{Auth: a, GNSS: svc})
	g.Geolocation.Now = now
	lis := bufconn.Listen(1 << 20)
	go g.Server.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Server.Stop()
		db.Close()
	})
	return mgsv1.NewGeolocationServiceClient(conn), ro.Token
}

// importFile streams data in chunks of size n.
func importFile(ctx context.Context, c mgsv1.GeolocationServiceClient, name, format string, data []byte, n int) (*mgsv1.ImportOrbitsResponse, error) {
	st, err := c.ImportOrbits(ctx)
	if err != nil {
		return nil, err
	}
	first := true
	for len(data) > 0 || first {
		k := min(n, len(data))
		m := &mgsv1.ImportOrbitsRequest{Data: data[:k]}
		if first {
			m.Name, m.Format = name, format
			first = false
		}
		if err := st.Send(m); err != nil {
			break // the server ended the stream; CloseAndRecv has the status
		}
		data = data[k:]
	}
	return st.CloseAndRecv()
}

func f64(v float64) *float64 { return &v }

func TestGeolocationService(t *testing.T) {
	f := gnsstest.New()
	tc := f.T0 + 420
	geoc, ro := newGeoGRPC(t, tc+10)
	root := with("root")
	navHex := hex.EncodeToString(f.NAV1(tc, gnsstest.Options{AP: f.Near(25e3, 80)}))
	single := &mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: navHex}}}

	// Before any import: FAILED_PRECONDITION.
	if _, err := geoc.SolveGnss(root, single); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("solve without orbit data: %v", err)
	}
	// Import in 700-byte chunks; a read token may not import.
	if _, err := importFile(with(ro), geoc, "fixture.24n", "", f.RINEXNav(), 700); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("import with a read token: %v", err)
	}
	res, err := importFile(root, geoc, "fixture.24n", "", f.RINEXNav(), 700)
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.Import.GpsEphemerides != 10 || res.Import.Format != "rinex" || res.Import.Size != int64(len(f.RINEXNav())) ||
		res.Import.FromGps != f.T0 || res.Import.Name != "fixture.24n" {
		t.Fatalf("import %v", res)
	}
	if res, err = importFile(root, geoc, "again", "rinex", f.RINEXNav(), 1<<20); err != nil || !res.Duplicate {
		t.Fatalf("re-import: %v %v", res, err)
	}
	st, err := geoc.GetOrbitStatus(with(ro), &mgsv1.GetOrbitStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Imports) != 1 || len(st.Satellites) != 10 || st.ValidNow != 10 || st.EphemerisSatellites != 10 ||
		math.Abs(st.AgeSeconds-430) > 1e-6 || st.Satellites[0].Sat != "G02" || st.Satellites[0].Constellation != "gps" {
		t.Fatalf("status %v", st)
	}

	check := func(name string, resp *mgsv1.SolveGnssResponse, capture, maxH float64) {
		t.Helper()
		s := resp.GetSolution()
		if s == nil {
			t.Fatalf("%s: no solution: %v", name, resp.Errors)
		}
		h, _ := geo.HorizontalVertical(f.TruthLLH, geo.ECEF{s.Ecef[0], s.Ecef[1], s.Ecef[2]})
		if h > maxH {
			t.Errorf("%s: horizontal error %.1f m", name, h)
		}
		if math.Abs(s.CaptureTimeGps-capture) > 0.05 || math.Abs(s.CaptureTimeUtc-lora.GPSToUnix(s.CaptureTimeGps)) > 1e-6 {
			t.Errorf("%s: capture time %.3f (utc %.3f), want %.3f", name, s.CaptureTimeGps, s.CaptureTimeUtc, capture)
		}
		if s.Gdop <= 0 || s.Accuracy <= 0 || s.NumSvs < 4 || len(s.Llh) != 3 {
			t.Errorf("%s: %v", name, s)
		}
	}
	// NAV payload, capture time from the server clock (10 s later).
	resp, err := geoc.SolveGnss(root, single)
	if err != nil {
		t.Fatal(err)
	}
	check("nav", resp, tc, 5)
	// Plain measurements, no time indicator: estimate ± accuracy.
	var ms []*mgsv1.GnssMeasurement
	for _, m := range f.Measurements(tc, gnsstest.Options{}) {
		ms = append(ms, &mgsv1.GnssMeasurement{Constellation: "gps", Prn: uint32(m.Sat.PRN), CodePhaseMs: m.CodePhaseMs, Cn0: f64(m.CN0)})
	}
	resp, err = geoc.SolveGnss(root, &mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Measurements: ms}},
		GnssCaptureTime: f64(tc - 25), GnssCaptureTimeAccuracy: f64(30), GnssAssistPosition: []float64{47.5, 9.2}})
	if err != nil {
		t.Fatal(err)
	}
	check("measurements", resp, tc, 5)
	// Multi-frame: two captures of five satellites, 20 s apart.
	caps := []*mgsv1.GnssCapture{
		{Payload: hex.EncodeToString(f.NAV1(tc, gnsstest.Options{MaxSats: 5, AP: f.Near(5e3, 0)})), GnssCaptureTime: f64(tc + 5)},
		{Payload: hex.EncodeToString(f.NAV1(tc+20, gnsstest.Options{MaxSats: 5, AP: f.Near(5e3, 0)})), GnssCaptureTime: f64(tc + 25)},
	}
	_, err = geoc.SolveGnss(with(ro), &mgsv1.SolveGnssRequest{Captures: caps})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("solve with a read token: %v", err)
	}
	if resp, err = geoc.SolveGnss(root, &mgsv1.SolveGnssRequest{Captures: caps}); err != nil {
		t.Fatal(err)
	}
	check("multi-frame", resp, tc+20, 10)
	if got := resp.Solution.CaptureTimesGps; len(got) != 2 || math.Abs(got[0]-tc) > 0.05 {
		t.Errorf("capture_times_gps %v", got)
	}
	// A wrong assistance position falls back to the NAV's own.
	resp, err = geoc.SolveGnss(root, &mgsv1.SolveGnssRequest{Captures: single.Captures, GnssAssistPosition: []float64{40, 0}})
	if err != nil {
		t.Fatal(err)
	}
	check("fallback", resp, tc, 5)
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "solved from the NAV's assistance position") {
		t.Errorf("warnings %q", resp.Warnings)
	}
	// No fix: OK with errors.
	few := hex.EncodeToString(f.NAV1(tc, gnsstest.Options{MaxSats: 3, AP: f.Near(1e3, 0)}))
	resp, err = geoc.SolveGnss(root, &mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: few}}})
	if err != nil || resp.Solution != nil || len(resp.Errors) != 1 || !strings.Contains(resp.Errors[0], "too few satellites") {
		t.Errorf("three satellites: %v, %v", resp, err)
	}
	// Malformed requests.
	for _, c := range []struct {
		req  *mgsv1.SolveGnssRequest
		want string
	}{
		{&mgsv1.SolveGnssRequest{}, "captures: at least one"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: "zz"}}}, "captures[0].payload: not hex"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: "a25e7200"}}}, "NAV2 message (first byte 0xa2)"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: "631052c0"}}}, "NAV3"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: "00"}}}, "U-GNSSLOC-REQAID"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: "01e2"}}}, "nav: decode"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: navHex, Measurements: ms}}}, "either payload or measurements"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{}}}, "a payload or measurements are required"},
		{&mgsv1.SolveGnssRequest{Captures: single.Captures, GnssUse_2DSolver: true}, "gnss_assist_altitude: required"},
		{&mgsv1.SolveGnssRequest{Captures: single.Captures, GnssAssistPosition: []float64{1}}, "gnss_assist_position"},
		{&mgsv1.SolveGnssRequest{Captures: single.Captures, GnssCaptureTimeAccuracy: f64(-1)}, "gnss_capture_time_accuracy"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Measurements: []*mgsv1.GnssMeasurement{{Constellation: "glonass", Prn: 1}}}}},
			"measurements[0].constellation"},
		{&mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Measurements: []*mgsv1.GnssMeasurement{{Constellation: "gps", Prn: 3, CodePhaseMs: 1}}}}},
			"code_phase_ms: 1 is outside [0, 1)"},
		{&mgsv1.SolveGnssRequest{Captures: make([]*mgsv1.GnssCapture, 17)}, "at most 16"},
	} {
		_, err := geoc.SolveGnss(root, c.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want InvalidArgument with %q", c.req, err, c.want)
		}
	}
	// Import errors.
	for _, c := range []struct {
		name, format string
		data         []byte
		want         string
	}{
		{"x", "", []byte("hello"), "neither a RINEX navigation file nor a YUMA almanac"},
		{"x", "sp3", f.RINEXNav(), "format"},
		{"x", "", nil, "the file is empty"},
	} {
		if _, err := importFile(root, geoc, c.name, c.format, c.data, 100); status.Code(err) != codes.InvalidArgument ||
			!strings.Contains(err.Error(), c.want) {
			t.Errorf("import %q: %v, want %q", c.data, err, c.want)
		}
	}
	// Name in a later message.
	stream, err := geoc.ImportOrbits(root)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&mgsv1.ImportOrbitsRequest{Name: "a", Data: []byte("x")})
	stream.Send(&mgsv1.ImportOrbitsRequest{Name: "b", Data: []byte("y")})
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("name in the second message: %v", err)
	}
}

func TestGeolocationCapabilities(t *testing.T) {
	sd := mgsv1.GeolocationService_ServiceDesc
	want := map[string]auth.Capability{"SolveGnss": auth.CapUplink, "GetOrbitStatus": auth.CapRead, "ImportOrbits": auth.CapDevices,
		"DeleteOrbitImports": auth.CapDevices}
	for n, c := range want {
		if got, ok := server.MethodCaps["/"+sd.ServiceName+"/"+n]; !ok || got != c {
			t.Errorf("%s: capability %v (listed %v), want %v", n, got, ok, c)
		}
	}
}

func TestGeolocationWithoutGNSS(t *testing.T) {
	g := server.NewGeolocation(nil, nil)
	if _, err := g.SolveGnss(context.Background(), &mgsv1.SolveGnssRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("SolveGnss without a GNSS service: %v", err)
	}
	if _, err := g.GetOrbitStatus(context.Background(), &mgsv1.GetOrbitStatusRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("GetOrbitStatus without a GNSS service: %v", err)
	}
	if _, err := g.DeleteOrbitImports(context.Background(), &mgsv1.DeleteOrbitImportsRequest{Ids: []uint64{1}}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("DeleteOrbitImports without a GNSS service: %v", err)
	}
}

// TestOrbitRetentionAndDelete: pruned imports in ImportOrbits, the
// retention in GetOrbitStatus, FAILED_PRECONDITION for an expired file,
// and DeleteOrbitImports.
func TestOrbitRetentionAndDelete(t *testing.T) {
	const day = 86400.0
	f := gnsstest.New()
	geoc, ro := newGeoGRPCRetention(t, f.T0+30*day, gnssdata.DefaultRetention)
	root := with("root")
	for _, file := range []struct {
		name string
		data []byte
	}{{"day0.nav", f.RINEXNav()}, {"day0.alm", f.YUMA()}} {
		if _, err := importFile(root, geoc, file.name, "", file.data, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	res, err := importFile(root, geoc, "day20.nav", "", f.Shifted(20).RINEXNav(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if res.Import.Id != 3 || res.Import.DataEndGps != f.T0+20*day+7200 || len(res.Pruned) != 1 || res.Pruned[0].Id != 1 ||
		res.Pruned[0].Name != "day0.nav" || res.Pruned[0].DataEndGps != f.T0+7200 {
		t.Fatalf("import with pruning: %v", res)
	}
	if _, err := importFile(root, geoc, "day1.nav", "", f.Shifted(1).RINEXNav(), 1<<20); status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(err.Error(), "retention") {
		t.Fatalf("import of an expired file: %v", err)
	}
	st, err := geoc.GetOrbitStatus(with(ro), &mgsv1.GetOrbitStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Imports) != 2 || st.Imports[0].Id != 2 || st.Imports[0].DataEndGps != f.T0 || st.RetentionSeconds != 14*day ||
		st.RetainFromGps != f.T0+6*day+7200 {
		t.Fatalf("status %v", st)
	}

	if _, err := geoc.DeleteOrbitImports(with(ro), &mgsv1.DeleteOrbitImportsRequest{Ids: []uint64{2}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("delete with a read token: %v", err)
	}
	del, err := geoc.DeleteOrbitImports(root, &mgsv1.DeleteOrbitImportsRequest{Ids: []uint64{3, 42, 3, 42, 1}})
	if err != nil || del.Deleted != 1 || len(del.NotFound) != 2 || del.NotFound[0] != 42 || del.NotFound[1] != 1 {
		t.Fatalf("delete: %v, %v", del, err)
	}
	if st, err = geoc.GetOrbitStatus(root, &mgsv1.GetOrbitStatusRequest{}); err != nil || len(st.Imports) != 1 || st.Imports[0].Id != 2 ||
		st.EphemerisSatellites != 0 || st.RetainFromGps != f.T0-14*day {
		t.Fatalf("status after delete: %v, %v", st, err)
	}
	for _, ids := range [][]uint64{nil, make([]uint64, server.MaxOrbitImportIDs+1)} {
		if _, err := geoc.DeleteOrbitImports(root, &mgsv1.DeleteOrbitImportsRequest{Ids: ids}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("delete of %d ids: %v", len(ids), err)
		}
	}
}

func TestGeolocationNotRegisteredWithoutGNSS(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{})
	if g.Geolocation != nil {
		t.Fatal("Geolocation set without Options.GNSS")
	}
	if _, ok := g.Server.GetServiceInfo()[mgsv1.GeolocationService_ServiceDesc.ServiceName]; ok {
		t.Fatal("GeolocationService registered without Options.GNSS")
	}
}

// BenchmarkSolveGnss is one single-frame NAV1 solve through the service
// (hex decode, NAV decode, solve, conversion), as the HTTP endpoints call it.
func BenchmarkSolveGnss(b *testing.B) {
	f := gnsstest.New()
	db, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc, err := gnssdata.Open(context.Background(), db, gnssdata.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Import(context.Background(), "nav", gnssdata.FormatAuto, f.RINEXNav()); err != nil {
		b.Fatal(err)
	}
	g := server.NewGeolocation(svc, nil)
	tc := f.T0 + 300
	req := &mgsv1.SolveGnssRequest{Captures: []*mgsv1.GnssCapture{{Payload: hex.EncodeToString(f.NAV1(tc, gnsstest.Options{AP: f.Near(30e3, 10)}))}},
		GnssCaptureTime: f64(tc + 10)}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := g.SolveGnss(context.Background(), req)
		if err != nil || resp.Solution == nil {
			b.Fatal(resp, err)
		}
	}
}
