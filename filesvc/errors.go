package filesvc

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Decoders wrap them in a *DecodeError; encoders wrap them
// with a message naming the field.
var (
	// ErrShort: the input ends inside a field, or a frame has no room for a chunk.
	ErrShort = errors.New("filesvc: short input")
	// ErrSessionMismatch: a fragment whose (sid, sctr, cct) differs from the session's.
	ErrSessionMismatch = errors.New("filesvc: fragment belongs to another upload session")
	// ErrIncomplete: File was called before the coefficient matrix reached full rank.
	ErrIncomplete = errors.New("filesvc: file incomplete")
	// ErrHashMismatch: the reassembled or decrypted file does not match its header hash.
	ErrHashMismatch = errors.New("filesvc: file hash mismatch")
	// ErrTooLarge: a file above MaxFileSize, a chunk count above MaxChunkCount
	// or a fragment with more than MaxFragmentChunks chunks.
	ErrTooLarge = errors.New("filesvc: too large")
	// ErrRange: a value that does not fit its field (sid > 3, sctr > 15,
	// encryption flag other than 0/1, length inconsistent with the chunk count).
	ErrRange = errors.New("filesvc: value out of range")
	// ErrNotEncrypted: Decrypt on a plain or already decrypted file, or an
	// encrypted source requested from EncodeFile (it lacks the plaintext hash).
	ErrNotEncrypted = errors.New("filesvc: file not encrypted")
	// ErrVersion: a serialized session with an unknown format version.
	ErrVersion = errors.New("filesvc: unsupported session format version")
)

// DecodeError reports where decoding stopped: the field, the byte offset of
// that field in the input (fragment bytes after the 0x0E tag, the virtual
// stream, or a serialized session), and the cause (one of the sentinels).
type DecodeError struct {
	Field  string
	Offset int
	Err    error
}

func (e *DecodeError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = strings.TrimPrefix(e.Err.Error(), "filesvc: ")
	}
	return "filesvc: " + e.Field + " at offset " + strconv.Itoa(e.Offset) + ": " + msg
}

func (e *DecodeError) Unwrap() error { return e.Err }
