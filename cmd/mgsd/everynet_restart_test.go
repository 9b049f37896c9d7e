package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/openmgs/openmgs/connector/everynet"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

func openTestDB(t *testing.T, path string) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStoreCursor(t *testing.T) {
	db := openTestDB(t, filepath.Join(t.TempDir(), "mgs.db"))
	defer db.Close()
	ctx := context.Background()
	c := newStoreCursor(db)
	if _, ok, err := c.Load(ctx, "ns.eu.everynet.io"); ok || err != nil {
		t.Fatalf("Load of a missing cursor = %v, %v", ok, err)
	}
	want := everynet.Checkpoint{Time: 1736942400.123456, Seen: []string{"uplink/79f664df2c2073af798fa87497305d8d", "downlink/ab"}}
	if err := c.Save(ctx, "ns.eu.everynet.io", want); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx, "ns.us.everynet.io", everynet.Checkpoint{Time: 1}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Load(ctx, "ns.eu.everynet.io")
	if err != nil || !ok || !cmp.Equal(got, want) {
		t.Fatalf("Load = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	tab := db.Table(tableEverynetCursor)
	for _, bad := range []string{`{"v":1,"time":`, `{"v":2,"time":5}`} {
		if err := tab.Write(ctx, []store.Op{{Key: []byte("x"), Value: []byte(bad)}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Load(ctx, "x"); err == nil || !strings.Contains(err.Error(), `everynet cursor "x"`) {
			t.Errorf("Load of %q: err %v", bad, err)
		}
	}
}

// historyNS is a fake Everynet Data API that keeps every uplink it emits
// and replays those at or after from_unixtime to a new connection.
type historyNS struct {
	srv     *httptest.Server
	queries chan url.Values

	mu      sync.Mutex
	history []map[string]any
	live    *websocket.Conn
}

func newHistoryNS(t *testing.T) *historyNS {
	ns := &historyNS{queries: make(chan url.Values, 8)}
	up := websocket.Upgrader{}
	ns.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		q := r.URL.Query()
		ns.mu.Lock()
		if f := q.Get("from_unixtime"); f != "" {
			from, _ := strconv.ParseFloat(f, 64)
			for _, m := range ns.history {
				if m["meta"].(map[string]any)["time"].(float64) >= from {
					c.WriteJSON(m)
				}
			}
		}
		ns.live = c
		ns.mu.Unlock()
		ns.queries <- q
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		ns.mu.Lock()
		if ns.live == c {
			ns.live = nil
		}
		ns.mu.Unlock()
	}))
	t.Cleanup(ns.srv.Close)
	return ns
}

func (ns *historyNS) emit(fcnt int, tm float64) {
	m := map[string]any{"type": "uplink",
		"meta": map[string]any{"network": "n", "packet_hash": "h" + strconv.Itoa(fcnt), "application": "a", "device_addr": "36c365b4",
			"time": tm, "device": "0016c001f000406e", "packet_id": "p", "gateway": "g"},
		"params": map[string]any{"rx_time": tm, "port": 199, "counter_up": fcnt, "duplicate": false,
			"payload": base64.StdEncoding.EncodeToString([]byte{0x03, 0x19})}}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.history = append(ns.history, m)
	if ns.live != nil {
		ns.live.WriteJSON(m)
	}
}

func (ns *historyNS) next(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-ns.queries:
		return q
	case <-time.After(5 * time.Second):
		t.Fatal("mgsd did not connect")
		return nil
	}
}

// waitDevice polls the device until its last uplink has fcnt, and returns
// its uplink count.
func waitDevice(t *testing.T, c mgsv1.ModemServiceClient, fcnt uint32) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := c.GetDeviceInfo(context.Background(), &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
		if err != nil {
			t.Fatal(err)
		}
		if info := r.Results[0].Info; info != nil && info.LastUplink.GetFcnt() == fcnt {
			return info.UplinkCount
		}
		if time.Now().After(deadline) {
			t.Fatalf("the uplink with fcnt %d never reached the pipeline", fcnt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEverynetRestart: mgsd processes two uplinks and stops; a third
// arrives while it is down; restarted on the same data directory, it asks
// for history from its saved cursor, processes the missed uplink and drops
// the two it had (the saved cursor's keys drop them before the pipeline).
func TestEverynetRestart(t *testing.T) {
	ns := newHistoryNS(t)
	dir := t.TempDir()
	args := []string{"--data", dir, "--http-addr", "", "--everynet-url",
		"ws" + strings.TrimPrefix(ns.srv.URL, "http") + "/api/v1.0/data", "--everynet-token", "tok"}
	base := float64(time.Now().Unix()) - 60

	addr, stop := startServer(t, args...)
	if q := ns.next(t); q.Has("from_unixtime") {
		t.Errorf("first start asks for history: %v", q)
	}
	ns.emit(6, base)
	ns.emit(7, base+1)
	if n := waitDevice(t, dial(t, addr), 7); n != 2 {
		t.Fatalf("uplink count %d after two uplinks", n)
	}
	stop()

	ns.emit(8, base+2) // while mgsd is down

	addr, stop = startServer(t, args...)
	q := ns.next(t)
	overlap := everynet.DefaultConfig().ReplayOverlap.Seconds()
	if f, err := strconv.ParseFloat(q.Get("from_unixtime"), 64); err != nil || math.Abs(f-(base+1-overlap)) > 1e-6 {
		t.Errorf("restart from_unixtime %q, want %v", q.Get("from_unixtime"), base+1-overlap)
	}
	if n := waitDevice(t, dial(t, addr), 8); n != 3 {
		t.Errorf("uplink count %d after the restart, want 3 (fcnt 6, 7 once each, then the missed 8)", n)
	}
	stop()

	db := openTestDB(t, filepath.Join(dir, "mgs.db"))
	defer db.Close()
	b, _, err := db.Table(tableEverynetCursor).Get(context.Background(), []byte(strings.TrimPrefix(ns.srv.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	var rec cursorRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Time != base+2 ||
		!cmp.Equal(rec.Seen, []string{"uplink/h6", "uplink/h7", "uplink/h8"}) {
		t.Errorf("stored cursor %s: %+v, %v", b, rec, err)
	}
}

// TestEverynetCrashRestart: as if mgsd was killed after processing fcnt 6
// and 7 but before saving its cursor past fcnt 5, history delivers both
// again; the pipeline recognises them by their packet_hash, stored with the
// device, and processes neither again (fcnt 6 is older than the device's
// last uplink).
func TestEverynetCrashRestart(t *testing.T) {
	ns := newHistoryNS(t)
	dir := t.TempDir()
	args := []string{"--data", dir, "--http-addr", "", "--everynet-url",
		"ws" + strings.TrimPrefix(ns.srv.URL, "http") + "/api/v1.0/data", "--everynet-token", "tok"}
	base := float64(time.Now().Unix()) - 60

	addr, stop := startServer(t, args...)
	ns.next(t)
	ns.emit(5, base)
	ns.emit(6, base+0.5)
	ns.emit(7, base+0.75)
	if n := waitDevice(t, dial(t, addr), 7); n != 3 {
		t.Fatalf("uplink count %d after three uplinks", n)
	}
	stop()

	// The crash: the cursor is the one saved before fcnt 6 arrived.
	db := openTestDB(t, filepath.Join(dir, "mgs.db"))
	err := newStoreCursor(db).Save(context.Background(), strings.TrimPrefix(ns.srv.URL, "http://"),
		everynet.Checkpoint{Time: base, Seen: []string{"uplink/h5"}})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	addr, stop = startServer(t, args...)
	defer stop()
	ns.next(t)
	ns.emit(8, base+1) // after the replayed 6 and 7 on the device's queue
	if n := waitDevice(t, dial(t, addr), 8); n != 4 {
		t.Errorf("uplink count %d after the restart, want 4 (the replayed fcnt 6 and 7 not processed again)", n)
	}
}
