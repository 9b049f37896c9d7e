package lora

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
)

// EUI64 is a LoRaWAN EUI-64, stored most-significant byte first (the way it
// is written, 00-16-C0-01-F0-00-40-6E). It is the key of every device in
// OpenMGS; NB-IoT endpoints are mapped onto it.
type EUI64 [8]byte

// ErrInvalidEUI is wrapped by every EUI parse error.
var ErrInvalidEUI = errors.New("invalid EUI-64")

// ParseEUI64 accepts 16 hex digits, optionally separated by '-' or ':'
// between every byte (as clients send them), in any case.
func ParseEUI64(s string) (EUI64, error) {
	var e EUI64
	if err := e.UnmarshalText([]byte(s)); err != nil {
		return EUI64{}, err
	}
	return e, nil
}

// MustParseEUI64 is ParseEUI64 for constants in tests and examples.
func MustParseEUI64(s string) EUI64 {
	e, err := ParseEUI64(s)
	if err != nil {
		panic(err)
	}
	return e
}

// EUI64FromUint64 returns the EUI whose big-endian value is v.
func EUI64FromUint64(v uint64) EUI64 {
	var e EUI64
	binary.BigEndian.PutUint64(e[:], v)
	return e
}

// Uint64 returns the big-endian value of e.
func (e EUI64) Uint64() uint64 { return binary.BigEndian.Uint64(e[:]) }

// String returns the dash-separated lower-case form, 00-16-c0-01-f0-00-40-6e.
func (e EUI64) String() string { return string(e.AppendText(nil)) }

// Hex returns the 16 lower-case hex digits without separators.
func (e EUI64) Hex() string { return hex.EncodeToString(e[:]) }

// AppendText appends the dash-separated lower-case form to dst.
func (e EUI64) AppendText(dst []byte) []byte {
	const digits = "0123456789abcdef"
	for i, b := range e {
		if i > 0 {
			dst = append(dst, '-')
		}
		dst = append(dst, digits[b>>4], digits[b&0x0f])
	}
	return dst
}

// MarshalText implements encoding.TextMarshaler.
func (e EUI64) MarshalText() ([]byte, error) { return e.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler (see ParseEUI64).
func (e *EUI64) UnmarshalText(text []byte) error {
	var sep byte
	switch len(text) {
	case 16:
	case 23:
		sep = text[2]
		if sep != '-' && sep != ':' {
			return fmt.Errorf("%w %q: separator must be '-' or ':'", ErrInvalidEUI, text)
		}
	default:
		return fmt.Errorf("%w %q: want 16 hex digits", ErrInvalidEUI, text)
	}
	var out EUI64
	pos := 0
	for i := range out {
		if sep != 0 && i > 0 {
			if text[pos] != sep {
				return fmt.Errorf("%w %q: mixed or misplaced separators", ErrInvalidEUI, text)
			}
			pos++
		}
		hi, ok1 := unhex(text[pos])
		lo, ok2 := unhex(text[pos+1])
		if !ok1 || !ok2 {
			return fmt.Errorf("%w %q: not hex", ErrInvalidEUI, text)
		}
		out[i] = hi<<4 | lo
		pos += 2
	}
	*e = out
	return nil
}

// MarshalBinary returns the 8 bytes MSB first.
func (e EUI64) MarshalBinary() ([]byte, error) { return append([]byte(nil), e[:]...), nil }

// UnmarshalBinary reads 8 bytes MSB first.
func (e *EUI64) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("%w: want 8 bytes, got %d", ErrInvalidEUI, len(b))
	}
	copy(e[:], b)
	return nil
}

// Reversed returns the bytes in LoRaWAN wire order (LSB first), as devices
// send EUIs inside DM frames.
func (e EUI64) Reversed() [8]byte {
	var r [8]byte
	for i := range e {
		r[i] = e[7-i]
	}
	return r
}

// EUI64FromWire builds an EUI from 8 bytes in wire order (LSB first).
func EUI64FromWire(b []byte) EUI64 {
	var e EUI64
	for i := 0; i < 8 && i < len(b); i++ {
		e[7-i] = b[i]
	}
	return e
}

// IsZero reports whether every byte is zero.
func (e EUI64) IsZero() bool { return e == EUI64{} }

// LogValue implements slog.LogValuer.
func (e EUI64) LogValue() slog.Value { return slog.StringValue(e.Hex()) }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
