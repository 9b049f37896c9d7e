package modemproto

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/openmgs/openmgs/internal/lora"
)

// Vectors from modem-protocol.md §2.6.
const (
	report1Hex  = "00 08 01 0000 03 19 04 0E1C 05 0000 06 0000 07 0000000000000000 0F 0300 12 0500"
	report2Hex  = "00 08 02 A5 03 E7 04 0E1C 09 0100FEFF01C01600 0A 81 0B 01 10 6E4000F001C01600"
	capturedHex = "142eb800cd082abf6466b3c7ca9ad06466b352cd86b20220e0d712d7a5b095750b6d28a3085b0e85fd76ab" +
		"b04e265e34a2a065dd918cc61b2e7769e639ab2a49a6449771d7eeeed1129f7e7ef1bf93d3a99d515555f599c346a2f3b8fa2b374206099014a8"
)

var uplinkCmp = cmpopts.EquateEmpty()

// uplinkRows are round trips: Bytes decodes to Want and Want encodes to Bytes.
var uplinkRows = []struct {
	Name  string
	Bytes string
	Want  Uplink
}{
	{
		Name:  "first report after join (§2.6)",
		Bytes: report1Hex,
		Want: Uplink{
			Present: TagSetOf(TagStatus, TagCharge, TagTemp, TagSignal, TagUptime, TagRxTime, TagFirmware, TagRstCount, TagSession),
			Fields: Fields{
				Status:   Status{Joined: true},
				Temp:     25,
				Signal:   Signal{RSSI: -50, SNR: 7},
				RstCount: 3,
				Session:  5,
			},
		},
	},
	{
		Name:  "configuration report (§2.6)",
		Bytes: report2Hex,
		Want: Uplink{
			Present: TagSetOf(TagStatus, TagVoltage, TagTemp, TagSignal, TagJoinEUI, TagInterval, TagRegion, TagDevEUI),
			Fields: Fields{
				Status:   Status{Joined: true},
				Voltage:  3.30,
				Temp:     -25,
				Signal:   Signal{RSSI: -50, SNR: 7},
				JoinEUI:  lora.MustParseEUI64("00-16-C0-01-FF-FE-00-01"),
				Interval: 0x81,
				Region:   1,
				DevEUI:   lora.MustParseEUI64("00-16-C0-01-F0-00-40-6E"),
			},
		},
	},
	{
		Name:  "empty frame",
		Bytes: "",
		Want:  Uplink{},
	},
	{
		Name:  "every status bit and negative SNR",
		Bytes: "00 FF 04 80 F9",
		Want: Uplink{
			Present: TagSetOf(TagStatus, TagSignal),
			Fields: Fields{
				Status: Status{true, true, true, true, true, true, true, true},
				Signal: Signal{RSSI: -192, SNR: -1.75},
			},
		},
	},
	{
		Name:  "remaining fixed fields",
		Bytes: "01 E803 05 1027 06 0200 07 78563412 0100 0200 08 03 0C 04030201 11 0900 13 0807060504030201 15 C8 01 16 0102030405060708 18 05 44332211 36 C1",
		Want: Uplink{
			Present: TagSetOf(TagCharge, TagUptime, TagRxTime, TagFirmware, TagADRMode, TagOpMode, TagRFU, TagChipEUI, TagStreamPar, TagAppStatus, TagAlmanacStatus),
			Fields: Fields{
				Charge:    1000,
				Uptime:    10000,
				RxTime:    2,
				Firmware:  Firmware{CRC: 0x12345678, Total: 1, Completed: 2},
				ADRMode:   3,
				OpMode:    0x01020304,
				RFU:       9,
				ChipEUI:   lora.MustParseEUI64("01-02-03-04-05-06-07-08"),
				StreamPar: StreamPar{Port: 200, Encrypted: true},
				AppStatus: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
				// f1 0x36: error 3, bit 2 BeiDou, bit 1 GPS, bit 0 = 0; f2 0xC1: bit 7 = 1, bits 6..0 = 0x41.
				AlmanacStatus: AlmanacStatus{FirmwareVersion: 5, CRC: 0x11223344, Error: 3, BeiDouUpdate: true,
					GPSUpdate: true, FreqSearchSpace: 1, Reserved: 0x41},
			},
		},
	},
	{
		Name:  "almanac status reserved f1 bit 3",
		Bytes: "18 01 00000000 09 00",
		Want: Uplink{
			Present: TagSetOf(TagAlmanacStatus),
			Fields:  Fields{AlmanacStatus: AlmanacStatus{FirmwareVersion: 1, FreqSearchSpace: 2, Reserved: 0x80}},
		},
	},
	{
		Name:  "crash log takes the rest of the frame",
		Bytes: "0D 00 01 02 0F 03",
		Want:  Uplink{Present: TagSetOf(TagCrashLog), CrashLog: []byte{0, 1, 2, 0x0f, 3}},
	},
	{
		Name:  "fixed fields then ALCSync",
		Bytes: "00 08 17 01 B2872C51 12",
		Want: Uplink{Present: TagSetOf(TagStatus, TagALCSync), Fields: Fields{Status: Status{Joined: true}},
			ALCSync: []byte{0x01, 0xb2, 0x87, 0x2c, 0x51, 0x12}},
	},
	{
		Name:  "variable tag with no bytes",
		Bytes: "19",
		Want:  Uplink{Present: TagSetOf(TagDebugResponse)},
	},
	{Name: "upload", Bytes: "0E 0304 AA", Want: Uplink{Present: TagSetOf(TagUpload), Upload: []byte{3, 4, 0xaa}}},
	{Name: "gnssloc", Bytes: "1A 01 02", Want: Uplink{Present: TagSetOf(TagGNSSLoc), GNSSLoc: []byte{1, 2}}},
	{Name: "wifiloc", Bytes: "1B 01", Want: Uplink{Present: TagSetOf(TagWiFiLoc), WiFiLoc: []byte{1}}},
}

func TestUplinkRoundTrip(t *testing.T) {
	for _, row := range uplinkRows {
		t.Run(row.Name, func(t *testing.T) {
			b := mustHex(t, row.Bytes)
			got, err := DecodeUplink(b)
			if err != nil {
				t.Fatalf("DecodeUplink: %v", err)
			}
			if diff := cmp.Diff(&row.Want, got, uplinkCmp); diff != "" {
				t.Errorf("decode mismatch (-want +got):\n%s", diff)
			}
			enc, err := row.Want.AppendBinary(nil)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.Equal(enc, b) {
				t.Errorf("encode = % x, want % x", enc, b)
			}
		})
	}
}

// The spec's decoded column, field by field, for the two reports.
func TestUplinkReportsFieldByField(t *testing.T) {
	u, err := DecodeUplink(mustHex(t, report1Hex))
	if err != nil {
		t.Fatal(err)
	}
	f := u.Fields
	checks := []struct {
		name string
		ok   bool
	}{
		{"31 bytes", len(mustHex(t, report1Hex)) == 31},
		{"status = joined only", f.Status.Byte() == 0x08 && f.Status.Joined},
		{"charge 0 mAh", u.Present.Has(TagCharge) && f.Charge == 0},
		{"temp 25 °C", f.Temp == 25},
		{"RSSI −50 dBm", f.Signal.RSSI == -50},
		{"SNR 7.0 dB", f.Signal.SNR == 7.0},
		{"uptime 0 h", u.Present.Has(TagUptime) && f.Uptime == 0},
		{"rxtime 0 h", u.Present.Has(TagRxTime) && f.RxTime == 0},
		{"firmware all zero", u.Present.Has(TagFirmware) && f.Firmware == Firmware{}},
		{"rstcount 3", f.RstCount == 3},
		{"session 5", f.Session == 5},
		{"no voltage", !u.Present.Has(TagVoltage)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("report 1: %s: got %+v", c.name, u)
		}
	}

	u, err = DecodeUplink(mustHex(t, report2Hex))
	if err != nil {
		t.Fatal(err)
	}
	f = u.Fields
	checks = []struct {
		name string
		ok   bool
	}{
		{"31 bytes", len(mustHex(t, report2Hex)) == 31},
		{"status = joined", f.Status == Status{Joined: true}},
		{"voltage 3.30 V", math.Abs(f.Voltage-3.30) < 1e-12},
		{"temp −25 °C", f.Temp == -25},
		{"RSSI −50 dBm, SNR 7.0 dB", f.Signal == Signal{RSSI: -50, SNR: 7}},
		{"joineui 00-16-C0-01-FF-FE-00-01", f.JoinEUI.String() == "00-16-c0-01-ff-fe-00-01"},
		{"interval 1 h", f.Interval.Duration().Hours() == 1 && f.Interval.String() == "1h"},
		{"region EU868", f.Region == 1},
		{"deveui 00-16-C0-01-F0-00-40-6E", f.DevEUI.String() == "00-16-c0-01-f0-00-40-6e"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("report 2: %s: got %+v", c.name, u)
		}
	}
}

func TestUplinkCapturedStreamFrame(t *testing.T) {
	b := mustHex(t, capturedHex)
	if len(b) != 101 {
		t.Fatalf("captured frame is %d bytes, want 101", len(b))
	}
	u, err := DecodeUplink(b)
	if err != nil {
		t.Fatalf("DecodeUplink: %v", err)
	}
	if u.Present != TagSetOf(TagStream) {
		t.Errorf("Present = %v, want {stream}", u.Present)
	}
	if !bytes.Equal(u.Stream, b[1:]) || len(u.Stream) != 100 {
		t.Errorf("Stream = %d bytes, want the 100 bytes after the tag", len(u.Stream))
	}
	// SHDR 0x2E, SOFFL 0x00B8 (§2.6).
	if u.Stream[0] != 0x2e || u.Stream[1] != 0xb8 || u.Stream[2] != 0x00 {
		t.Errorf("stream header % x", u.Stream[:3])
	}
	tag, data, ok := u.VariableField()
	if !ok || tag != TagStream || !bytes.Equal(data, u.Stream) {
		t.Errorf("VariableField = %v, %d bytes, %v", tag, len(data), ok)
	}
	// The decoded bytes must not alias the input.
	b[1] ^= 0xff
	if u.Stream[0] != 0x2e {
		t.Error("Stream aliases the input")
	}
}

func TestUplinkDecodeErrors(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		want       Uplink
		sentinel   error
		field      string
		offset     int
		msgContain string
	}{
		{
			name: "truncated inside uptime",
			in:   "00 08 01 0000 03 19 04 0E1C 05 00",
			want: Uplink{Present: TagSetOf(TagStatus, TagCharge, TagTemp, TagSignal),
				Fields: Fields{Status: Status{Joined: true}, Temp: 25, Signal: Signal{RSSI: -50, SNR: 7}}},
			sentinel: ErrShort, field: "uptime", offset: 10, msgContain: "uptime at offset 10",
		},
		{
			name:     "tag without value",
			in:       "03",
			want:     Uplink{},
			sentinel: ErrShort, field: "temp", offset: 0, msgContain: "need 1 value bytes, 0 left",
		},
		{
			name:     "truncated report 2 inside deveui",
			in:       "00 08 02 A5 03 E7 04 0E1C 09 0100FEFF01C01600 0A 81 0B 01 10 6E4000F001C016",
			sentinel: ErrShort, field: "deveui", offset: 22,
			want: Uplink{Present: TagSetOf(TagStatus, TagVoltage, TagTemp, TagSignal, TagJoinEUI, TagInterval, TagRegion),
				Fields: Fields{Status: Status{Joined: true}, Voltage: 3.3, Temp: -25, Signal: Signal{RSSI: -50, SNR: 7},
					JoinEUI: lora.MustParseEUI64("00-16-C0-01-FF-FE-00-01"), Interval: 0x81, Region: 1}},
		},
		{
			name:     "unknown tag",
			in:       "00 08 1C 01",
			want:     Uplink{Present: TagSetOf(TagStatus), Fields: Fields{Status: Status{Joined: true}}},
			sentinel: ErrUnknownTag, field: "tag(0x1c)", offset: 2, msgContain: "unknown tag",
		},
		{
			name:     "unknown tag first",
			in:       "FF",
			sentinel: ErrUnknownTag, field: "tag(0xff)", offset: 0,
		},
		{
			name:     "duplicate tag keeps the first value",
			in:       "03 19 03 E7",
			want:     Uplink{Present: TagSetOf(TagTemp), Fields: Fields{Temp: 25}},
			sentinel: ErrDuplicateTag, field: "temp", offset: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := DecodeUplink(mustHex(t, tc.in))
			if u == nil {
				t.Fatal("DecodeUplink returned a nil uplink")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Field != tc.field || de.Offset != tc.offset {
				t.Errorf("DecodeError field %q offset %d, want %q %d", de.Field, de.Offset, tc.field, tc.offset)
			}
			if !strings.HasPrefix(err.Error(), "modemproto: "+tc.field) || strings.Count(err.Error(), "modemproto:") != 1 {
				t.Errorf("message %q", err)
			}
			if tc.msgContain != "" && !strings.Contains(err.Error(), tc.msgContain) {
				t.Errorf("message %q does not contain %q", err, tc.msgContain)
			}
			if diff := cmp.Diff(&tc.want, u, uplinkCmp); diff != "" {
				t.Errorf("partial fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUplinkOutOfOrderAccepted(t *testing.T) {
	u, err := DecodeUplink(mustHex(t, "0F 0300 00 08 03 19"))
	if err != nil {
		t.Fatalf("out-of-order tags: %v", err)
	}
	want := &Uplink{Present: TagSetOf(TagStatus, TagTemp, TagRstCount),
		Fields: Fields{Status: Status{Joined: true}, Temp: 25, RstCount: 3}}
	if diff := cmp.Diff(want, u, uplinkCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	enc, err := u.AppendBinary(nil)
	if err != nil || !bytes.Equal(enc, mustHex(t, "00 08 03 19 0F 0300")) {
		t.Errorf("re-encoded in ascending order: % x, %v", enc, err)
	}
}

func TestUplinkEncode(t *testing.T) {
	// Voltage and signal rounding/clamping.
	u := Uplink{Present: TagSetOf(TagVoltage, TagSignal), Fields: Fields{Voltage: 3.299, Signal: Signal{RSSI: 100, SNR: 50}}}
	enc, err := u.AppendBinary([]byte{0xEE})
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "EE 02 A5 04 7F 7F"); !bytes.Equal(enc, want) {
		t.Errorf("encode = % x, want % x", enc, want)
	}
	u.Fields.Signal = Signal{RSSI: -300, SNR: -1.3}
	enc, _ = u.AppendBinary(nil)
	if want := mustHex(t, "02 A5 04 80 FB"); !bytes.Equal(enc, want) {
		t.Errorf("clamped encode = % x, want % x", enc, want)
	}

	// Variable field goes last even when fixed tags are numerically higher.
	u = Uplink{Present: TagSetOf(TagCrashLog, TagRstCount), Fields: Fields{RstCount: 3}, CrashLog: []byte{0xAB}}
	enc, err = u.AppendBinary(nil)
	if want := mustHex(t, "0F 0300 0D AB"); err != nil || !bytes.Equal(enc, want) {
		t.Errorf("encode = % x, %v; want % x", enc, err, want)
	}

	errs := []struct {
		name string
		u    Uplink
		want error
	}{
		{"voltage too high", Uplink{Present: TagSetOf(TagVoltage), Fields: Fields{Voltage: 5.2}}, ErrRange},
		{"voltage negative", Uplink{Present: TagSetOf(TagVoltage), Fields: Fields{Voltage: -0.1}}, ErrRange},
		{"voltage NaN", Uplink{Present: TagSetOf(TagVoltage), Fields: Fields{Voltage: math.NaN()}}, ErrRange},
		{"SNR NaN", Uplink{Present: TagSetOf(TagSignal), Fields: Fields{Signal: Signal{SNR: math.NaN()}}}, ErrRange},
		{"almanac error code", Uplink{Present: TagSetOf(TagAlmanacStatus), Fields: Fields{AlmanacStatus: AlmanacStatus{Error: 16}}}, ErrRange},
		{"almanac freq search space", Uplink{Present: TagSetOf(TagAlmanacStatus), Fields: Fields{AlmanacStatus: AlmanacStatus{FreqSearchSpace: 4}}}, ErrRange},
		{"two variable fields", Uplink{Present: TagSetOf(TagStream, TagALCSync)}, ErrMultipleVariable},
		{"undefined tag", Uplink{Present: TagSetOf(0x1C)}, ErrUnknownTag},
	}
	for _, tc := range errs {
		dst := []byte{1, 2}
		out, err := tc.u.AppendBinary(dst)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(out, []byte{1, 2}) {
			t.Errorf("%s: dst changed on error: % x", tc.name, out)
		}
	}
}

func TestUplinkBinaryInterfaces(t *testing.T) {
	var u Uplink
	if err := u.UnmarshalBinary(mustHex(t, report2Hex)); err != nil {
		t.Fatal(err)
	}
	b, err := u.MarshalBinary()
	if err != nil || !bytes.Equal(b, mustHex(t, report2Hex)) {
		t.Errorf("MarshalBinary = % x, %v", b, err)
	}
	before := u
	if err := u.UnmarshalBinary([]byte{0x03}); !errors.Is(err, ErrShort) {
		t.Errorf("UnmarshalBinary(short) = %v", err)
	}
	if diff := cmp.Diff(before, u, uplinkCmp); diff != "" {
		t.Errorf("UnmarshalBinary changed u on error:\n%s", diff)
	}
}
