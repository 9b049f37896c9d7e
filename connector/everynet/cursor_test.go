package everynet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// memCursor is an in-memory CursorStore that copies what it keeps.
type memCursor struct {
	mu      sync.Mutex
	cps     map[string]Checkpoint
	saves   int
	loadErr error
	saveErr error
}

func newMemCursor() *memCursor { return &memCursor{cps: map[string]Checkpoint{}} }

func (m *memCursor) Load(_ context.Context, name string) (Checkpoint, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loadErr != nil {
		return Checkpoint{}, false, m.loadErr
	}
	cp, ok := m.cps[name]
	return Checkpoint{Time: cp.Time, Seen: slices.Clone(cp.Seen)}, ok, nil
}

func (m *memCursor) Save(_ context.Context, name string, cp Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.saveErr != nil {
		return m.saveErr
	}
	m.saves++
	m.cps[name] = Checkpoint{Time: cp.Time, Seen: slices.Clone(cp.Seen)}
	return nil
}

func (m *memCursor) get(name string) (Checkpoint, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cps[name], m.saves
}

func (m *memCursor) set(name string, cp Checkpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cps[name] = cp
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitCalls(t *testing.T, h *fakeHandler, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d pipeline calls", n), func() bool { return len(h.snapshot()) >= n })
}

// fcnts returns the fcnt of every pipeline call, sorted.
func fcnts(h *fakeHandler) []int {
	var out []int
	for _, c := range h.snapshot() {
		out = append(out, int(c.Msg.FCnt))
	}
	slices.Sort(out)
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func fromUnixtime(t *testing.T, fc *fakeConn) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(fc.query.Get("from_unixtime"), 64)
	if err != nil {
		t.Fatalf("connection without from_unixtime: %v", fc.query)
	}
	return f
}

func uplinkKeys(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("uplink/hash%03d", i))
	}
	return out
}

func sortedSeen(cp Checkpoint) []string {
	s := slices.Clone(cp.Seen)
	slices.Sort(s)
	return s
}

// A connector is stopped after some uplinks; more arrive while it is down;
// a new connector with the same cursor store replays them: every missed
// uplink reaches the pipeline exactly once, none processed before is
// processed again, across three devices handled in parallel.
func TestRestartReplaysMissedUplinksOnce(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.CursorSaveInterval = 20 * time.Millisecond
	overlap := cfg.ReplayOverlap.Seconds() // 2 s: four messages of 0.5 s
	devs := []string{devA, devB, devC}
	base := math.Floor(now()) - 100
	at := func(i int) float64 { return base + float64(i)*0.5 }
	emit := func(from, to int) {
		for i := from; i <= to; i++ {
			ns.emit(uplinkMsg(devs[i%3], fmt.Sprintf("hash%03d", i), at(i), i, 10, []byte{byte(i)}))
		}
	}

	// 1. The first run: no saved cursor, no history asked.
	h1 := newFakeHandler()
	c1, stop1 := start(t, cfg, h1)
	if fc := ns.next(t); fc.query.Has("from_unixtime") {
		t.Errorf("first start asks for history: %v", fc.query)
	}
	emit(0, 19)
	waitCalls(t, h1, 20)
	stop1()
	cp, _ := mc.get("test")
	if cp.Time != at(19) || !cmp.Equal(sortedSeen(cp), uplinkKeys(15, 19)) {
		t.Fatalf("checkpoint after the first run = %+v, want time %v and the keys of uplinks 15..19 (within %v s)",
			cp, at(19), overlap)
	}
	if st := c1.Status(); st.SavedCursor != at(19) {
		t.Errorf("SavedCursor = %v, want %v", st.SavedCursor, at(19))
	}

	// 2. mgsd is down: ten uplinks are only in the network's history.
	emit(20, 29)

	// 3. The restart replays from the saved cursor minus the overlap.
	h2 := newFakeHandler()
	c2, stop2 := start(t, cfg, h2)
	if f := fromUnixtime(t, ns.next(t)); math.Abs(f-(at(19)-overlap)) > 1e-6 {
		t.Errorf("restart from_unixtime = %v, want %v", f, at(19)-overlap)
	}
	waitCalls(t, h2, 10)
	emit(30, 34) // live again
	waitCalls(t, h2, 15)
	stop2() // returns once everything received is processed: late duplicates would show
	if got := fcnts(h2); !cmp.Equal(got, seq(20, 34)) {
		t.Errorf("after the restart the pipeline got fcnts %v, want each of 20..34 once", got)
	}
	if got := fcnts(h1); !cmp.Equal(got, seq(0, 19)) {
		t.Errorf("first run: fcnts %v", got)
	}
	if st := c2.Status(); st.Replayed != 5 {
		t.Errorf("restart dropped %d replayed uplinks, want the 5 of the overlap (de-duplication across restarts untested)", st.Replayed)
	}
	cp, saves := mc.get("test")
	if cp.Time != at(34) || !cmp.Equal(sortedSeen(cp), uplinkKeys(30, 34)) {
		t.Fatalf("checkpoint after the second run = %+v", cp)
	}

	// 4. A restart with nothing new: only the overlap comes back, and is
	// dropped; the checkpoint did not change, so it is not saved again.
	h3 := newFakeHandler()
	c3, stop3 := start(t, cfg, h3)
	if f := fromUnixtime(t, ns.next(t)); math.Abs(f-(at(34)-overlap)) > 1e-6 {
		t.Errorf("second restart from_unixtime = %v, want %v", f, at(34)-overlap)
	}
	waitFor(t, "the overlap replayed", func() bool { return c3.Status().Replayed == 5 })
	time.Sleep(3 * cfg.CursorSaveInterval)
	stop3()
	if n := len(h3.snapshot()); n != 0 {
		t.Errorf("a restart with nothing new processed %d uplinks: %v", n, fcnts(h3))
	}
	if cp2, saves2 := mc.get("test"); saves2 != saves || !cmp.Equal(cp2, cp) {
		t.Errorf("checkpoint rewritten without change: %d saves → %d, %+v", saves, saves2, cp2)
	}
}

// While one device's pipeline call is in progress the saved cursor does
// not pass its uplink, although later uplinks of other devices finished.
func TestCheckpointNeverAheadOfPipeline(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.CursorSaveInterval = 10 * time.Millisecond
	h := newFakeHandler()
	release := make(chan struct{})
	slow := lora.MustParseEUI64(devA)
	h.fn = func(e lora.EUI64, u store.Uplink) (*uplink.Result, error) {
		if e == slow {
			<-release
		}
		return &uplink.Result{}, nil
	}
	_, stop := start(t, cfg, h)
	ns.next(t)
	base := math.Floor(now()) - 50
	ns.emit(uplinkMsg(devC, "hash000", base, 0, 10, []byte{0}))
	waitFor(t, "first checkpoint", func() bool { cp, _ := mc.get("test"); return cp.Time == base })
	ns.emit(uplinkMsg(devA, "hash001", base+1, 1, 10, []byte{1})) // blocks
	for i := 2; i <= 6; i++ {
		ns.emit(uplinkMsg(devB, fmt.Sprintf("hash%03d", i), base+float64(i), i, 10, []byte{byte(i)}))
	}
	waitCalls(t, h, 7) // devA's call has started, devB's five finished
	waitFor(t, "devB's keys saved", func() bool { cp, _ := mc.get("test"); return len(cp.Seen) == 6 })
	time.Sleep(5 * cfg.CursorSaveInterval)
	if cp, _ := mc.get("test"); cp.Time != base {
		t.Fatalf("checkpoint time %v passed the uplink still in the pipeline (%v)", cp.Time, base+1)
	} else if want := append(uplinkKeys(0, 0), uplinkKeys(2, 6)...); !cmp.Equal(sortedSeen(cp), want) {
		t.Errorf("seen = %v, want the finished %v", cp.Seen, want)
	}
	close(release)
	waitFor(t, "checkpoint after the slow call", func() bool { cp, _ := mc.get("test"); return cp.Time == base+6 })
	stop()
}

// An uplink read but not yet queued when the connector stops is not
// processed; the saved cursor stays before it, so the next run gets it.
func TestUplinkDroppedAtShutdownIsReplayed(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.MaxQueued = 1
	h := newFakeHandler()
	release := make(chan struct{})
	h.fn = func(lora.EUI64, store.Uplink) (*uplink.Result, error) {
		<-release
		return &uplink.Result{}, nil
	}
	c, stop := start(t, cfg, h)
	ns.next(t)
	base := math.Floor(now()) - 50
	ns.emit(uplinkMsg(devA, "hash001", base+1, 1, 10, []byte{1})) // takes the only queue slot
	waitCalls(t, h, 1)
	ns.emit(uplinkMsg(devB, "hash002", base+2, 2, 10, []byte{2})) // the reader waits for a slot
	waitFor(t, "second uplink read", func() bool { return c.Status().Cursor == base+2 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(100 * time.Millisecond) // the reader gives up on the slot
	close(release)
	<-stopped
	if got := fcnts(h); !cmp.Equal(got, []int{1}) {
		t.Fatalf("first run processed %v, want only 1", got)
	}
	cp, _ := mc.get("test")
	if cp.Time != base+1 || !cmp.Equal(cp.Seen, uplinkKeys(1, 1)) {
		t.Fatalf("checkpoint %+v, want time %v (before the dropped uplink)", cp, base+1)
	}

	cfg.MaxQueued = 16
	h2 := newFakeHandler()
	c2, stop2 := start(t, cfg, h2)
	ns.next(t)
	waitCalls(t, h2, 1)
	waitFor(t, "replay of uplink 1 dropped", func() bool { return c2.Status().Replayed == 1 })
	stop2()
	if got := fcnts(h2); !cmp.Equal(got, []int{2}) {
		t.Errorf("restart processed %v, want only the dropped 2", got)
	}
}

// A saved cursor older than MaxLookBack replays only MaxLookBack, and says
// so.
func TestRestartLookBackBound(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.MaxLookBack = time.Hour
	tm := now()
	mc.set("test", Checkpoint{Time: tm - 48*3600, Seen: []string{"uplink/old"}})
	ns.emit(uplinkMsg(devA, "h47h", tm-47*3600, 1, 10, []byte{1}))
	ns.emit(uplinkMsg(devA, "h61m", tm-61*60, 2, 10, []byte{2}))
	ns.emit(uplinkMsg(devA, "h30m", tm-30*60, 3, 10, []byte{3}))
	ns.emit(uplinkMsg(devA, "h10s", tm-10, 4, 10, []byte{4}))
	h := newFakeHandler()
	c, stop := start(t, cfg, h)
	f := fromUnixtime(t, ns.next(t))
	if want := tm - 3600; f < want-1 || f > want+5 {
		t.Errorf("from_unixtime %v, want about now - 1 h (%v)", f, want)
	}
	waitCalls(t, h, 2)
	logs.wait(t, "look-back warning", msgIs("history older than the maximum look-back is not replayed: messages in between are missed"))
	stop()
	if got := fcnts(h); !cmp.Equal(got, []int{3, 4}) {
		t.Errorf("processed fcnts %v, want only the last hour's 3 and 4", got)
	}
	if cp, _ := mc.get("test"); cp.Time != tm-10 {
		t.Errorf("checkpoint %v, want %v", cp.Time, tm-10)
	}
	// The default bound is 24 h.
	if DefaultConfig().MaxLookBack != 24*time.Hour {
		t.Errorf("default MaxLookBack = %v", DefaultConfig().MaxLookBack)
	}
	if st := c.Status(); st.Connects != 1 {
		t.Errorf("connects = %d", st.Connects)
	}
}

// The network refuses a history request it cannot serve: the connector
// connects without history instead of retrying the same request forever.
func TestRestartHistoryRefused(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	tm := now()
	ns.refuseBefore = tm - 3600
	mc.set("test", Checkpoint{Time: tm - 2*3600})
	h := newFakeHandler()
	c, stop := start(t, cfg, h)
	if fc := ns.next(t); fc.query.Has("from_unixtime") {
		t.Errorf("connection after the refusal asks for history again: %v", fc.query)
	}
	logs.wait(t, "refusal warning", msgIs("the network refused the history request: the next connection asks for none; "+
		"messages since from_unixtime that were not received are missed", "status", "400 Bad Request"))
	ns.emit(uplinkMsg(devA, "live", now(), 7, 10, []byte{7}))
	waitCalls(t, h, 1)
	stop()
	if st := c.Status(); st.Connects != 1 {
		t.Errorf("status %+v", st)
	}
	if cp, _ := mc.get("test"); cp.Time <= tm {
		t.Errorf("checkpoint %v did not advance to the live uplink", cp.Time)
	}
}

// History shorter than the saved cursor reaches back (the network's
// retention) is no error: what is there is processed.
func TestRestartHistoryExpired(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	ns.retention = time.Hour
	tm := now()
	mc.set("test", Checkpoint{Time: tm - 2*3600})
	ns.emit(uplinkMsg(devA, "h90m", tm-90*60, 1, 10, []byte{1})) // expired
	ns.emit(uplinkMsg(devA, "h30m", tm-30*60, 2, 10, []byte{2}))
	h := newFakeHandler()
	_, stop := start(t, cfg, h)
	if f := fromUnixtime(t, ns.next(t)); math.Abs(f-(tm-2*3600-cfg.ReplayOverlap.Seconds())) > 1e-3 {
		t.Errorf("from_unixtime %v", f)
	}
	waitCalls(t, h, 1)
	ns.emit(uplinkMsg(devA, "live", now(), 3, 10, []byte{3}))
	waitCalls(t, h, 2)
	stop()
	if got := fcnts(h); !cmp.Equal(got, []int{2, 3}) {
		t.Errorf("fcnts %v, want 2 and 3", got)
	}
}

// A store that fails: loading starts without history; saving is retried
// and logged once per outage.
func TestCursorStoreErrors(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	mc.set("test", Checkpoint{Time: now() - 60})
	mc.loadErr = errors.New("disk on fire")
	mc.saveErr = errors.New("disk full")
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.CursorSaveInterval = 10 * time.Millisecond
	h := newFakeHandler()
	c, stop := start(t, cfg, h)
	if fc := ns.next(t); fc.query.Has("from_unixtime") {
		t.Errorf("history asked for without a loaded cursor: %v", fc.query)
	}
	logs.wait(t, "load error", msgIs("saved cursor not loaded: starting without history", "err", "disk on fire"))
	for i := range 3 {
		ns.emit(uplinkMsg(devA, fmt.Sprintf("hash%03d", i), now(), i, 10, []byte{byte(i)}))
		waitCalls(t, h, i+1)
		time.Sleep(3 * cfg.CursorSaveInterval)
	}
	if n := len(logs.find(msgIs("cursor not saved (retrying)", "err", "disk full"))); n != 1 {
		t.Errorf("save failure logged %d times, want once", n)
	}
	mc.mu.Lock()
	mc.saveErr = nil
	mc.mu.Unlock()
	logs.wait(t, "recovered", msgIs("cursor saved again"))
	stop()
	if cp, _ := mc.get("test"); !cmp.Equal(sortedSeen(cp), uplinkKeys(0, 2)) || cp.Time != c.Status().SavedCursor {
		t.Errorf("checkpoint after recovery %+v, status %+v", cp, c.Status())
	}
}

// Saves are throttled to CursorSaveInterval however many messages come,
// and the last one is saved when Run returns.
func TestCursorSaveThrottled(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.CursorSaveInterval = 100 * time.Millisecond
	h := newFakeHandler()
	_, stop := start(t, cfg, h)
	ns.next(t)
	const total = 300
	began := time.Now()
	var last float64
	for i := range total {
		last = now()
		ns.emit(uplinkMsg([]string{devA, devB, devC}[i%3], fmt.Sprintf("hash%03d", i), last, i, 10, []byte{1}))
		if i%30 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCalls(t, h, total)
	stop()
	elapsed := time.Since(began)
	cp, saves := mc.get("test")
	t.Logf("%d uplinks in %v: %d saves", total, elapsed, saves)
	if limit := int(elapsed/cfg.CursorSaveInterval) + 2; saves > limit || saves < 1 {
		t.Errorf("%d saves in %v, want 1..%d", saves, elapsed, limit)
	}
	if cp.Time != last {
		t.Errorf("final checkpoint %v, want the last uplink's %v", cp.Time, last)
	}
}

func TestTrackerWatermark(t *testing.T) {
	k := newTracker(2*time.Second, 4)
	if _, ok := k.snapshot(); ok {
		t.Fatal("snapshot without any message")
	}
	s1, s2, s3 := k.begin(10), k.begin(12), k.begin(11) // out of order meta.time
	k.end(s2, "uplink/b")
	k.end(s3, "")
	cp, ok := k.snapshot()
	if ok {
		t.Fatalf("checkpoint %+v while the first message is unfinished", cp)
	}
	k.end(s1, "uplink/a")
	cp, ok = k.snapshot()
	if want := (Checkpoint{Time: 12, Seen: []string{"uplink/b", "uplink/a"}}); !ok || !cmp.Equal(cp, want) {
		t.Fatalf("checkpoint %+v, want %+v", cp, want)
	}
	if _, ok := k.snapshot(); ok {
		t.Error("unchanged checkpoint reported again")
	}
	// Keys older than mark - overlap are dropped; at most max are kept.
	for i, tm := range []float64{13, 14, 15, 15.5, 16} {
		k.end(k.begin(tm), fmt.Sprintf("uplink/%d", i))
	}
	cp, _ = k.snapshot()
	if want := (Checkpoint{Time: 16, Seen: []string{"uplink/1", "uplink/2", "uplink/3", "uplink/4"}}); !cmp.Equal(cp, want) {
		t.Errorf("checkpoint %+v, want %+v", cp, want)
	}
	// A restored checkpoint's keys count as of its time.
	r := newTracker(2*time.Second, 4)
	r.restore(Checkpoint{Time: 100, Seen: []string{"x", "y"}})
	r.end(r.begin(101), "z")
	if cp, _ := r.snapshot(); !cmp.Equal(cp, Checkpoint{Time: 101, Seen: []string{"x", "y", "z"}}) {
		t.Errorf("after restore %+v", cp)
	}
	r.end(r.begin(102.5), "w")
	if cp, _ := r.snapshot(); !cmp.Equal(cp, Checkpoint{Time: 102.5, Seen: []string{"z", "w"}}) {
		t.Errorf("restored keys not pruned: %+v", cp)
	}
	// Without a Cursor store there is no tracker, and that is safe.
	var none *tracker
	none.end(none.begin(1), "k")
}

// BenchmarkTracker is the per-message cost with a Cursor store at 1000
// messages per second (10,000 keys in the default 10 s overlap), including
// the once-a-second snapshot, amortised.
func BenchmarkTracker(b *testing.B) {
	k := newTracker(10*time.Second, 16384)
	tm := 1.7e9
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		tm += 0.001
		k.end(k.begin(tm), "uplink/79f664df2c2073af798fa87497305d8d")
		if n++; n%1000 == 0 {
			k.snapshot()
		}
	}
}

// BenchmarkTrackerHotPath is begin+end alone: what the message path pays.
func BenchmarkTrackerHotPath(b *testing.B) {
	k := newTracker(10*time.Second, 16384)
	tm := 1.7e9
	b.ReportAllocs()
	for b.Loop() {
		tm += 0.001
		k.end(k.begin(tm), "uplink/79f664df2c2073af798fa87497305d8d")
	}
}

// After a crash the saved cursor is older than what the pipeline
// committed: the restarted connector gets those uplinks again from history
// and hands them to the pipeline, which recognises them by their key
// (type/packet_hash) and processes none twice, even an older one than the
// device's last uplink.
func TestCrashReplayNotProcessedTwice(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	mc := newMemCursor()
	cfg := testConfig(ns, logs)
	cfg.Cursor = mc
	cfg.CursorSaveInterval = 20 * time.Millisecond
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pipe := uplink.New(db, uplink.Config{Logger: logs.logger()})
	ctx := context.Background()
	eui := lora.MustParseEUI64(devA)
	device := func() *store.Device {
		d, err := pipe.Device(ctx, eui)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	processed := func(n uint64, fcnt uint32) func() bool {
		return func() bool {
			d, err := pipe.Device(ctx, eui)
			return err == nil && d.UplinkCount == n && d.LastUplink.FCnt == fcnt
		}
	}
	base := math.Floor(now()) - 100
	up := func(i int) map[string]any {
		return uplinkMsg(devA, "a"+strconv.Itoa(i), base+float64(i)*0.25, 10+i, 199, []byte{0x03, byte(i)})
	}

	_, stop1 := start(t, cfg, pipe)
	ns.next(t)
	ns.emit(up(0))
	waitFor(t, "the cursor saved after a0", func() bool { cp, _ := mc.get("test"); return cp.Time == base })
	crashed, _ := mc.get("test")
	ns.emit(up(1))
	ns.emit(up(2))
	waitFor(t, "a1 and a2 processed", processed(3, 12))
	stop1()
	// The crash: no save happened after a0's.
	mc.set("test", crashed)
	before := device()

	c2, stop2 := start(t, cfg, pipe)
	if f := fromUnixtime(t, ns.next(t)); f != base-cfg.ReplayOverlap.Seconds() {
		t.Errorf("restart from_unixtime = %v, want %v", f, base-cfg.ReplayOverlap.Seconds())
	}
	for _, key := range []string{"uplink/a1", "uplink/a2"} {
		logs.wait(t, key+" recognised", msgIs("replay of an uplink already processed: not processed again", "key", key))
	}
	if diff := cmp.Diff(before, device()); diff != "" {
		t.Errorf("the replays changed the device (-before +after):\n%s", diff)
	}
	ns.emit(up(3)) // live again
	waitFor(t, "a3 processed", processed(4, 13))
	stop2()
	if st := c2.Status(); st.Replayed != 1 || st.Uplinks != 3 {
		t.Errorf("status %+v: want a0 dropped by the connector (checkpoint), a1..a3 handed to the pipeline", st)
	}
}
