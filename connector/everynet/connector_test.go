package everynet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

const (
	devA = "faa73111a2aead2c"
	devB = "ba27356cb8a25961"
	devC = "8c30dd074be218cb"
)

// dnlinkFor returns a handler function giving every uplink of dev the
// downlink dn (others get none).
func dnlinkFor(dev string, dn *store.Dnlink) func(lora.EUI64, store.Uplink) (*uplink.Result, error) {
	eui := lora.MustParseEUI64(dev)
	return func(e lora.EUI64, _ store.Uplink) (*uplink.Result, error) {
		if e == eui {
			return &uplink.Result{Dnlink: dn}, nil
		}
		return &uplink.Result{}, nil
	}
}

// checkResponse checks every field of a downlink_response against the
// request it answers.
func checkResponse(t *testing.T, got, req map[string]any, port int, payload []byte, extra map[string]any) {
	t.Helper()
	params := map[string]any{"port": float64(port), "payload": base64.StdEncoding.EncodeToString(payload),
		"counter_down": req["params"].(map[string]any)["counter_down"]}
	for k, v := range extra {
		params[k] = v
	}
	// meta is copied from the request, every field of it.
	want := map[string]any{"type": "downlink_response", "meta": req["meta"], "params": params}
	if d := cmp.Diff(roundTrip(t, want), got); d != "" {
		t.Errorf("downlink_response (-want +got):\n%s", d)
	}
}

// roundTrip normalises a value to what encoding/json decodes.
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func TestDownlinkResponseFieldsAndLatency(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	dn := &store.Dnlink{Port: 199, Payload: []byte{0x00, 0x00, 0x03, 0x03, 0x04, 0x0f}}
	h.fn = dnlinkFor(devA, dn)
	c, _ := start(t, testConfig(ns, logs), h)
	fc := ns.next(t)
	q := fc.query
	if q.Get("access_token") != testToken || q.Get("radio") != "1" || q.Get("types") != strings.Join(DefaultTypes(), ",") {
		t.Errorf("connection query = %v", q)
	}

	tm := now()
	up := uplinkMsg(devA, "79f664df2c2073af798fa87497305d8d", tm, 120, 199, []byte{0x00, 0x08})
	ns.emit(up)
	call := h.wait(t)
	wantUp := store.Uplink{FCnt: 120, HasFCnt: true, Port: 199, HasPort: true, Payload: []byte{0, 8},
		Freq: 868100000, HasFreq: true, DR: 0, HasDR: true, Timestamp: tm - 0.007, DedupKey: "uplink/79f664df2c2073af798fa87497305d8d"}
	if call.EUI != lora.MustParseEUI64(devA) || !cmp.Equal(call.Msg, wantUp) {
		t.Errorf("pipeline got %v %s", call.EUI, cmp.Diff(wantUp, call.Msg))
	}

	// The request that follows the uplink, then more requests: each gets
	// the pending downlink (no notification came) within the window.
	var lat []time.Duration
	for i := range 20 {
		req := downlinkRequestMsg(devA, fmt.Sprintf("79f664df2c2073af798fa87497305d8%x", i), now(), 71+i, 51)
		sent := fc.send(t, req)
		got := fc.expect(t, 2*time.Second)
		lat = append(lat, time.Since(sent))
		checkResponse(t, got, roundTrip(t, req), 199, dn.Payload, nil)
	}
	slices.Sort(lat)
	t.Logf("downlink_request → downlink_response latency over %d requests: min %v, median %v, max %v",
		len(lat), lat[0], lat[len(lat)/2], lat[len(lat)-1])
	// Speed is measured by BenchmarkDownlinkRoundTrip, not asserted here.
	if st := c.Status(); st.DownlinkResponses != 20 || st.Uplinks != 1 || !st.Healthy() || st.Connects != 1 {
		t.Errorf("status = %+v", st)
	}
}

// The seed's downlink notification (a network MAC/ACK downlink on port 0)
// does not clear the pending modem downlink; one on its port with its
// payload does.
func TestDownlinkNotificationClearsPending(t *testing.T) {
	seed := seedDownlink(t)
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	dn := &store.Dnlink{Port: 199, Payload: []byte{1, 2, 3}}
	h.fn = dnlinkFor(devA, dn)
	start(t, testConfig(ns, logs), h)
	fc := ns.next(t)

	const hash = "79f664df2c2073af798fa87497305d8d"
	ns.emit(uplinkMsg(devA, hash, now(), 1, 199, []byte{0, 8}))
	h.wait(t)
	req := downlinkRequestMsg(devA, hash, now(), 71, 51)
	fc.send(t, req)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, req), 199, dn.Payload, nil)

	fc.send(t, seed)
	logs.wait(t, "seed notification", msgIs("network downlink transmitted (not a pending OpenMGS downlink)", "packet_hash", hash, "port", "0"))
	req2 := downlinkRequestMsg(devA, "h2", now(), 72, 51)
	fc.send(t, req2)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, req2), 199, dn.Payload, nil)

	fc.send(t, downlinkMsg(devA, "h2", now(), 72, 199, dn.Payload))
	logs.wait(t, "transmitted", msgIs("downlink transmitted", "packet_hash", "h2", "source", "modem"))
	fc.send(t, downlinkRequestMsg(devA, "h3", now(), 73, 51))
	logs.wait(t, "nothing to send", msgIs("downlink_request: nothing to send", "packet_hash", "h3"))

	// A notification without payload matches by the packet_hash the
	// response answered.
	ns.emit(uplinkMsg(devA, "h4", now(), 2, 199, []byte{0, 8}))
	h.wait(t)
	fc.send(t, downlinkRequestMsg(devA, "h4", now(), 74, 51))
	fc.expect(t, 2*time.Second)
	fc.send(t, downlinkMsg(devA, "h4", now(), 74, 199, nil))
	logs.wait(t, "transmitted by hash", msgIs("downlink transmitted", "packet_hash", "h4"))
	fc.send(t, downlinkRequestMsg(devA, "h5", now(), 75, 51))
	logs.wait(t, "nothing to send", msgIs("downlink_request: nothing to send", "packet_hash", "h5"))
}

// A newer uplink without a dnlink supersedes the pending one.
func TestNewerUplinkClearsPending(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	n := 0
	h.fn = func(lora.EUI64, store.Uplink) (*uplink.Result, error) {
		n++
		if n == 1 {
			return &uplink.Result{Dnlink: &store.Dnlink{Port: 199, Payload: []byte{9}}}, nil
		}
		return &uplink.Result{}, nil
	}
	start(t, testConfig(ns, logs), h)
	fc := ns.next(t)
	ns.emit(uplinkMsg(devA, "u1", now(), 1, 199, []byte{0, 8}))
	ns.emit(uplinkMsg(devA, "u2", now(), 2, 199, []byte{0, 8}))
	fc.send(t, downlinkRequestMsg(devA, "u2", now(), 5, 51))
	logs.wait(t, "nothing to send", msgIs("downlink_request: nothing to send", "packet_hash", "u2"))
	if got := len(h.snapshot()); got != 2 {
		t.Errorf("handler calls = %d", got)
	}
}

// One device's slow pipeline call does not delay another device's answer;
// its own request waits for its uplink and is answered after it.
func TestSlowDeviceNoHeadOfLineBlocking(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	release := make(chan struct{})
	slow := lora.MustParseEUI64(devA)
	h.fn = func(e lora.EUI64, u store.Uplink) (*uplink.Result, error) {
		if e == slow {
			<-release
		}
		return &uplink.Result{Dnlink: &store.Dnlink{Port: 10, Payload: []byte(e.Hex()[:4])}}, nil
	}
	start(t, testConfig(ns, logs), h)
	fc := ns.next(t)
	ns.emit(uplinkMsg(devA, "a1", now(), 1, 10, []byte{1}))
	reqA := downlinkRequestMsg(devA, "a1", now(), 1, 51)
	fc.send(t, reqA)
	ns.emit(uplinkMsg(devB, "b1", now(), 1, 10, []byte{1}))
	reqB := downlinkRequestMsg(devB, "b1", now(), 1, 51)
	sent := fc.send(t, reqB)
	got := fc.expect(t, 2*time.Second)
	t.Logf("answer for device B while device A's pipeline call blocks: %v", time.Since(sent))
	checkResponse(t, got, roundTrip(t, reqB), 10, []byte(devB[:4]), nil)
	close(release)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, reqA), 10, []byte(devA[:4]), nil)
}

func TestDownlinkSource(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	modem := &store.Dnlink{Port: 199, Payload: []byte{7, 7}}
	h.fn = dnlinkFor(devA, modem)
	src := &fakeSource{queue: []*store.Dnlink{{Port: 10, Payload: []byte("app")}}}
	cfg := testConfig(ns, logs)
	cfg.Downlinks = src
	start(t, cfg, h)
	fc := ns.next(t)

	// 1. nothing from the modem: the application downlink goes out.
	r1 := downlinkRequestMsg(devA, "r1", now(), 1, 51)
	fc.send(t, r1)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, r1), 10, []byte("app"), nil)
	// 2. a modem downlink has priority; FPending tells the device more waits.
	ns.emit(uplinkMsg(devA, "u1", now(), 1, 199, []byte{0, 8}))
	h.wait(t)
	r2 := downlinkRequestMsg(devA, "r2", now(), 2, 51)
	fc.send(t, r2)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, r2), 199, modem.Payload, map[string]any{"pending": true})
	// 3. once the modem downlink is reported sent, the application one is
	// offered again (it was never reported sent).
	fc.send(t, downlinkMsg(devA, "r2", now(), 2, 199, modem.Payload))
	logs.wait(t, "modem sent", msgIs("downlink transmitted", "packet_hash", "r2", "source", "modem"))
	r3 := downlinkRequestMsg(devA, "r3", now(), 3, 51)
	fc.send(t, r3)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, r3), 10, []byte("app"), nil)
	fc.send(t, downlinkMsg(devA, "r3", now(), 3, 10, nil))
	logs.wait(t, "app sent", msgIs("downlink transmitted", "packet_hash", "r3", "source", "application"))
	// 4. the source is empty now.
	fc.send(t, downlinkRequestMsg(devA, "r4", now(), 4, 51))
	logs.wait(t, "nothing", msgIs("downlink_request: nothing to send", "packet_hash", "r4"))
	if got := src.calls(); got != 2 {
		t.Errorf("source asked %d times, want 2 (r1, r4)", got)
	}
}

type fakeSource struct {
	mu    sync.Mutex
	queue []*store.Dnlink
	n     int
}

func (s *fakeSource) NextDownlink(ctx context.Context, eui lora.EUI64) (*store.Dnlink, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if len(s.queue) == 0 {
		return nil, false
	}
	d := s.queue[0]
	s.queue = s.queue[1:]
	return d, true
}

func (s *fakeSource) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// max_size bounds the answer and becomes the dn_mtu of the next uplink.
func TestMaxSizeAndStaleRequests(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	dn := &store.Dnlink{Port: 199, Payload: make([]byte, 20)}
	h.fn = dnlinkFor(devA, dn)
	start(t, testConfig(ns, logs), h)
	fc := ns.next(t)
	ns.emit(uplinkMsg(devA, "u1", now(), 1, 199, []byte{0, 8}))
	h.wait(t)
	fc.send(t, downlinkRequestMsg(devA, "r1", now(), 1, 11))
	logs.wait(t, "too big", msgIs("pending downlink does not fit max_size: kept for a later slot", "packet_hash", "r1", "max_size", "11"))
	logs.wait(t, "nothing", msgIs("downlink_request: nothing to send", "packet_hash", "r1"))
	ns.emit(uplinkMsg(devA, "u2", now(), 2, 199, []byte{0, 8}))
	if got := h.wait(t).Msg.DnMTU; got != 11 {
		t.Errorf("dn_mtu of the next uplink = %d, want 11", got)
	}
	// A request whose tx_time is long past (a replayed one) is not answered.
	old := downlinkRequestMsg(devA, "r2", now()-3600, 2, 51)
	fc.send(t, old)
	logs.wait(t, "stale", msgIs("downlink_request not answered: its transmit time has passed", "packet_hash", "r2"))
	// The documented example has no fresh tx_time either.
	fc.send(t, docDownlinkRequest)
	logs.wait(t, "stale doc", msgIs("downlink_request not answered: its transmit time has passed",
		"packet_hash", "79f664df2c2073af798fa87497305d8d"))
}

// Disconnects mid-stream, messages emitted while disconnected, replay from
// from_unixtime overlapping what was already received: every uplink
// reaches the pipeline exactly once.
//
// "stable": each connection counts as stable, so a replay starts shortly
// before the last message received. "unstable": connections drop before
// StableAfter, so the next replay starts where the previous one did.
func TestReconnectReplayNoLossNoDuplicate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stableAfter time.Duration
	}{{"stable", time.Nanosecond}, {"unstable", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) { testReplay(t, tc.stableAfter) })
	}
}

func testReplay(t *testing.T, stableAfter time.Duration) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	cfg := testConfig(ns, logs)
	cfg.StableAfter = stableAfter
	c, stop := start(t, cfg, h)
	devs := []string{devA, devB, devC}
	base := now() - 100
	const total = 60
	emit := func(i int) {
		ns.emit(uplinkMsg(devs[i%3], fmt.Sprintf("hash%03d", i), base+float64(i)*0.5, i, 10, []byte{byte(i)}))
	}
	fc := ns.next(t)
	if fc.query.Has("from_unixtime") {
		t.Errorf("first connection asks for history: %v", fc.query)
	}
	var replayQueries []float64
	for i := range total {
		emit(i)
		switch i {
		case 14, 39: // drop mid-stream, right after a write
			ns.drop()
		case 19, 44: // five were emitted while disconnected
			fc = ns.next(t)
			f, err := strconv.ParseFloat(fc.query.Get("from_unixtime"), 64)
			if err != nil {
				t.Fatalf("reconnect without from_unixtime: %v", fc.query)
			}
			replayQueries = append(replayQueries, f)
		}
	}
	// Wait until everything arrived, then stop: Run returns only after
	// every queued message is processed, so late duplicates would show.
	deadline := time.Now().Add(5 * time.Second)
	for len(h.snapshot()) < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	count := map[string]int{}
	for _, call := range h.snapshot() {
		count[fmt.Sprintf("%s/%d", call.EUI.Hex(), call.Msg.FCnt)]++
	}
	for i := range total {
		k := fmt.Sprintf("%s/%d", devs[i%3], i)
		if count[k] != 1 {
			t.Errorf("uplink %d processed %d times", i, count[k])
		}
	}
	if len(count) != total {
		t.Errorf("%d distinct uplinks processed, want %d", len(count), total)
	}
	ns.mu.Lock()
	delivered := 0
	for _, n := range ns.deliveredUp {
		delivered += n
	}
	ns.mu.Unlock()
	st := c.Status()
	t.Logf("replays from %v; server delivered %d uplink frames for %d uplinks; connector dropped %d replayed",
		replayQueries, delivered, total, st.Replayed)
	if delivered <= total || st.Replayed == 0 {
		t.Errorf("the replay never overlapped (delivered %d, replayed %d): de-duplication untested", delivered, st.Replayed)
	}
	if st.Connects != 3 || st.State != StateStopped {
		t.Errorf("status = %+v", st)
	}
	// The first replay starts at most ReplayOverlap before the drop point
	// (message 14), and never after the first message it must deliver.
	if f := replayQueries[0]; f > base+14*0.5 || f < base+14*0.5-cfg.ReplayOverlap.Seconds()-0.01 {
		t.Errorf("first from_unixtime %v, want within %v before %v", f, cfg.ReplayOverlap, base+7)
	}
	switch f := replayQueries[1]; {
	case stableAfter > time.Minute && f != replayQueries[0]:
		t.Errorf("unstable: second replay from %v, want the first's %v", f, replayQueries[0])
	case stableAfter < time.Minute && (f > base+39*0.5 || f < base+39*0.5-cfg.ReplayOverlap.Seconds()-0.01):
		t.Errorf("stable: second from_unixtime %v, want within %v before %v", f, cfg.ReplayOverlap, base+19.5)
	}
}

// Malformed and unusable messages are logged with their packet hash and
// dropped; the connection stays up and the next good uplink is processed.
func TestBadInputKeepsConnection(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	c, _ := start(t, testConfig(ns, logs), h)
	fc := ns.next(t)
	tm := now()
	bad := []struct {
		msg  any
		hash string
		log  string
	}{
		{`this is not json`, "", "malformed message"},
		{`{"type":"uplink","meta":"x"}`, "", "malformed message"},
		{`{"type":"frobnicate","meta":{"packet_hash":"bad02","device":"` + devA + `"},"params":{}}`, "bad02", "unknown message type ignored"},
		{withParams(t, docUplinkNoRadio, map[string]any{"payload": "a0f1hh"}), "889a72ab34a647f504ef37d598589431", "uplink not usable"},
		{`{"type":"uplink","meta":{"packet_hash":"bad04","time":1},"params":{"counter_up":1,"port":2,"payload":"AA=="}}`, "bad04", "uplink not usable"},
		{`{"type":"uplink","meta":{"packet_hash":"bad05","device":"` + devA + `"},"params":{"port":2,"payload":"AA=="}}`, "bad05", "uplink not usable"},
		{`{"type":"uplink","meta":{"packet_hash":"bad06","device":"` + devA + `"},"params":{"counter_up":"1"}}`, "bad06", "uplink not usable"},
		{`{"type":"uplink","meta":{"device":"` + devA + `"},"params":{"counter_up":1}}`, "", "uplink not usable"},
		{`{"type":"uplink","meta":{"packet_hash":"bad08","device":"not-an-eui"},"params":{}}`, "bad08", "malformed message"},
		{`{"type":"downlink_request","meta":{"packet_hash":"bad09","device":"` + devA + `"},"params":{"counter_down":-5}}`, "bad09", "downlink_request not usable"},
		{`{"type":"downlink","meta":{"packet_hash":"bad10","device":"` + devA + `"},"params":{"port":1,"payload":"!!"}}`, "bad10", "downlink notification not usable"},
		{`{"type":"warning","meta":{"packet_hash":"bad11"},"params":{"message":7}}`, "bad11", "warning message not usable"},
		{withParams(t, docUplinkNoRadio, map[string]any{"payload": nil}), "889a72ab34a647f504ef37d598589431", "uplink skipped"},
	}
	for _, b := range bad {
		fc.send(t, b.msg)
	}
	// A gateway duplicate is ignored quietly.
	dup := uplinkMsg(devA, "dup1", tm, 5, 10, []byte{1})
	dup["params"].(map[string]any)["duplicate"] = true
	fc.send(t, dup)
	good := uplinkMsg(devA, "good1", tm, 6, 10, []byte{2})
	fc.send(t, good)
	if call := h.wait(t); call.Msg.FCnt != 6 {
		t.Errorf("pipeline got fcnt %d, want the good uplink's 6", call.Msg.FCnt)
	}
	for _, b := range bad {
		r := logs.wait(t, b.log, msgIs(b.log, "packet_hash", b.hash))
		if r.Level < 0 {
			t.Errorf("%q logged at %v", b.log, r.Level)
		}
	}
	if got := len(h.snapshot()); got != 1 {
		t.Errorf("pipeline called %d times, want 1", got)
	}
	if st := c.Status(); st.Connects != 1 || !st.Healthy() || st.Rejected != uint64(len(bad)) {
		t.Errorf("status = %+v, want 1 connection, healthy, %d rejected", st, len(bad))
	}
	if r := logs.find(msgIs("uplink not usable", "packet_hash", "889a72ab34a647f504ef37d598589431")); len(r) != 1 ||
		!strings.Contains(r[0].Attrs["err"], "params.payload") {
		t.Errorf("invalid base64 log = %+v", r)
	}
}

// Join events become joining messages; status, location and the service
// messages are logged against the device.
func TestJoinStatusLocationAndServiceMessages(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	start(t, testConfig(ns, logs), h)
	fc := ns.next(t)
	fc.send(t, docJoinRequest)
	call := h.wait(t)
	if call.EUI != lora.MustParseEUI64("8c30dd074be218cb") || call.Msg.Type != store.MsgJoining || call.Msg.Timestamp != 1504638900.866375 {
		t.Errorf("join_request → %+v", call)
	}
	fc.send(t, docInfo) // "Join request accepted"
	call = h.wait(t)
	if call.EUI != lora.MustParseEUI64("51924777a6205c40") || call.Msg.Type != store.MsgJoining {
		t.Errorf("info join accepted → %+v", call)
	}
	for _, tc := range []struct {
		msg, log, dev string
		kv            []string
	}{
		{docStatus, "device status (DevStatusAns)", "ba27356cb8a25961", []string{"battery", "100% (254/254)", "snr", "20"}},
		{strings.Replace(docStatus, `"type":"status"`, `"type":"status_response"`, 1), "device status (DevStatusAns)", "ba27356cb8a25961", nil},
		{docLocation, "network location solution", "6231384f96b377f7", []string{"lat", "51.5074", "precision_m", "1200", "method", "simple:moving"}},
		{docError, "network error", "8c30dd074be218cb", []string{"message", "Join request rejected. The same DEV_NONCE was processed before. Possible replay attack"}},
		{docWarning, "network warning", "faa73111a2aead2c", []string{"message", "Requesting downlink message failed: application request timeout. Please check application availability."}},
		{strings.Replace(docInfo, "Join request accepted", "Duplicate join request received", 1), "network info", "51924777a6205c40",
			[]string{"message", "Duplicate join request received"}},
	} {
		// Same hash twice would be a replay: make each unique.
		msg := strings.Replace(tc.msg, `"packet_hash":"`, `"packet_hash":"`+tc.log[:3], 1)
		fc.send(t, msg)
		logs.wait(t, tc.log, msgIs(tc.log, append([]string{"dev_eui", tc.dev}, tc.kv...)...))
	}
	if r := logs.find(msgIs("network error")); len(r) != 1 || r[0].Level.String() != "ERROR" {
		t.Errorf("error message logged as %+v", r)
	}
	// The duplicate join info produced no joining: only the two above.
	fc.send(t, uplinkMsg(devA, "last", now(), 1, 10, nil))
	if call := h.wait(t); call.Msg.Type != store.MsgUpdf {
		t.Errorf("unexpected pipeline call %+v", call)
	}
}

func TestDownlinkClaim(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	dn := &store.Dnlink{Port: 199, Payload: []byte{5, 6}}
	h.fn = dnlinkFor(devA, dn)
	cfg := testConfig(ns, logs)
	cfg.DownlinkClaim = true
	c, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Claim(context.Background(), lora.MustParseEUI64(devA)); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Claim before Run = %v", err)
	}
	c, _ = start(t, cfg, h)
	fc := ns.next(t)
	ns.emit(uplinkMsg(devA, "u1", now(), 1, 199, []byte{0, 8}))
	// No downlink_request comes: after ClaimDelay the connector claims.
	got := fc.expect(t, 2*time.Second)
	want := map[string]any{"type": "downlink_claim", "meta": map[string]any{"device": devA, "network": "75697b95"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("claim (-want +got):\n%s", d)
	}
	req := downlinkRequestMsg(devA, "claimed1", now(), 9, 51)
	fc.send(t, req)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, req), 199, dn.Payload, nil)
	// Once per pending downlink: wait past the delay again; the next
	// message is the answer to a request, not a second claim.
	time.Sleep(3 * cfg.ClaimDelay)
	req2 := downlinkRequestMsg(devA, "r2", now(), 10, 51)
	fc.send(t, req2)
	checkResponse(t, fc.expect(t, 2*time.Second), roundTrip(t, req2), 199, dn.Payload, nil)
	// The explicit API.
	if err := c.Claim(context.Background(), lora.MustParseEUI64(devB)); err != nil {
		t.Fatal(err)
	}
	if got := fc.expect(t, 2*time.Second); got["type"] != "downlink_claim" || got["meta"].(map[string]any)["device"] != devB {
		t.Errorf("Claim sent %v", got)
	}
	if st := c.Status(); st.Claims != 2 {
		t.Errorf("claims = %d, want 2", st.Claims)
	}
}

// Without DownlinkClaim no claim is sent: the next message after the delay
// is the response to a request.
func TestNoClaimByDefault(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	h := newFakeHandler()
	h.fn = dnlinkFor(devA, &store.Dnlink{Port: 199, Payload: []byte{1}})
	cfg := testConfig(ns, logs)
	start(t, cfg, h)
	fc := ns.next(t)
	ns.emit(uplinkMsg(devA, "u1", now(), 1, 199, []byte{0, 8}))
	h.wait(t)
	time.Sleep(3 * cfg.ClaimDelay)
	fc.send(t, downlinkRequestMsg(devA, "r1", now(), 1, 51))
	if got := fc.expect(t, 2*time.Second); got["type"] != "downlink_response" {
		t.Errorf("got %v, want the downlink_response", got)
	}
}

// The connector pings; a server that never answers (no pong, no data) is
// dropped after ReadTimeout and the connector reconnects. Pings from the
// server are answered.
func TestPingPongAndReadDeadline(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	cfg := testConfig(ns, logs)
	cfg.PingInterval = 50 * time.Millisecond
	cfg.ReadTimeout = 300 * time.Millisecond
	c, _ := start(t, cfg, newFakeHandler())
	fc := ns.next(t)
	// Server → client ping is answered with a pong.
	fc.wmu.Lock()
	err := fc.ws.WriteControl(9 /* ping */, []byte("hello"), time.Now().Add(time.Second))
	fc.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-fc.pongs:
		if p != "hello" && p != "" {
			t.Errorf("pong %q", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pong for the server's ping")
	}
	// The normal server answers the connector's pings, so the connection
	// outlives several read timeouts.
	time.Sleep(2 * cfg.ReadTimeout)
	if st := c.Status(); st.Connects != 1 || !st.Healthy() {
		t.Fatalf("connection dropped although pongs came: %+v", st)
	}
	// Now a mute server: no pongs, no data.
	ns.mu.Lock()
	ns.mute = true
	ns.mu.Unlock()
	ns.drop()
	ns.next(t) // the mute connection
	start := time.Now()
	ns.next(t) // dropped after ReadTimeout, reconnected
	// Not before the timeout (the upper bound is ns.next's own wait).
	if d := time.Since(start); d < cfg.ReadTimeout/2 {
		t.Errorf("mute connection replaced after %v, before the %v read timeout", d, cfg.ReadTimeout)
	}
	logs.wait(t, "timeout", func(r logRec) bool {
		return r.Msg == "disconnected" && strings.Contains(r.Attrs["err"], "timeout")
	})
}

// A refused handshake is retried with growing, jittered delays and
// reported in Status; the token never appears in logs.
func TestBackoffOnRefusal(t *testing.T) {
	ns := newFakeNS(t)
	ns.refuse = true
	logs := newLogSink(t)
	cfg := testConfig(ns, logs)
	cfg.MinBackoff = 10 * time.Millisecond
	cfg.MaxBackoff = 80 * time.Millisecond
	c, stop := start(t, cfg, newFakeHandler())
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns.mu.Lock()
		n := ns.handshakes
		ns.mu.Unlock()
		if n >= 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d attempts", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := c.Status()
	if st.State != StateBackoff && st.State != StateConnecting || !strings.Contains(st.LastError, "401") {
		t.Errorf("status = %+v", st)
	}
	// Then the server accepts.
	ns.mu.Lock()
	ns.refuse = false
	ns.mu.Unlock()
	ns.next(t)
	stop()
	if strings.Contains(logs.dump(), testToken) || strings.Contains(c.Status().URL, testToken) {
		t.Error("the access token leaked into logs or status")
	}
	var retries []string
	for _, r := range logs.find(msgIs("connect failed")) {
		retries = append(retries, r.Attrs["retry_in"])
	}
	t.Logf("retry delays: %v", retries)
}

func TestBackoffBounds(t *testing.T) {
	c := &Connector{cfg: DefaultConfig()}
	c.cfg.MinBackoff, c.cfg.MaxBackoff = 100*time.Millisecond, 1600*time.Millisecond
	for n := 1; n <= 10; n++ {
		full := min(c.cfg.MinBackoff<<(n-1), c.cfg.MaxBackoff)
		for range 50 {
			d := c.backoff(n)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, full/2, full)
			}
		}
	}
}

func TestRunOnceAndStop(t *testing.T) {
	ns := newFakeNS(t)
	logs := newLogSink(t)
	cfg := testConfig(ns, logs)
	var mu sync.Mutex
	var states []State
	cfg.OnStateChange = func(s Status) {
		mu.Lock()
		states = append(states, s.State)
		mu.Unlock()
	}
	c, stop := start(t, cfg, newFakeHandler())
	ns.next(t)
	if err := c.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
	stop()
	if st := c.Status(); st.State != StateStopped || st.Healthy() {
		t.Errorf("status after stop = %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []State{StateConnecting, StateConnected, StateStopped}; !slices.Equal(states, want) {
		t.Errorf("state changes %v, want %v", states, want)
	}
}

func BenchmarkDownlinkRoundTrip(b *testing.B) {
	ns := newFakeNS(b)
	logs := newLogSink(b)
	h := newFakeHandler()
	h.fn = dnlinkFor(devA, &store.Dnlink{Port: 199, Payload: []byte{0, 0, 3, 3, 4, 15}})
	cfg := testConfig(ns, logs)
	cfg.Logger = nil
	start(b, cfg, h)
	fc := ns.next(b)
	ns.emit(uplinkMsg(devA, "u", now(), 1, 199, []byte{0, 8}))
	h.wait(b)
	req, _ := json.Marshal(downlinkRequestMsg(devA, "r", now()+3600, 1, 51))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A fresh hash each time: equal hashes are replays.
		r := strings.Replace(string(req), `"packet_hash":"r"`, fmt.Sprintf(`"packet_hash":"r%d"`, i), 1)
		i++
		fc.send(b, r)
		fc.expect(b, 2*time.Second)
	}
}

func TestScrub(t *testing.T) {
	c := &Connector{secret: "s3cr3t"}
	if got := c.scrub(errors.New(`dial "wss://x/?access_token=s3cr3t": refused`)).Error(); strings.Contains(got, "s3cr3t") {
		t.Errorf("scrub = %q", got)
	}
	if err := c.scrub(nil); err != nil {
		t.Error(err)
	}
}
