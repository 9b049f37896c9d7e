package uplink_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

var dev = lora.MustParseEUI64("00-16-c0-01-f0-00-40-6e")

// Spec vectors (modem-protocol.md §2.6).
const (
	firstReport  = "00080100000319040e1c0500000600000700000000000000000f0300120500"
	secondReport = "000802a503e7040e1c090100feff01c016000a810b01106e4000f001c01600"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newPipeline(t testing.TB) (*uplink.Pipeline, store.Store) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := time.Unix(1700000000, 0)
	var mu sync.Mutex
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	return uplink.New(db, uplink.Config{Now: now}), db
}

func dm(fcnt uint32, payload string) uplink.Message {
	b, err := hex.DecodeString(strings.ReplaceAll(payload, " ", ""))
	if err != nil {
		panic(err)
	}
	return uplink.Message{Type: store.MsgUpdf, FCnt: fcnt, HasFCnt: true, Port: 199, HasPort: true, Payload: b}
}

func handle(t *testing.T, p *uplink.Pipeline, msg uplink.Message) *uplink.Result {
	t.Helper()
	r, err := p.Handle(context.Background(), dev, msg)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return r
}

func dnlinkHex(r *uplink.Result) string {
	if r.Dnlink == nil {
		return ""
	}
	return hex.EncodeToString(r.Dnlink.Payload)
}

func addRequest(t *testing.T, p *uplink.Pipeline, typ string, param any) {
	t.Helper()
	r, err := uplink.ParseRequest(typ, param)
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", typ, err)
	}
	if _, err := p.AddRequests(context.Background(), dev, []store.Request{r}, 0, 0); err != nil {
		t.Fatal(err)
	}
}

func TestDMReportUpdatesInfoFields(t *testing.T) {
	p, _ := newPipeline(t)
	msg := dm(1, firstReport)
	msg.Timestamp = 1234.5
	r := handle(t, p, msg)
	if r.Operation != uplink.OpModem || r.Dnlink != nil || len(r.Logs) != 0 {
		t.Fatalf("result: op %q dnlink %v logs %v", r.Operation, r.Dnlink, r.Logs)
	}
	in := r.Info
	if !in.Status.Value.Joined || in.Temp.Value != 25 || in.Signal.Value != (modemproto.Signal{RSSI: -50, SNR: 7}) ||
		in.RstCount.Value != 3 || in.Session.Value != 5 || in.RstCount.Time != 1234.5 {
		t.Fatalf("info fields: %+v", in)
	}
	if r.Ports != store.DefaultPorts() {
		t.Fatalf("ports %+v", r.Ports)
	}
	r = handle(t, p, dm(2, secondReport))
	if r.Info.Voltage.Value != 3.3 || r.Info.Temp.Value != -25 || r.Info.Region.Value != 1 ||
		r.Info.JoinEUI.Value != lora.MustParseEUI64("00-16-c0-01-ff-fe-00-01") ||
		r.Info.DevEUI.Value != lora.MustParseEUI64("00-16-c0-01-f0-00-40-6e") || r.Info.RstCount.Value != 3 {
		t.Fatalf("second report: %+v", r.Info)
	}
	d, err := p.Device(context.Background(), dev)
	if err != nil || d.UplinkCount != 2 || d.LastUplink.FCnt != 2 {
		t.Fatalf("device: %+v, %v", d, err)
	}
}

func TestTruncatedFrameIsProcessedAsFarAsItDecodes(t *testing.T) {
	p, _ := newPipeline(t)
	// temp 25, then signal cut after one byte.
	r := handle(t, p, dm(1, "031904"))
	if !r.Info.Temp.Set || r.Info.Temp.Value != 25 || r.Info.Signal.Set {
		t.Fatalf("info %+v", r.Info)
	}
	if len(r.Logs) != 1 || r.Logs[0].Level != store.LevelError || !strings.Contains(r.Logs[0].Msg, "signal") {
		t.Fatalf("logs %+v", r.Logs)
	}
	// Unknown tag after a valid field.
	r = handle(t, p, dm(2, "03157f00"))
	if r.Info.Temp.Value != 21 || len(r.Logs) != 1 || !strings.Contains(r.Logs[0].Msg, "unknown tag") {
		t.Fatalf("unknown tag: temp %v logs %+v", r.Info.Temp, r.Logs)
	}
}

func TestGetInfoFulfilment(t *testing.T) {
	p, _ := newPipeline(t)
	addRequest(t, p, "GETINFO", []any{"temp", "signal", "rstcount"})
	r := handle(t, p, dm(1, "0308")) // only temp
	// temp was reported by this uplink: only signal and rstcount are asked.
	if got := dnlinkHex(r); got != "000003040f" {
		t.Fatalf("dnlink %q, want 000003040f", got)
	}
	if r.Dnlink.Port != 199 || len(r.Fulfilled) != 0 || len(r.Pending) != 1 {
		t.Fatalf("result %+v", r)
	}
	r = handle(t, p, dm(2, "04 0e1c 0f 0300"))
	if len(r.Fulfilled) != 1 || r.Fulfilled[0].Request.Type != "GETINFO" || len(r.Pending) != 0 || r.Dnlink != nil {
		t.Fatalf("fulfilled %+v pending %+v dnlink %v", r.Fulfilled, r.Pending, r.Dnlink)
	}
}

func TestGetInfoSplitsToFitMTU(t *testing.T) {
	p, _ := newPipeline(t)
	addRequest(t, p, "GETINFO", []any{"status", "charge", "voltage", "temp", "signal", "uptime"})
	msg := dm(1, "")
	msg.HasPort, msg.Payload, msg.DnMTU = false, nil, 6
	r := handle(t, p, msg)
	if got := dnlinkHex(r); got != "000003000102" {
		t.Fatalf("dnlink %q, want the first 3 tags", got)
	}
}

func TestResetNeedsRstCountThenFulfils(t *testing.T) {
	p, _ := newPipeline(t)
	addRequest(t, p, "RESET", 3.0)
	r := handle(t, p, dm(1, "0319"))
	if got := dnlinkHex(r); got != "0000030f" {
		t.Fatalf("without rstcount: dnlink %q, want GETINFO rstcount", got)
	}
	if len(r.Logs) != 1 || !strings.Contains(r.Logs[0].Msg, "rstcount") {
		t.Fatalf("logs %+v", r.Logs)
	}
	r = handle(t, p, dm(2, "0f0300"))
	if got := dnlinkHex(r); got != "000000030300" {
		t.Fatalf("RESET dnlink %q, want 000000030300", got)
	}
	// Same rstcount again: not yet reset, RESET is repeated.
	r = handle(t, p, dm(3, "0f0300"))
	if len(r.Fulfilled) != 0 || dnlinkHex(r) != "000000030300" {
		t.Fatalf("repeat: %+v %q", r.Fulfilled, dnlinkHex(r))
	}
	r = handle(t, p, uplink.Message{Type: store.MsgJoining})
	if r.Dnlink != nil {
		t.Fatal("dnlink on joining")
	}
	r = handle(t, p, dm(1, firstReport[:len(firstReport)-12]+"0f0400"))
	if len(r.Fulfilled) != 1 || r.Fulfilled[0].Request.Type != "RESET" {
		t.Fatalf("RESET not fulfilled after rstcount advanced: %+v", r.Fulfilled)
	}
}

func TestRejoinAndMute(t *testing.T) {
	p, _ := newPipeline(t)
	handle(t, p, dm(1, "120500"))
	addRequest(t, p, "REJOIN", nil)
	r := handle(t, p, dm(2, "0308"))
	if got := dnlinkHex(r); got != "0000050500" {
		t.Fatalf("REJOIN dnlink %q", got)
	}
	r = handle(t, p, uplink.Message{Type: store.MsgJoining})
	if len(r.Fulfilled) != 1 || r.Fulfilled[0].Request.Type != "REJOIN" || r.Info.Session.Set {
		t.Fatalf("joining: fulfilled %+v session %+v", r.Fulfilled, r.Info.Session)
	}
	addRequest(t, p, "MUTE", 7.0)
	r = handle(t, p, dm(1, "0008"))
	if got := dnlinkHex(r); got != "00000607" || len(r.Fulfilled) != 0 {
		t.Fatalf("MUTE dnlink %q fulfilled %v", got, r.Fulfilled)
	}
	r = handle(t, p, dm(2, "000c")) // joined + mute
	if len(r.Fulfilled) != 1 || r.Fulfilled[0].Request.Type != "MUTE" {
		t.Fatalf("MUTE not fulfilled: %+v", r.Fulfilled)
	}
}

func TestSetConfSetsThenVerifies(t *testing.T) {
	p, _ := newPipeline(t)
	addRequest(t, p, "SETCONF", map[string]any{"interval": float64(0xC2), "adrmode": 1.0})
	r := handle(t, p, dm(1, "0308"))
	if got := dnlinkHex(r); got != "0000040801" {
		t.Fatalf("first dnlink %q, want SETCONF adrmode", got)
	}
	r = handle(t, p, dm(2, "0308"))
	if got := dnlinkHex(r); got != "00000308" {
		t.Fatalf("second dnlink %q, want GETINFO adrmode", got)
	}
	r = handle(t, p, dm(3, "0801"))
	if got := dnlinkHex(r); got != "0000040ac2" {
		t.Fatalf("third dnlink %q, want SETCONF interval", got)
	}
	r = handle(t, p, dm(4, "0ac2"))
	if len(r.Fulfilled) != 1 || r.Dnlink != nil {
		t.Fatalf("SETCONF not fulfilled: %+v %q", r.Fulfilled, dnlinkHex(r))
	}
}

func TestOneShotRequestsAndRotation(t *testing.T) {
	p, _ := newPipeline(t)
	addRequest(t, p, "FILEDONE", map[string]any{"sid": 0.0, "sctr": 1.0})
	addRequest(t, p, "GETINFO", []any{"temp"})
	r := handle(t, p, dm(1, "0f0300"))
	if got := dnlinkHex(r); got != "00000201" || len(r.Fulfilled) != 1 || r.Fulfilled[0].Request.Type != "FILEDONE" {
		t.Fatalf("FILEDONE: dnlink %q fulfilled %+v", got, r.Fulfilled)
	}
	r = handle(t, p, dm(2, "0f0300"))
	if got := dnlinkHex(r); got != "00000303" {
		t.Fatalf("GETINFO next: %q", got)
	}
}

func TestUpcountUpdelayAndMetadataOnlyUplink(t *testing.T) {
	p, _ := newPipeline(t)
	r0, _ := uplink.ParseRequest("GETINFO", []any{"temp", "signal", "rstcount"})
	if _, err := p.AddRequests(context.Background(), dev, []store.Request{r0}, 2, 30); err != nil {
		t.Fatal(err)
	}
	msg := uplink.Message{Type: store.MsgUpdf, FCnt: 9, HasFCnt: true}
	r := handle(t, p, msg)
	if got := dnlinkHex(r); got != "021e0303040f" || r.Operation != uplink.OpOther {
		t.Fatalf("dnlink %q op %q", got, r.Operation)
	}
	if r.Upcount != 2 || r.Updelay != 30 {
		t.Fatalf("upcount/updelay %d/%d", r.Upcount, r.Updelay)
	}
}

func TestRouting(t *testing.T) {
	p, _ := newPipeline(t)
	ctx := context.Background()
	if _, err := p.SetPorts(ctx, dev, store.Ports{Stream: 10}, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		port uint8
		op   string
		warn string
	}{{199, uplink.OpModem, ""}, {198, uplink.OpGNSS, "GNSS"}, {192, uplink.OpGNSS, "GNSS"}, {197, uplink.OpWiFi, "Wi-Fi"},
		{10, uplink.OpModem, "stream"}, {2, uplink.OpOther, ""}} {
		m := dm(uint32(tc.port), "0102")
		m.Port = tc.port
		r := handle(t, p, m)
		if r.Operation != tc.op {
			t.Errorf("port %d: operation %q, want %q", tc.port, r.Operation, tc.op)
		}
		if tc.warn != "" && (len(r.Logs) == 0 || !strings.Contains(r.Logs[0].Msg, tc.warn)) {
			t.Errorf("port %d: logs %+v, want a message about %s", tc.port, r.Logs, tc.warn)
		}
	}
	for _, tc := range []struct {
		t  store.MsgType
		op string
	}{{store.MsgGNSS, uplink.OpGNSS}, {store.MsgGNSSNG, uplink.OpGNSS}, {store.MsgWiFi, uplink.OpWiFi}, {store.MsgJoining, uplink.OpModem}} {
		r := handle(t, p, uplink.Message{Type: tc.t, Payload: []byte{1, 2}})
		if r.Operation != tc.op {
			t.Errorf("msgtype %v: operation %q", tc.t, r.Operation)
		}
	}
}

func TestDuplicateIsNotProcessedTwice(t *testing.T) {
	p, _ := newPipeline(t)
	addRequest(t, p, "GETINFO", []any{"temp"})
	r1 := handle(t, p, dm(5, "0f0300"))
	r2 := handle(t, p, dm(5, "0f0300"))
	if dnlinkHex(r1) != dnlinkHex(r2) || r2.Dnlink == nil {
		t.Fatalf("duplicate dnlink %q vs %q", dnlinkHex(r1), dnlinkHex(r2))
	}
	d, _ := p.Device(context.Background(), dev)
	if d.UplinkCount != 1 || d.Requests[0].Sent != 1 {
		t.Fatalf("duplicate changed state: count %d sent %d", d.UplinkCount, d.Requests[0].Sent)
	}
}

func keyed(fcnt uint32, payload, key string) uplink.Message {
	m := dm(fcnt, payload)
	m.DedupKey = key
	return m
}

// storedDevice returns the stored record of dev and its revision.
func storedDevice(t *testing.T, db store.Store) ([]byte, uint64) {
	t.Helper()
	b, rev, err := db.Table(store.TableDevices).Get(context.Background(), dev[:])
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b), rev
}

// A replay of a recent keyed uplink (a transport delivering it again after
// a crash) is not processed again and writes nothing; only the last
// uplink's downlink is repeated.
func TestReplayByDedupKey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		replay     uplink.Message
		wantDnlink bool
	}{
		{"older uplink", keyed(1, "0f0300", "uplink/a1"), false},
		{"older uplink, other content", keyed(7, "0308", "uplink/a1"), false}, // the key decides
		{"last uplink", keyed(2, "0f0301", "uplink/a2"), true},
		{"joining", uplink.Message{Type: store.MsgJoining, DedupKey: "join_request/j0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var logs bytes.Buffer
			p := uplink.New(db, uplink.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			handle(t, p, uplink.Message{Type: store.MsgJoining, DedupKey: "join_request/j0"})
			addRequest(t, p, "GETINFO", []any{"temp"})
			handle(t, p, keyed(1, "0f0300", "uplink/a1"))
			last := handle(t, p, keyed(2, "0f0301", "uplink/a2"))
			if last.Dnlink == nil {
				t.Fatal("setup: the last uplink has no downlink")
			}
			before, rev := storedDevice(t, db)

			r := handle(t, p, tc.replay)
			if after, rev2 := storedDevice(t, db); rev2 != rev || !bytes.Equal(after, before) {
				t.Errorf("the replay changed the stored device (rev %d → %d)", rev, rev2)
			}
			if got := dnlinkHex(r); tc.wantDnlink && got != dnlinkHex(last) || !tc.wantDnlink && got != "" {
				t.Errorf("replay dnlink %q, want %q: %v", got, dnlinkHex(last), tc.wantDnlink)
			}
			want := "replay of an uplink already processed (key " + tc.replay.DedupKey + "): not processed again"
			if len(r.Logs) != 1 || r.Logs[0].Msg != want || r.Logs[0].Level != store.LevelInfo {
				t.Errorf("logs %+v, want %q", r.Logs, want)
			}
			if !strings.Contains(logs.String(), "replay of an uplink already processed") {
				t.Errorf("replay not logged:\n%s", logs.String())
			}
		})
	}
}

// A device keeps the keys of its last RecentUplinkKeys keyed uplinks: an
// older one is processed again.
func TestReplayWindowIsBounded(t *testing.T) {
	p, _ := newPipeline(t)
	ctx := context.Background()
	key := func(i int) string { return "uplink/" + strconv.Itoa(i) }
	for i := range uplink.RecentUplinkKeys {
		handle(t, p, keyed(uint32(i+1), "0308", key(i)))
	}
	handle(t, p, dm(100, "0309")) // key-less uplinks take no slot
	handle(t, p, keyed(1, "0308", key(0)))
	if d, _ := p.Device(ctx, dev); d.UplinkCount != uplink.RecentUplinkKeys+1 {
		t.Fatalf("uplink count %d: the oldest kept key was not recognised", d.UplinkCount)
	}
	handle(t, p, keyed(uint32(uplink.RecentUplinkKeys+1), "0308", key(uplink.RecentUplinkKeys)))
	r := handle(t, p, keyed(1, "0308", key(0)))
	d, _ := p.Device(ctx, dev)
	if d.UplinkCount != uplink.RecentUplinkKeys+3 || len(r.Logs) != 0 {
		t.Fatalf("uplink count %d, logs %+v: a key %d uplinks old must be forgotten", d.UplinkCount, r.Logs,
			uplink.RecentUplinkKeys+1)
	}
	if len(d.RecentUplinkKeys) != uplink.RecentUplinkKeys || d.RecentUplinkKeys[len(d.RecentUplinkKeys)-1] != store.UplinkKeyHash(key(0)) ||
		d.RecentUplinkKeys[0] != store.UplinkKeyHash(key(2)) {
		t.Fatalf("recent keys %x", d.RecentUplinkKeys)
	}
}

// Without keys only a repeat of the last uplink is a duplicate, as before;
// a keyed uplink that repeats the last one's content is one too.
func TestDuplicateWithoutKeys(t *testing.T) {
	p, _ := newPipeline(t)
	ctx := context.Background()
	handle(t, p, keyed(1, "0308", "uplink/a1"))
	handle(t, p, dm(2, "0309"))
	handle(t, p, dm(1, "0308")) // no key: an older uplink is processed again
	if d, _ := p.Device(ctx, dev); d.UplinkCount != 3 {
		t.Fatalf("uplink count %d, want 3", d.UplinkCount)
	}
	r := handle(t, p, keyed(1, "0308", "uplink/other"))
	if d, _ := p.Device(ctx, dev); d.UplinkCount != 3 || len(r.Logs) != 1 || !strings.Contains(r.Logs[0].Msg, "duplicate of the last uplink") {
		t.Fatalf("uplink count %d, logs %+v: a repeat of the last uplink with a new key", d.UplinkCount, r.Logs)
	}
	if _, err := p.Handle(ctx, dev, keyed(3, "0308", strings.Repeat("k", uplink.MaxDedupKey+1))); !errors.Is(err, uplink.ErrInvalid) {
		t.Fatalf("oversized key: %v", err)
	}
}

// The keys are part of the committed device: a restart recognises replays.
func TestReplayKeysSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mgs.db")
	db, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := uplink.New(db, uplink.Config{})
	handle(t, p, keyed(1, "0308", "uplink/a1"))
	handle(t, p, keyed(2, "0309", "uplink/a2"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p = uplink.New(db, uplink.Config{})
	before, rev := storedDevice(t, db)
	for _, m := range []uplink.Message{keyed(1, "0308", "uplink/a1"), keyed(2, "0309", "uplink/a2")} {
		if r := handle(t, p, m); len(r.Logs) != 1 || !strings.Contains(r.Logs[0].Msg, "replay") {
			t.Errorf("fcnt %d after reopen: logs %+v", m.FCnt, r.Logs)
		}
	}
	if after, rev2 := storedDevice(t, db); rev2 != rev || !bytes.Equal(after, before) {
		t.Fatal("replays after reopen changed the device")
	}
	d, _ := p.Device(context.Background(), dev)
	if d.LastUplink.DedupKey != "uplink/a2" || d.UplinkCount != 2 {
		t.Fatalf("after reopen: last uplink %+v, count %d", d.LastUplink, d.UplinkCount)
	}
}

func TestInvalidUplinkChangesNothing(t *testing.T) {
	p, db := newPipeline(t)
	for name, m := range map[string]uplink.Message{
		"fcnt":    {Type: store.MsgUpdf, Port: 199, HasPort: true},
		"port":    {Type: store.MsgUpdf, FCnt: 1, HasFCnt: true, Port: 0, HasPort: true},
		"payload": {Type: store.MsgGNSS},
		"dr":      {Type: store.MsgUpdf, FCnt: 1, HasFCnt: true, DR: 16, HasDR: true},
		"gnss_assist_position": {Type: store.MsgGNSS, Payload: []byte{1},
			GNSS: store.GNSSParams{HasAssistPosition: true, AssistLat: 91}},
	} {
		_, err := p.Handle(context.Background(), dev, m)
		var fe *uplink.FieldError
		if !errors.As(err, &fe) || fe.Field != name {
			t.Errorf("%s: err %v, want a FieldError naming it", name, err)
		}
	}
	n := 0
	_ = db.Table(store.TableDevices).Range(context.Background(), nil, func(k, v []byte, rev uint64) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d devices stored after invalid uplinks", n)
	}
}

func TestParseRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		param any
		want  string
	}{
		{"NOPE", nil, "type"}, {"", nil, "type"}, {"RESET", 4.0, "param"}, {"MUTE", nil, "param"},
		{"GETINFO", []any{"bogus"}, "param"}, {"GETINFO", []any{"opmode"}, "param"}, {"GETINFO", nil, "param"},
		{"SETCONF", map[string]any{"x": 1.0}, "param.x"}, {"SETCONF", map[string]any{"joineui": "zz"}, "param.joineui"},
		{"FILEDONE", map[string]any{"sid": 0.0}, "param.sctr"}, {"FUOTA", "0g", "param"}, {"REJOIN", 1.0, "param"},
	} {
		_, err := uplink.ParseRequest(tc.typ, tc.param)
		var fe *uplink.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.want {
			t.Errorf("ParseRequest(%q, %v) = %v, want field %s", tc.typ, tc.param, err, tc.want)
		}
	}
	// Round trip of the param rendering.
	for _, tc := range []struct {
		typ   string
		param any
	}{{"RESET", 2.0}, {"MUTE", 255.0}, {"GETINFO", []any{"temp", "rstcount"}}, {"FILEDONE", map[string]any{"sid": 0.0, "sctr": 3.0}},
		{"SETCONF", map[string]any{"joineui": "00-16-c0-01-ff-fe-00-01", "region": 3.0}}, {"FUOTA", "0102"}} {
		r, err := uplink.ParseRequest(tc.typ, tc.param)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.param, uplink.RequestParam(&r)); diff != "" {
			t.Errorf("%s param round trip (-want +got):\n%s", tc.typ, diff)
		}
	}
}

func TestConcurrentUplinksSameDevice(t *testing.T) {
	p, _ := newPipeline(t)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Handle(context.Background(), dev, dm(uint32(i+1), "0308")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	d, _ := p.Device(context.Background(), dev)
	if d.UplinkCount != 32 {
		t.Fatalf("uplink count %d, want 32 (no lost update)", d.UplinkCount)
	}
}

func TestEventsAndHistoryBounds(t *testing.T) {
	p, _ := newPipeline(t)
	sub := p.Events().Subscribe([]lora.EUI64{dev}, 16)
	defer sub.Close()
	other := p.Events().Subscribe([]lora.EUI64{lora.EUI64FromUint64(1)}, 16)
	defer other.Close()
	handle(t, p, dm(1, "0308"))
	select {
	case ev := <-sub.C:
		if ev.EUI != dev || ev.Uplink.FCnt != 1 || ev.Result.Info.Temp.Value != 8 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	select {
	case ev := <-other.C:
		t.Fatalf("filtered subscriber got %+v", ev)
	default:
	}
	// Logs are bounded (default 100): 150 truncated frames, each one log line.
	for i := range 150 {
		handle(t, p, dm(uint32(10+i), "04"))
	}
	d, _ := p.Device(context.Background(), dev)
	if len(d.Logs) != 100 {
		t.Fatalf("%d logs kept, want 100", len(d.Logs))
	}
}

func TestSetPortsValidation(t *testing.T) {
	p, _ := newPipeline(t)
	ctx := context.Background()
	if _, err := p.SetPorts(ctx, dev, store.Ports{GNSS: 199}, false); !errors.Is(err, uplink.ErrInvalid) {
		t.Fatalf("duplicate port accepted: %v", err)
	}
	if _, err := p.SetDefaultPorts(ctx, store.Ports{DM: 200}, false); err != nil {
		t.Fatal(err)
	}
	r := handle(t, p, dm(1, "0308"))
	if r.Operation != uplink.OpOther {
		t.Fatalf("port 199 after DM moved to 200: %q", r.Operation)
	}
	m := dm(2, "0308")
	m.Port = 200
	if r := handle(t, p, m); r.Operation != uplink.OpModem || r.Ports.DM != 200 {
		t.Fatalf("port 200: %q %+v", r.Operation, r.Ports)
	}
}

// BenchmarkDMUplink is the pipeline's own cost for a small DM report
// (decode, plan, record, bbolt commit without sync), without and with a
// dedup key (Everynet).
func BenchmarkDMUplink(b *testing.B) {
	for _, withKey := range []bool{false, true} {
		b.Run("key="+strconv.FormatBool(withKey), func(b *testing.B) {
			p, _ := newPipeline(b)
			m := dm(0, "0308")
			keys := make([]string, 64)
			for i := range keys {
				keys[i] = "uplink/79f664df2c2073af798fa874973" + strconv.Itoa(1000+i)
			}
			b.ReportAllocs()
			for b.Loop() {
				m.FCnt++
				if withKey {
					m.DedupKey = keys[m.FCnt%64]
				}
				if _, err := p.Handle(context.Background(), dev, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
