package modemproto

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ALC rows: round trips. Vectors from modem-protocol.md §7 (TTN
// alcsync_test.go / timesync_test.go) plus one per remaining command.
var alcUplinkRows = []struct {
	Name  string
	Bytes string
	Cmds  []any
}{
	{"AppTimeReq (§7)", "01 B2872C51 12", []any{AppTimeReq{DeviceTime: 0x512C87B2, TokenReq: 2, AnsRequired: true}}},
	{"PackageVersionAns (§7)", "00 01 01", []any{PackageVersionAns{PackageID: ALCPackageID, Version: ALCPackageVersion}}},
	{"PeriodicityAns", "02 01 17000000", []any{PeriodicityAns{NotSupported: true, Time: 23}}},
	{"AppTimeReq no answer required, token 15", "01 00000000 0F", []any{AppTimeReq{TokenReq: 15}}},
	{"several", "00 01 01 01 B2872C51 12 02 00 01000000", []any{
		PackageVersionAns{1, 1}, AppTimeReq{0x512C87B2, 2, true}, PeriodicityAns{false, 1}}},
	{"empty", "", nil},
}

var alcDownlinkRows = []struct {
	Name  string
	Bytes string
	Cmds  []any
}{
	{"AppTimeAns +5 s token 2 (§7)", "01 05000000 02", []any{AppTimeAns{Correction: 5, Token: 2}}},
	{"two AppTimeAns (§7)", "010100000002 010300000004", []any{AppTimeAns{1, 2}, AppTimeAns{3, 4}}},
	{"negative correction", "01 FEFFFFFF 0F", []any{AppTimeAns{Correction: -2, Token: 15}}},
	{"PackageVersionReq", "00", []any{PackageVersionReq{}}},
	{"PeriodicityReq", "02 05", []any{PeriodicityReq{Period: 5}}},
	{"ForceResyncReq", "03 03", []any{ForceResyncReq{NbTransmissions: 3}}},
	{"mixed", "00 02 05 03 01", []any{PackageVersionReq{}, PeriodicityReq{5}, ForceResyncReq{1}}},
}

func TestALCUplinkRoundTrip(t *testing.T) {
	for _, row := range alcUplinkRows {
		t.Run(row.Name, func(t *testing.T) {
			b := mustHex(t, row.Bytes)
			got, err := DecodeALCUplink(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(row.Cmds, got); diff != "" {
				t.Errorf("decode (-want +got):\n%s", diff)
			}
			enc, err := AppendALCUplink(nil, row.Cmds...)
			if err != nil || !bytes.Equal(enc, b) {
				t.Errorf("encode = % X, %v; want % X", enc, err, b)
			}
		})
	}
}

func TestALCDownlinkRoundTrip(t *testing.T) {
	for _, row := range alcDownlinkRows {
		t.Run(row.Name, func(t *testing.T) {
			b := mustHex(t, row.Bytes)
			got, err := DecodeALCDownlink(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(row.Cmds, got); diff != "" {
				t.Errorf("decode (-want +got):\n%s", diff)
			}
			enc, err := AppendALCDownlink(nil, row.Cmds...)
			if err != nil || !bytes.Equal(enc, b) {
				t.Errorf("encode = % X, %v; want % X", enc, err, b)
			}
		})
	}
}

func TestALCAppTimeReqTime(t *testing.T) {
	// §7: DeviceTime 0x512C87B2 GPS s = 2023-03-03T10:00:00Z.
	r := AppTimeReq{DeviceTime: 0x512C87B2}
	if got, want := r.Time(), time.Date(2023, 3, 3, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Time() = %v, want %v", got, want)
	}
}

// The §3.3 ALC_SYNC downlink is the §7 AppTimeAns wrapped in opcode 0x09.
func TestALCInsideDM(t *testing.T) {
	cmds, err := AppendALCDownlink(nil, &AppTimeAns{Correction: 5, Token: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Downlink{Command: ALCSyncCommand{Commands: cmds}}.AppendBinary(nil)
	if err != nil || !bytes.Equal(b, mustHex(t, "00 00 09 01 05 00 00 00 02")) {
		t.Errorf("DM ALC_SYNC = % X, %v", b, err)
	}
	u, err := DecodeUplink(mustHex(t, "17 01 B2872C51 12"))
	if err != nil {
		t.Fatal(err)
	}
	up, err := DecodeALCUplink(u.ALCSync)
	if err != nil || len(up) != 1 || up[0] != (AppTimeReq{0x512C87B2, 2, true}) {
		t.Errorf("ALC in DM uplink = %v, %v", up, err)
	}
}

func TestALCErrors(t *testing.T) {
	decodeTests := []struct {
		name    string
		up      bool
		in      string
		want    error
		field   string
		offset  int
		partial int
	}{
		{"uplink truncated AppTimeReq", true, "00 01 01 01 B2872C51", ErrShort, "AppTimeReq", 3, 1},
		{"uplink truncated PackageVersionAns", true, "00 01", ErrShort, "PackageVersionAns", 0, 0},
		{"uplink truncated PeriodicityAns", true, "02 00 01", ErrShort, "PeriodicityAns", 0, 0},
		{"uplink unknown command", true, "00 01 01 03 01", ErrUnknownCommand, "alcsync uplink command 0x03", 3, 1},
		{"downlink truncated AppTimeAns", false, "00 01 05", ErrShort, "AppTimeAns", 1, 1},
		{"downlink truncated PeriodicityReq", false, "02", ErrShort, "PeriodicityReq", 0, 0},
		{"downlink truncated ForceResyncReq", false, "03", ErrShort, "ForceResyncReq", 0, 0},
		{"downlink unknown command", false, "04 00", ErrUnknownCommand, "alcsync downlink command 0x04", 0, 0},
	}
	for _, tc := range decodeTests {
		t.Run(tc.name, func(t *testing.T) {
			var cmds []any
			var err error
			if tc.up {
				cmds, err = DecodeALCUplink(mustHex(t, tc.in))
			} else {
				cmds, err = DecodeALCDownlink(mustHex(t, tc.in))
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field || de.Offset != tc.offset {
				t.Errorf("DecodeError %#v, want field %q offset %d", de, tc.field, tc.offset)
			}
			if len(cmds) != tc.partial {
				t.Errorf("partial commands %v, want %d", cmds, tc.partial)
			}
		})
	}

	encodeTests := []struct {
		name string
		up   bool
		cmds []any
		want error
	}{
		{"AppTimeReq token 16", true, []any{AppTimeReq{TokenReq: 16}}, ErrRange},
		{"AppTimeAns token 16", false, []any{AppTimeAns{Token: 16}}, ErrRange},
		{"downlink command in uplink", true, []any{PackageVersionAns{}, AppTimeAns{}}, ErrUnknownCommand},
		{"uplink command in downlink", false, []any{AppTimeReq{}}, ErrUnknownCommand},
		{"nil pointer", false, []any{(*AppTimeAns)(nil)}, ErrUnknownCommand},
		{"other type", true, []any{42}, ErrUnknownCommand},
	}
	for _, tc := range encodeTests {
		var out []byte
		var err error
		if tc.up {
			out, err = AppendALCUplink([]byte{9}, tc.cmds...)
		} else {
			out, err = AppendALCDownlink([]byte{9}, tc.cmds...)
		}
		if !errors.Is(err, tc.want) || !bytes.Equal(out, []byte{9}) {
			t.Errorf("%s: % X, %v; want dst unchanged and %v", tc.name, out, err, tc.want)
		}
	}
}

func TestALCPointers(t *testing.T) {
	up, err := AppendALCUplink(nil, &PackageVersionAns{1, 1}, &AppTimeReq{1, 2, false}, &PeriodicityAns{true, 3})
	if err != nil || !bytes.Equal(up, mustHex(t, "000101 01 01000000 02 02 01 03000000")) {
		t.Errorf("uplink pointers: % X, %v", up, err)
	}
	down, err := AppendALCDownlink(nil, &PackageVersionReq{}, &PeriodicityReq{1}, &ForceResyncReq{2})
	if err != nil || !bytes.Equal(down, mustHex(t, "00 02 01 03 02")) {
		t.Errorf("downlink pointers: % X, %v", down, err)
	}
}
