package nav

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Sample A (gnss.md §2): CampusIoT/tutorial loracloud/gnss_lr1110_singleframe.json,
// a NAV1 without destination byte, captured at GPS 1269172730.
const sampleAHex = "01a06067880c4203834eee2c0c6a6360316886bac6e0ecf720834528900c6afae932188d1ccc602e163983cd86f80c06b90c"

// Sample B (gnss.md §2): the __main__ vector of Semtech's parser, with its
// destination byte; an older layout that must not decode as NAV1.
const sampleBHex = "0101070808e210a8ef20e22e0014529bec007d0080a4522becb70e20513d41e5e9dd45b05a2115da3b8b67957d73c8f498caaa216e9aec23"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSampleA(t *testing.T) {
	b := mustHex(t, sampleAHex)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.FrameType != FrameNAV || m.TimeIndicator != 24736 {
		t.Errorf("frame %d, time indicator %d; want 1, 24736", m.FrameType, m.TimeIndicator)
	}
	lat, lon, ok := m.AssistPosition()
	if !ok || math.Abs(lat-47.2412) > 1e-4 || math.Abs(lon-8.7891) > 1e-4 {
		t.Errorf("AP = %v %v %v; want 47.2412 8.7891", lat, lon, ok)
	}
	if len(m.Constellations) != 1 || m.Constellations[0].Modulation != ModGPS {
		t.Fatalf("constellations = %+v", m.Constellations)
	}
	// The timestamps are this decoder's reading of the bit string; the PRNs,
	// flags and C/N classes are those listed in gnss.md §2.
	wantPRN := []int{2, 6, 12, 14, 17, 19, 24, 25, 29, 32}
	wantTS := []uint32{323150, 6362, 239718, 253875, 10309, 163482, 116945, 284857, 34509, 208449}
	svs := m.Constellations[0].SVs
	if len(svs) != len(wantPRN) {
		t.Fatalf("%d SVs, want %d", len(svs), len(wantPRN))
	}
	for i, s := range svs {
		sys, prn := SVIDToPRN(s.ID)
		if sys != SysGPS || prn != wantPRN[i] {
			t.Errorf("SV %d: %v %d, want GPS %d", i, sys, prn, wantPRN[i])
		}
		want := SV{ID: uint8(wantPRN[i] - 1), CN: 3, HasTimestamp1: true, Timestamp1: wantTS[i]}
		if diff := cmp.Diff(want, s); diff != "" {
			t.Errorf("SV %d (-want +got):\n%s", i, diff)
		}
		if s.Timestamp1 >= TimestampUnitsPerMs {
			t.Errorf("SV %d timestamp %d beyond 1 ms", i, s.Timestamp1)
		}
	}
	// The GPS capture time LoRa Cloud used lies within one indicator step.
	const captureGPS = 1269172730.0
	start := TimeWindow(m.TimeIndicator, captureGPS)
	if captureGPS < start-TimeIndicatorSlack*TimeIndicatorPeriod || captureGPS >= start+(1+TimeIndicatorSlack)*TimeIndicatorPeriod {
		t.Errorf("capture time %v outside window start %v ± slack", captureGPS, start)
	}
	// Re-encoding reproduces the exact bytes (padding is zero in the sample).
	out, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Errorf("re-encode:\n got %x\nwant %x", out, b)
	}
	if got := Classify(b); got != KindNAV1 {
		t.Errorf("Classify = %v", got)
	}
}

func TestRejectedFormats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
		field   string
		text    string
		kind    Kind
	}{
		{"sample B, old layout", sampleBHex[2:], ErrInvalid, "modulation", "", KindNAV1},
		{"NAV2 0xA2 (sample D)", "a25f72000000", ErrUnsupportedNAV, "frame type", "NAV2", KindNAV2},
		{"NAV3 0x63 (sample E)", "631052c0", ErrUnsupportedNAV, "frame type", "NAV3", KindNAV3},
		{"unknown first byte", "05a060", ErrUnknownFrame, "frame type", "0x05", KindUnknown},
		{"empty", "", ErrShort, "frame type", "", KindUnknown},
		{"header cut", "01a060", ErrShort, "time indicator", "", KindNAV1},
		{"AP cut", "01a0606788", ErrShort, "assistance position", "", KindNAV1},
		{"no block", "01a060678800c4", ErrShort, "constellation header", "", KindNAV1},
		{"SV cut", sampleAHex[:44], ErrShort, "timestamp1", "", KindNAV1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.in)
			_, err := Decode(b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Errorf("err = %v, want field %q", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err %q does not mention %q", err, tc.text)
			}
			if got := Classify(b); got != tc.kind {
				t.Errorf("Classify = %v, want %v", got, tc.kind)
			}
		})
	}
}

func TestREQAIDAndDestination(t *testing.T) {
	if got := Classify([]byte{0x00}); got != KindREQAID {
		t.Errorf("Classify(00) = %v", got)
	}
	raw := append([]byte{DestSolver}, mustHex(t, sampleAHex)...)
	p, err := StripDestination(raw)
	if err != nil || !bytes.Equal(p, raw[1:]) {
		t.Errorf("StripDestination = %x, %v", p, err)
	}
	if _, err := StripDestination([]byte{DestHost, 7}); !errors.Is(err, ErrHostStatus) || !strings.Contains(err.Error(), "no SV detected") {
		t.Errorf("host status err = %v", err)
	}
	if _, err := StripDestination([]byte{DestDMC, 1, 2}); !errors.Is(err, ErrNotSolver) {
		t.Errorf("DMC err = %v", err)
	}
	if _, err := StripDestination(nil); !errors.Is(err, ErrShort) {
		t.Errorf("empty err = %v", err)
	}
}

// roundTripRows are messages covering every optional field and both blocks.
func roundTripRows(t testing.TB) []Message {
	a, err := Decode(mustHex(t, sampleAHex))
	if err != nil {
		t.Fatal(err)
	}
	return []Message{
		a,
		{FrameType: FrameNAV, TimeIndicator: 65535, Constellations: []Constellation{{Modulation: ModGPS}}},
		{FrameType: FrameNoAssistance, TimeIndicator: 1, HasAP: true, APLat: -2048, APLon: 2047,
			Constellations: []Constellation{{Modulation: ModBeiDou, SVs: []SV{{ID: 100, CN: 0, HasDoppler: true, Doppler: -16384}}}}},
		{FrameType: FrameNAV, TimeIndicator: 29279, HasAP: true, APLat: 1183, APLon: 610, Constellations: []Constellation{
			{Modulation: ModGPS, SVs: []SV{
				{ID: 4, CN: 1, HasTimestamp1: true, Timestamp1: 327359, HasDoppler: true, Doppler: 3999, HasBitChange1: true, BitChange1: 0xa5},
				{ID: 40, CN: 2, DopplerError: true, HasTimestamp2: true, Timestamp2: 1<<19 - 1, HasBitChange2: true, BitChange2: 0xff},
				{ID: 31, CN: 3, HasTimestamp1: true, HasTimestamp2: true, HasDoppler: true, HasBitChange1: true, HasBitChange2: true,
					Timestamp1: 1, Timestamp2: 2, Doppler: 16383, BitChange1: 3, BitChange2: 4},
			}},
			{Modulation: ModBeiDou, SVs: []SV{{ID: 64, HasTimestamp1: true, Timestamp1: 12345}, {ID: 70, HasDoppler: true, Doppler: -1}}},
		}},
	}
}

func TestRoundTrip(t *testing.T) {
	for i, m := range roundTripRows(t) {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		var got Message
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("row %d: decode %x: %v", i, b, err)
		}
		if diff := cmp.Diff(normalise(m), normalise(got)); diff != "" {
			t.Errorf("row %d (-want +got):\n%s", i, diff)
		}
		// Appending keeps the prefix.
		pre := []byte{0xde, 0xad}
		b2, err := m.AppendBinary(pre)
		if err != nil || !bytes.Equal(b2[:2], pre) || !bytes.Equal(b2[2:], b) {
			t.Errorf("row %d: AppendBinary with prefix = %x, %v", i, b2, err)
		}
	}
}

// normalise makes empty and nil SV slices compare equal.
func normalise(m Message) Message {
	for i := range m.Constellations {
		if len(m.Constellations[i].SVs) == 0 {
			m.Constellations[i].SVs = nil
		}
	}
	return m
}

func TestEncodeErrors(t *testing.T) {
	gps := func(s SV) Message {
		return Message{FrameType: FrameNAV, Constellations: []Constellation{{Modulation: ModGPS, SVs: []SV{s}}}}
	}
	tests := []struct {
		name string
		m    Message
		text string
	}{
		{"frame", Message{FrameType: 0xa2, Constellations: []Constellation{{Modulation: ModGPS}}}, "frame type"},
		{"no block", Message{FrameType: FrameNAV}, "no constellation"},
		{"AP", Message{FrameType: FrameNAV, HasAP: true, APLat: 2048, Constellations: []Constellation{{Modulation: ModGPS}}}, "assistance position"},
		{"modulation", Message{FrameType: FrameNAV, Constellations: []Constellation{{Modulation: 3}}}, "modulation"},
		{"too many", Message{FrameType: FrameNAV, Constellations: []Constellation{{Modulation: ModGPS, SVs: make([]SV, 16)}}}, "16 SVs"},
		{"id", gps(SV{ID: 128}), "id"},
		{"cn", gps(SV{CN: 4}), "C/N"},
		{"ts1", gps(SV{HasTimestamp1: true, Timestamp1: 1 << 19}), "timestamp1"},
		{"ts2", gps(SV{Timestamp2: 1 << 20}), "timestamp2"},
		{"doppler", gps(SV{HasDoppler: true, Doppler: 16384}), "doppler"},
	}
	for _, tc := range tests {
		_, err := tc.m.MarshalBinary()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: err = %v, want ErrInvalid mentioning %q", tc.name, err, tc.text)
		}
	}
}

func TestSVID(t *testing.T) {
	for id := 0; id < 128; id++ {
		sys, prn := SVIDToPRN(uint8(id))
		if sys == SysUnknown {
			if (id >= 51 && id <= 63) || id > 100 {
				continue
			}
			t.Errorf("id %d unknown", id)
			continue
		}
		back, err := SVIDFromPRN(sys, prn)
		if err != nil || int(back) != id {
			t.Errorf("id %d -> %v %d -> %d, %v", id, sys, prn, back, err)
		}
	}
	if _, err := SVIDFromPRN(SysGPS, 33); !errors.Is(err, ErrInvalid) {
		t.Errorf("GPS 33: %v", err)
	}
}

func TestUnits(t *testing.T) {
	if got := TimeIndicatorAt(1269172730); got != 24735 {
		t.Errorf("TimeIndicatorAt = %d", got)
	}
	for _, tc := range []struct {
		ind      uint16
		estimate float64
		want     float64
	}{
		{24736, 1269172730, 1269172736},
		{24736, 1269172730 + 5*86400, 1269172736},
		{24736, 1269172730 - 5*86400, 1269172736},
		{65535, 16 * 65536 * 10, 16*65536*10 - 16},
		{0, 16*65536*10 - 20, 16 * 65536 * 10},
	} {
		if got := TimeWindow(tc.ind, tc.estimate); got != tc.want {
			t.Errorf("TimeWindow(%d, %v) = %v, want %v", tc.ind, tc.estimate, got, tc.want)
		}
	}
	for _, ms := range []float64{0, 0.25, 0.999999999, 1.5, 82.7316, -0.25} {
		ts := TimestampFromCodePhase(ms)
		if ts >= TimestampUnitsPerMs {
			t.Errorf("ts %d", ts)
		}
		f := ms - math.Floor(ms)
		d := math.Abs(CodePhaseMs(ts) - f)
		d = math.Min(d, 1-d)
		if d > 0.5/TimestampUnitsPerMs+1e-12 {
			t.Errorf("code phase %v -> %d -> %v", ms, ts, CodePhaseMs(ts))
		}
	}
	for c := uint8(0); c < 4; c++ {
		if CN0Class(CN0OfClass(c)) != c {
			t.Errorf("C/N class %d", c)
		}
	}
	if la, lo := APFromDegrees(90, 180); la != 2047 || lo != -2048 {
		t.Errorf("AP clamp/wrap = %d %d", la, lo)
	}
	if la, lo := APFromDegrees(-47.2412, -190); la != -1075 || lo != 1934 {
		t.Errorf("AP = %d %d", la, lo)
	}
}

func TestAIDP(t *testing.T) {
	for _, p := range [][2]float64{{47.2412, 8.7891}, {-33.852482, 151.210686}, {37.819222, -122.478521}, {89.99, -179.99}, {0, 0}} {
		b := AppendAIDPDownlink(nil, p[0], p[1])
		if len(b) != 1+AIDPLen || b[0] != AIDPTag {
			t.Fatalf("downlink %x", b)
		}
		lat, lon, err := DecodeAIDPDownlink(b)
		if err != nil {
			t.Fatal(err)
		}
		dlon := math.Mod(math.Abs(lon-p[1]), 360)
		dlon = math.Min(dlon, 360-dlon)
		if math.Abs(lat-p[0]) > APLatScale/2+1e-9 && p[0] < 89.9 || dlon > APLonScale/2+1e-9 {
			t.Errorf("%v -> %v %v", p, lat, lon)
		}
		// The payload agrees with the NAV1 AP field encoding.
		var m Message
		m.SetAssistPosition(p[0], p[1])
		la2, lo2, _ := m.AssistPosition()
		if la2 != lat || lo2 != lon {
			t.Errorf("AIDP %v %v vs NAV AP %v %v", lat, lon, la2, lo2)
		}
	}
	// Sample A's AP bits (bits 25..48 of the NAV) as an AIDP payload.
	lat, lon, err := DecodeAIDP(AppendAIDP(nil, 47.2412, 8.7891))
	if err != nil || lat != 1075*APLatScale || lon != 100*APLonScale {
		t.Errorf("AIDP sample A = %v %v %v", lat, lon, err)
	}
	if _, _, err := DecodeAIDP([]byte{1, 2}); !errors.Is(err, ErrShort) {
		t.Errorf("short AIDP: %v", err)
	}
	if _, _, err := DecodeAIDPDownlink([]byte{1, 2, 3, 4}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad tag: %v", err)
	}
}

func TestNGHeader(t *testing.T) {
	for _, h := range []NGHeader{{Last: true, Token: 31}, {Token: 2}, {Last: true, RFU: 3, Token: 17}} {
		if got := ParseNGHeader(h.Byte()); got != h {
			t.Errorf("%+v -> %02x -> %+v", h, h.Byte(), got)
		}
	}
	payload := append([]byte{0x80 | 5}, mustHex(t, sampleAHex)...)
	h, navb, err := SplitNG(payload)
	if err != nil || !h.Last || h.Token != 5 || len(navb) != 50 {
		t.Fatalf("SplitNG = %+v %d %v", h, len(navb), err)
	}
	if _, err := Decode(navb); err != nil {
		t.Error(err)
	}
	if _, _, err := SplitNG([]byte{0x81, 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("token 1: %v", err)
	}
	if _, _, err := SplitNG([]byte{0x85}); !errors.Is(err, ErrShort) {
		t.Errorf("short: %v", err)
	}
	seen := map[uint8]bool{}
	tok := uint8(30)
	for range 40 {
		tok = NextToken(tok)
		if tok < 2 || tok > 31 {
			t.Fatalf("token %d", tok)
		}
		seen[tok] = true
	}
	if len(seen) != 30 {
		t.Errorf("token cycle covers %d values", len(seen))
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range roundTripRows(f) {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Add(mustHex(f, sampleBHex))
	f.Add([]byte{0x63, 0x10, 0x52})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode %x: %v", enc, err)
		}
		if diff := cmp.Diff(normalise(m), normalise(m2)); diff != "" {
			t.Fatalf("unstable (-first +second):\n%s", diff)
		}
		if len(enc) > len(b) {
			t.Fatalf("encoding grew: %d > %d", len(enc), len(b))
		}
	})
}

func FuzzAIDP(f *testing.F) {
	f.Add([]byte{0x33, 0x24, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		lat, lon, err := DecodeAIDP(b)
		if err != nil {
			return
		}
		if got := AppendAIDP(nil, lat, lon); !bytes.Equal(got, b) {
			t.Fatalf("%x -> %v %v -> %x", b, lat, lon, got)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	p := mustHex(b, sampleAHex)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m, err := Decode(mustHex(b, sampleAHex))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
