package modemproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/openmgs/openmgs/internal/lora"
)

// Opcode is a DM downlink opcode (LBM dm_opcode_t).
type Opcode uint8

// DM downlink opcodes, modem-protocol.md §3.2.
const (
	OpReset              Opcode = 0x00
	OpFUOTA              Opcode = 0x01
	OpFileDone           Opcode = 0x02
	OpGetInfo            Opcode = 0x03
	OpSetConf            Opcode = 0x04
	OpRejoin             Opcode = 0x05
	OpMute               Opcode = 0x06
	OpSetDMInfo          Opcode = 0x07
	OpStream             Opcode = 0x08
	OpALCSync            Opcode = 0x09
	OpAlmanacUpdate      Opcode = 0x0A
	OpAlmanacDebug       Opcode = 0x0B
	OpSolverUpdate       Opcode = 0x0C
	OpAlmanacForceUpdate Opcode = 0x0D
)

const numOpcodes = 0x0E

// HeaderLen is the length of upcount, updelay and opcode.
const HeaderLen = 3

// opNames: the JSON request types of cloud-api.md §6 where published
// (RESET … FUOTA), LBM's names otherwise.
var opNames = [numOpcodes]string{
	"RESET", "FUOTA", "FILEDONE", "GETINFO", "SETCONF", "REJOIN", "MUTE",
	"SET_DM_INFO", "STREAM", "ALC_SYNC", "ALM_UPDATE", "ALM_DBG", "SOLV_UPDATE", "ALM_FUPDATE",
}

// opParamLen is LBM's dm_cmd_len table: {min, max} parameter bytes.
var opParamLen = [numOpcodes][2]int{
	{3, 3}, {1, 255}, {1, 1}, {1, 255}, {2, 255}, {2, 2}, {1, 1},
	{1, numTags}, {1, 255}, {1, 255}, {1, 255}, {1, 255}, {1, 255}, {1, 255},
}

// Known reports whether o is a defined opcode (0x00..0x0D).
func (o Opcode) Known() bool { return o < numOpcodes }

// String returns the request name ("RESET", "GETINFO", …) or "Opcode(0x0e)".
func (o Opcode) String() string {
	if o.Known() {
		return opNames[o]
	}
	return "Opcode(0x" + hex2(uint8(o)) + ")"
}

// ParseOpcodeName is the inverse of Opcode.String (case-insensitive).
func ParseOpcodeName(name string) (Opcode, bool) {
	for i, n := range opNames {
		if strings.EqualFold(n, name) {
			return Opcode(i), true
		}
	}
	return 0, false
}

// ParamLen returns the parameter length bounds the device enforces; (0, 0)
// for an undefined opcode.
func (o Opcode) ParamLen() (lo, hi int) {
	if !o.Known() {
		return 0, 0
	}
	return opParamLen[o][0], opParamLen[o][1]
}

// checkParams applies the device-side validation of §3.2 to the parameter
// bytes of opcode o. On failure it returns the offset within p of the
// offending byte.
func checkParams(o Opcode, p []byte) (int, error) {
	if !o.Known() {
		return 0, ErrUnknownOpcode
	}
	lo, hi := o.ParamLen()
	if len(p) < lo || len(p) > hi {
		return 0, fmt.Errorf("%w: %s takes %d..%d bytes, got %d", ErrParamLength, o, lo, hi, len(p))
	}
	switch o {
	case OpGetInfo:
		for i, b := range p {
			if !Tag(b).GetInfoAllowed() {
				return i, fmt.Errorf("%w: %v in GETINFO", ErrTagNotAllowed, Tag(b))
			}
		}
	case OpSetDMInfo:
		for i, b := range p {
			if !Tag(b).SetDMInfoAllowed() {
				return i, fmt.Errorf("%w: %v in SET_DM_INFO", ErrTagNotAllowed, Tag(b))
			}
		}
	case OpSetConf:
		t := Tag(p[0])
		if !t.SetConfAllowed() {
			return 0, fmt.Errorf("%w: %v in SETCONF", ErrTagNotAllowed, t)
		}
		if n, _ := t.Size(); len(p)-1 != n {
			return 1, fmt.Errorf("%w: SETCONF %v takes %d value bytes, got %d", ErrParamLength, t, n, len(p)-1)
		}
	}
	return 0, nil
}

// finish validates the params appended to dst since start and, on error,
// returns dst truncated to start.
func finish(dst []byte, start int, o Opcode) ([]byte, error) {
	if _, err := checkParams(o, dst[start:]); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Command is one DM downlink command.
type Command interface {
	Opcode() Opcode
	// AppendParams appends the parameter bytes (after the opcode) and
	// validates them like the device does; on error dst is unchanged.
	AppendParams(dst []byte) ([]byte, error)
}

// Reset codes.
const (
	ResetModem  uint8 = 1
	ResetAppMCU uint8 = 2
	ResetBoth   uint8 = 3
)

// Reset (RESET, 0x00): code(1) rstcount(u16 LE). RstCount must equal the
// device's reset counter (info field rstcount) or the device answers with a
// rstcount report instead of resetting.
type Reset struct {
	Code     uint8
	RstCount uint16
}

func (Reset) Opcode() Opcode { return OpReset }
func (c Reset) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	dst = binary.LittleEndian.AppendUint16(append(dst, c.Code), c.RstCount)
	return finish(dst, s, OpReset)
}

// FUOTA (0x01): a raw firmware chunk (not supported by LBM3/LBM4).
type FUOTA struct{ Chunk []byte }

func (FUOTA) Opcode() Opcode { return OpFUOTA }
func (c FUOTA) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	return finish(append(dst, c.Chunk...), s, OpFUOTA)
}

// FileDone (FILEDONE, 0x02) acknowledges a completed file upload. The byte
// is SID<<4 | Sctr. The device only compares the low nibble with the session
// counter of the running upload; putting the session id in the upper nibble
// is a guess (the LBM source has "TODO: check if session id is also
// present"). Both values must fit in 4 bits.
type FileDone struct{ SID, Sctr uint8 }

func (FileDone) Opcode() Opcode { return OpFileDone }
func (c FileDone) AppendParams(dst []byte) ([]byte, error) {
	if c.SID > 0x0F || c.Sctr > 0x0F {
		return dst, fmt.Errorf("%w: FILEDONE sid %d / sctr %d (max 15)", ErrRange, c.SID, c.Sctr)
	}
	s := len(dst)
	return finish(append(dst, c.SID<<4|c.Sctr), s, OpFileDone)
}

// GetInfo (GETINFO, 0x03) asks for an immediate report of the given tags
// (see Tag.GetInfoAllowed).
type GetInfo struct{ Tags []Tag }

func (GetInfo) Opcode() Opcode { return OpGetInfo }
func (c GetInfo) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	for _, t := range c.Tags {
		dst = append(dst, byte(t))
	}
	return finish(dst, s, OpGetInfo)
}

// SetConf (SETCONF, 0x04) writes one configuration field: Tag selects which
// of ADRMode, JoinEUI, Interval or Region is sent; the others are ignored.
type SetConf struct {
	Tag      Tag
	ADRMode  uint8
	JoinEUI  lora.EUI64
	Interval Interval
	Region   uint8
}

func (SetConf) Opcode() Opcode { return OpSetConf }
func (c SetConf) AppendParams(dst []byte) ([]byte, error) {
	if !c.Tag.SetConfAllowed() {
		return dst, fmt.Errorf("%w: %v in SETCONF (only adrmode, joineui, interval, region)", ErrTagNotAllowed, c.Tag)
	}
	s := len(dst)
	dst = append(dst, byte(c.Tag))
	switch c.Tag {
	case TagADRMode:
		dst = append(dst, c.ADRMode)
	case TagJoinEUI:
		r := c.JoinEUI.Reversed()
		dst = append(dst, r[:]...)
	case TagInterval:
		dst = append(dst, uint8(c.Interval))
	case TagRegion:
		dst = append(dst, c.Region)
	}
	return finish(dst, s, OpSetConf)
}

// Rejoin (REJOIN, 0x05): Session must equal the device's last DevNonce
// (info field session) or the device answers with a session report.
type Rejoin struct{ Session uint16 }

func (Rejoin) Opcode() Opcode { return OpRejoin }
func (c Rejoin) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	return finish(binary.LittleEndian.AppendUint16(dst, c.Session), s, OpRejoin)
}

// MutePermanent mutes the device until unmuted (no DM task is scheduled).
const MutePermanent uint8 = 255

// Mute (MUTE, 0x06): 0 unmutes, 1..254 mutes for that many days (DM still
// allowed), MutePermanent mutes for good.
type Mute struct{ Days uint8 }

func (Mute) Opcode() Opcode { return OpMute }
func (c Mute) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	return finish(append(dst, c.Days), s, OpMute)
}

// SetDMInfo (SET_DM_INFO, 0x07) sets the tags of the periodic report (see
// Tag.SetDMInfoAllowed); at most 28 bytes.
type SetDMInfo struct{ Tags []Tag }

func (SetDMInfo) Opcode() Opcode { return OpSetDMInfo }
func (c SetDMInfo) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	for _, t := range c.Tags {
		dst = append(dst, byte(t))
	}
	return finish(dst, s, OpSetDMInfo)
}

// StreamCommand (STREAM, 0x08) carries a raw ROSE SCMD (4 bytes in LBM).
type StreamCommand struct{ SCMD []byte }

func (StreamCommand) Opcode() Opcode { return OpStream }
func (c StreamCommand) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	return finish(append(dst, c.SCMD...), s, OpStream)
}

// ALCSyncCommand (ALC_SYNC, 0x09) carries encoded ALCSync downlink commands
// (see AppendALCDownlink).
type ALCSyncCommand struct{ Commands []byte }

func (ALCSyncCommand) Opcode() Opcode { return OpALCSync }
func (c ALCSyncCommand) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	return finish(append(dst, c.Commands...), s, OpALCSync)
}

// Raw is any opcode with opaque parameters: the almanac and Modem-E opcodes
// (0x0A..0x0D), whose content is not documented. It is validated like the
// typed command of its opcode; DecodeDownlink returns the typed command for
// opcodes 0x00..0x09.
type Raw struct {
	Op     Opcode
	Params []byte
}

func (c Raw) Opcode() Opcode { return c.Op }
func (c Raw) AppendParams(dst []byte) ([]byte, error) {
	s := len(dst)
	return finish(append(dst, c.Params...), s, c.Op)
}

// Downlink is one DM downlink: the device sends Upcount further uplinks,
// the next one Updelay seconds later, to open downlink windows.
type Downlink struct {
	Upcount, Updelay uint8
	Command          Command
}

// AppendBinary appends upcount, updelay, opcode and parameters to dst,
// validating the parameters as the device does (length bounds per opcode,
// so the total is always > 3 bytes; GETINFO / SET_DM_INFO / SETCONF tag
// rules). On error dst is returned unchanged.
func (d Downlink) AppendBinary(dst []byte) ([]byte, error) {
	if d.Command == nil {
		return dst, ErrNoCommand
	}
	op := d.Command.Opcode()
	if !op.Known() {
		return dst, fmt.Errorf("%w: %v", ErrUnknownOpcode, op)
	}
	orig := len(dst)
	dst = append(dst, d.Upcount, d.Updelay, byte(op))
	dst, err := d.Command.AppendParams(dst)
	if err != nil {
		return dst[:orig], err
	}
	if len(dst) < orig+HeaderLen {
		return dst[:orig], fmt.Errorf("modemproto: %v.AppendParams dropped the header", op)
	}
	// Re-check: Command may be implemented outside this package.
	if _, err := checkParams(op, dst[orig+HeaderLen:]); err != nil {
		return dst[:orig], err
	}
	return dst, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (d Downlink) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// DecodeDownlink decodes a DM downlink with the device's validation rules.
// Parameter bytes are copied. On error the returned Downlink carries
// Upcount and Updelay if they were present, and a nil Command.
func DecodeDownlink(b []byte) (Downlink, error) {
	if len(b) < HeaderLen {
		return Downlink{}, &DecodeError{Field: "header", Offset: 0,
			Err: fmt.Errorf("%w: need %d header bytes, got %d", ErrShort, HeaderLen, len(b))}
	}
	d := Downlink{Upcount: b[0], Updelay: b[1]}
	op := Opcode(b[2])
	if !op.Known() {
		return d, &DecodeError{Field: "opcode", Offset: 2, Err: ErrUnknownOpcode}
	}
	p := b[HeaderLen:]
	if off, err := checkParams(op, p); err != nil {
		return d, &DecodeError{Field: op.String(), Offset: HeaderLen + off, Err: err}
	}
	le16 := binary.LittleEndian.Uint16
	switch op {
	case OpReset:
		d.Command = Reset{Code: p[0], RstCount: le16(p[1:])}
	case OpFUOTA:
		d.Command = FUOTA{Chunk: bytes.Clone(p)}
	case OpFileDone:
		d.Command = FileDone{SID: p[0] >> 4, Sctr: p[0] & 0x0F}
	case OpGetInfo:
		d.Command = GetInfo{Tags: bytesToTags(p)}
	case OpSetConf:
		c := SetConf{Tag: Tag(p[0])}
		v := p[1:]
		switch c.Tag {
		case TagADRMode:
			c.ADRMode = v[0]
		case TagJoinEUI:
			c.JoinEUI = lora.EUI64FromWire(v)
		case TagInterval:
			c.Interval = Interval(v[0])
		case TagRegion:
			c.Region = v[0]
		}
		d.Command = c
	case OpRejoin:
		d.Command = Rejoin{Session: le16(p)}
	case OpMute:
		d.Command = Mute{Days: p[0]}
	case OpSetDMInfo:
		d.Command = SetDMInfo{Tags: bytesToTags(p)}
	case OpStream:
		d.Command = StreamCommand{SCMD: bytes.Clone(p)}
	case OpALCSync:
		d.Command = ALCSyncCommand{Commands: bytes.Clone(p)}
	default:
		d.Command = Raw{Op: op, Params: bytes.Clone(p)}
	}
	return d, nil
}

func bytesToTags(p []byte) []Tag {
	tags := make([]Tag, len(p))
	for i, b := range p {
		tags[i] = Tag(b)
	}
	return tags
}

// String returns a short description such as "GETINFO 03 04 0f (upcount 0, updelay 0)".
func (d Downlink) String() string {
	if d.Command == nil {
		return "<no command>"
	}
	p, err := d.Command.AppendParams(nil)
	var b strings.Builder
	b.WriteString(d.Command.Opcode().String())
	for _, x := range p {
		b.WriteByte(' ')
		b.WriteString(hex2(x))
	}
	if err != nil {
		b.WriteString(" (invalid: " + err.Error() + ")")
	}
	b.WriteString(" (upcount " + strconv.Itoa(int(d.Upcount)) + ", updelay " + strconv.Itoa(int(d.Updelay)) + ")")
	return b.String()
}
