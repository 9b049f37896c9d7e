package stream

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// §2.6: real DM-port frame (TTN #4305/#4325), f_port 199, f_cnt 13.
const capturedFrame = "142eb800cd082abf6466b3c7ca9ad06466b352cd86b20220e0d712d7a5b095750b6d28a3085b0e85fd76abb04e265e34a2a065dd918cc61b2e7769e639ab2a49a6449771d7eeeed1129f7e7ef1bf93d3a99d515555f599c346a2f3b8fa2b374206099014a8"

func TestCapturedFrame(t *testing.T) {
	b := mustHex(t, capturedFrame)
	if len(b) != 101 || b[0] != 0x14 {
		t.Fatalf("capture: %d bytes, tag %#x", len(b), b[0])
	}
	v, err := ParseFrame(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	f, ok := v.(*SData)
	if !ok {
		t.Fatalf("got %T", v)
	}
	if f.PCTX || f.SOFFL != 0x00B8 || f.Offset != 0xB8 || len(f.Sys) != 46 || len(f.Red) != 51 {
		t.Errorf("PCTX %v SOFFL %#x Offset %#x sys %d red %d", f.PCTX, f.SOFFL, f.Offset, len(f.Sys), len(f.Red))
	}
	if f.Sys[0] != 0xcd || f.Red[0] != mustHex(t, capturedFrame)[1+3+46] {
		t.Errorf("payload split wrong")
	}
	got, err := AppendSData(nil, f)
	if err != nil || string(got) != string(b[1:]) {
		t.Errorf("re-encode: %x, %v", got, err)
	}
	// The decoder takes it as the first frame it sees (no context yet).
	d := NewDecoder()
	if _, _, err := d.Add(13, b[1:]); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Synced || st.End != 0xB8+46 {
		t.Errorf("status %+v", st)
	}
}

func TestWL(t *testing.T) {
	for _, tc := range []struct {
		wl int
		b  byte
	}{
		{512, 0x5E}, {16, 0x00}, {20, 0x01}, {268, 0x3F}, {272, 0x40}, {776, 0x7F}, {784, 0x80}, {1792, 0xBF},
	} {
		b, err := EncodeWL(tc.wl)
		if err != nil || b != tc.b {
			t.Errorf("EncodeWL(%d) = %#x, %v; want %#x", tc.wl, b, err, tc.b)
		}
		wl, err := DecodeWL(tc.b)
		if err != nil || wl != tc.wl {
			t.Errorf("DecodeWL(%#x) = %d, %v; want %d", tc.b, wl, err, tc.wl)
		}
	}
	for _, wl := range []int{0, 15, 17, 270, 1793, 2000, -4} {
		if _, err := EncodeWL(wl); !errors.Is(err, ErrRange) {
			t.Errorf("EncodeWL(%d) err = %v", wl, err)
		}
	}
	for b := 0xC0; b <= 0xFF; b++ {
		var de *DecodeError
		if _, err := DecodeWL(byte(b)); !errors.Is(err, ErrReserved) || !errors.As(err, &de) || de.Field != "WL" {
			t.Errorf("DecodeWL(%#x) err = %v", b, err)
		}
	}
	// Every byte of classes 0..2 round-trips.
	for b := range 0xC0 {
		wl, err := DecodeWL(byte(b))
		if err != nil {
			t.Fatal(err)
		}
		if e, err := EncodeWL(wl); err != nil || e != byte(b) {
			t.Errorf("round trip %#x -> %d -> %#x, %v", b, wl, e, err)
		}
	}
	for in, want := range map[int]int{0: 16, 17: 20, 269: 272, 512: 512, 777: 784, 5000: 1792} {
		if got := roundWL(in); got != want {
			t.Errorf("roundWL(%d) = %d, want %d", in, got, want)
		}
	}
}

// frameRows are the table of frames: the §5.8 vectors, the capture and SINFO examples.
var frameRows = []struct {
	name string
	hex  string
	want any
	err  error
}{
	{name: "vector fcnt 10", hex: "8e0000a4414243a1a0a648656c6c6fa0a9000000", want: &SData{
		PCTX: true, Sys: []byte{0xa4, 0x41, 0x42, 0x43, 0xa1, 0xa0, 0xa6, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0xa0, 0xa9},
		Red: []byte{}, WL: 16,
	}},
	{name: "vector fcnt 11", hex: "010e0001e08601ca49a30f80674d8be46ba2c9e5", want: &SData{
		Offset: 14, SOFFL: 14, Sys: []byte{0x01},
		Red: []byte{0xe0, 0x86, 0x01, 0xca, 0x49, 0xa3, 0x0f, 0x80, 0x67, 0x4d, 0x8b, 0xe4, 0x6b, 0xa2, 0xc9, 0xe5},
	}},
	{name: "vector fcnt 12", hex: "0e0f0002030405060708a0a511223344a00ace", want: &SData{
		Offset: 15, SOFFL: 15, Sys: []byte{0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xa0, 0xa5, 0x11, 0x22, 0x33, 0x44, 0xa0},
		Red: []byte{0x0a, 0xce},
	}},
	{name: "pctx high offset", hex: "81341201ff5e0300", want: &SData{
		PCTX: true, Offset: 0x31234, SOFFL: 0x1234, SOFFH: 3, Sys: []byte{1}, Red: []byte{0xff}, WL: 512,
	}},
	{name: "redundancy only", hex: "000000aabb", want: &SData{Sys: []byte{}, Red: []byte{0xaa, 0xbb}}},
	{name: "empty sdata", hex: "000000", want: &SData{Sys: []byte{}, Red: []byte{}}},
	{name: "sinfo", hex: "ff015e6e7856341208", want: &SInfo{RQAWL: true, WL: 512, RR: 110, Offset: 0x12345678, PCTXInterval: 8}},
	{name: "sinfo usz", hex: "ff0400640000000000", want: &SInfo{UnitSizeLog2: 2, WL: 16, RR: 100}},
	{name: "empty", hex: "", err: ErrShort},
	{name: "short header", hex: "0100", err: ErrShort},
	{name: "short sysdat", hex: "050000aabb", err: ErrShort},
	{name: "short pctx", hex: "81000001ff5e", err: ErrShort},
	{name: "m127", hex: "7f0000", err: ErrReserved},
	{name: "wl class 3", hex: "800000c00000", err: ErrReserved},
	{name: "short sinfo", hex: "ff015e6e78563412", err: ErrShort},
	{name: "long sinfo", hex: "ff015e6e785634120800", err: ErrLength},
	{name: "sinfo wl rfu", hex: "ff01ff6e7856341208", err: ErrReserved},
}

func TestParseFrameTable(t *testing.T) {
	for _, tc := range frameRows {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			got, err := ParseFrame(b)
			if tc.err != nil {
				var de *DecodeError
				if !errors.Is(err, tc.err) || !errors.As(err, &de) || de.Field == "" {
					t.Fatalf("err = %v, want %v with a field", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			var enc []byte
			switch f := got.(type) {
			case *SData:
				enc, err = AppendSData(nil, f)
			case *SInfo:
				enc, err = AppendSInfo(nil, f)
			}
			if err != nil || string(enc) != string(b) {
				t.Errorf("re-encode = %x, %v; want %x", enc, err, b)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	if _, err := AppendSData(nil, &SData{Sys: make([]byte, 127)}); !errors.Is(err, ErrRange) {
		t.Errorf("127 sys: %v", err)
	}
	if _, err := AppendSData(nil, &SData{PCTX: true, WL: 17}); !errors.Is(err, ErrRange) {
		t.Errorf("bad WL: %v", err)
	}
	if _, err := AppendSInfo(nil, &SInfo{WL: 512, UnitSizeLog2: 4}); !errors.Is(err, ErrRange) {
		t.Errorf("bad USZ: %v", err)
	}
	if _, err := AppendSInfo(nil, &SInfo{WL: 0}); !errors.Is(err, ErrRange) {
		t.Errorf("bad WL: %v", err)
	}
	// ParseFrame copies: mutating the input does not change the result.
	b := mustHex(t, "020000aabbcc")
	v, _ := ParseFrame(b)
	b[3], b[5] = 0, 0
	if f := v.(*SData); f.Sys[0] != 0xaa || f.Red[0] != 0xcc {
		t.Errorf("result aliases input")
	}
}

func TestRecordEncoding(t *testing.T) {
	for _, tc := range []struct{ data, enc string }{
		{"414243a0", "a4414243a1a0"},
		{"48656c6c6f", "a648656c6c6fa0"},
		{"a0", "a1a1a0"},
		{"a0a0a0", "a1a1a1a1a0"},
		{"00", "a200a0"},
	} {
		got, err := AppendRecord(nil, mustHex(t, tc.data))
		if err != nil || string(got) != string(mustHex(t, tc.enc)) {
			t.Errorf("AppendRecord(%s) = %x, %v; want %s", tc.data, got, err, tc.enc)
		}
	}
	// 254 bytes: the header distance is 255 (0x9F after wrapping); all 0xA0: every chain step is 1.
	long := make([]byte, 254)
	got, err := AppendRecord(nil, long)
	if err != nil || got[0] != 0x9F || len(got) != 256 {
		t.Errorf("254 zero bytes: hdr %#x len %d err %v", got[0], len(got), err)
	}
	for _, n := range []int{0, 255} {
		if _, err := AppendRecord(nil, make([]byte, n)); !errors.Is(err, ErrRecordLength) {
			t.Errorf("len %d: %v", n, err)
		}
	}
	// Round trip through the de-framer, including a long record and 0xA0 runs.
	recs := [][]byte{long, mustHex(t, "a0"), mustHex(t, "a0a0a0"), mustHex(t, "ff"), make([]byte, 1)}
	for i := range long {
		long[i] = byte(i) | 0xA0&byte(i>>7*0xff)
	}
	var stream []byte
	for _, r := range recs {
		stream, _ = AppendRecord(stream, r)
	}
	e := NewEncoder(16, 0, 0)
	for _, r := range recs {
		if err := e.AddRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDecoder()
	var got2 [][]byte
	for fcnt := uint32(0); e.Busy(); fcnt++ {
		f, _, err := e.NextFrame(fcnt, 242)
		if err != nil {
			t.Fatal(err)
		}
		rs, _, err := d.Add(fcnt, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			got2 = append(got2, r.Data)
		}
	}
	if diff := cmp.Diff(recs, got2); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := ParseFrame([]byte{0x7F, 0, 0})
	if got := err.Error(); got != "stream: SHDR at byte 0: reserved value" {
		t.Errorf("message %q", got)
	}
}
