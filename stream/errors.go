package stream

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Decoding errors are wrapped in a *DecodeError naming the field.
var (
	// ErrShort reports a frame, command or state blob shorter than its layout requires.
	ErrShort = errors.New("stream: short input")
	// ErrReserved reports a reserved value: SHDR M = 127 without the SINFO marker, a WL byte of
	// class 3 (RFU), SCMD RFU flag bits, or SCMD with both ACKWL and UPDWL.
	ErrReserved = errors.New("stream: reserved value")
	// ErrLength reports a frame or command whose length does not match its layout.
	ErrLength = errors.New("stream: invalid length")
	// ErrRange reports a value that cannot be encoded (WL not representable, too many octets, ...).
	ErrRange = errors.New("stream: value out of range")
	// ErrUnitSize reports a stream whose unit size is not one octet (SINFO USZ != 0); LBM always
	// uses 1-octet units (stream_init) and this decoder implements only that case.
	ErrUnitSize = errors.New("stream: unsupported unit size")
	// ErrFrameTooSmall reports that NextFrame was given a maximum length that cannot hold anything.
	ErrFrameTooSmall = errors.New("stream: frame too small")
	// ErrRecordLength reports a record outside 1..254 bytes.
	ErrRecordLength = errors.New("stream: record length not in 1..254")
	// ErrState reports a corrupt or unsupported serialized decoder state.
	ErrState = errors.New("stream: invalid decoder state")
)

// DecodeError names the field that failed to decode and the byte offset where it starts.
type DecodeError struct {
	Field  string
	Offset int
	Err    error
}

func (e *DecodeError) Error() string {
	return "stream: " + e.Field + " at byte " + strconv.Itoa(e.Offset) + ": " + strings.TrimPrefix(e.Err.Error(), "stream: ")
}

func (e *DecodeError) Unwrap() error { return e.Err }

func decErr(field string, off int, err error) error {
	return &DecodeError{Field: field, Offset: off, Err: err}
}
