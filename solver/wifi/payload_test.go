package wifi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mac(t testing.TB, s string) [6]byte {
	t.Helper()
	m, err := ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The three APs of wifi.md §1.4.
var (
	ap1 = [6]byte{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}
	ap2 = [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	ap3 = [6]byte{0x6c, 0x7d, 0x8e, 0x9f, 0xa0, 0xb1}
)

// scanVectors are the worked examples of wifi.md §1.4 plus edge cases of
// §1.5 that decode successfully.
var scanVectors = []struct {
	name string
	hex  string
	scan Scan
}{
	{
		name: "wifi.md 1.4 RSSI+MAC",
		hex:  "01 C4 A0B1C2D3E4F5 B9 001122334455 B0 6C7D8E9FA0B1",
		scan: Scan{Format: FormatRSSIMAC, APs: []Observation{
			{MAC: ap1, RSSI: -60, HasRSSI: true},
			{MAC: ap2, RSSI: -71, HasRSSI: true},
			{MAC: ap3, RSSI: -80, HasRSSI: true},
		}},
	},
	{
		name: "wifi.md 1.4 MAC only",
		hex:  "00 A0B1C2D3E4F5 001122334455 6C7D8E9FA0B1",
		scan: Scan{Format: FormatMACOnly, APs: []Observation{{MAC: ap1}, {MAC: ap2}, {MAC: ap3}}},
	},
	{
		name: "two APs is the minimum",
		hex:  "00 A0B1C2D3E4F5 001122334455",
		scan: Scan{Format: FormatMACOnly, APs: []Observation{{MAC: ap1}, {MAC: ap2}}},
	},
	{
		name: "RSSI 0x80 and 0x7F decode but are not usable",
		hex:  "01 80 A0B1C2D3E4F5 7F 001122334455",
		scan: Scan{Format: FormatRSSIMAC, APs: []Observation{
			{MAC: ap1, RSSI: -128, HasRSSI: true},
			{MAC: ap2, RSSI: 127, HasRSSI: true},
		}},
	},
	{
		name: "duplicate MACs are kept in wire order",
		hex:  "01 C4 A0B1C2D3E4F5 B9 A0B1C2D3E4F5 B0 001122334455",
		scan: Scan{Format: FormatRSSIMAC, APs: []Observation{
			{MAC: ap1, RSSI: -60, HasRSSI: true},
			{MAC: ap1, RSSI: -71, HasRSSI: true},
			{MAC: ap2, RSSI: -80, HasRSSI: true},
		}},
	},
	{
		name: "locally administered MACs decode",
		hex:  "00 02B1C2D3E4F5 001122334455",
		scan: Scan{Format: FormatMACOnly, APs: []Observation{{MAC: [6]byte{0x02, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}}, {MAC: ap2}}},
	},
}

func TestScanRoundTrip(t *testing.T) {
	for _, tc := range scanVectors {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			got, err := DecodeScan(b)
			if err != nil {
				t.Fatalf("DecodeScan: %v", err)
			}
			if d := cmp.Diff(tc.scan, got); d != "" {
				t.Errorf("decoded (-want +got):\n%s", d)
			}
			enc, err := AppendScan([]byte{0xee}, tc.scan)
			if err != nil {
				t.Fatalf("AppendScan: %v", err)
			}
			if !bytes.Equal(enc[1:], b) || enc[0] != 0xee {
				t.Errorf("AppendScan = %x, want ee%x", enc, b)
			}
			m, err := tc.scan.MarshalBinary()
			if err != nil || !bytes.Equal(m, b) {
				t.Errorf("MarshalBinary = %x, %v", m, err)
			}
			var u Scan
			if err := u.UnmarshalBinary(b); err != nil || !cmp.Equal(u, tc.scan) {
				t.Errorf("UnmarshalBinary = %+v, %v", u, err)
			}
		})
	}
}

func TestDecodeScanDoesNotAlias(t *testing.T) {
	b := mustHex(t, scanVectors[0].hex)
	s, err := DecodeScan(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if s.APs[0].MAC != ap1 {
		t.Errorf("decoded MAC changed with the input: %x", s.APs[0].MAC)
	}
}

func TestDecodeScanErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hex    string
		want   error
		field  string
		offset int
		msg    string // substring of the message
	}{
		{"empty", "", ErrShort, "format", 0, "format"},
		{"unknown format", "02 A0B1C2D3E4F5 001122334455", ErrUnknownFormat, "format", 0, "0x02"},
		{"format ff", "ff", ErrUnknownFormat, "format", 0, "0xff"},
		{"RSSI+MAC not 1+7n", "01 C4 A0B1C2D3E4F5 B9 0011223344", ErrLength, "aps", 8, "1 + 7n"},
		{"MAC-only not 1+6n", "00 A0B1C2D3E4F5 0011223344", ErrLength, "aps", 7, "1 + 6n"},
		{"MAC-only read as RSSI+MAC", "01 A0B1C2D3E4F5 001122334455", ErrLength, "aps", 8, "multiple of 7"},
		{"no APs", "01", ErrTooFewAPs, "aps", 1, "0 distinct"},
		{"one AP", "01 C4 A0B1C2D3E4F5", ErrTooFewAPs, "aps", 1, "1 distinct MAC(s) in 1"},
		{"one AP twice", "00 A0B1C2D3E4F5 A0B1C2D3E4F5", ErrTooFewAPs, "aps", 1, "1 distinct MAC(s) in 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeScan(mustHex(t, tc.hex))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Field != tc.field || de.Offset != tc.offset {
				t.Errorf("field/offset = %s/%d, want %s/%d", de.Field, de.Offset, tc.field, tc.offset)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message %q lacks %q or the field name", err, tc.msg)
			}
		})
	}
}

func TestAppendScanErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		scan Scan
		want error
	}{
		{"unknown format", Scan{Format: 7, APs: []Observation{{MAC: ap1}, {MAC: ap2}}}, ErrUnknownFormat},
		{"RSSI in MAC-only", Scan{Format: FormatMACOnly, APs: []Observation{{MAC: ap1, HasRSSI: true}, {MAC: ap2}}}, ErrRSSI},
		{"RSSI missing", Scan{Format: FormatRSSIMAC, APs: []Observation{{MAC: ap1, RSSI: -50, HasRSSI: true}, {MAC: ap2}}}, ErrRSSI},
		{"RSSI too low", Scan{Format: FormatRSSIMAC, APs: []Observation{{MAC: ap1, RSSI: -129, HasRSSI: true}, {MAC: ap2, RSSI: -50, HasRSSI: true}}}, ErrRSSI},
		{"RSSI too high", Scan{Format: FormatRSSIMAC, APs: []Observation{{MAC: ap1, RSSI: 128, HasRSSI: true}, {MAC: ap2, RSSI: -50, HasRSSI: true}}}, ErrRSSI},
		{"one AP", Scan{Format: FormatMACOnly, APs: []Observation{{MAC: ap1}}}, ErrTooFewAPs},
		{"duplicate only", Scan{Format: FormatMACOnly, APs: []Observation{{MAC: ap1}, {MAC: ap1}}}, ErrTooFewAPs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{1, 2}
			got, err := AppendScan(dst, tc.scan)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(got, dst) {
				t.Errorf("dst changed on error: %x", got)
			}
		})
	}
}

func TestDecodeBody(t *testing.T) {
	// Port 196 (SWSD004 demo AS): MAC-only without the format byte.
	s, err := DecodeBody(FormatMACOnly, mustHex(t, "A0B1C2D3E4F5 001122334455 6C7D8E9FA0B1"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(scanVectors[1].scan, s); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	_, err = DecodeBody(FormatRSSIMAC, mustHex(t, "C4 A0B1C2D3E4F5 B9"))
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrLength) || de.Offset != 7 {
		t.Errorf("err = %v, want ErrLength at body offset 7", err)
	}
	if _, err := DecodeBody(9, nil); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("err = %v, want ErrUnknownFormat", err)
	}
}

var trackerVectors = []struct {
	name    string
	hex     string // one record, possibly followed by other bytes
	n       int
	rec     TrackerRecord
	forward string // what a server forwards as msgtype "wifi"
}{
	{
		name: "wifi.md 1.4 tag 0x0E",
		hex:  "0E 1A 01 65A1B2C3 C4A0B1C2D3E4F5 B9001122334455 B06C7D8E9FA0B1",
		n:    28,
		rec: TrackerRecord{Tag: TagWiFi, Version: 1, DeviceTime: 0x65A1B2C3,
			Scan: scanVectors[0].scan},
		forward: "01C4A0B1C2D3E4F5B9001122334455B06C7D8E9FA0B1",
	},
	{
		name:    "tag 0x08 legacy, followed by a GNSS record",
		hex:     "08 15 C4A0B1C2D3E4F5 B9001122334455 B06C7D8E9FA0B1 05 01 00",
		n:       23,
		rec:     TrackerRecord{Tag: TagWiFiLegacy, Scan: scanVectors[0].scan},
		forward: "01C4A0B1C2D3E4F5B9001122334455B06C7D8E9FA0B1",
	},
}

func TestTrackerRecordRoundTrip(t *testing.T) {
	for _, tc := range trackerVectors {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			r, n, err := DecodeTrackerRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.n {
				t.Errorf("n = %d, want %d", n, tc.n)
			}
			if d := cmp.Diff(tc.rec, r); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			enc, err := AppendTrackerRecord(nil, tc.rec)
			if err != nil || !bytes.Equal(enc, b[:n]) {
				t.Errorf("AppendTrackerRecord = %x, %v; want %x", enc, err, b[:n])
			}
			fw, err := r.Payload()
			if err != nil || !bytes.Equal(fw, mustHex(t, tc.forward)) {
				t.Errorf("Payload = %x, %v; want %s", fw, err, tc.forward)
			}
			if _, err := DecodeScan(fw); err != nil {
				t.Errorf("forwarded payload does not decode: %v", err)
			}
		})
	}
}

func TestDecodeTrackerRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hex   string
		want  error
		field string
		n     int
	}{
		{"empty", "", ErrShort, "len", 0},
		{"no length", "0E", ErrShort, "len", 0},
		{"length beyond input", "08 0E C4A0B1C2D3E4F5", ErrShort, "value", 0},
		{"GNSS tag skippable", "05 02 AABB 08", ErrUnknownTag, "tag", 4},
		{"0x0E without timestamp", "0E 03 01 0203", ErrShort, "timestamp", 5},
		{"0x0E pairs not 7n", "0E 0B 01 65A1B2C3 C4A0B1C2D3E4", ErrLength, "aps", 13},
		{"0x08 one AP", "08 07 C4A0B1C2D3E4F5", ErrTooFewAPs, "aps", 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := DecodeTrackerRecord(mustHex(t, tc.hex))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Errorf("err = %#v, want field %q", err, tc.field)
			}
			if n != tc.n {
				t.Errorf("n = %d, want %d", n, tc.n)
			}
		})
	}
}

func TestAppendTrackerRecordErrors(t *testing.T) {
	three := scanVectors[0].scan
	var many Scan
	many.Format = FormatRSSIMAC
	for i := range 37 { // 5 + 37·7 = 264 > 255
		many.APs = append(many.APs, Observation{MAC: [6]byte{0, 0, 0, 0, 0, byte(i)}, RSSI: -50, HasRSSI: true})
	}
	for _, tc := range []struct {
		name string
		rec  TrackerRecord
		want error
	}{
		{"unknown tag", TrackerRecord{Tag: 0x05, Scan: three}, ErrUnknownTag},
		{"MAC-only scan", TrackerRecord{Tag: TagWiFi, Scan: scanVectors[1].scan}, ErrUnknownFormat},
		{"too long", TrackerRecord{Tag: TagWiFi, Scan: many}, ErrTooLong},
		{"one AP", TrackerRecord{Tag: TagWiFiLegacy, Scan: Scan{Format: FormatRSSIMAC, APs: three.APs[:1]}}, ErrTooFewAPs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AppendTrackerRecord(nil, tc.rec); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// 36 pairs exactly fill a legacy record (252 bytes).
	many.APs = many.APs[:36]
	if b, err := AppendTrackerRecord(nil, TrackerRecord{Tag: TagWiFiLegacy, Scan: many}); err != nil || len(b) != 254 {
		t.Errorf("36 pairs: len %d, %v", len(b), err)
	}
}

func FuzzDecodeScan(f *testing.F) {
	for _, tc := range scanVectors {
		f.Add(mustHex(f, tc.hex))
	}
	f.Add([]byte{})
	f.Add([]byte{0x02, 1, 2, 3, 4, 5, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeScan(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		enc, err := AppendScan(nil, s)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", s, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, input %x", enc, b)
		}
		s2, err := DecodeScan(enc)
		if err != nil || !cmp.Equal(s, s2) {
			t.Fatalf("second decode %+v, %v", s2, err)
		}
	})
}

func FuzzDecodeTrackerRecord(f *testing.F) {
	for _, tc := range trackerVectors {
		f.Add(mustHex(f, tc.hex))
	}
	f.Add([]byte{0x0e, 0x00})
	f.Add([]byte{0x05, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := DecodeTrackerRecord(b)
		if n < 0 || n > len(b) {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		if err != nil {
			return
		}
		enc, err := AppendTrackerRecord(nil, r)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", r, err)
		}
		if !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoded %x, input %x", enc, b[:n])
		}
		r2, n2, err := DecodeTrackerRecord(enc)
		if err != nil || n2 != n || !cmp.Equal(r, r2) {
			t.Fatalf("second decode %+v, %d, %v", r2, n2, err)
		}
		if _, err := r.Payload(); err != nil {
			t.Fatalf("Payload: %v", err)
		}
	})
}

func BenchmarkDecodeScan(b *testing.B) {
	p := mustHex(b, scanVectors[0].hex)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeScan(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendScan(b *testing.B) {
	s := scanVectors[0].scan
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendScan(buf[:0], s); err != nil {
			b.Fatal(err)
		}
	}
}
