package modemproto

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Decoders wrap them in a *DecodeError; encoders wrap them
// with a message naming the field.
var (
	// ErrShort: the frame ends inside a field.
	ErrShort = errors.New("modemproto: short frame")
	// ErrUnknownTag: an info-field tag above 0x1B.
	ErrUnknownTag = errors.New("modemproto: unknown tag")
	// ErrUnknownOpcode: a DM downlink opcode above 0x0D.
	ErrUnknownOpcode = errors.New("modemproto: unknown opcode")
	// ErrParamLength: downlink parameters outside the opcode's length bounds.
	ErrParamLength = errors.New("modemproto: parameter length out of bounds")
	// ErrTagNotAllowed: a tag the device rejects in GETINFO, SET_DM_INFO or SETCONF.
	ErrTagNotAllowed = errors.New("modemproto: tag not allowed")
	// ErrDuplicateTag: the same info field twice in one uplink frame.
	ErrDuplicateTag = errors.New("modemproto: duplicate tag")
	// ErrMultipleVariable: more than one variable-length field in one uplink frame.
	ErrMultipleVariable = errors.New("modemproto: more than one variable-length field")
	// ErrRange: a value that does not fit its wire encoding.
	ErrRange = errors.New("modemproto: value out of range")
	// ErrNoCommand: a Downlink without a Command.
	ErrNoCommand = errors.New("modemproto: downlink has no command")
	// ErrUnknownCommand: an ALCSync command identifier or Go type that is not
	// defined for the direction.
	ErrUnknownCommand = errors.New("modemproto: unknown command")
)

// DecodeError reports where decoding stopped: the field (a tag's JSON name,
// an opcode name or an ALCSync command name), the byte offset of that field
// in the input, and the cause (one of the sentinels, possibly wrapped).
type DecodeError struct {
	Field  string
	Offset int
	Err    error
}

func (e *DecodeError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "modemproto: ")
	}
	return "modemproto: " + e.Field + " at offset " + strconv.Itoa(e.Offset) + ": " + msg
}

func (e *DecodeError) Unwrap() error { return e.Err }
