package uplink_test

import (
	"context"
	"encoding/hex"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// Three known APs around (52.37, 4.89), 40 m apart, and one unknown.
var (
	ap1     = [6]byte{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}
	ap2     = [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	ap3     = [6]byte{0x6c, 0x7d, 0x8e, 0x9f, 0xa0, 0xb1}
	apNew   = [6]byte{0x00, 0x99, 0x99, 0x99, 0x99, 0x99}
	hotspot = [6]byte{0xda, 0xa1, 0x19, 0x00, 0x00, 0x01}
)

func wifiIndex(t testing.TB) *wifi.Index {
	t.Helper()
	x := wifi.NewIndex(3)
	for _, ap := range []wifi.AP{
		{MAC: ap1, Lat: 52.37, Lon: 4.89, Accuracy: 5, Observations: 10},
		{MAC: ap2, Lat: 52.37036, Lon: 4.89, Accuracy: 5, Observations: 10},
		{MAC: ap3, Lat: 52.37, Lon: 4.8906, Accuracy: 5, Observations: 10},
	} {
		if err := x.Put(ap); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func wifiPipeline(t testing.TB, cfg wifi.Config, withSolver bool) (*uplink.Pipeline, store.Store) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := uplink.Config{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	if withSolver {
		s, err := wifi.NewSolver(wifiIndex(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.WiFi = s
	}
	return uplink.New(db, c), db
}

func scanPayload(t testing.TB, format uint8, obs ...wifi.Observation) []byte {
	t.Helper()
	b, err := wifi.AppendScan(nil, wifi.Scan{Format: format, APs: obs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rssi(mac [6]byte, dbm int) wifi.Observation {
	return wifi.Observation{MAC: mac, RSSI: dbm, HasRSSI: true}
}

func port197(fcnt uint32, payload []byte) uplink.Message {
	return uplink.Message{Type: store.MsgUpdf, FCnt: fcnt, HasFCnt: true, Port: 197, HasPort: true, Payload: payload, Timestamp: 1_700_000_100}
}

func wifiLogs(r *uplink.Result) string {
	var b strings.Builder
	for _, l := range r.Logs {
		b.WriteString(l.Level.String() + " " + l.Msg + "\n")
	}
	return b.String()
}

// near reports whether a position is within m metres of (52.37018, 4.8902).
func near(p *store.Position, m float64) bool {
	dy := (p.LLH[0] - 52.37018) * 111_195
	dx := (p.LLH[1] - 4.8902) * 111_195 * math.Cos(52.37*math.Pi/180)
	return math.Hypot(dx, dy) <= m
}

func TestWiFiUplinkGivesPosition(t *testing.T) {
	p, st := wifiPipeline(t, wifi.DefaultConfig(), true)
	sub := p.Events().Subscribe(nil, 8)
	defer sub.Close()
	payload := scanPayload(t, wifi.FormatRSSIMAC, rssi(ap1, -62), rssi(ap2, -65), rssi(ap3, -64), rssi(apNew, -80), rssi(hotspot, -40))
	r := handle(t, p, port197(1, payload))
	if r.Operation != uplink.OpWiFi {
		t.Fatalf("operation %q", r.Operation)
	}
	pos := r.Position
	if pos == nil {
		t.Fatalf("no position; logs:\n%s", wifiLogs(r))
	}
	if pos.Algorithm != "wifi" || pos.Time != 1_700_000_100 || !(pos.Accuracy >= 10 && pos.Accuracy < 100) || !near(pos, 60) || pos.LLH[2] != 0 {
		t.Fatalf("position %+v", pos)
	}
	// ECEF matches the latitude/longitude.
	if r := math.Sqrt(pos.ECEF[0]*pos.ECEF[0] + pos.ECEF[1]*pos.ECEF[1] + pos.ECEF[2]*pos.ECEF[2]); math.Abs(r-6_364_000) > 10_000 {
		t.Fatalf("ECEF %v", pos.ECEF)
	}
	if logs := wifiLogs(r); !strings.Contains(logs, "INFO Wi-Fi scan: 1 locally administered MAC address(es) ignored") ||
		!strings.Contains(logs, "da:a1:19:00:00:01") || strings.Contains(logs, "WARNING") || strings.Contains(logs, "ERROR") {
		t.Fatalf("logs:\n%s", logs)
	}
	// Kept in the position history, published as an event.
	d, err := p.Device(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Positions) != 1 || !cmp.Equal(d.Positions[0], *pos) {
		t.Fatalf("history %+v", d.Positions)
	}
	select {
	case ev := <-sub.C:
		if ev.Result.Position == nil || !cmp.Equal(*ev.Result.Position, *pos) {
			t.Fatalf("event %+v", ev.Result)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	// The scan is kept, without the hotspot, for learning.
	scan, err := uplink.DecodeWiFiScan(d.Sessions[uplink.SessionWiFiLast])
	if err != nil {
		t.Fatal(err)
	}
	want := uplink.WiFiScan{Time: 1_700_000_100, APs: []wifi.Observation{rssi(ap1, -62), rssi(ap2, -65), rssi(ap3, -64), rssi(apNew, -80)}}
	if diff := cmp.Diff(want, scan); diff != "" {
		t.Fatalf("wifi_last (-want +got):\n%s", diff)
	}
	_ = st
}

func TestWiFiPayloadVariants(t *testing.T) {
	p, _ := wifiPipeline(t, wifi.DefaultConfig(), true)
	obs := []wifi.Observation{rssi(ap1, -60), rssi(ap2, -66), rssi(ap3, -63)}
	tracker, err := wifi.AppendTrackerRecord(nil, wifi.TrackerRecord{Tag: wifi.TagWiFi, Version: 1, DeviceTime: 0x65a1b2c3,
		Scan: wifi.Scan{Format: wifi.FormatRSSIMAC, APs: obs}})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := wifi.AppendTrackerRecord(nil, wifi.TrackerRecord{Tag: wifi.TagWiFiLegacy, Scan: wifi.Scan{Format: wifi.FormatRSSIMAC, APs: obs}})
	if err != nil {
		t.Fatal(err)
	}
	// A tracker stream: a sensor record (0x09) and then the Wi-Fi record.
	stream := append([]byte{0x09, 0x02, 0x01, 0x02}, tracker...)
	macOnly := scanPayload(t, wifi.FormatMACOnly, wifi.Observation{MAC: ap1}, wifi.Observation{MAC: ap2}, wifi.Observation{MAC: ap3})
	for i, tc := range []struct {
		name string
		msg  uplink.Message
	}{
		{"msgtype wifi, RSSI+MAC", uplink.Message{Type: store.MsgWiFi, Payload: scanPayload(t, wifi.FormatRSSIMAC, obs...)}},
		{"msgtype wifi, MAC only", uplink.Message{Type: store.MsgWiFi, Payload: macOnly}},
		{"port 197, tracker 0x0e", port197(10, tracker)},
		{"port 197, tracker 0x08", port197(11, legacy)},
		{"port 197, tracker stream", port197(12, stream)},
	} {
		tc.msg.Timestamp = float64(1_700_000_200 + i)
		r := handle(t, p, tc.msg)
		if r.Operation != uplink.OpWiFi || r.Position == nil || !near(r.Position, 60) {
			t.Errorf("%s: operation %q position %+v; logs:\n%s", tc.name, r.Operation, r.Position, wifiLogs(r))
		}
	}
}

func TestWiFiRejectsAndWarnings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		want    string // substring of a log line, with its level
	}{
		{"one MAC", mustHex(t, "01C4A0B1C2D3E4F5"), "ERROR Wi-Fi scan rejected: at least 2 different MAC addresses are required"},
		{"same MAC twice", mustHex(t, "01C4A0B1C2D3E4F5B0A0B1C2D3E4F5"), "ERROR Wi-Fi scan rejected: at least 2"},
		{"bad length", mustHex(t, "01C4A0B1C2D3E4F5B9001122334455B0"), "ERROR Wi-Fi scan rejected: wifi: decode aps"},
		{"unknown format", mustHex(t, "02A0B1C2D3E4F5001122334455"), "ERROR Wi-Fi scan rejected: wifi: decode format at offset 0: wifi: unknown scan format 0x02"},
		{"truncated tracker record", mustHex(t, "05A0B1C2D3E4F5001122334455"), "ERROR Wi-Fi scan rejected: wifi: decode value at offset 2: wifi: short payload"},
		{"tracker without Wi-Fi", mustHex(t, "0E0401020304"), "ERROR Wi-Fi scan rejected"},
		{"hotspot leaves one", scanPayload(t, wifi.FormatRSSIMAC, rssi(ap1, -60), rssi(hotspot, -40)),
			"ERROR Wi-Fi scan: 1 usable MAC address(es) after removing locally administered ones, at least 2 are required"},
		{"unknown APs", scanPayload(t, wifi.FormatRSSIMAC, rssi(apNew, -60), rssi([6]byte{0, 1, 2, 3, 4, 5}, -70)),
			"WARNING Wi-Fi position not computed: wifi: too few known access points: 0 of 2"},
		{"one known AP", scanPayload(t, wifi.FormatRSSIMAC, rssi(ap1, -60), rssi(apNew, -70)),
			"WARNING Wi-Fi position not computed: wifi: too few known access points: 1 of 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := wifiPipeline(t, wifi.DefaultConfig(), true)
			r := handle(t, p, port197(1, tc.payload))
			if r.Position != nil || r.Operation != uplink.OpWiFi || !strings.Contains(wifiLogs(r), tc.want) {
				t.Fatalf("position %+v; logs:\n%s\nwant %q", r.Position, wifiLogs(r), tc.want)
			}
		})
	}
}

func TestWiFiSingleAPWhenAllowed(t *testing.T) {
	cfg := wifi.DefaultConfig()
	cfg.AllowSingleAP = true
	p, _ := wifiPipeline(t, cfg, true)
	r := handle(t, p, port197(1, scanPayload(t, wifi.FormatRSSIMAC, rssi(ap1, -60), rssi(apNew, -70))))
	if r.Position == nil || math.Abs(r.Position.LLH[0]-52.37) > 1e-9 || math.Abs(r.Position.LLH[1]-4.89) > 1e-9 {
		t.Fatalf("position %+v; logs:\n%s", r.Position, wifiLogs(r))
	}
}

func TestWiFiWithoutSolver(t *testing.T) {
	p, _ := wifiPipeline(t, wifi.DefaultConfig(), false)
	r := handle(t, p, port197(1, scanPayload(t, wifi.FormatRSSIMAC, rssi(ap1, -60), rssi(ap2, -70))))
	if r.Position != nil || !strings.Contains(wifiLogs(r), "WARNING Wi-Fi scan received: Wi-Fi scan is not available") {
		t.Fatalf("position %+v; logs:\n%s", r.Position, wifiLogs(r))
	}
	d, _ := p.Device(context.Background(), dev)
	if _, ok := d.Sessions[uplink.SessionWiFiLast]; !ok {
		t.Fatal("scan not kept without a solver")
	}
}

func TestWiFiScanSession(t *testing.T) {
	s := uplink.WiFiScan{Time: 1.5e9 + 0.25, APs: []wifi.Observation{rssi(ap1, -128), rssi(ap2, 127), {MAC: ap3}}}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := uplink.DecodeWiFiScan(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	long := append(b[:9:9], make([]byte, 65*8)...)
	for _, bad := range [][]byte{nil, b[:8], b[:len(b)-1], append([]byte{2}, b[1:]...), long} {
		if _, err := uplink.DecodeWiFiScan(bad); err == nil {
			t.Errorf("DecodeWiFiScan(%x) accepted", bad)
		}
	}
	if _, err := uplink.DecodeWiFiPayload(nil); !errors.Is(err, wifi.ErrShort) {
		t.Errorf("empty payload: %v", err)
	}
	// The offset of an error inside the second tracker record is absolute.
	_, err = uplink.DecodeWiFiPayload(mustHex(t, "09020102"+"0E0301020304"))
	var de *wifi.DecodeError
	if !errors.As(err, &de) || de.Offset != 6 {
		t.Errorf("error %v", err)
	}
	_ = hex.EncodeToString
}

func FuzzDecodeWiFiPayload(f *testing.F) {
	for _, s := range []string{"01C4A0B1C2D3E4F5B9001122334455B06C7D8E9FA0B1", "00A0B1C2D3E4F50011223344556C7D8E9FA0B1",
		"0E1A0165A1B2C3C4A0B1C2D3E4F5B9001122334455B06C7D8E9FA0B1", "09020102" + "080EC4A0B1C2D3E4F5B9001122334455", "05", ""} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		scan, err := uplink.DecodeWiFiPayload(b)
		if err != nil {
			return
		}
		if len(wifi.Dedup(scan.APs)) < wifi.MinAPs {
			t.Fatalf("accepted %d distinct MACs", len(wifi.Dedup(scan.APs)))
		}
		// The scan re-encodes as an LBM payload that decodes to itself.
		enc, err := wifi.AppendScan(nil, scan)
		if err != nil {
			t.Fatal(err)
		}
		again, err := uplink.DecodeWiFiPayload(enc)
		if err != nil || !cmp.Equal(again, scan) {
			t.Fatalf("%x → %+v → %x → %+v %v", b, scan, enc, again, err)
		}
	})
}

func FuzzDecodeWiFiScan(f *testing.F) {
	b, _ := uplink.WiFiScan{Time: 1.7e9, APs: []wifi.Observation{rssi(ap1, -60), {MAC: ap2}}}.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := uplink.DecodeWiFiScan(b)
		if err != nil {
			return
		}
		enc, _ := s.MarshalBinary()
		s2, err := uplink.DecodeWiFiScan(enc)
		if err != nil || !cmp.Equal(s, s2, cmp.Comparer(func(a, b float64) bool { return a == b || a != a && b != b })) {
			t.Fatalf("%x → %+v → %+v %v", b, s, s2, err)
		}
	})
}
