package uplink

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

// appEnv is a pipeline with the app-downlink stage inserted after
// plan_downlink and its hook run after each commit, as cmd/mgsd wires it.
type appEnv struct {
	p    *Pipeline
	ob   *outbox.Outbox
	hook func(context.Context, *State)
	last *State
}

func newAppEnv(t *testing.T) *appEnv {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &appEnv{p: New(db, Config{}), ob: outbox.New(db, outbox.Config{})}
	stage, hook := AppDownlinkStage(e.ob, nil)
	e.hook = hook
	i := slices.IndexFunc(e.p.stages, func(s Stage) bool { return s.Name == "plan_downlink" })
	e.p.stages = slices.Insert(e.p.stages, i+1, stage)
	// Capture the State of the committed run for the hook.
	e.p.stages = append(e.p.stages, Stage{"capture", func(_ context.Context, s *State) error { e.last = s; return nil }})
	return e
}

func (e *appEnv) handle(t *testing.T, ctx context.Context, msg Message) *Result {
	t.Helper()
	e.last = nil
	r, err := e.p.Handle(ctx, appDev, msg)
	if err != nil {
		t.Fatal(err)
	}
	if e.last != nil && !e.last.Duplicate {
		e.hook(ctx, e.last)
	}
	return r
}

func (e *appEnv) states(t *testing.T) []string {
	t.Helper()
	msgs, err := e.ob.List(context.Background(), appDev)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.State.String()+"/"+m.Transport)
	}
	return out
}

var appDev = lora.MustParseEUI64("0016c001f000406e")

func updf(fcnt uint32, port uint8, payload ...byte) Message {
	return Message{Type: store.MsgUpdf, FCnt: fcnt, HasFCnt: true, Port: port, HasPort: true, Payload: payload}
}

func TestAppDownlinkDelivery(t *testing.T) {
	ctx := context.Background()
	e := newAppEnv(t)
	for _, p := range []string{"first", "second"} {
		if _, err := e.ob.Enqueue(ctx, appDev, 5, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	r := e.handle(t, ctx, updf(1, 10, 1))
	if r.Dnlink == nil || r.Dnlink.Port != 5 || string(r.Dnlink.Payload) != "first" {
		t.Fatalf("dnlink %+v", r.Dnlink)
	}
	if diff := cmp.Diff([]string{"sent/lorawan", "pending/"}, e.states(t)); diff != "" {
		t.Fatalf("after the first uplink (-want +got):\n%s", diff)
	}
	// A network-server retry of the same uplink repeats the same dnlink and
	// consumes nothing.
	r = e.handle(t, ctx, updf(1, 10, 1))
	if r.Dnlink == nil || string(r.Dnlink.Payload) != "first" {
		t.Fatalf("duplicate dnlink %+v", r.Dnlink)
	}
	if diff := cmp.Diff([]string{"sent/lorawan", "pending/"}, e.states(t)); diff != "" {
		t.Fatalf("after the duplicate (-want +got):\n%s", diff)
	}

	// A joining message is no downlink opportunity.
	r = e.handle(t, ctx, Message{Type: store.MsgJoining})
	if r.Dnlink != nil {
		t.Fatalf("dnlink on joining: %+v", r.Dnlink)
	}
	// A modem request takes precedence.
	req, err := ParseRequest("GETINFO", []any{"temp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.AddRequests(ctx, appDev, []store.Request{req}, 0, 0); err != nil {
		t.Fatal(err)
	}
	r = e.handle(t, ctx, updf(2, 10, 2))
	if r.Dnlink == nil || r.Dnlink.Port != 199 {
		t.Fatalf("modem request should take the slot: %+v", r.Dnlink)
	}
	if diff := cmp.Diff([]string{"sent/lorawan", "pending/"}, e.states(t)); diff != "" {
		t.Fatalf("while a request is pending (-want +got):\n%s", diff)
	}
	if _, err := e.p.ClearRequests(ctx, appDev, nil); err != nil {
		t.Fatal(err)
	}

	// Over NB-IoT the CoAP server delivers the queue itself.
	r = e.handle(t, outbox.WithTransport(ctx, outbox.TransportCoAP), updf(3, 10, 3))
	if r.Dnlink != nil {
		t.Fatalf("dnlink for a CoAP uplink: %+v", r.Dnlink)
	}
	r = e.handle(t, ctx, updf(4, 10, 4))
	if r.Dnlink == nil || string(r.Dnlink.Payload) != "second" {
		t.Fatalf("second dnlink %+v", r.Dnlink)
	}
	if diff := cmp.Diff([]string{"sent/lorawan", "sent/lorawan"}, e.states(t)); diff != "" {
		t.Fatalf("at the end (-want +got):\n%s", diff)
	}
	r = e.handle(t, ctx, updf(5, 10, 5))
	if r.Dnlink != nil {
		t.Fatalf("dnlink from an empty queue: %+v", r.Dnlink)
	}
}

func TestAppDownlinkMTU(t *testing.T) {
	ctx := context.Background()
	e := newAppEnv(t)
	if _, err := e.ob.Enqueue(ctx, appDev, 5, []byte("too long for now")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ob.Enqueue(ctx, appDev, 6, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	msg := updf(1, 10, 1)
	msg.DnMTU = 11
	r := e.handle(t, ctx, msg)
	if r.Dnlink == nil || r.Dnlink.Port != 6 || string(r.Dnlink.Payload) != "ok" {
		t.Fatalf("dnlink %+v", r.Dnlink)
	}
	r = e.handle(t, ctx, func() Message { m := updf(2, 10, 2); m.DnMTU = 11; return m }())
	if r.Dnlink != nil || len(r.Logs) != 1 {
		t.Fatalf("nothing fits: dnlink %+v logs %+v", r.Dnlink, r.Logs)
	}
	r = e.handle(t, ctx, updf(3, 10, 3)) // MTU unknown
	if r.Dnlink == nil || r.Dnlink.Port != 5 {
		t.Fatalf("dnlink without MTU %+v", r.Dnlink)
	}
	if diff := cmp.Diff([]string{"sent/lorawan", "sent/lorawan"}, e.states(t)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// A hook call for a run the stage did not serve, or a second call, does
// nothing.
func TestAppDownlinkHookIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newAppEnv(t)
	if _, err := e.ob.Enqueue(ctx, appDev, 5, []byte("x")); err != nil {
		t.Fatal(err)
	}
	e.hook(ctx, &State{EUI: appDev, Msg: &Message{}})
	if diff := cmp.Diff([]string{"pending/"}, e.states(t)); diff != "" {
		t.Fatal(diff)
	}
	e.handle(t, ctx, updf(1, 10, 1))
	e.hook(ctx, e.last)
	if diff := cmp.Diff([]string{"sent/lorawan"}, e.states(t)); diff != "" {
		t.Fatal(diff)
	}
}
