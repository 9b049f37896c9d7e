package lwm2m_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

const imei = "867723030005655" // seed 002 capture

func register(t *testing.T, m *quectel, lt int, b string) {
	t.Helper()
	code, err := m.Register(lt, b)
	if err != nil || code != codes.Created {
		t.Fatalf("register: %v %v", code, err)
	}
	m.WaitObserved()
}

// TestUplinkAndDownlink runs the BC26 manual's direct-push example against
// a real pipeline: register, observe, a DM frame (port 199) updates the info
// fields, a modem request is written back framed, and queued application
// messages reach the awake device at once.
func TestUplinkAndDownlink(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)

	if err := m.Send([]byte{199, 0x03, 0x19}, false); err != errNotObserved {
		t.Fatalf("send before the observe: %v, want the module's ERROR", err)
	}
	register(t, m, 86400, "U")
	reg, ok := e.srv.Registration(eui)
	if !ok || reg.Endpoint != imei || !strings.HasPrefix(m.Location(), "rd/") || reg.ID != strings.TrimPrefix(m.Location(), "rd/") ||
		reg.Lifetime != 24*time.Hour || reg.Binding != "U" || reg.Version != "1.0" {
		t.Fatalf("registration %+v, location %q", reg, m.Location())
	}
	eventually(t, "observed", time.Second, func() bool { r, _ := e.srv.Registration(eui); return r.Observed })
	if !strings.Contains(reg.Objects, "</19/0>") {
		t.Fatalf("objects %q", reg.Objects)
	}

	// DM frame: temp 25 (tag 03), NON like AT+QLWDATASEND ...,0x0000.
	if err := m.Send([]byte{199, 0x03, 0x19}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	d := e.device(eui)
	if !d.Info.Temp.Set || d.Info.Temp.Value != 25 || d.LastUplink.Port != 199 || d.LastUplink.FCnt != 0 ||
		d.LastUplink.DnMTU != 511 {
		t.Fatalf("device after the DM frame: info %+v last %+v", d.Info.Temp, d.LastUplink)
	}

	// A GETINFO request becomes the dnlink of the next uplink (CON this
	// time), written to /19/1/0 as port byte 199 + the DM downlink.
	r, err := uplink.ParseRequest("GETINFO", []any{"rstcount"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pipe.AddRequests(context.Background(), eui, []store.Request{r}, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Send([]byte{199, 0x03, 0x1a}, true); err != nil {
		t.Fatal(err)
	}
	got, ok := m.Receive(2 * time.Second)
	if !ok {
		t.Fatal("no modem downlink")
	}
	d = e.device(eui)
	if d.LastDnlink == nil || !bytes.Equal(got, lwm2m.Frame(d.LastDnlink.Port, d.LastDnlink.Payload)) || got[0] != 199 {
		t.Fatalf("modem downlink %x, pipeline dnlink %+v", got, d.LastDnlink)
	}
	if d.LastUplink.FCnt != 1 {
		t.Fatalf("frame counter %d, want 1", d.LastUplink.FCnt)
	}
	if n, err := e.srv.FrameCounter(context.Background(), eui); err != nil || n != 2 {
		t.Fatalf("FrameCounter = %d, %v", n, err)
	}

	// The device was just heard: a queued message goes out at once.
	msg := e.enqueue(eui, 42, "hello")
	got, ok = m.Receive(2 * time.Second)
	if !ok || !bytes.Equal(got, append([]byte{42}, "hello"...)) {
		t.Fatalf("application downlink %x, %v", got, ok)
	}
	eventually(t, "message sent", time.Second, func() bool {
		ms := e.messages(eui)
		return len(ms) == 1 && ms[0].ID == msg.ID && ms[0].State == outbox.Sent && ms[0].Transport == outbox.TransportCoAP
	})
	if !slices.Contains(m.URCs(), "+QLWDATARECV: 19,1,0,6,2A68656C6C6F") {
		t.Fatalf("URCs %q", m.URCs())
	}

	// De-register (AT+QLWCLOSE).
	if code, err := m.Close(); err != nil || code != codes.Deleted {
		t.Fatalf("close: %v %v", code, err)
	}
	if _, ok := e.srv.Registration(eui); ok {
		t.Fatal("still registered after DELETE")
	}
	if code, _ := m.Update(); code != codes.NotFound {
		t.Fatalf("update after de-register: %v, want 4.04", code)
	}
	st := e.srv.Status()
	if st.Registers != 1 || st.Deregisters != 1 || st.Notifications != 2 || st.Delivered != 1 || st.Registrations != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestQueuedDeliveryAfterWakeUp: a queue-mode device sleeps; messages
// queued meanwhile wait, and go out in order right after its next uplink.
func TestQueuedDeliveryAfterWakeUp(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)
	register(t, m, 3600, "UQ")
	if err := m.Send([]byte{10, 1}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	m.Sleep()
	time.Sleep(450 * time.Millisecond) // past the awake window

	e.enqueue(eui, 5, "one")
	e.enqueue(eui, 6, "two")
	if b, ok := m.Receive(300 * time.Millisecond); ok {
		t.Fatalf("a sleeping queue-mode device got %x", b)
	}
	for _, msg := range e.messages(eui) {
		if msg.State != outbox.Pending || msg.Attempts != 0 {
			t.Fatalf("before wake-up: %+v", msg)
		}
	}

	m.Wake() // PSM ends: the module sends its next reading
	if err := m.Send([]byte{10, 2}, false); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		b, ok := m.Receive(2 * time.Second)
		if !ok {
			t.Fatalf("after wake-up got only %q", got)
		}
		got = append(got, hex.EncodeToString(b))
	}
	if diff := cmp.Diff([]string{"056f6e65", "0674776f"}, got); diff != "" {
		t.Fatalf("downlinks after wake-up (-want +got):\n%s", diff)
	}
	eventually(t, "both sent", time.Second, func() bool {
		ms := e.messages(eui)
		return len(ms) == 2 && ms[0].State == outbox.Sent && ms[1].State == outbox.Sent
	})
}

// TestSleepingUDevice: a b=U device is written at once; when it sleeps the
// single try fails without counting, and its next registration update
// delivers.
func TestSleepingUDevice(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)
	register(t, m, 3600, "U")
	m.Sleep()
	time.Sleep(450 * time.Millisecond)
	e.enqueue(eui, 7, "x")
	eventually(t, "a failed try", 3*time.Second, func() bool { return e.srv.Status().DeliveryErrors >= 1 })
	if ms := e.messages(eui); ms[0].State != outbox.Pending || ms[0].Attempts != 0 {
		t.Fatalf("after a try while asleep: %+v", ms[0])
	}
	m.Wake()
	if code, err := m.Update(); err != nil || code != codes.Changed {
		t.Fatalf("update: %v %v", code, err)
	}
	b, ok := m.Receive(2 * time.Second)
	if !ok || !bytes.Equal(b, []byte{7, 'x'}) {
		t.Fatalf("after update: %x %v", b, ok)
	}
}

// TestDeliveryFailures: a write answered 4.xx fails at once; a device that
// sends but never answers exhausts MaxAttempts rounds.
func TestDeliveryFailures(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)
	register(t, m, 3600, "UQ")
	m.RefuseWrites(codes.MethodNotAllowed)
	first := e.enqueue(eui, 1, "refused")
	eventually(t, "failed", 10*time.Second, func() bool { return e.messages(eui)[0].State == outbox.Failed })
	if ms := e.messages(eui); ms[0].ID != first.ID || !strings.Contains(ms[0].Error, "4.05") {
		t.Fatalf("refused: %+v", ms[0])
	}

	m.RefuseWrites(codes.Changed)
	// The module keeps sending but its receiver hears nothing. The round
	// started by the enqueue counts (the device was heard moments ago),
	// and so does the one after its next uplink.
	m.Sleep()
	second := e.enqueue(eui, 1, "lost")
	attempts := func() int {
		for _, x := range e.messages(eui) {
			if x.ID == second.ID {
				return x.Attempts
			}
		}
		return -1
	}
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	eventually(t, "first round counted", 4*time.Second, func() bool { return attempts() == 1 })
	if err := m.Send([]byte{10, 1}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gave up", 4*time.Second, func() bool {
		ms := e.messages(eui)
		return ms[len(ms)-1].State == outbox.Failed
	})
	if ms := e.messages(eui); !strings.Contains(ms[len(ms)-1].Error, "2 delivery rounds") {
		t.Fatalf("failure reason %q", ms[len(ms)-1].Error)
	}
}

// TestReRegistrationAndRebinding: the module registers again from a new
// port; the server observes on the new port and forgets the old
// registration.
func TestReRegistrationAndRebinding(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)
	register(t, m, 3600, "U")
	oldLoc := m.Location()
	oldReg, _ := e.srv.Registration(eui)

	// NAT rebinding without re-registration: the notification from the new
	// port still matches by token, and writes follow the new port.
	m.Rebind("")
	if err := m.Send([]byte{10, 1}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink after rebinding", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	r, _ := e.srv.Registration(eui)
	if r.Addr == oldReg.Addr {
		t.Fatalf("address not updated after rebinding: %s", r.Addr)
	}
	e.enqueue(eui, 3, "n")
	if b, ok := m.Receive(2 * time.Second); !ok || !bytes.Equal(b, []byte{3, 'n'}) {
		t.Fatalf("write after rebinding: %x %v", b, ok)
	}

	// Re-registration from yet another port (BC68: 19000 → 61500).
	m.Rebind("")
	register(t, m, 3600, "U")
	if m.Location() == oldLoc {
		t.Fatal("re-registration kept the old location")
	}
	if n := e.srv.Status().Registrations; n != 1 {
		t.Fatalf("%d registrations after re-registering", n)
	}
	if err := m.Send([]byte{10, 2}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink after re-registration", 10*time.Second, func() bool { return e.uplinks(eui) == 2 })
	if e.srv.Status().Registers != 2 {
		t.Fatalf("status %+v", e.srv.Status())
	}
}

// TestExpiry: a registration ends lt seconds after its last update.
func TestExpiry(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)
	register(t, m, 1, "U")
	time.Sleep(600 * time.Millisecond)
	if code, err := m.Update(); err != nil || code != codes.Changed {
		t.Fatalf("update: %v %v", code, err)
	}
	time.Sleep(600 * time.Millisecond) // 1.2 s after registering, 0.6 s after the update
	if _, ok := e.srv.Registration(eui); !ok {
		t.Fatal("the update did not extend the registration")
	}
	eventually(t, "expiry", 10*time.Second, func() bool { _, ok := e.srv.Registration(eui); return !ok })
	if code, _ := m.Update(); code != codes.NotFound {
		t.Fatalf("update after expiry: %v, want 4.04", code)
	}
	// Its notifications are refused (RST) and not processed.
	if err := m.Send([]byte{10, 1}, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rejected", time.Second, func() bool { return e.logged("unregistered endpoint") })
	if e.uplinks(eui) != 0 || e.srv.Status().Expirations != 1 {
		t.Fatalf("uplinks %d, status %+v", e.uplinks(eui), e.srv.Status())
	}
	// Registering again works.
	register(t, m, 60, "U")
}

// TestRestart: registrations and the frame counter survive a restart of
// the server on the same store.
func TestRestart(t *testing.T) {
	e := newEnv(t, envOpts{})
	eui := mustEUI(t, imei)
	m := newQuectel(t, e.addr, imei)
	register(t, m, 3600, "U")
	if err := m.Send([]byte{10, 1}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	e.stop()

	e2 := newEnv(t, envOpts{db: e.db})
	if r, ok := e2.srv.Registration(eui); !ok || !r.Observed {
		t.Fatalf("registration not restored: %+v", r)
	}
	m.Rebind(e2.addr) // the module keeps its context and observe token
	if err := m.Send([]byte{10, 2}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink after restart", 10*time.Second, func() bool { return e2.uplinks(eui) == 2 })
	if d := e2.device(eui); d.LastUplink.FCnt != 1 {
		t.Fatalf("frame counter after restart %d, want 1", d.LastUplink.FCnt)
	}
}

// TestOpaqueDevice: a provisioned opaque endpoint carries raw application
// bytes on the fixed port, in both directions.
func TestOpaqueDevice(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *lwm2m.Config) { c.OpaquePort = 9 }})
	eui := lora.MustParseEUI64("0016c001f000406e")
	if _, err := e.fleet.Provision(context.Background(), fleet.Endpoint{Name: "meter-1", EUI: eui, Opaque: true}, "", nil); err != nil {
		t.Fatal(err)
	}
	m := newQuectel(t, e.addr, "meter-1")
	register(t, m, 3600, "U")
	// 0x00 would be an invalid port byte; opaque data may start with it.
	if err := m.Send([]byte{0x00, 0xff, 0x10}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	d := e.device(eui)
	if d.LastUplink.Port != 9 || !bytes.Equal(d.LastUplink.Payload, []byte{0, 0xff, 0x10}) || d.LastUplink.DnMTU != 512 {
		t.Fatalf("opaque uplink %+v", d.LastUplink)
	}
	e.enqueue(eui, 100, "raw")
	if b, ok := m.Receive(2 * time.Second); !ok || string(b) != "raw" {
		t.Fatalf("opaque downlink %q %v", b, ok)
	}
}

// TestBroadcastDelivery: a broadcast to the default collection reaches
// every NB-IoT device.
func TestBroadcastDelivery(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	imeis := []string{"867723030005655", "866971030001361", "867724030023557"}
	var mods []*quectel
	var euis []lora.EUI64
	for _, im := range imeis {
		m := newQuectel(t, e.addr, im)
		register(t, m, 3600, "U")
		mods = append(mods, m)
		euis = append(euis, mustEUI(t, im))
	}
	for _, eui := range euis {
		if _, err := e.fleet.Place(ctx, eui, fleet.DefaultCollection, nil); err != nil {
			t.Fatal(err)
		}
	}
	members, err := e.fleet.Members(ctx, fleet.DefaultCollection)
	if err != nil || len(members) != 3 {
		t.Fatalf("members %+v %v", members, err)
	}
	var targets []lora.EUI64
	for _, d := range members {
		targets = append(targets, d.EUI)
	}
	res, err := e.ob.Broadcast(ctx, targets, 11, []byte("all"))
	if err != nil || res.Sent != 3 || res.Failed != 0 {
		t.Fatalf("broadcast %+v %v", res, err)
	}
	for i, m := range mods {
		if b, ok := m.Receive(2 * time.Second); !ok || string(b) != "\x0ball" {
			t.Fatalf("device %d got %q %v", i, b, ok)
		}
	}
}

func TestConfig(t *testing.T) {
	d := lwm2m.DefaultConfig()
	if d.Addr != "127.0.0.1:5683" || d.MaxPayload != 512 || d.OpaquePort != 1 {
		t.Fatalf("defaults %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []lwm2m.Config{
		{Addr: "nohostport"},
		{MaxPayload: 5000},
		{AckTimeout: -1},
		{MinLifetime: time.Hour, MaxLifetime: time.Minute},
		{OpaquePort: 224},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
	if _, err := lwm2m.New(lwm2m.Config{}, nil, nil, nil, nil); err == nil {
		t.Fatal("New accepted nil dependencies")
	}
}
