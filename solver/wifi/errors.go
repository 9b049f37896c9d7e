package wifi

import (
	"errors"
	"fmt"
)

// Decoding sentinels. Decoders wrap them in a *DecodeError naming the field.
var (
	// ErrShort: the input ends before a fixed-size field.
	ErrShort = errors.New("wifi: short payload")
	// ErrLength: the AP list is not a whole number of records.
	ErrLength = errors.New("wifi: bad payload length")
	// ErrUnknownFormat: byte 0 is neither 0x00 (MAC only) nor 0x01 (RSSI + MAC).
	ErrUnknownFormat = errors.New("wifi: unknown scan format")
	// ErrUnknownTag: a tracker TLV record is neither 0x08 nor 0x0E.
	ErrUnknownTag = errors.New("wifi: unknown tracker record tag")
	// ErrTooFewAPs: fewer than two distinct MAC addresses (the modem service's minimum).
	ErrTooFewAPs = errors.New("wifi: too few access points")
	// ErrRSSI: an observation's RSSI does not fit the format (encoding only).
	ErrRSSI = errors.New("wifi: bad RSSI")
	// ErrTooLong: a tracker TLV value would exceed 255 bytes (encoding only).
	ErrTooLong = errors.New("wifi: record too long")
)

// Solver sentinels. Solve wraps them with counts.
var (
	// ErrTooFewKnownAPs: fewer known APs than the solver needs (2, or 1 with AllowSingleAP).
	ErrTooFewKnownAPs = errors.New("wifi: too few known access points")
	// ErrNoConsistentCluster: known APs exist but no two of them agree on a place.
	ErrNoConsistentCluster = errors.New("wifi: no consistent access point cluster")
	// ErrBadAP: an AP record has an impossible position or accuracy.
	ErrBadAP = errors.New("wifi: invalid access point record")
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("wifi: invalid config")
)

// DecodeError reports where and in which field a payload failed to decode.
type DecodeError struct {
	Field  string // "format", "aps", "tag", "len", "version", "timestamp", ...
	Offset int    // byte offset of the field in the input
	Err    error  // a sentinel above, possibly wrapped with detail
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wifi: decode %s at offset %d: %v", e.Field, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
