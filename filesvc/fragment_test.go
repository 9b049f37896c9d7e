package filesvc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fragmentRows = []struct {
	name string
	in   []byte
	want Fragment
}{
	{"one chunk", []byte{0x03, 0x04, 1, 2, 3, 4, 5, 6, 7, 8}, Fragment{0, 1, 4, []uint64{0x0807060504030201}}},
	{"max D", append([]byte{0xff, 0xff}, make([]byte, 16)...), Fragment{3, 15, 1024, []uint64{0, 0}}},
	{"min D", append([]byte{0, 0}, make([]byte, 8)...), Fragment{0, 0, 1, []uint64{0}}},
}

func TestFragmentRoundTrip(t *testing.T) {
	for _, row := range fragmentRows {
		got, err := ParseFragment(row.in)
		if err != nil {
			t.Fatalf("%s: %v", row.name, err)
		}
		if d := cmp.Diff(row.want, got); d != "" {
			t.Fatalf("%s (-want +got):\n%s", row.name, d)
		}
		b, err := row.want.MarshalBinary()
		if err != nil || !bytes.Equal(b, row.in) {
			t.Fatalf("%s: marshal %x %v", row.name, b, err)
		}
		var u Fragment
		if err := u.UnmarshalBinary(b); err != nil || !cmp.Equal(u, row.want) {
			t.Fatalf("%s: unmarshal %+v %v", row.name, u, err)
		}
	}
	// The parsed chunks do not alias the input.
	in := append([]byte(nil), fragmentRows[0].in...)
	f, _ := ParseFragment(in)
	in[2] = 0xff
	if f.Chunks[0] != 0x0807060504030201 {
		t.Fatal("chunks alias the input")
	}
}

func TestParseFragmentErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		field  string
		offset int
		want   error
	}{
		{"empty", nil, "D", 0, ErrShort},
		{"one byte", []byte{3}, "D", 0, ErrShort},
		{"no chunks", []byte{3, 4}, "chunks", 2, ErrShort},
		{"partial", make([]byte, 9), "chunks", 2, ErrShort},
		{"partial second", make([]byte, 13), "chunks", 10, ErrShort},
		{"too many", make([]byte, 2+8*(MaxFragmentChunks+1)), "chunks", 2, ErrTooLarge},
	} {
		_, err := ParseFragment(tc.in)
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != tc.field || de.Offset != tc.offset || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "filesvc: ") {
			t.Errorf("%s: message %q", tc.name, err)
		}
	}
	if _, err := ParseFragment(make([]byte, 2+8*MaxFragmentChunks)); err != nil {
		t.Errorf("max chunks: %v", err)
	}
}

func TestFragmentAppendErrors(t *testing.T) {
	one := []uint64{1}
	for _, tc := range []struct {
		f    Fragment
		want error
	}{
		{Fragment{4, 0, 1, one}, ErrRange},
		{Fragment{0, 16, 1, one}, ErrRange},
		{Fragment{0, 0, 0, one}, ErrRange},
		{Fragment{0, 0, 1025, one}, ErrTooLarge},
		{Fragment{0, 0, 1, nil}, ErrShort},
		{Fragment{0, 0, 1, make([]uint64, MaxFragmentChunks+1)}, ErrTooLarge},
	} {
		if _, err := tc.f.AppendBinary(nil); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.f, err, tc.want)
		}
	}
}
