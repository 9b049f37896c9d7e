package outbox

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

func openStore(t testing.TB, path string) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newOutbox(t testing.TB, cfg Config) (*Outbox, store.Store) {
	t.Helper()
	db := openStore(t, filepath.Join(t.TempDir(), "db"))
	t.Cleanup(func() { db.Close() })
	return New(db, cfg), db
}

var (
	devA = lora.MustParseEUI64("0016c001f000406e")
	devB = lora.MustParseEUI64("0016c001f000406f")
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func TestQueueLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	o, _ := newOutbox(t, Config{MaxPending: 3, MaxHistory: 2, Now: clk.Now})

	var ids []uint64
	for i := range 3 {
		m, err := o.Enqueue(ctx, devA, 10+i, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, ids); diff != "" {
		t.Fatalf("ids (-want +got):\n%s", diff)
	}
	if _, err := o.Enqueue(ctx, devA, 1, nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("4th enqueue: err = %v, want ErrQueueFull", err)
	}
	// Other devices have their own queue.
	if _, err := o.Enqueue(ctx, devB, 1, []byte("b")); err != nil {
		t.Fatalf("other device: %v", err)
	}

	next, ok, err := o.Next(ctx, devA)
	if err != nil || !ok || next.ID != 1 || next.Port != 10 || !bytes.Equal(next.Payload, []byte{0}) {
		t.Fatalf("Next = %+v, %v, %v", next, ok, err)
	}
	if err := o.MarkSent(ctx, devA, 1, TransportLoRaWAN); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkSent(ctx, devA, 1, TransportLoRaWAN); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second MarkSent: %v, want ErrNotPending", err)
	}
	if err := o.Delete(ctx, devA, 1); !errors.Is(err, ErrNotPending) {
		t.Fatalf("delete sent: %v, want ErrNotPending", err)
	}
	if err := o.Delete(ctx, devA, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete unknown: %v, want ErrNotFound", err)
	}
	if err := o.Delete(ctx, devA, 3); err != nil {
		t.Fatalf("delete pending: %v", err)
	}
	// A sent message frees a slot; ids are never reused after a delete.
	m, err := o.Enqueue(ctx, devA, 20, []byte("x"))
	if err != nil || m.ID != 4 {
		t.Fatalf("enqueue after delete: %+v, %v (want id 4)", m, err)
	}
	n, err := o.MarkAttempt(ctx, devA, 2, "timeout")
	if err != nil || n != 1 {
		t.Fatalf("MarkAttempt = %d, %v", n, err)
	}
	if err := o.MarkFailed(ctx, devA, 2, TransportCoAP, "device answered 4.04"); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkSent(ctx, devA, 4, TransportCoAP); err != nil {
		t.Fatal(err)
	}
	// History keeps the newest 2 sent/failed: message 1 is dropped.
	msgs, err := o.List(ctx, devA)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID        uint64
		State     State
		Attempts  int
		Transport string
		Error     string
	}
	var got []row
	for _, m := range msgs {
		got = append(got, row{m.ID, m.State, m.Attempts, m.Transport, m.Error})
		if m.State == Sent && m.SentTime.IsZero() {
			t.Errorf("message %d sent without a time", m.ID)
		}
	}
	want := []row{{2, Failed, 1, TransportCoAP, "device answered 4.04"}, {4, Sent, 0, TransportCoAP, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("list (-want +got):\n%s", diff)
	}
	if _, ok, _ := o.Next(ctx, devA); ok {
		t.Fatal("Next found a message in an empty queue")
	}
	if err := o.Purge(ctx, devA); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := o.List(ctx, devA); len(msgs) != 0 {
		t.Fatalf("after purge: %d messages", len(msgs))
	}
	if msgs, _ := o.List(ctx, devB); len(msgs) != 1 {
		t.Fatalf("purge touched another device: %d messages", len(msgs))
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	o, _ := newOutbox(t, Config{MaxPayload: 4})
	for _, tc := range []struct {
		port    int
		payload []byte
	}{{0, nil}, {224, nil}, {-1, nil}, {256, nil}, {1, []byte("12345")}} {
		if _, err := o.Enqueue(ctx, devA, tc.port, tc.payload); !errors.Is(err, ErrInvalid) {
			t.Errorf("Enqueue(port %d, %d bytes): %v, want ErrInvalid", tc.port, len(tc.payload), err)
		}
	}
	if _, err := o.Broadcast(ctx, []lora.EUI64{devA}, 0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Broadcast port 0: %v", err)
	}
	if msgs, _ := o.List(ctx, devA); len(msgs) != 0 {
		t.Fatalf("bad input stored %d messages", len(msgs))
	}
}

func TestDefaults(t *testing.T) {
	o, _ := newOutbox(t, Config{})
	if diff := cmp.Diff(DefaultConfig(), Config{MaxPending: o.cfg.MaxPending, MaxHistory: o.cfg.MaxHistory, MaxPayload: o.cfg.MaxPayload}); diff != "" {
		t.Fatal(diff)
	}
	if DefaultConfig().MaxPending != 16 {
		t.Fatal("documented default queue bound is 16")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{MaxPending: 0, MaxHistory: 1, MaxPayload: 1}).Validate(); err == nil {
		t.Fatal("Validate accepted max-pending 0")
	}
}

func TestConcurrentBound(t *testing.T) {
	ctx := context.Background()
	o, _ := newOutbox(t, Config{MaxPending: 5})
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := o.Enqueue(ctx, devA, 1, []byte{byte(i)})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrQueueFull):
				full.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 || full.Load() != 15 {
		t.Fatalf("queued %d, full %d; want 5 and 15", ok.Load(), full.Load())
	}
	msgs, _ := o.List(ctx, devA)
	seen := map[uint64]bool{}
	for _, m := range msgs {
		if seen[m.ID] {
			t.Fatalf("duplicate id %d", m.ID)
		}
		seen[m.ID] = true
	}
}

func TestBroadcastAndWatch(t *testing.T) {
	ctx := context.Background()
	o, _ := newOutbox(t, Config{MaxPending: 1})
	var mu sync.Mutex
	var woke []lora.EUI64
	stop := o.Watch(func(e lora.EUI64) { mu.Lock(); woke = append(woke, e); mu.Unlock() })
	if _, err := o.Enqueue(ctx, devB, 5, []byte("first")); err != nil {
		t.Fatal(err)
	}
	res, err := o.Broadcast(ctx, []lora.EUI64{devA, devB}, 7, []byte("all"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1 || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].EUI != devB || !strings.Contains(res.Errors[0].Message, "queue full") {
		t.Fatalf("broadcast = %+v", res)
	}
	stop()
	if _, err := o.Enqueue(ctx, devA, 5, nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("devA should be full: %v", err)
	}
	if _, err := o.Enqueue(ctx, lora.EUI64{1}, 5, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]lora.EUI64{devB, devA}, woke); diff != "" {
		t.Fatalf("watch calls (-want +got):\n%s", diff)
	}
}

func TestPersistence(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := openStore(t, path)
	o := New(db, Config{})
	if _, err := o.Enqueue(ctx, devA, 3, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openStore(t, path)
	defer db.Close()
	o = New(db, Config{})
	m, ok, err := o.Next(ctx, devA)
	if err != nil || !ok || string(m.Payload) != "kept" || m.Port != 3 || m.Created.IsZero() {
		t.Fatalf("after reopen: %+v %v %v", m, ok, err)
	}
	m2, err := o.Enqueue(ctx, devA, 3, nil)
	if err != nil || m2.ID != 2 {
		t.Fatalf("id after reopen: %+v %v", m2, err)
	}
}

func TestTransportContext(t *testing.T) {
	ctx := context.Background()
	if TransportFrom(ctx) != "" {
		t.Fatal("default transport must be empty")
	}
	if TransportFrom(WithTransport(ctx, TransportCoAP)) != TransportCoAP {
		t.Fatal("transport not carried")
	}
	for _, s := range []State{Pending, Sent, Failed} {
		if p, ok := ParseState(s.String()); !ok || p != s {
			t.Fatalf("ParseState(%q) = %v %v", s, p, ok)
		}
	}
	if _, ok := ParseState("bogus"); ok {
		t.Fatal("ParseState accepted bogus")
	}
}

func BenchmarkEnqueueNext(b *testing.B) {
	ctx := context.Background()
	o, _ := newOutbox(b, Config{MaxPending: 1 << 30, MaxHistory: 4})
	payload := bytes.Repeat([]byte{0xaa}, 32)
	b.ReportAllocs()
	for b.Loop() {
		m, err := o.Enqueue(ctx, devA, 1, payload)
		if err != nil {
			b.Fatal(err)
		}
		if err := o.MarkSent(ctx, devA, m.ID, TransportLoRaWAN); err != nil {
			b.Fatal(err)
		}
	}
}
