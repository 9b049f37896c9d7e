package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/gnssdata"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
	"github.com/openmgs/openmgs/wifidb"
)

// newWiFiGRPC serves GeolocationService with an access-point database
// (withWiFi) over bufconn; tokens "root" (static) and the returned
// read-only one.
func newWiFiGRPC(t *testing.T, withWiFi bool) (mgsv1.GeolocationServiceClient, string) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := auth.New(ctx, db, auth.Options{Static: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := a.Add(ctx, "ro", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	gsvc, err := gnssdata.Open(ctx, db, gnssdata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{Auth: a, GNSS: gsvc})
	if withWiFi {
		aps, err := wifidb.Open(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := wifi.NewSolver(aps, wifi.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		g.Geolocation.WiFi = server.NewWiFi(aps, s, nil)
	}
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

func withToken(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", tok)
}

// importAPs streams data in chunks of n bytes.
func importAPs(ctx context.Context, c mgsv1.GeolocationServiceClient, format string, data []byte, n int) (*mgsv1.ImportAccessPointsResponse, error) {
	st, err := c.ImportAccessPoints(ctx)
	if err != nil {
		return nil, err
	}
	for first := true; len(data) > 0 || first; first = false {
		k := min(n, len(data))
		m := &mgsv1.ImportAccessPointsRequest{Data: data[:k]}
		if first {
			m.Format = format
		}
		data = data[k:]
		if err := st.Send(m); err != nil {
			break // the server ended the call; CloseAndRecv returns why
		}
	}
	return st.CloseAndRecv()
}

// apGrid is a CSV of n APs on a grid 25 m apart around (45.76, 4.84).
func apGrid(n int) []byte {
	var b strings.Builder
	b.WriteString("mac,lat,lon,accuracy\n")
	for i := range n {
		fmt.Fprintf(&b, "00:42:%02x:%02x:00:01,%.6f,%.6f,6\n", i>>8, i&0xff, 45.76+float64(i/50)*0.000225, 4.84+float64(i%50)*0.00032)
	}
	return []byte(b.String())
}

func TestWiFiRPCs(t *testing.T) {
	c, ro := newWiFiGRPC(t, true)
	ctx := withToken("root")
	data := append(apGrid(2500), "00:42:ff:ff:00:01,1000,4,1\n02:42:00:00:00:01,45,4,1\n"...)
	res, err := importAPs(ctx, c, "", data, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "csv" || res.Rows != 2502 || res.Accepted != 2500 || res.Created != 2500 || res.Total != 2500 ||
		res.Rejected["bad_coordinate"] != 1 || res.Rejected["locally_administered"] != 1 || res.Bytes != int64(len(data)) {
		t.Fatalf("import %+v", res)
	}

	got, err := c.GetAccessPoints(withToken(ro), &mgsv1.GetAccessPointsRequest{Macs: []string{"00-42-00-33-00-01", "00:99:00:00:00:00"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.AccessPoints) != 1 || got.AccessPoints[0].Mac != "00:42:00:33:00:01" || got.AccessPoints[0].Accuracy != 6 ||
		strings.Join(got.AccessPoints[0].Sources, ",") != "import" || len(got.NotFound) != 1 || got.Total != 2500 {
		t.Fatalf("get %+v", got)
	}

	// Solve a scan in the middle of the grid: i = 25·50 + 25.
	centre := 25*50 + 25
	mac := func(i int) string { return fmt.Sprintf("00:42:%02x:%02x:00:01", i>>8, i&0xff) }
	sol, err := c.SolveWifi(ctx, &mgsv1.SolveWifiRequest{AccessPoints: []*mgsv1.WifiObservation{
		{Mac: mac(centre), Rssi: -50}, {Mac: mac(centre + 1), Rssi: -62}, {Mac: mac(centre - 50), Rssi: -63},
		{Mac: mac(centre + 50), Rssi: -62}, {Mac: mac(centre - 1), Rssi: -63}, {Mac: "da:a1:19:00:00:01", Rssi: -30},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s := sol.Solution; s == nil || s.Method != "pathloss" || s.ApsKnown != 5 || abs(s.Latitude-(45.76+25*0.000225)) > 0.0002 ||
		abs(s.Longitude-(4.84+25*0.00032)) > 0.0003 || len(sol.Warnings) != 1 || !strings.Contains(sol.Warnings[0], "da:a1:19:00:00:01") {
		t.Fatalf("solve %+v", sol)
	}
	// The same as an LBM payload (MAC only: centroid).
	payload := "00" + strings.ReplaceAll(mac(centre)+mac(centre+1)+mac(centre-50), ":", "")
	sol, err = c.SolveWifi(ctx, &mgsv1.SolveWifiRequest{Payload: payload})
	if err != nil || sol.Solution == nil || sol.Solution.Method != "centroid" {
		t.Fatalf("solve payload: %+v %v", sol, err)
	}
	// No fix: OK with errors.
	sol, err = c.SolveWifi(ctx, &mgsv1.SolveWifiRequest{AccessPoints: []*mgsv1.WifiObservation{{Mac: mac(centre)}, {Mac: "00:99:00:00:00:01"}}})
	if err != nil || sol.Solution != nil || len(sol.Errors) != 1 || !strings.Contains(sol.Errors[0], "too few known access points") {
		t.Fatalf("no fix: %+v %v", sol, err)
	}
	for name, req := range map[string]*mgsv1.SolveWifiRequest{
		"one AP":   {AccessPoints: []*mgsv1.WifiObservation{{Mac: mac(1)}, {Mac: mac(1)}}},
		"bad MAC":  {AccessPoints: []*mgsv1.WifiObservation{{Mac: mac(1)}, {Mac: "hello"}}},
		"bad RSSI": {AccessPoints: []*mgsv1.WifiObservation{{Mac: mac(1)}, {Mac: mac(2), Rssi: 20}}},
		"both":     {Payload: "00", AccessPoints: []*mgsv1.WifiObservation{{Mac: mac(1)}, {Mac: mac(2)}}},
		"bad hex":  {Payload: "0g"},
		"short":    {Payload: "01C4A0B1C2D3E4F5"},
		"empty":    {},
	} {
		if _, err := c.SolveWifi(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}

	// Export in pages, in MAC order.
	st, err := c.ExportAccessPoints(withToken(ro), &mgsv1.ExportAccessPointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var all []*mgsv1.AccessPoint
	pages := 0
	for {
		p, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, p.AccessPoints...)
	}
	if len(all) != 2500 || pages != 3 || all[0].Mac != "00:42:00:00:00:01" || all[2499].Mac != mac(2499) {
		t.Fatalf("export: %d APs in %d pages", len(all), pages)
	}

	del, err := c.DeleteAccessPoints(ctx, &mgsv1.DeleteAccessPointsRequest{Macs: []string{mac(0), mac(1), "00:99:00:00:00:01"}})
	if err != nil || del.Deleted != 2 || len(del.NotFound) != 1 {
		t.Fatalf("delete %+v %v", del, err)
	}
	if got, _ := c.GetAccessPoints(ctx, &mgsv1.GetAccessPointsRequest{}); got.Total != 2498 {
		t.Fatalf("total after delete %d", got.Total)
	}

	// Capabilities: read cannot import, delete or solve.
	if _, err := importAPs(withToken(ro), c, "csv", apGrid(2), 100); status.Code(err) != codes.PermissionDenied {
		t.Errorf("import with read token: %v", err)
	}
	if _, err := c.DeleteAccessPoints(withToken(ro), &mgsv1.DeleteAccessPointsRequest{Macs: []string{mac(5)}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("delete with read token: %v", err)
	}
	if _, err := c.SolveWifi(withToken(ro), &mgsv1.SolveWifiRequest{Payload: payload}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("solve with read token: %v", err)
	}
	// Bad imports.
	if _, err := importAPs(ctx, c, "kml", apGrid(2), 100); status.Code(err) != codes.InvalidArgument {
		t.Errorf("format kml: %v", err)
	}
	if _, err := importAPs(ctx, c, "wigle", []byte("not,a,wigle,file\n"), 100); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad wigle: %v", err)
	}
	if _, err := c.GetAccessPoints(ctx, &mgsv1.GetAccessPointsRequest{Macs: []string{"x"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("get bad MAC: %v", err)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestWiFiRPCsWithoutDatabase(t *testing.T) {
	c, _ := newWiFiGRPC(t, false)
	if _, err := c.SolveWifi(withToken("root"), &mgsv1.SolveWifiRequest{Payload: "00"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("SolveWifi without database: %v", err)
	}
	if _, err := c.GetAccessPoints(withToken("root"), &mgsv1.GetAccessPointsRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("GetAccessPoints without database: %v", err)
	}
}

func TestWiFiMethodsHaveCapabilities(t *testing.T) {
	for _, m := range []string{mgsv1.GeolocationService_SolveWifi_FullMethodName, mgsv1.GeolocationService_ImportAccessPoints_FullMethodName,
		mgsv1.GeolocationService_GetAccessPoints_FullMethodName, mgsv1.GeolocationService_DeleteAccessPoints_FullMethodName,
		mgsv1.GeolocationService_ExportAccessPoints_FullMethodName} {
		if _, ok := server.MethodCaps[m]; !ok {
			t.Errorf("%s has no capability", m)
		}
	}
}
