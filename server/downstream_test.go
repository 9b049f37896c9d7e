package server_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// downstreamEnv is DownstreamService and FleetService over bufconn on a
// real bbolt store.
type downstreamEnv struct {
	ds  mgsv1.DownstreamServiceClient
	fl  mgsv1.FleetServiceClient
	f   *fleet.Fleet
	ob  *outbox.Outbox
	a   *auth.Authenticator
	now time.Time
}

type downstreamOpts struct {
	maxPending int
	policy     fleet.Policy
	regs       func() []lwm2m.Registration
	tokens     bool // static token "root"; otherwise open
}

func newDownstream(t *testing.T, o downstreamOpts) *downstreamEnv {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &downstreamEnv{now: time.Unix(1700000000, 0)}
	clock := func() time.Time { return e.now }
	e.f = fleet.New(db, fleet.Config{Unprovisioned: o.policy, Now: clock})
	e.ob = outbox.New(db, outbox.Config{MaxPending: o.maxPending, Now: clock})
	opts := server.Options{Fleet: e.f, Outbox: e.ob, Registrations: o.regs}
	if o.tokens {
		if e.a, err = auth.New(context.Background(), db, auth.Options{Static: []string{"root"}}); err != nil {
			t.Fatal(err)
		}
		opts.Auth = e.a
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), opts)
	if g.Downstream == nil || g.Fleet == nil {
		t.Fatal("services not set")
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
	e.ds, e.fl = mgsv1.NewDownstreamServiceClient(conn), mgsv1.NewFleetServiceClient(conn)
	return e
}

// wantCode fails unless err has code c (and, when given, a message
// containing msg).
func wantCode(t *testing.T, what string, err error, c codes.Code, msg string) {
	t.Helper()
	if status.Code(err) != c {
		t.Errorf("%s: %v, want %v", what, err, c)
		return
	}
	if msg != "" && !strings.Contains(status.Convert(err).Message(), msg) {
		t.Errorf("%s: message %q does not contain %q", what, status.Convert(err).Message(), msg)
	}
}

const (
	loraEUI = "00-16-c0-01-f0-00-40-6e"
	imei    = "867723030005655"
	imeiEUI = "0e-86-77-23-03-00-05-65"
)

func TestDownstreamSendListDelete(t *testing.T) {
	e := newDownstream(t, downstreamOpts{maxPending: 3})
	ctx := context.Background()

	// Unknown device, before it is known.
	_, err := e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1, Payload: "00"})
	wantCode(t, "unknown device", err, codes.NotFound, "unknown device")
	// Placing a LoRaWAN device makes it known.
	if _, err := e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: "0016C001F000406E", CollectionId: "default"}); err != nil {
		t.Fatal(err)
	}
	// Every spelling of the EUI names the same device.
	var ids []uint64
	for i, id := range []string{"0016c001f000406e", "00-16-C0-01-F0-00-40-6E", "00:16:c0:01:f0:00:40:6e"} {
		r, err := e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: id, Port: 42, Payload: fmt.Sprintf("68656C6C6F%02x", i)})
		if err != nil {
			t.Fatalf("send to %s: %v", id, err)
		}
		m := r.Message
		want := &mgsv1.DownstreamMessage{MessageId: uint64(i + 1), Deveui: loraEUI, CollectionId: "default", Port: 42,
			Payload: fmt.Sprintf("68656c6c6f%02x", i), State: mgsv1.MessageState_MESSAGE_STATE_PENDING, CreatedTime: 1700000000,
			UpdatedTime: 1700000000}
		if d := cmp.Diff(want, m, protocmp.Transform()); d != "" {
			t.Errorf("send to %s (-want +got):\n%s", id, d)
		}
		ids = append(ids, m.MessageId)
	}
	// The queue holds 3: the fourth is RESOURCE_EXHAUSTED.
	_, err = e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: "0x0016c001f000406e", Port: 1})
	wantCode(t, "full queue", err, codes.ResourceExhausted, "queue full")

	// Bad input.
	for _, c := range []struct {
		name string
		req  *mgsv1.SendMessageRequest
		code codes.Code
		msg  string
	}{
		{"port 0", &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 0}, codes.InvalidArgument, "port"},
		{"port 224", &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 224}, codes.InvalidArgument, "port"},
		{"port 2^32-1", &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1<<32 - 1}, codes.InvalidArgument, "port"},
		{"not hex", &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1, Payload: "zz"}, codes.InvalidArgument, "payload"},
		{"odd hex", &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1, Payload: "abc"}, codes.InvalidArgument, "payload"},
		{"too long", &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1, Payload: strings.Repeat("00", 512)}, codes.InvalidArgument, "512 bytes"},
		{"no device", &mgsv1.SendMessageRequest{Port: 1}, codes.InvalidArgument, "device_id"},
		{"not an id", &mgsv1.SendMessageRequest{DeviceId: "no such thing", Port: 1}, codes.NotFound, "neither an EUI-64"},
		{"unprovisioned name", &mgsv1.SendMessageRequest{DeviceId: "meter-7", Port: 1}, codes.NotFound, "meter-7"},
		{"unknown collection", &mgsv1.SendMessageRequest{CollectionId: "nope", DeviceId: loraEUI, Port: 1}, codes.NotFound, "unknown collection"},
		{"bad collection id", &mgsv1.SendMessageRequest{CollectionId: "a/b", DeviceId: loraEUI, Port: 1}, codes.NotFound, "collection"},
	} {
		_, err := e.ds.SendMessage(ctx, c.req)
		wantCode(t, c.name, err, c.code, c.msg)
	}
	// The device is in "default": another collection does not find it.
	if _, err := e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "field"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{CollectionId: "field", DeviceId: loraEUI})
	wantCode(t, "wrong collection", err, codes.NotFound, `not "field"`)

	// Mark the first sent; list all and by state.
	eui, _ := lora.ParseEUI64(loraEUI)
	e.now = e.now.Add(time.Minute)
	if err := e.ob.MarkSent(ctx, eui, ids[0], outbox.TransportLoRaWAN); err != nil {
		t.Fatal(err)
	}
	list := func(st mgsv1.MessageState) []uint64 {
		t.Helper()
		r, err := e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{CollectionId: "default", DeviceId: loraEUI, State: st})
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, m := range r.Messages {
			out = append(out, m.MessageId)
			if m.MessageId == ids[0] && (m.SentTime != 1700000060 || m.Transport != "lorawan" || m.State != mgsv1.MessageState_MESSAGE_STATE_SENT) {
				t.Errorf("sent message %v", m)
			}
		}
		return out
	}
	if got := list(mgsv1.MessageState_MESSAGE_STATE_UNSPECIFIED); !cmp.Equal(got, ids) {
		t.Errorf("all: %v", got)
	}
	if got := list(mgsv1.MessageState_MESSAGE_STATE_PENDING); !cmp.Equal(got, ids[1:]) {
		t.Errorf("pending: %v", got)
	}
	if got := list(mgsv1.MessageState_MESSAGE_STATE_SENT); !cmp.Equal(got, ids[:1]) {
		t.Errorf("sent: %v", got)
	}
	if got := list(mgsv1.MessageState_MESSAGE_STATE_FAILED); len(got) != 0 {
		t.Errorf("failed: %v", got)
	}
	_, err = e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{DeviceId: loraEUI, State: 9})
	wantCode(t, "bad state", err, codes.InvalidArgument, "state")

	// Delete: a pending message goes; a sent one is FAILED_PRECONDITION;
	// unknown ids are NOT_FOUND; id 0 is INVALID_ARGUMENT.
	if _, err := e.ds.DeleteMessage(ctx, &mgsv1.DeleteMessageRequest{DeviceId: loraEUI, MessageId: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if got := list(mgsv1.MessageState_MESSAGE_STATE_PENDING); !cmp.Equal(got, ids[2:]) {
		t.Errorf("pending after delete: %v", got)
	}
	_, err = e.ds.DeleteMessage(ctx, &mgsv1.DeleteMessageRequest{DeviceId: loraEUI, MessageId: ids[0]})
	wantCode(t, "delete sent", err, codes.FailedPrecondition, "not pending")
	_, err = e.ds.DeleteMessage(ctx, &mgsv1.DeleteMessageRequest{DeviceId: loraEUI, MessageId: ids[1]})
	wantCode(t, "delete again", err, codes.NotFound, "not found")
	_, err = e.ds.DeleteMessage(ctx, &mgsv1.DeleteMessageRequest{DeviceId: loraEUI})
	wantCode(t, "delete id 0", err, codes.InvalidArgument, "message_id")
	// A freed slot takes a message again.
	if _, err := e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1}); err != nil {
		t.Errorf("send after delete: %v", err)
	}
}

func TestDownstreamBroadcast(t *testing.T) {
	e := newDownstream(t, downstreamOpts{maxPending: 1})
	ctx := context.Background()
	if _, err := e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "field"}); err != nil {
		t.Fatal(err)
	}
	devs := []string{"0102030405060701", "0102030405060702", "0102030405060703"}
	for _, d := range devs {
		if _, err := e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: d, CollectionId: "field"}); err != nil {
			t.Fatal(err)
		}
	}
	// One more device in "default" is not part of the broadcast.
	if _, err := e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: "0102030405060704", CollectionId: "default"}); err != nil {
		t.Fatal(err)
	}
	// The second device's queue is full already.
	if _, err := e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{CollectionId: "field", DeviceId: devs[1], Port: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := e.ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "field", Port: 8, Payload: "0102"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 2 || r.Failed != 1 || len(r.Errors) != 1 || r.Errors[0].Deveui != "01-02-03-04-05-06-07-02" ||
		!strings.Contains(r.Errors[0].Message, "queue full") {
		t.Fatalf("broadcast: %v", r)
	}
	for _, d := range []string{devs[0], devs[2]} {
		l, err := e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{DeviceId: d})
		if err != nil || len(l.Messages) != 1 || l.Messages[0].Payload != "0102" || l.Messages[0].Port != 8 || l.Messages[0].CollectionId != "field" {
			t.Errorf("%s: %v %v", d, l, err)
		}
	}
	if l, err := e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{DeviceId: "0102030405060704"}); err != nil || len(l.Messages) != 0 {
		t.Errorf("device outside the collection: %v %v", l, err)
	}
	// An empty collection: nothing sent, nothing failed.
	if _, err := e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "empty"}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "empty", Port: 8}); err != nil || r.Sent != 0 || r.Failed != 0 {
		t.Errorf("empty collection: %v %v", r, err)
	}
	_, err = e.ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "nope", Port: 8})
	wantCode(t, "unknown collection", err, codes.NotFound, "unknown collection")
	_, err = e.ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{Port: 8})
	wantCode(t, "no collection", err, codes.InvalidArgument, "collection_id")
	_, err = e.ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "field", Port: 300})
	wantCode(t, "bad port", err, codes.InvalidArgument, "port")
	_, err = e.ds.BroadcastMessage(ctx, &mgsv1.BroadcastMessageRequest{CollectionId: "field", Port: 1, Payload: "xy"})
	wantCode(t, "bad payload", err, codes.InvalidArgument, "payload")
}

func TestFleetProvisioning(t *testing.T) {
	e := newDownstream(t, downstreamOpts{})
	ctx := context.Background()
	if _, err := e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "field", Tags: map[string]string{"name": "Field test"}}); err != nil {
		t.Fatal(err)
	}
	// An IMEI takes the default mapping; a named endpoint needs an EUI.
	r, err := e.fl.ProvisionEndpoint(ctx, &mgsv1.ProvisionEndpointRequest{Endpoint: imei})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&mgsv1.Endpoint{Endpoint: imei, Deveui: imeiEUI, CreatedTime: 1700000000}, r.Endpoint, protocmp.Transform()); d != "" {
		t.Errorf("provision IMEI (-want +got):\n%s", d)
	}
	r, err = e.fl.ProvisionEndpoint(ctx, &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-7", Eui: "0x0016C001F0000007", Opaque: true,
		CollectionId: "field", Tags: map[string]string{"name": "meter"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Endpoint.Deveui != "00-16-c0-01-f0-00-00-07" || !r.Endpoint.Opaque {
		t.Errorf("provision meter-7: %v", r.Endpoint)
	}
	for _, c := range []struct {
		name string
		req  *mgsv1.ProvisionEndpointRequest
		code codes.Code
		msg  string
	}{
		{"same name", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-7", Eui: "0016c001f0000008"}, codes.AlreadyExists, "meter-7"},
		{"URN alias of a provisioned IMEI", &mgsv1.ProvisionEndpointRequest{Endpoint: "urn:imei:" + imei}, codes.AlreadyExists, "provisioned"},
		{"EUI taken", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-8", Eui: "0016c001f0000007"}, codes.AlreadyExists, "belongs to"},
		{"no name", &mgsv1.ProvisionEndpointRequest{}, codes.InvalidArgument, "endpoint"},
		{"space in name", &mgsv1.ProvisionEndpointRequest{Endpoint: "a b", Eui: "0016c001f0000009"}, codes.InvalidArgument, "space"},
		{"no EUI, not an IMEI", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-9"}, codes.InvalidArgument, "no EUI"},
		{"bad EUI", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-9", Eui: "0016"}, codes.InvalidArgument, "eui"},
		{"zero EUI", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-9", Eui: "0000000000000000"}, codes.InvalidArgument, "eui"},
		{"unknown collection", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-9", Eui: "0016c001f0000009", CollectionId: "nope"}, codes.NotFound, "collection"},
		{"too many tags", &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-9", Eui: "0016c001f0000009", Tags: manyTags(33)}, codes.InvalidArgument, "tags"},
	} {
		_, err := e.fl.ProvisionEndpoint(ctx, c.req)
		wantCode(t, c.name, err, c.code, c.msg)
	}
	eps, err := e.fl.ListEndpoints(ctx, &mgsv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ep := range eps.Endpoints {
		names = append(names, ep.Endpoint)
	}
	if !cmp.Equal(names, []string{imei, "meter-7"}) {
		t.Errorf("endpoints %v", names)
	}

	// Endpoint names (and the IMEI's URN alias) are device ids; the
	// provisioned device is in its collection.
	if _, err := e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{CollectionId: "field", DeviceId: "meter-7", Port: 1, Payload: "01"}); err != nil {
		t.Errorf("send by endpoint name: %v", err)
	}
	m, err := e.ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: "urn:imei:" + imei, Port: 1})
	if err != nil || m.Message.Deveui != imeiEUI || m.Message.CollectionId != "default" {
		t.Errorf("send by URN: %v %v", m, err)
	}
	devs, err := e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: "field"})
	if err != nil {
		t.Fatal(err)
	}
	want := []*mgsv1.FleetDevice{{Deveui: "00-16-c0-01-f0-00-00-07", CollectionId: "field", Endpoint: "meter-7", Provisioned: true, Opaque: true,
		Tags: map[string]string{"name": "meter"}}}
	if d := cmp.Diff(want, devs.Devices, protocmp.Transform()); d != "" {
		t.Errorf("field devices (-want +got):\n%s", d)
	}
	devs, err = e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: "default"})
	if err != nil || len(devs.Devices) != 1 || devs.Devices[0].Imei != imei || !devs.Devices[0].Provisioned {
		t.Errorf("default devices: %v %v", devs, err)
	}

	// UpdateEndpoint changes opaque only.
	u, err := e.fl.UpdateEndpoint(ctx, &mgsv1.UpdateEndpointRequest{Endpoint: "meter-7", Opaque: new(false)})
	if err != nil || u.Endpoint.Opaque || u.Endpoint.Deveui != "00-16-c0-01-f0-00-00-07" {
		t.Errorf("update: %v %v", u, err)
	}
	_, err = e.fl.UpdateEndpoint(ctx, &mgsv1.UpdateEndpointRequest{Endpoint: "meter-7"})
	wantCode(t, "update without opaque", err, codes.InvalidArgument, "opaque")
	_, err = e.fl.UpdateEndpoint(ctx, &mgsv1.UpdateEndpointRequest{Endpoint: "meter-8", Opaque: new(true)})
	wantCode(t, "update unknown", err, codes.NotFound, "meter-8")

	// DeleteEndpoint: the name no longer resolves; the device stays placed.
	if _, err := e.fl.DeleteEndpoint(ctx, &mgsv1.DeleteEndpointRequest{Endpoint: "meter-7"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.fl.DeleteEndpoint(ctx, &mgsv1.DeleteEndpointRequest{Endpoint: "meter-7"})
	wantCode(t, "delete again", err, codes.NotFound, "not provisioned")
	_, err = e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{DeviceId: "meter-7"})
	wantCode(t, "deleted name", err, codes.NotFound, "meter-7")
	if l, err := e.ds.ListMessages(ctx, &mgsv1.ListMessagesRequest{CollectionId: "field", DeviceId: "0016c001f0000007"}); err != nil || len(l.Messages) != 1 {
		t.Errorf("by EUI after unprovisioning: %v %v", l, err)
	}
	_, err = e.fl.DeleteEndpoint(ctx, &mgsv1.DeleteEndpointRequest{})
	wantCode(t, "delete no name", err, codes.InvalidArgument, "endpoint")
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("t", i)] = "v"
	}
	return m
}

func TestFleetCollections(t *testing.T) {
	e := newDownstream(t, downstreamOpts{})
	ctx := context.Background()
	c, err := e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "field", Tags: map[string]string{"name": "Field"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&mgsv1.Collection{CollectionId: "field", Tags: map[string]string{"name": "Field"}, CreatedTime: 1700000000},
		c.Collection, protocmp.Transform()); d != "" {
		t.Errorf("create (-want +got):\n%s", d)
	}
	gen, err := e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{})
	if err != nil || len(gen.Collection.CollectionId) != 14 {
		t.Fatalf("generated id: %v %v", gen, err)
	}
	_, err = e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "field"})
	wantCode(t, "again", err, codes.AlreadyExists, "field")
	_, err = e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "default"})
	wantCode(t, "default", err, codes.AlreadyExists, "default")
	_, err = e.fl.CreateCollection(ctx, &mgsv1.CreateCollectionRequest{CollectionId: "a b"})
	wantCode(t, "bad id", err, codes.InvalidArgument, "collection id")

	cols, err := e.fl.ListCollections(ctx, &mgsv1.ListCollectionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cols.Collections {
		ids = append(ids, c.CollectionId)
	}
	if len(ids) != 3 || ids[0] != "default" || !strings.Contains(strings.Join(ids, " "), "field") {
		t.Errorf("collections %v", ids)
	}

	// Place: tags kept unless replaced.
	p, err := e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: "00:16:c0:01:f0:00:40:6e", CollectionId: "field", Tags: map[string]string{"k": "v"}})
	if err != nil || p.Device.CollectionId != "field" || p.Device.Tags["k"] != "v" || p.Device.HasState {
		t.Fatalf("place: %v %v", p, err)
	}
	p, err = e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: loraEUI, CollectionId: "default"})
	if err != nil || p.Device.CollectionId != "default" || p.Device.Tags["k"] != "v" {
		t.Fatalf("move keeping tags: %v %v", p, err)
	}
	p, err = e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: loraEUI, CollectionId: "field", ReplaceTags: true})
	if err != nil || p.Device.CollectionId != "field" || len(p.Device.Tags) != 0 {
		t.Fatalf("move clearing tags: %v %v", p, err)
	}
	// An unprovisioned IMEI places its default-mapped EUI.
	p, err = e.fl.PlaceDevice(ctx, &mgsv1.PlaceDeviceRequest{DeviceId: imei, CollectionId: "field"})
	if err != nil || p.Device.Deveui != imeiEUI || p.Device.Imei != imei || p.Device.Provisioned {
		t.Fatalf("place IMEI: %v %v", p, err)
	}
	for _, c := range []struct {
		name string
		req  *mgsv1.PlaceDeviceRequest
		code codes.Code
		msg  string
	}{
		{"no device", &mgsv1.PlaceDeviceRequest{CollectionId: "field"}, codes.InvalidArgument, "device_id"},
		{"no collection", &mgsv1.PlaceDeviceRequest{DeviceId: loraEUI}, codes.InvalidArgument, "collection_id"},
		{"bad device", &mgsv1.PlaceDeviceRequest{DeviceId: "meter-7", CollectionId: "field"}, codes.InvalidArgument, "meter-7"},
		{"unknown collection", &mgsv1.PlaceDeviceRequest{DeviceId: loraEUI, CollectionId: "nope"}, codes.NotFound, "unknown collection"},
	} {
		_, err := e.fl.PlaceDevice(ctx, c.req)
		wantCode(t, c.name, err, c.code, c.msg)
	}
	devs, err := e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: "field"})
	if err != nil || len(devs.Devices) != 2 || devs.Devices[0].Deveui != loraEUI || devs.Devices[1].Deveui != imeiEUI {
		t.Fatalf("field devices: %v %v", devs, err)
	}
	_, err = e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: "nope"})
	wantCode(t, "devices of unknown", err, codes.NotFound, "unknown collection")
	_, err = e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{})
	wantCode(t, "devices of none", err, codes.InvalidArgument, "collection_id")

	// Delete: devices go back to default; default cannot go.
	_, err = e.fl.DeleteCollection(ctx, &mgsv1.DeleteCollectionRequest{CollectionId: "default"})
	wantCode(t, "delete default", err, codes.FailedPrecondition, "default")
	_, err = e.fl.DeleteCollection(ctx, &mgsv1.DeleteCollectionRequest{CollectionId: "nope"})
	wantCode(t, "delete unknown", err, codes.NotFound, "nope")
	_, err = e.fl.DeleteCollection(ctx, &mgsv1.DeleteCollectionRequest{})
	wantCode(t, "delete none", err, codes.InvalidArgument, "collection_id")
	// A provisioned member returns to default with the collection's
	// deletion (placed-only devices without state are forgotten by fleet).
	if _, err := e.fl.ProvisionEndpoint(ctx, &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-7", Eui: "0016c001f0000007", CollectionId: "field"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fl.DeleteCollection(ctx, &mgsv1.DeleteCollectionRequest{CollectionId: "field"}); err != nil {
		t.Fatal(err)
	}
	devs, err = e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: "default"})
	if err != nil || len(devs.Devices) == 0 || devs.Devices[0].Endpoint != "meter-7" || devs.Devices[0].CollectionId != "default" {
		t.Fatalf("default after delete: %v %v", devs, err)
	}
	_, err = e.fl.ListCollectionDevices(ctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: "field"})
	wantCode(t, "devices of deleted", err, codes.NotFound, "field")
}

func TestFleetReject(t *testing.T) {
	// Under the reject policy an unprovisioned IMEI is not a device id.
	e := newDownstream(t, downstreamOpts{policy: fleet.PolicyReject})
	_, err := e.ds.SendMessage(context.Background(), &mgsv1.SendMessageRequest{DeviceId: imei, Port: 1})
	wantCode(t, "unprovisioned IMEI", err, codes.NotFound, "not provisioned")
	_, err = e.fl.PlaceDevice(context.Background(), &mgsv1.PlaceDeviceRequest{DeviceId: imei, CollectionId: "default"})
	wantCode(t, "place unprovisioned IMEI", err, codes.NotFound, "not provisioned")
}

func TestFleetRegistrations(t *testing.T) {
	eui, _ := lora.ParseEUI64(imeiEUI)
	at := time.Unix(1700000000, 500e6)
	reg := lwm2m.Registration{Endpoint: imei, EUI: eui, ID: "abc", Addr: "127.0.0.1:5684", Binding: "UQ", Version: "1.0",
		Lifetime: 86400 * time.Second, Objects: "</19/0/0>,</19/1/0>", Registered: at, Updated: at.Add(time.Second),
		LastSeen: at.Add(2 * time.Second), Expires: at.Add(86401 * time.Second), Observed: true}
	e := newDownstream(t, downstreamOpts{regs: func() []lwm2m.Registration { return []lwm2m.Registration{reg} }})
	r, err := e.fl.ListRegistrations(context.Background(), &mgsv1.ListRegistrationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*mgsv1.Registration{{Endpoint: imei, Deveui: imeiEUI, RegistrationId: "abc", Address: "127.0.0.1:5684", Binding: "UQ",
		Lwm2MVersion: "1.0", Lifetime: 86400, Objects: "</19/0/0>,</19/1/0>", RegisteredTime: 1700000000.5, UpdatedTime: 1700000001.5,
		LastSeenTime: 1700000002.5, ExpiresTime: 1700086401.5, Observed: true}}
	if d := cmp.Diff(want, r.Registrations, protocmp.Transform()); d != "" {
		t.Errorf("registrations (-want +got):\n%s", d)
	}
	// Without a CoAP server: FAILED_PRECONDITION.
	e = newDownstream(t, downstreamOpts{})
	_, err = e.fl.ListRegistrations(context.Background(), &mgsv1.ListRegistrationsRequest{})
	wantCode(t, "no CoAP server", err, codes.FailedPrecondition, "not enabled")
}

func TestDownstreamNotRegisteredWithoutFleet(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{})
	if g.Downstream != nil || g.Fleet != nil {
		t.Fatal("services set without Options.Fleet/Outbox")
	}
	info := g.Server.GetServiceInfo()
	for _, sd := range []grpc.ServiceDesc{mgsv1.DownstreamService_ServiceDesc, mgsv1.FleetService_ServiceDesc} {
		if _, ok := info[sd.ServiceName]; ok {
			t.Errorf("%s registered without a fleet", sd.ServiceName)
		}
	}
}

func TestDownstreamCapabilities(t *testing.T) {
	want := map[string]auth.Capability{
		mgsv1.DownstreamService_SendMessage_FullMethodName:      auth.CapRequests,
		mgsv1.DownstreamService_BroadcastMessage_FullMethodName: auth.CapRequests,
		mgsv1.DownstreamService_DeleteMessage_FullMethodName:    auth.CapRequests,
		mgsv1.DownstreamService_ListMessages_FullMethodName:     auth.CapRead,
		mgsv1.FleetService_ProvisionEndpoint_FullMethodName:     auth.CapDevices,
		mgsv1.FleetService_UpdateEndpoint_FullMethodName:        auth.CapDevices,
		mgsv1.FleetService_DeleteEndpoint_FullMethodName:        auth.CapDevices,
		mgsv1.FleetService_CreateCollection_FullMethodName:      auth.CapDevices,
		mgsv1.FleetService_DeleteCollection_FullMethodName:      auth.CapDevices,
		mgsv1.FleetService_PlaceDevice_FullMethodName:           auth.CapDevices,
		mgsv1.FleetService_ListEndpoints_FullMethodName:         auth.CapRead,
		mgsv1.FleetService_ListCollections_FullMethodName:       auth.CapRead,
		mgsv1.FleetService_ListCollectionDevices_FullMethodName: auth.CapRead,
		mgsv1.FleetService_ListRegistrations_FullMethodName:     auth.CapRead,
	}
	// Every method of both services is listed (and nothing else of them).
	for _, sd := range []grpc.ServiceDesc{mgsv1.DownstreamService_ServiceDesc, mgsv1.FleetService_ServiceDesc} {
		if len(sd.Streams) != 0 {
			t.Errorf("%s has streams", sd.ServiceName)
		}
		for _, m := range sd.Methods {
			name := "/" + sd.ServiceName + "/" + m.MethodName
			got, ok := server.MethodCaps[name]
			if !ok {
				t.Errorf("%s has no entry in MethodCaps (it would need admin)", name)
			} else if got != want[name] {
				t.Errorf("%s needs %v, want %v", name, got, want[name])
			}
		}
	}

	e := newDownstream(t, downstreamOpts{tokens: true})
	ctx := context.Background()
	tok := map[string]string{"root": "root"}
	for _, caps := range [][]string{{"read"}, {"requests"}, {"devices"}} {
		i, err := e.a.Add(ctx, caps[0], caps)
		if err != nil {
			t.Fatal(err)
		}
		tok[caps[0]] = i.Token
	}
	// Calls that pass authorisation reach the service: NOT_FOUND or
	// INVALID_ARGUMENT from empty arguments still show the call got in.
	calls := map[string]func(context.Context) error{
		"SendMessage": func(c context.Context) error {
			_, err := e.ds.SendMessage(c, &mgsv1.SendMessageRequest{DeviceId: loraEUI, Port: 1})
			return err
		},
		"ListMessages": func(c context.Context) error {
			_, err := e.ds.ListMessages(c, &mgsv1.ListMessagesRequest{DeviceId: loraEUI})
			return err
		},
		"ProvisionEndpoint": func(c context.Context) error {
			_, err := e.fl.ProvisionEndpoint(c, &mgsv1.ProvisionEndpointRequest{})
			return err
		},
		"ListCollections": func(c context.Context) error {
			_, err := e.fl.ListCollections(c, &mgsv1.ListCollectionsRequest{})
			return err
		},
	}
	allowed := map[string][]string{
		"SendMessage":       {"root", "requests"},
		"ListMessages":      {"root", "read"},
		"ProvisionEndpoint": {"root", "devices"},
		"ListCollections":   {"root", "read"},
	}
	for method, call := range calls {
		if err := call(ctx); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without a token: %v", method, err)
		}
		for name, token := range tok {
			err := call(with(token))
			denied := status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.Unauthenticated
			ok := false
			for _, a := range allowed[method] {
				ok = ok || a == name
			}
			if ok == denied {
				t.Errorf("%s with %s token: %v (allowed %v)", method, name, err, ok)
			}
		}
	}
}

// TestStatusFleetOutbox: the mapping of the fleet and outbox errors.
func TestStatusFleetOutbox(t *testing.T) {
	for _, c := range []struct {
		err  error
		code codes.Code
	}{
		{fleet.ErrUnknownCollection, codes.NotFound},
		{fleet.ErrUnknownDevice, codes.NotFound},
		{fleet.ErrUnknownEndpoint, codes.NotFound},
		{outbox.ErrNotFound, codes.NotFound},
		{fleet.ErrInvalid, codes.InvalidArgument},
		{outbox.ErrInvalid, codes.InvalidArgument},
		{outbox.ErrQueueFull, codes.ResourceExhausted},
		{fleet.ErrExists, codes.AlreadyExists},
		{outbox.ErrNotPending, codes.FailedPrecondition},
		{fleet.ErrDefaultCollection, codes.FailedPrecondition},
		{store.ErrNotFound, codes.NotFound},
		{errors.New("disk on fire"), codes.Internal},
	} {
		wrapped := fmt.Errorf("context: %w", c.err)
		if got := status.Code(server.Status(wrapped)); got != c.code {
			t.Errorf("%v: %v, want %v", c.err, got, c.code)
		}
	}
}

// TestFleetPSK: the DTLS pre-shared key is set on provisioning and by
// UpdateEndpoint, checked field by field, and never returned.
func TestFleetPSK(t *testing.T) {
	e := newDownstream(t, downstreamOpts{})
	ctx := context.Background()
	const key = "000102030405060708090a0b0c0d0e0f"
	r, err := e.fl.ProvisionEndpoint(ctx, &mgsv1.ProvisionEndpointRequest{Endpoint: imei, Psk: key})
	if err != nil {
		t.Fatal(err)
	}
	want := &mgsv1.Endpoint{Endpoint: imei, Deveui: imeiEUI, CreatedTime: 1700000000, PskIdentity: imei, PskSet: true}
	if d := cmp.Diff(want, r.Endpoint, protocmp.Transform()); d != "" {
		t.Errorf("provision with a key (-want +got):\n%s", d)
	}
	r, err = e.fl.ProvisionEndpoint(ctx, &mgsv1.ProvisionEndpointRequest{Endpoint: "meter-7", Eui: "0016c001f0000007",
		Psk: "0x" + strings.ToUpper(key), PskIdentity: "meter-7@field"})
	if err != nil || r.Endpoint.PskIdentity != "meter-7@field" || !r.Endpoint.PskSet {
		t.Fatalf("provision with an identity: %v %v", r, err)
	}
	if c, err := e.f.PSK(ctx, "meter-7@field"); err != nil || hex.EncodeToString(c.Key) != key {
		t.Fatalf("stored key %x, %v", c.Key, err)
	}
	// The key appears in no response.
	l, err := e.fl.ListEndpoints(ctx, &mgsv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := protojson.Marshal(l); strings.Contains(strings.ToLower(string(b)), key[2:]) || len(l.Endpoints) != 2 || !l.Endpoints[1].PskSet {
		t.Fatalf("list leaks or loses the key: %s", b)
	}

	for _, c := range []struct {
		name string
		req  *mgsv1.ProvisionEndpointRequest
		code codes.Code
		msg  string
	}{
		{"not hex", &mgsv1.ProvisionEndpointRequest{Endpoint: "m1", Eui: "0016c001f0000011", Psk: "xyz"}, codes.InvalidArgument, "psk"},
		{"too long", &mgsv1.ProvisionEndpointRequest{Endpoint: "m1", Eui: "0016c001f0000011", Psk: strings.Repeat("ab", 65)}, codes.InvalidArgument, "psk"},
		{"identity without key", &mgsv1.ProvisionEndpointRequest{Endpoint: "m1", Eui: "0016c001f0000011", PskIdentity: "m1"}, codes.InvalidArgument, "psk_identity"},
		{"bad identity", &mgsv1.ProvisionEndpointRequest{Endpoint: "m1", Eui: "0016c001f0000011", Psk: key, PskIdentity: "a\tb"}, codes.InvalidArgument, "psk_identity"},
		{"long identity", &mgsv1.ProvisionEndpointRequest{Endpoint: "m1", Eui: "0016c001f0000011", Psk: key, PskIdentity: strings.Repeat("i", 129)}, codes.InvalidArgument, "psk_identity"},
		{"identity taken", &mgsv1.ProvisionEndpointRequest{Endpoint: "m1", Eui: "0016c001f0000011", Psk: key, PskIdentity: imei}, codes.AlreadyExists, "psk_identity"},
	} {
		_, err := e.fl.ProvisionEndpoint(ctx, c.req)
		wantCode(t, c.name, err, c.code, c.msg)
	}

	// UpdateEndpoint: a new identity and key, then clear.
	u, err := e.fl.UpdateEndpoint(ctx, &mgsv1.UpdateEndpointRequest{Endpoint: imei, PskIdentity: new("tracker-1"), Psk: new(strings.Repeat("11", 32))})
	if err != nil || u.Endpoint.PskIdentity != "tracker-1" || !u.Endpoint.PskSet || u.Endpoint.Opaque {
		t.Fatalf("update key: %v %v", u, err)
	}
	if c, _ := e.f.PSK(ctx, "tracker-1"); len(c.Key) != 32 {
		t.Fatalf("updated key %x", c.Key)
	}
	for _, c := range []struct {
		name string
		req  *mgsv1.UpdateEndpointRequest
		code codes.Code
		msg  string
	}{
		{"nothing to change", &mgsv1.UpdateEndpointRequest{Endpoint: imei}, codes.InvalidArgument, "psk"},
		{"empty key", &mgsv1.UpdateEndpointRequest{Endpoint: imei, Psk: new("")}, codes.InvalidArgument, "psk"},
		{"clear and set", &mgsv1.UpdateEndpointRequest{Endpoint: imei, ClearPsk: true, Psk: new(key)}, codes.InvalidArgument, "clear_psk"},
		{"bad identity", &mgsv1.UpdateEndpointRequest{Endpoint: imei, PskIdentity: new("é")}, codes.InvalidArgument, "psk_identity"},
		{"identity taken", &mgsv1.UpdateEndpointRequest{Endpoint: imei, PskIdentity: new("meter-7@field")}, codes.AlreadyExists, "psk_identity"},
	} {
		_, err := e.fl.UpdateEndpoint(ctx, c.req)
		wantCode(t, c.name, err, c.code, c.msg)
	}
	u, err = e.fl.UpdateEndpoint(ctx, &mgsv1.UpdateEndpointRequest{Endpoint: imei, ClearPsk: true})
	if err != nil || u.Endpoint.PskSet || u.Endpoint.PskIdentity != "" {
		t.Fatalf("clear: %v %v", u, err)
	}
	_, err = e.fl.UpdateEndpoint(ctx, &mgsv1.UpdateEndpointRequest{Endpoint: imei, PskIdentity: new("x")})
	wantCode(t, "identity without a key", err, codes.InvalidArgument, "psk_identity")
}
