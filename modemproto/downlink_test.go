package modemproto

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openmgs/openmgs/internal/lora"
)

// downlinkRows: every example of modem-protocol.md §3.3, plus one row per
// remaining opcode. Each row is a round trip.
var downlinkRows = []struct {
	Name  string
	DL    Downlink
	Bytes string
}{
	{"GETINFO temp, signal, rstcount", Downlink{Command: GetInfo{Tags: []Tag{TagTemp, TagSignal, TagRstCount}}}, "00 00 03 03 04 0F"},
	{"RESET both, rstcount 3", Downlink{Command: Reset{Code: ResetBoth, RstCount: 3}}, "00 00 00 03 03 00"},
	{"REJOIN session 5", Downlink{Command: Rejoin{Session: 5}}, "00 00 05 05 00"},
	{"MUTE 7 days", Downlink{Command: Mute{Days: 7}}, "00 00 06 07"},
	{"SETCONF interval 2 min", Downlink{Command: SetConf{Tag: TagInterval, Interval: 3<<6 | 2}}, "00 00 04 0A C2"},
	{"SETCONF joineui", Downlink{Command: SetConf{Tag: TagJoinEUI, JoinEUI: lora.MustParseEUI64("00-16-C0-01-FF-FE-00-01")}},
		"00 00 04 09 01 00 FE FF 01 C0 16 00"},
	{"SETCONF adrmode 1", Downlink{Command: SetConf{Tag: TagADRMode, ADRMode: 1}}, "00 00 04 08 01"},
	{"SETCONF region US915", Downlink{Command: SetConf{Tag: TagRegion, Region: 3}}, "00 00 04 0B 03"},
	{"SET_DM_INFO status, voltage, temp", Downlink{Command: SetDMInfo{Tags: []Tag{TagStatus, TagVoltage, TagTemp}}}, "00 00 07 00 02 03"},
	{"FILEDONE sctr 1", Downlink{Command: FileDone{Sctr: 1}}, "00 00 02 01"},
	{"STREAM request SINFO", Downlink{Command: StreamCommand{SCMD: []byte{0x03, 0, 0, 0}}}, "00 00 08 03 00 00 00"},
	{"ALC_SYNC AppTimeAns +5 s token 2", Downlink{Command: ALCSyncCommand{Commands: []byte{1, 5, 0, 0, 0, 2}}}, "00 00 09 01 05 00 00 00 02"},
	// Beyond §3.3.
	{"upcount and updelay", Downlink{Upcount: 3, Updelay: 30, Command: Mute{Days: MutePermanent}}, "03 1E 06 FF"},
	{"FILEDONE sid 2 sctr 15", Downlink{Command: FileDone{SID: 2, Sctr: 15}}, "00 00 02 2F"},
	{"FUOTA chunk", Downlink{Command: FUOTA{Chunk: []byte{0x12, 0x23}}}, "00 00 01 12 23"},
	{"GETINFO crashlog allowed", Downlink{Command: GetInfo{Tags: []Tag{TagCrashLog}}}, "00 00 03 0D"},
	{"ALM_UPDATE raw", Downlink{Upcount: 1, Updelay: 5, Command: Raw{Op: OpAlmanacUpdate, Params: []byte{0xAA, 0xBB}}}, "01 05 0A AA BB"},
	{"ALM_DBG raw", Downlink{Command: Raw{Op: OpAlmanacDebug, Params: []byte{0x01}}}, "00 00 0B 01"},
	{"SOLV_UPDATE raw", Downlink{Command: Raw{Op: OpSolverUpdate, Params: []byte{0x01}}}, "00 00 0C 01"},
	{"ALM_FUPDATE raw", Downlink{Command: Raw{Op: OpAlmanacForceUpdate, Params: []byte{0x01}}}, "00 00 0D 01"},
}

func TestDownlinkRoundTrip(t *testing.T) {
	for _, row := range downlinkRows {
		t.Run(row.Name, func(t *testing.T) {
			want := mustHex(t, row.Bytes)
			got, err := row.DL.AppendBinary(nil)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode = % X, want % X", got, want)
			}
			dl, err := DecodeDownlink(want)
			if err != nil {
				t.Fatalf("DecodeDownlink: %v", err)
			}
			if diff := cmp.Diff(row.DL, dl); diff != "" {
				t.Errorf("decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDownlinkAppendKeepsPrefix(t *testing.T) {
	dst := make([]byte, 2, 64)
	dst[0], dst[1] = 0xEE, 0xFF
	out, err := Downlink{Command: GetInfo{Tags: []Tag{TagTemp}}}.AppendBinary(dst)
	if err != nil || !bytes.Equal(out, mustHex(t, "EE FF 00 00 03 03")) {
		t.Errorf("AppendBinary = % X, %v", out, err)
	}
	out, err = Downlink{Command: GetInfo{Tags: []Tag{TagStream}}}.AppendBinary(dst)
	if err == nil || !bytes.Equal(out, []byte{0xEE, 0xFF}) {
		t.Errorf("failed AppendBinary = % X, %v; want dst unchanged and an error", out, err)
	}
}

func TestDownlinkEncodeErrors(t *testing.T) {
	many := func(n int, b byte) []Tag {
		tags := make([]Tag, n)
		for i := range tags {
			tags[i] = Tag(b)
		}
		return tags
	}
	tests := []struct {
		name string
		dl   Downlink
		want error
	}{
		{"no command", Downlink{}, ErrNoCommand},
		{"empty GETINFO (total length 3)", Downlink{Command: GetInfo{}}, ErrParamLength},
		{"GETINFO 256 tags", Downlink{Command: GetInfo{Tags: many(256, 0)}}, ErrParamLength},
		{"GETINFO opmode", Downlink{Command: GetInfo{Tags: []Tag{TagTemp, TagOpMode}}}, ErrTagNotAllowed},
		{"GETINFO upload", Downlink{Command: GetInfo{Tags: []Tag{TagUpload}}}, ErrTagNotAllowed},
		{"GETINFO rfu", Downlink{Command: GetInfo{Tags: []Tag{TagRFU}}}, ErrTagNotAllowed},
		{"GETINFO stream", Downlink{Command: GetInfo{Tags: []Tag{TagStream}}}, ErrTagNotAllowed},
		{"GETINFO alcsync", Downlink{Command: GetInfo{Tags: []Tag{TagALCSync}}}, ErrTagNotAllowed},
		{"GETINFO almstatus", Downlink{Command: GetInfo{Tags: []Tag{TagAlmanacStatus}}}, ErrTagNotAllowed},
		{"GETINFO wifiloc", Downlink{Command: GetInfo{Tags: []Tag{TagWiFiLoc}}}, ErrTagNotAllowed},
		{"GETINFO undefined", Downlink{Command: GetInfo{Tags: []Tag{0x1C}}}, ErrTagNotAllowed},
		{"SET_DM_INFO crashlog", Downlink{Command: SetDMInfo{Tags: []Tag{TagStatus, TagCrashLog}}}, ErrTagNotAllowed},
		{"SET_DM_INFO 29 tags", Downlink{Command: SetDMInfo{Tags: many(29, 0)}}, ErrParamLength},
		{"SET_DM_INFO empty", Downlink{Command: SetDMInfo{}}, ErrParamLength},
		{"SETCONF status", Downlink{Command: SetConf{Tag: TagStatus}}, ErrTagNotAllowed},
		{"SETCONF deveui", Downlink{Command: SetConf{Tag: TagDevEUI}}, ErrTagNotAllowed},
		{"FILEDONE sctr 16", Downlink{Command: FileDone{Sctr: 16}}, ErrRange},
		{"FILEDONE sid 16", Downlink{Command: FileDone{SID: 16}}, ErrRange},
		{"FUOTA empty", Downlink{Command: FUOTA{}}, ErrParamLength},
		{"FUOTA 256 bytes", Downlink{Command: FUOTA{Chunk: make([]byte, 256)}}, ErrParamLength},
		{"STREAM empty", Downlink{Command: StreamCommand{}}, ErrParamLength},
		{"ALC_SYNC empty", Downlink{Command: ALCSyncCommand{}}, ErrParamLength},
		{"raw undefined opcode", Downlink{Command: Raw{Op: 0x0E, Params: []byte{1}}}, ErrUnknownOpcode},
		{"raw RESET 2 bytes", Downlink{Command: Raw{Op: OpReset, Params: []byte{1, 2}}}, ErrParamLength},
		{"raw REJOIN 3 bytes", Downlink{Command: Raw{Op: OpRejoin, Params: []byte{1, 2, 3}}}, ErrParamLength},
		{"raw MUTE 2 bytes", Downlink{Command: Raw{Op: OpMute, Params: []byte{1, 2}}}, ErrParamLength},
		{"raw SETCONF short interval", Downlink{Command: Raw{Op: OpSetConf, Params: []byte{0x0A}}}, ErrParamLength},
		{"raw SETCONF long joineui", Downlink{Command: Raw{Op: OpSetConf, Params: make9(0x09)}}, ErrParamLength},
		{"raw GETINFO forbidden", Downlink{Command: Raw{Op: OpGetInfo, Params: []byte{0x03, 0x14}}}, ErrTagNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.dl.AppendBinary([]byte{7})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(out, []byte{7}) {
				t.Errorf("dst changed on error: % X", out)
			}
			if !strings.HasPrefix(err.Error(), "modemproto: ") || strings.Count(err.Error(), "modemproto:") != 1 {
				t.Errorf("message %q", err)
			}
		})
	}
}

// make9 returns a SETCONF parameter list with tag t and 9 value bytes.
func make9(t byte) []byte { return append([]byte{t}, make([]byte, 9)...) }

// TestDownlinkParamLengthBounds checks every opcode at its min−1, min, max
// and max+1 parameter lengths in both directions.
func TestDownlinkParamLengthBounds(t *testing.T) {
	fill := func(op Opcode, n int) []byte {
		p := make([]byte, n) // tag 0x00 (status) is valid for GETINFO / SET_DM_INFO
		if op == OpSetConf && n > 0 {
			p[0] = byte(TagJoinEUI) // 8 value bytes: valid only at n = 9
		}
		return p
	}
	for op := Opcode(0); op < numOpcodes; op++ {
		lo, hi := op.ParamLen()
		valid := func(n int) bool {
			if op == OpSetConf {
				return n == 9
			}
			return n >= lo && n <= hi
		}
		for _, n := range []int{lo - 1, lo, hi, hi + 1} {
			if n < 0 {
				continue
			}
			p := fill(op, n)
			enc, encErr := Downlink{Command: Raw{Op: op, Params: p}}.AppendBinary(nil)
			frame := append([]byte{0, 0, byte(op)}, p...)
			_, decErr := DecodeDownlink(frame)
			if valid(n) {
				if encErr != nil || decErr != nil || !bytes.Equal(enc, frame) {
					t.Errorf("%v with %d param bytes: encode %v, decode %v", op, n, encErr, decErr)
				}
				continue
			}
			if !errors.Is(encErr, ErrParamLength) || !errors.Is(decErr, ErrParamLength) {
				t.Errorf("%v with %d param bytes (bounds %d..%d): encode %v, decode %v", op, n, lo, hi, encErr, decErr)
			}
		}
	}
	wantBounds := map[Opcode][2]int{OpReset: {3, 3}, OpFileDone: {1, 1}, OpSetConf: {2, 255}, OpRejoin: {2, 2},
		OpMute: {1, 1}, OpSetDMInfo: {1, 28}, OpGetInfo: {1, 255}, OpAlmanacForceUpdate: {1, 255}}
	for op, b := range wantBounds {
		if lo, hi := op.ParamLen(); lo != b[0] || hi != b[1] {
			t.Errorf("%v.ParamLen() = %d..%d, want %d..%d", op, lo, hi, b[0], b[1])
		}
	}
	if lo, hi := Opcode(0x0E).ParamLen(); lo != 0 || hi != 0 {
		t.Error("undefined opcode has bounds")
	}
}

func TestDownlinkDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     error
		field    string
		offset   int
		upcount  uint8
		hasCount bool
	}{
		{"empty", "", ErrShort, "header", 0, 0, false},
		{"two bytes", "01 02", ErrShort, "header", 0, 0, false},
		{"header only", "01 02 03", ErrParamLength, "GETINFO", 3, 1, true},
		{"unknown opcode", "05 00 0E 01", ErrUnknownOpcode, "opcode", 2, 5, true},
		{"GETINFO forbidden tag", "00 00 03 03 04 0C", ErrTagNotAllowed, "GETINFO", 5, 0, true},
		{"GETINFO tag beyond 0x1B", "00 00 03 1C", ErrTagNotAllowed, "GETINFO", 3, 0, true},
		{"SET_DM_INFO crashlog", "00 00 07 00 0D", ErrTagNotAllowed, "SET_DM_INFO", 4, 0, true},
		{"SETCONF unaccepted tag", "00 00 04 10 01 02 03 04 05 06 07 08", ErrTagNotAllowed, "SETCONF", 3, 0, true},
		{"SETCONF wrong value size", "00 00 04 0A C2 00", ErrParamLength, "SETCONF", 4, 0, true},
		{"RESET too short", "00 00 00 03 03", ErrParamLength, "RESET", 3, 0, true},
		{"FILEDONE two bytes", "00 00 02 01 02", ErrParamLength, "FILEDONE", 3, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dl, err := DecodeDownlink(mustHex(t, tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field || de.Offset != tc.offset {
				t.Errorf("DecodeError = %#v, want field %q offset %d", de, tc.field, tc.offset)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message %q does not name %q", err, tc.field)
			}
			if dl.Command != nil || dl.Upcount != tc.upcount {
				t.Errorf("partial downlink %+v", dl)
			}
		})
	}
}

func TestDownlinkDecodeCopies(t *testing.T) {
	in := mustHex(t, "00 00 08 03 00 00 00")
	dl, err := DecodeDownlink(in)
	if err != nil {
		t.Fatal(err)
	}
	in[3] = 0xFF
	if dl.Command.(StreamCommand).SCMD[0] != 0x03 {
		t.Error("SCMD aliases the input")
	}
}

func TestOpcodeNames(t *testing.T) {
	for op := Opcode(0); op < numOpcodes; op++ {
		got, ok := ParseOpcodeName(op.String())
		if !ok || got != op {
			t.Errorf("ParseOpcodeName(%q) = %v, %v", op.String(), got, ok)
		}
	}
	// JSON request types of cloud-api.md §6.
	for name, op := range map[string]Opcode{"RESET": OpReset, "REJOIN": OpRejoin, "MUTE": OpMute, "GETINFO": OpGetInfo,
		"SETCONF": OpSetConf, "FILEDONE": OpFileDone, "FUOTA": OpFUOTA, "getinfo": OpGetInfo} {
		if got, ok := ParseOpcodeName(name); !ok || got != op {
			t.Errorf("ParseOpcodeName(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := ParseOpcodeName("NOPE"); ok {
		t.Error("ParseOpcodeName accepted NOPE")
	}
	if s := Opcode(0x0E).String(); s != "Opcode(0x0e)" {
		t.Errorf("String = %q", s)
	}
	s := Downlink{Upcount: 1, Command: GetInfo{Tags: []Tag{TagTemp, TagSignal}}}.String()
	if s != "GETINFO 03 04 (upcount 1, updelay 0)" {
		t.Errorf("Downlink.String = %q", s)
	}
}

// foreignCmd is a Command implemented outside the package's types.
type foreignCmd struct {
	op     Opcode
	params []byte
	drop   bool
}

func (c foreignCmd) Opcode() Opcode { return c.op }
func (c foreignCmd) AppendParams(dst []byte) ([]byte, error) {
	if c.drop {
		return dst[:0], nil
	}
	return append(dst, c.params...), nil
}

func TestDownlinkForeignCommand(t *testing.T) {
	b, err := Downlink{Command: foreignCmd{op: OpMute, params: []byte{1}}}.MarshalBinary()
	if err != nil || !bytes.Equal(b, []byte{0, 0, 6, 1}) {
		t.Errorf("valid foreign command: % X, %v", b, err)
	}
	// Validation does not rely on the command's own checks.
	if _, err := (Downlink{Command: foreignCmd{op: OpGetInfo, params: []byte{0x14}}}).MarshalBinary(); !errors.Is(err, ErrTagNotAllowed) {
		t.Errorf("foreign GETINFO stream: %v", err)
	}
	if _, err := (Downlink{Command: foreignCmd{op: OpMute, drop: true}}).MarshalBinary(); err == nil {
		t.Error("foreign command dropping the header accepted")
	}
}
