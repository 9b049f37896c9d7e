package modemproto

import (
	"bytes"
	"fmt"
	"math/bits"
)

// Uplink is one decoded DM uplink frame.
type Uplink struct {
	// Present lists the tags found in the frame.
	Present TagSet
	// Fields holds the fixed-size fields; only tags in Present are meaningful.
	Fields Fields
	// Variable-length fields: the bytes after the tag, to the end of the
	// frame (copies, never aliasing the input). At most one is present.
	CrashLog, Upload, Stream, ALCSync, DebugResponse, GNSSLoc, WiFiLoc []byte
}

// variable returns a pointer to the slice holding variable-length tag t.
func (u *Uplink) variable(t Tag) *[]byte {
	switch t {
	case TagCrashLog:
		return &u.CrashLog
	case TagUpload:
		return &u.Upload
	case TagStream:
		return &u.Stream
	case TagALCSync:
		return &u.ALCSync
	case TagDebugResponse:
		return &u.DebugResponse
	case TagGNSSLoc:
		return &u.GNSSLoc
	case TagWiFiLoc:
		return &u.WiFiLoc
	}
	return nil
}

// VariableField returns the variable-length field of the frame, if any:
// its tag and bytes (crash log, upload fragment, stream frame, ALCSync
// commands, …).
func (u *Uplink) VariableField() (Tag, []byte, bool) {
	for s := u.Present; s != 0; s &= s - 1 {
		t := Tag(bits.TrailingZeros64(uint64(s)))
		if p := u.variable(t); p != nil {
			return t, *p, true
		}
	}
	return 0, nil, false
}

// DecodeUplink decodes a DM uplink frame (the FRMPayload received on the DM
// port). An empty frame yields an empty Uplink and no error.
//
// It decodes as far as possible: on a truncated field, an undefined tag or
// a repeated tag it returns the fields decoded before that point together
// with a *DecodeError naming the tag and its offset (the uplink is never
// nil). Tags out of ascending order are accepted without error: devices
// always sort them, but every field is self-delimiting, so the order
// carries no meaning. A repeated tag is an error because a frame holds each
// field once and a repeat usually means the payload is not a DM frame; the
// first value is kept.
func DecodeUplink(b []byte) (*Uplink, error) {
	u := new(Uplink)
	for i := 0; i < len(b); {
		t := Tag(b[i])
		if !t.Known() {
			return u, &DecodeError{Field: t.String(), Offset: i, Err: ErrUnknownTag}
		}
		if u.Present.Has(t) {
			return u, &DecodeError{Field: t.String(), Offset: i, Err: ErrDuplicateTag}
		}
		n, variable := t.Size()
		if variable {
			*u.variable(t) = bytes.Clone(b[i+1:])
			u.Present = u.Present.Add(t)
			return u, nil
		}
		if rem := len(b) - i - 1; rem < n {
			return u, &DecodeError{Field: t.String(), Offset: i,
				Err: fmt.Errorf("%w: need %d value bytes, %d left", ErrShort, n, rem)}
		}
		u.Fields.decode(t, b[i+1:i+1+n])
		u.Present = u.Present.Add(t)
		i += 1 + n
	}
	return u, nil
}

// AppendBinary appends the frame to dst: the fixed-size fields of Present in
// ascending tag order, then the variable-length field, if any (it must come
// last because its value runs to the end of the frame; devices never mix
// the two). On error dst is returned unchanged.
func (u *Uplink) AppendBinary(dst []byte) ([]byte, error) {
	orig := len(dst)
	var varTag Tag
	hasVar := false
	for s := u.Present; s != 0; s &= s - 1 {
		t := Tag(bits.TrailingZeros64(uint64(s)))
		if !t.Known() {
			return dst[:orig], fmt.Errorf("%w: %v in Present", ErrUnknownTag, t)
		}
		if _, variable := t.Size(); variable {
			if hasVar {
				return dst[:orig], fmt.Errorf("%w: %v and %v", ErrMultipleVariable, varTag, t)
			}
			varTag, hasVar = t, true
			continue
		}
		dst = append(dst, byte(t))
		var err error
		if dst, err = u.Fields.appendValue(dst, t); err != nil {
			return dst[:orig], err
		}
	}
	if hasVar {
		dst = append(dst, byte(varTag))
		dst = append(dst, *u.variable(varTag)...)
	}
	return dst, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (u *Uplink) MarshalBinary() ([]byte, error) { return u.AppendBinary(nil) }

// UnmarshalBinary implements encoding.BinaryUnmarshaler; unlike DecodeUplink
// it leaves u unchanged on error.
func (u *Uplink) UnmarshalBinary(b []byte) error {
	v, err := DecodeUplink(b)
	if err != nil {
		return err
	}
	*u = *v
	return nil
}
