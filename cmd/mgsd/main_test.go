package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// startServer runs mgsd in-process and returns its gRPC address and a stop
// function that waits for a clean shutdown.
func startServer(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--coap-addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, io.Discard, io.Discard,
			func(a map[string]string) { addrc <- a["grpc"] })
	}()
	select {
	case a := <-addrc:
		var once sync.Once
		return a, func() {
			once.Do(func() {
				cancel()
				if err := <-errc; err != nil {
					t.Errorf("run: %v", err)
				}
			})
		}
	case err := <-errc:
		cancel()
		t.Fatalf("mgsd did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("mgsd did not start in time")
	}
	return "", nil
}

func dial(t *testing.T, addr string) mgsv1.ModemServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return mgsv1.NewModemServiceClient(cc)
}

func u32(v uint32) *uint32 { return &v }

const devEUI = "00-16-C0-01-F0-00-40-6E"

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startServer(t, "--data", dir)
	c := dial(t, addr)
	ctx := context.Background()

	// A DM report (modem-protocol.md §2.6) updates the info fields.
	resp, err := c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{
		Msgtype: "updf", Fcnt: u32(1), Port: u32(199),
		Payload: "00080100000319040E1C0500000600000700000000000000000F0300120500"}})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Result
	if r.Operation != "modem" || r.InfoFields.Rstcount.GetValue() != 3 || r.InfoFields.Session.GetValue() != 5 ||
		r.InfoFields.Temp.GetValue() != 25 || r.Fports.Dmport != 199 || r.Dnlink != nil {
		t.Fatalf("first response: %v", r)
	}

	// Watch events for this device.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watch, err := c.WatchEvents(wctx, &mgsv1.WatchEventsRequest{Deveuis: []string{devEUI}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Header(); err != nil { // the subscription is in place
		t.Fatal(err)
	}

	// An operator queues GETINFO; the next uplink carries it as dnlink.
	param, _ := structpb.NewValue([]any{"temp", "charge"})
	ar, err := c.AddRequests(ctx, &mgsv1.AddRequestsRequest{Deveuis: []string{devEUI},
		Requests: []*mgsv1.Request{{Type: "GETINFO", Param: param}}, Upcount: 1, Updelay: 5})
	if err != nil || len(ar.Results[0].PendingRequests.Requests) != 1 {
		t.Fatalf("AddRequests: %v, %v", ar, err)
	}
	resp, err = c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: "0016c001f000406e", Uplink: &mgsv1.UplinkMsg{Fcnt: u32(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if dn := resp.Result.Dnlink; dn == nil || dn.Port != 199 || dn.Payload != "0105030103" {
		t.Fatalf("dnlink %v, want GETINFO charge,temp with upcount 1 updelay 5", dn)
	}
	ev, err := watch.Recv()
	if err != nil || ev.Deveui != "00-16-c0-01-f0-00-40-6e" || ev.Uplink.GetFcnt() != 2 || ev.Response.Dnlink.GetPayload() != "0105030103" {
		t.Fatalf("watch event %v, %v", ev, err)
	}
	// The device answers; the request is fulfilled.
	resp, err = c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(3), Port: u32(199), Payload: "01e803031a"}})
	if err != nil || len(resp.Result.FulfilledRequests) != 1 || resp.Result.InfoFields.Charge.GetValue() != 1000 {
		t.Fatalf("fulfil: %v, %v", resp, err)
	}

	// Batch of several devices.
	var batch []*mgsv1.DeviceUplink
	for i := range 10 {
		batch = append(batch, &mgsv1.DeviceUplink{Deveui: "01020304050607" + string("0123456789"[i]) + "0",
			Uplink: &mgsv1.UplinkMsg{Fcnt: u32(1), Port: u32(199), Payload: "0319"}})
	}
	br, err := c.SendUplinks(ctx, &mgsv1.SendUplinksRequest{Uplinks: batch})
	if err != nil || len(br.Results) != 10 {
		t.Fatalf("SendUplinks: %v", err)
	}
	for i, res := range br.Results {
		if res.Error != "" || res.Result.InfoFields.Temp.GetValue() != 25 || res.Deveui != strings.ToLower(batch[i].Deveui[:2])+"-"+res.Deveui[3:] {
			t.Fatalf("batch item %d: %v", i, res)
		}
	}
	// Paged listing sees all 11 devices.
	var all []string
	token := ""
	for {
		lr, err := c.ListDevices(ctx, &mgsv1.ListDevicesRequest{PageSize: 4, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range lr.Devices {
			all = append(all, d.Deveui)
		}
		if token = lr.NextPageToken; token == "" {
			break
		}
	}
	if len(all) != 11 {
		t.Fatalf("listed %d devices: %v", len(all), all)
	}

	// Bad input: InvalidArgument naming the field, state unchanged.
	before, err := c.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
	if err != nil {
		t.Fatal(err)
	}
	for field, req := range map[string]*mgsv1.SendUplinkRequest{
		"deveui":  {Deveui: "xyz", Uplink: &mgsv1.UplinkMsg{Fcnt: u32(9)}},
		"payload": {Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(9), Port: u32(199), Payload: "abc"}},
		"port":    {Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(9), Port: u32(224), Payload: "00"}},
		"msgtype": {Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Msgtype: "bogus"}},
		"fcnt":    {Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Port: u32(199), Payload: "00"}},
	} {
		_, err := c.SendUplink(ctx, req)
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	if _, err := c.SendUplinks(ctx, &mgsv1.SendUplinksRequest{Uplinks: make([]*mgsv1.DeviceUplink, 129)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("batch of 129: %v", err)
	}
	bad, _ := structpb.NewValue([]any{"nope"})
	if _, err := c.AddRequests(ctx, &mgsv1.AddRequestsRequest{Deveuis: []string{devEUI},
		Requests: []*mgsv1.Request{{Type: "GETINFO", Param: bad}}}); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "requests[0].param") {
		t.Errorf("bad request param: %v", err)
	}
	if _, err := c.SetPorts(ctx, &mgsv1.SetPortsRequest{Deveuis: []string{devEUI}, Fports: &mgsv1.Fports{Gnssport: 199}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("SetPorts with clashing ports: %v", err)
	}
	after, err := c.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
	if err != nil || !proto.Equal(before, after) {
		t.Fatalf("bad input changed the device:\nbefore %v\nafter  %v", before, after)
	}
	if unknown, _ := c.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"ffffffffffffffff"}}); unknown.Results[0].Error == "" {
		t.Error("unknown device has no error")
	}

	// Restart on the same database: state intact.
	wcancel()
	stop()
	addr, stop = startServer(t, "--data", dir)
	defer stop()
	c = dial(t, addr)
	again, err := c.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
	if err != nil || !proto.Equal(after, again) {
		t.Fatalf("state after restart differs:\nbefore %v\nafter  %v", after, again)
	}
	info := again.Results[0].Info
	if info.UplinkCount != 3 || info.LastUplink.GetFcnt() != 3 || info.InfoFields.Charge.GetValue() != 1000 {
		t.Fatalf("restored device %v", info)
	}

	// Health and reflection are served.
	cc, _ := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer cc.Close()
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "mgs.v1.ModemService"})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", h, err)
	}
}

func TestTokens(t *testing.T) {
	addr, stop := startServer(t, "--data", t.TempDir(), "--tokens", "s3cret,other")
	defer stop()
	c := dial(t, addr)
	req := &mgsv1.GetDefaultPortsRequest{}
	if _, err := c.GetDefaultPorts(context.Background(), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	bad := metadata.AppendToOutgoingContext(context.Background(), "authorization", "wrong")
	if _, err := c.GetDefaultPorts(bad, req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong token: %v", err)
	}
	good := metadata.AppendToOutgoingContext(context.Background(), "authorization", "other")
	if _, err := c.GetDefaultPorts(good, req); err != nil {
		t.Fatalf("good token: %v", err)
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"MGS_DATA": "/from/env", "MGS_GRPC_ADDR": "127.0.0.1:9000"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig([]string{"--grpc-addr", "127.0.0.1:9001"}, getenv, io.Discard)
	if err != nil || c.DataDir != "/from/env" || c.GRPCAddr != "127.0.0.1:9001" {
		t.Fatalf("precedence: %+v, %v", c, err)
	}
	// Stored tokens count too, so the rule is applied by run once the
	// database is open (see TestListenRule).
	if err := run(context.Background(), []string{"--data", t.TempDir(), "--grpc-addr", "0.0.0.0:7070"}, getenv, io.Discard, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "grpc-addr") {
		t.Fatalf("non-loopback without tokens: %v", err)
	}
	if _, err := parseConfig([]string{"--grpc-addr", "0.0.0.0:7070", "--tokens", "x"}, getenv, io.Discard); err != nil {
		t.Fatalf("non-loopback with tokens: %v", err)
	}
	if _, err := parseConfig([]string{"--max-logs", "0"}, getenv, io.Discard); err == nil || !strings.Contains(err.Error(), "max-logs") {
		t.Fatalf("bad max-logs: %v", err)
	}
	if _, err := parseConfig([]string{"--data", filepath.Join(t.TempDir(), "x"), "--log-format", "xml"}, getenv, io.Discard); err == nil {
		t.Fatal("bad log format accepted")
	}
}
