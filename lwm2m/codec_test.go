package lwm2m

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var linkCases = []struct {
	name string
	in   string
	want []Link
}{
	{"quectel (seed 002)", `</>;rt="oma.lwm2m",</1/0>,</3/0>,</4/0>,</19/0>,</5/0>,</20/0>`, []Link{
		{Target: "/", Params: []LinkParam{{Name: "rt", Value: "oma.lwm2m", HasValue: true}}},
		{Target: "/1/0"}, {Target: "/3/0"}, {Target: "/4/0"}, {Target: "/19/0"}, {Target: "/5/0"}, {Target: "/20/0"},
	}},
	{"simulator ct and relative targets", `</>;rt="oma.lwm2m";ct=11543,<3/0>,<19/0>`, []Link{
		{Target: "/", Params: []LinkParam{{Name: "rt", Value: "oma.lwm2m", HasValue: true}, {Name: "ct", Value: "11543", HasValue: true}}},
		{Target: "3/0"}, {Target: "19/0"},
	}},
	{"whitespace, flags, quoted comma", "</1/0> ; obs , </3/0>;title=\"a, \\\"b\\\"\";ver=1.1", []Link{
		{Target: "/1/0", Params: []LinkParam{{Name: "obs"}}},
		{Target: "/3/0", Params: []LinkParam{{Name: "title", Value: `a, "b"`, HasValue: true}, {Name: "ver", Value: "1.1", HasValue: true}}},
	}},
	{"empty", ``, nil},
}

func TestParseLinks(t *testing.T) {
	for _, tc := range linkCases {
		got, err := ParseLinks([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", tc.name, diff)
		}
		again, err := ParseLinks([]byte(FormatLinks(got)))
		if err != nil || !cmp.Equal(got, again) {
			t.Fatalf("%s: round trip via %q: %v %+v", tc.name, FormatLinks(got), err, again)
		}
	}
	if diff := cmp.Diff([][]uint16{{1, 0}, {3, 0}, {4, 0}, {19, 0}, {5, 0}, {20, 0}}, Objects(mustLinks(t, linkCases[0].in))); diff != "" {
		t.Fatalf("Objects (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`</3/0`, `3/0`, `</3/0>;`, `</3/0>;rt=`, `</3/0>;rt="x`, `</3/0>,`, `</3/0> </4/0>`, "<\x01>", `</a b>`, `</3/0>;="x"`} {
		_, err := ParseLinks([]byte(bad))
		var le *LinkError
		if !errors.Is(err, ErrLinkFormat) || !errors.As(err, &le) {
			t.Errorf("ParseLinks(%q): %v, want a LinkError", bad, err)
		}
	}
}

func mustLinks(t *testing.T, s string) []Link {
	t.Helper()
	l, err := ParseLinks([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func FuzzParseLinks(f *testing.F) {
	for _, tc := range linkCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLinks(b)
		if err != nil {
			return
		}
		s := FormatLinks(l)
		l2, err := ParseLinks([]byte(s))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", s, err)
		}
		if !cmp.Equal(l, l2) {
			t.Fatalf("unstable: %+v vs %+v", l, l2)
		}
	})
}

var tlvCases = []struct {
	name string
	hex  []byte
	want []TLV
}{
	{"resource 0 opaque", []byte{0xc4, 0x00, 0xde, 0xad, 0xbe, 0xef}, []TLV{{Type: TLVResource, ID: 0, Value: []byte{0xde, 0xad, 0xbe, 0xef}}}},
	{"8-bit length", append([]byte{0xc8, 0x00, 0x09}, "123456789"...), []TLV{{Type: TLVResource, ID: 0, Value: []byte("123456789")}}},
	{"16-bit id and length", append([]byte{0xf0, 0x01, 0x00, 0x01, 0x00}, bytes.Repeat([]byte{7}, 256)...), []TLV{{Type: TLVResource, ID: 256, Value: bytes.Repeat([]byte{7}, 256)}}},
	{"multiple resource", []byte{0x86, 0x00, 0x41, 0x01, 0xbb, 0x41, 0x00, 0xaa}, []TLV{{Type: TLVMultipleResource, ID: 0, Children: []TLV{
		{Type: TLVResourceInstance, ID: 1, Value: []byte{0xbb}}, {Type: TLVResourceInstance, ID: 0, Value: []byte{0xaa}}}}}},
	{"object instance", []byte{0x04, 0x00, 0xc2, 0x00, 0x0a, 0x01}, []TLV{{Type: TLVObjectInstance, ID: 0, Children: []TLV{
		{Type: TLVResource, ID: 0, Value: []byte{0x0a, 0x01}}}}}},
}

func TestTLV(t *testing.T) {
	for _, tc := range tlvCases {
		got, err := DecodeTLV(tc.hex)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", tc.name, diff)
		}
		if enc := AppendTLV(nil, got); !bytes.Equal(enc, tc.hex) {
			t.Fatalf("%s: encoded %x, want %x", tc.name, enc, tc.hex)
		}
	}
	v, ok := ResourceValue(tlvCases[3].want, 0)
	if !ok || !bytes.Equal(v, []byte{0xaa}) {
		t.Fatalf("multiple resource value %x %v", v, ok)
	}
	v, ok = ResourceValue(tlvCases[4].want, 0)
	if !ok || !bytes.Equal(v, []byte{0x0a, 0x01}) {
		t.Fatalf("object instance value %x %v", v, ok)
	}
	for _, bad := range [][]byte{{0xc4, 0x00, 1}, {0xe0}, {0xc8, 0x00}, {0x08, 0x00, 0x02, 0x41, 0x00}, {0x83, 0x00, 0xc1, 0x00, 0x01}} {
		_, err := DecodeTLV(bad)
		var te *TLVError
		if !errors.Is(err, ErrTLV) || !errors.As(err, &te) || te.Field == "" {
			t.Errorf("DecodeTLV(%x): %v, want a TLVError", bad, err)
		}
	}
}

func FuzzDecodeTLV(f *testing.F) {
	for _, tc := range tlvCases {
		f.Add(tc.hex)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeTLV(b)
		if err != nil {
			return
		}
		enc := AppendTLV(nil, e)
		e2, err := DecodeTLV(enc)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if !cmp.Equal(e, e2) || !bytes.Equal(AppendTLV(nil, e2), enc) {
			t.Fatalf("unstable: %x → %x", b, enc)
		}
	})
}

func TestFraming(t *testing.T) {
	for _, tc := range []struct {
		in      []byte
		port    uint8
		payload []byte
		ok      bool
		err     bool
	}{
		{[]byte{199, 3, 0x19}, 199, []byte{3, 0x19}, true, false},
		{[]byte{0xde, 0xad, 0xbe, 0xef}, 222, []byte{0xad, 0xbe, 0xef}, true, false},
		{[]byte{1}, 1, []byte{}, true, false},
		{nil, 0, nil, false, false},
		{[]byte{0, 1}, 0, nil, false, true},
		{[]byte{224}, 0, nil, false, true},
	} {
		port, p, ok, err := Unframe(tc.in)
		if port != tc.port || !bytes.Equal(p, tc.payload) || ok != tc.ok || (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrFraming)) {
			t.Errorf("Unframe(%x) = %d %x %v %v", tc.in, port, p, ok, err)
		}
		if ok && !bytes.Equal(Frame(port, p), tc.in) {
			t.Errorf("Frame(%d, %x) != %x", port, p, tc.in)
		}
	}
}

func FuzzUnframe(f *testing.F) {
	f.Add([]byte{199, 3, 0x19})
	f.Add([]byte{0xde, 0xad, 0xbe, 0xef})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		port, p, ok, err := Unframe(b)
		if err != nil || !ok {
			return
		}
		if !bytes.Equal(Frame(port, p), b) {
			t.Fatalf("Frame(Unframe(%x)) differs", b)
		}
	})
}

func BenchmarkParseLinks(b *testing.B) {
	in := []byte(linkCases[0].in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLinks(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTLV(b *testing.B) {
	in := tlvCases[4].hex
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTLV(in); err != nil {
			b.Fatal(err)
		}
	}
}

var testTime = time.Unix(1_700_000_000, 0)

func TestMIDCache(t *testing.T) {
	var c midCache
	now := testTime
	if c.seen(7, now) {
		t.Fatal("first sight reported as seen")
	}
	if !c.seen(7, now.Add(exchangeLifetime-1)) {
		t.Fatal("repeat within the exchange lifetime not seen")
	}
	if c.seen(7, now.Add(exchangeLifetime+1)) {
		t.Fatal("repeat after the exchange lifetime reported as seen")
	}
	for i := range uint16(40) {
		c.seen(100+i, now)
	}
	if c.seen(7, now) {
		t.Fatal("evicted id still seen")
	}
}
