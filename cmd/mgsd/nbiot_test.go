package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// TestDownstreamToLoRaWANDevice queues an application message through the
// Horde-compatible API and finds it as the dnlink of the device's next
// uplink, after pending modem requests, and marked sent in the outbox.
func TestDownstreamToLoRaWANDevice(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir())
	defer stop()
	if addrs["coap"] == "" {
		t.Fatal("CoAP server not started")
	}
	c := dial(t, addrs["grpc"])
	ctx := context.Background()
	param := mustValue(t, []any{"temp"})
	if _, err := c.AddRequests(ctx, &mgsv1.AddRequestsRequest{Deveuis: []string{devEUI}, Requests: []*mgsv1.Request{{Type: "GETINFO", Param: param}}}); err != nil {
		t.Fatal(err)
	}
	// An unknown device is a 404; this one exists once it has state.
	if code := rawPost(t, "http://"+addrs["http"]+"/collections/default/devices/0102030405060708/to", `{"port": 1, "payload": "AA=="}`); code != http.StatusNotFound {
		t.Fatalf("unknown device: HTTP %d", code)
	}
	base := "http://" + addrs["http"]
	payload := base64.StdEncoding.EncodeToString([]byte("hello"))
	code := rawPost(t, base+"/collections/default/devices/"+devEUI+"/to", `{"port": 42, "payload": "`+payload+`"}`)
	if code != http.StatusNoContent {
		t.Fatalf("queue message: HTTP %d", code)
	}
	if code := rawPost(t, base+"/collections/default/devices/"+devEUI+"/to", `{"port": 42, "payload": "!!"}`); code != http.StatusBadRequest {
		t.Fatalf("bad base64: HTTP %d", code)
	}
	send := func(fcnt uint32, payload string) *mgsv1.UplinkResponse {
		t.Helper()
		r, err := c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(fcnt), Port: u32(199), Payload: payload}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Result
	}
	// The modem request has the slot first.
	if r := send(1, "0f0300"); r.Dnlink.GetPayload() != "00000303" {
		t.Fatalf("first dnlink %v, want the GETINFO", r.Dnlink)
	}
	// The answer fulfils it; the queued message takes the free slot.
	r := send(2, "0319")
	if r.Dnlink.GetPort() != 42 || r.Dnlink.GetPayload() != "68656c6c6f" {
		t.Fatalf("second dnlink %v, want port 42 \"hello\"", r.Dnlink)
	}
	code, body := httpDo(t, http.MethodGet, base+"/collections/default/devices/"+devEUI+"/outbox", "", "")
	if code != http.StatusOK || !strings.Contains(string(body["messages"]), `"sent"`) {
		t.Fatalf("outbox: HTTP %d %s", code, body["messages"])
	}
	if r := send(3, "0319"); r.Dnlink != nil {
		t.Fatalf("third dnlink %v, want none", r.Dnlink)
	}
}

func TestNBIoTConfig(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{{"--nbiot-unprovisioned", "maybe"}, {"--outbox-max-pending", "0"}, {"--coap-awake-window", "x"}} {
		err := run(context.Background(), append([]string{"--data", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "",
			"--coap-addr", "127.0.0.1:0"}, args...), getenv, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func mustValue(t *testing.T, v any) *structpb.Value {
	t.Helper()
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

func rawPost(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDownstreamAuth: the Horde-shaped API takes the token as Horde clients
// send it (X-API-Token) and checks capabilities per route.
func TestDownstreamAuth(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir(), "--tokens", "root")
	defer stop()
	base := "http://" + addrs["http"]
	do := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("X-API-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do(http.MethodGet, "/collections", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code := do(http.MethodGet, "/collections", "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code := do(http.MethodGet, "/collections", "root", ""); code != http.StatusOK {
		t.Fatalf("X-API-Token: %d", code)
	}
	if code := do(http.MethodPost, "/collections", "root", `{"collectionId":"field"}`); code/100 != 2 {
		t.Fatalf("create collection: %d", code)
	}
}

// TestDeleteDevicePurgesOutbox: deleting a device through the modem API
// also drops its queued downstream messages.
func TestDeleteDevicePurgesOutbox(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir())
	defer stop()
	c := dial(t, addrs["grpc"])
	ctx := context.Background()
	if _, err := c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(1), Port: u32(199), Payload: "0319"}}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addrs["http"] + "/collections/default/devices/" + devEUI
	if code := rawPost(t, base+"/to", `{"port": 42, "payload": "AQI="}`); code != http.StatusNoContent {
		t.Fatalf("queue: HTTP %d", code)
	}
	if _, err := c.DeleteDevices(ctx, &mgsv1.DeleteDevicesRequest{Deveuis: []string{devEUI}}); err != nil {
		t.Fatal(err)
	}
	// The device is unknown again, and when it comes back its queue is empty.
	if _, err := c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(2), Port: u32(199), Payload: "0319"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || len(body.Messages) != 0 {
		t.Fatalf("outbox after delete: HTTP %d, %d messages, %v", resp.StatusCode, len(body.Messages), err)
	}
}

// TestCoAPPortInUse: mgsd refuses to start, naming the option, when the
// CoAP port is taken, and leaves nothing running.
func TestCoAPPortInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dir := t.TempDir()
	err = run(context.Background(), []string{"--data", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--coap-addr", pc.LocalAddr().String()}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "coap-addr") {
		t.Fatalf("run with a taken CoAP port: %v", err)
	}
	// The database was closed: it opens again at once.
	addrs, stop := startMgsd(t, dir)
	stop()
	if addrs["grpc"] == "" {
		t.Fatal("restart failed")
	}
}
