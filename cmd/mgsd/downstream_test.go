package main

import (
	"context"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// downstreamClients dials mgsd's gRPC address for the modem, downstream
// and fleet services.
func downstreamClients(t *testing.T, addr string) (mgsv1.ModemServiceClient, mgsv1.DownstreamServiceClient, mgsv1.FleetServiceClient) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return mgsv1.NewModemServiceClient(cc), mgsv1.NewDownstreamServiceClient(cc), mgsv1.NewFleetServiceClient(cc)
}

// TestDownstreamOverGRPC queues a message through DownstreamService (with
// a token, as deployed) and finds it as the dnlink of the device's next
// LoRaWAN uplink, then marked sent; a broadcast reaches the device the
// same way.
func TestDownstreamOverGRPC(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir(), "--tokens", "root")
	defer stop()
	modem, ds, fl := downstreamClients(t, addrs["grpc"])
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "root")

	if _, err := ds.SendMessage(context.Background(), &mgsv1.SendMessageRequest{DeviceId: devEUI, Port: 42}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a token: %v", err)
	}
	// The device is not known until it is placed (or sends an uplink).
	if _, err := ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: devEUI, Port: 42}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "field"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: devEUI, CollectionId: "field"}); err != nil {
		t.Fatal(err)
	}
	r, err := ds.SendMessage(ctx, &mgsv1.SendMessageRequest{CollectionId: "field", DeviceId: "0016c001f000406e", Port: 42, Payload: "68656c6c6f"})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Message.MessageId

	send := func(fcnt uint32) *mgsv1.UplinkResponse {
		t.Helper()
		r, err := modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{Fcnt: u32(fcnt), Port: u32(199), Payload: "0319"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Result
	}
	if res := send(1); res.Dnlink.GetPort() != 42 || res.Dnlink.GetPayload() != "68656c6c6f" {
		t.Fatalf("dnlink %v, want port 42 \"hello\"", res.Dnlink)
	}
	l, err := ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{DeviceId: devEUI})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 1 || l.Messages[0].MessageId != id || l.Messages[0].State != mgsv1.MessageState_MESSAGE_STATE_SENT ||
		l.Messages[0].Transport != "lorawan" || l.Messages[0].SentTime == 0 {
		t.Fatalf("outbox after delivery: %v", l.Messages)
	}
	if _, err := ds.DeleteMessage(ctx, &mgsv1.DeleteMessageRequest{DeviceId: devEUI, MessageId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete sent: %v", err)
	}
	if res := send(2); res.Dnlink != nil {
		t.Fatalf("dnlink %v, want none", res.Dnlink)
	}

	// A broadcast to the collection is the next dnlink too.
	b, err := ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "field", Port: 8, Payload: "0102"})
	if err != nil || b.Sent != 1 || b.Failed != 0 {
		t.Fatalf("broadcast: %v %v", b, err)
	}
	if res := send(3); res.Dnlink.GetPort() != 8 || res.Dnlink.GetPayload() != "0102" {
		t.Fatalf("dnlink %v, want the broadcast", res.Dnlink)
	}

	// The CoAP server is on: its registrations are listed (none here).
	if regs, err := fl.ListRegistrations(ctx, &mgsv1.ListRegistrationsRequest{}); err != nil || len(regs.Registrations) != 0 {
		t.Fatalf("registrations: %v %v", regs, err)
	}
}

// TestDownstreamGRPCWithoutCoAP: with --coap-addr=off the services are
// served but there are no registrations to list.
func TestDownstreamGRPCWithoutCoAP(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir(), "--coap-addr", "off")
	defer stop()
	_, ds, fl := downstreamClients(t, addrs["grpc"])
	ctx := context.Background()
	if _, err := fl.ListRegistrations(ctx, &mgsv1.ListRegistrationsRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("registrations without CoAP: %v", err)
	}
	if _, err := ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "default", Port: 1}); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
}

// The Horde-shaped HTTP API asks for the same capabilities as
// DownstreamService: requests to queue and delete messages, devices to
// manage collections.
func TestDownstreamCapabilitiesOverHTTP(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir(), "--tokens", "root")
	defer stop()
	cc, err := grpc.NewClient(addrs["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	root := metadata.AppendToOutgoingContext(context.Background(), "authorization", "root")
	tokens := map[string]string{}
	for _, capability := range []string{"requests", "devices"} {
		tok, err := mgsv1.NewTokenServiceClient(cc).AddToken(root, &mgsv1.AddTokenRequest{Name: capability, Capabilities: []string{capability}})
		if err != nil {
			t.Fatal(err)
		}
		tokens[capability] = tok.Token.Token
	}
	base := "http://" + addrs["http"]
	if code, _, body := get(t, "POST", base+"/collections", tokens["devices"], `{"collectionId":"field"}`); code/100 != 2 {
		t.Fatalf("create collection: %d %s", code, body)
	}
	if code, _, body := get(t, "POST", base+"/collections/field/devices", tokens["devices"], `{"deviceId":"`+devEUI+`"}`); code/100 != 2 {
		t.Fatalf("place device: %d %s", code, body)
	}
	send := func(token string) (int, string) {
		code, _, body := get(t, "POST", base+"/collections/field/devices/"+devEUI+"/to", token, `{"port":8,"payload":"AQI="}`)
		return code, body
	}
	if code, body := send(tokens["devices"]); code != 403 {
		t.Errorf("send with a devices token: %d %s", code, body)
	}
	code, body := send(tokens["requests"])
	if code/100 != 2 {
		t.Fatalf("send with a requests token: %d %s", code, body)
	}
	l, err := mgsv1.NewDownstreamServiceClient(cc).ListMessages(root, &mgsv1.ListMessagesRequest{DeviceId: devEUI})
	if err != nil || len(l.Messages) != 1 {
		t.Fatalf("outbox: %v %v", l, err)
	}
	msg := base + "/collections/field/devices/" + devEUI + "/outbox/" + strconv.FormatUint(l.Messages[0].MessageId, 10)
	if code, _, body := get(t, "DELETE", msg, tokens["devices"], ""); code != 403 {
		t.Errorf("delete message with a devices token: %d %s", code, body)
	}
	if code, _, body := get(t, "DELETE", msg, tokens["requests"], ""); code/100 != 2 {
		t.Errorf("delete message with a requests token: %d %s", code, body)
	}
	if code, _, body := get(t, "DELETE", base+"/collections/field", tokens["requests"], ""); code != 403 {
		t.Errorf("delete collection with a requests token: %d %s", code, body)
	}
}
