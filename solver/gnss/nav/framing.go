package nav

import (
	"errors"
	"fmt"
)

// Kind is what an uplink on the legacy GNSS port (198) carries.
type Kind uint8

// Kinds of port-198 uplinks.
const (
	KindUnknown Kind = iota
	KindREQAID       // U-GNSSLOC-REQAID: first byte 0x00, aiding-position request
	KindNAV1
	KindNAV2
	KindNAV3
)

func (k Kind) String() string {
	switch k {
	case KindREQAID:
		return "REQAID"
	case KindNAV1:
		return "NAV1"
	case KindNAV2:
		return "NAV2"
	case KindNAV3:
		return "NAV3"
	}
	return "unknown"
}

// versionOf guesses the NAV generation from the first byte: 0x01 is NAV1 and,
// unverified, the low two bits carry the version of later formats (0xA2 was
// seen with NAV2, 0x63 with NAV3).
func versionOf(b byte) Kind {
	switch {
	case b == 0x00:
		return KindREQAID
	case b == 0x01:
		return KindNAV1
	case b&3 == 2:
		return KindNAV2
	case b&3 == 3:
		return KindNAV3
	}
	return KindUnknown
}

// Classify identifies a port-198 uplink (destination byte already removed) by
// its first byte. An empty payload is KindUnknown.
func Classify(payload []byte) Kind {
	if len(payload) == 0 {
		return KindUnknown
	}
	return versionOf(payload[0])
}

// Destination bytes of raw GnssReadResults output.
const (
	DestHost   = 0x00
	DestSolver = 0x01
	DestDMC    = 0x02
)

// Errors of StripDestination.
var (
	ErrHostStatus = errors.New("nav: chip status message, not a NAV")
	ErrNotSolver  = errors.New("nav: not addressed to the solver")
)

// hostStatus names the LR11xx host status codes (gnss.md §1.1).
var hostStatus = [...]string{
	"OK", "command unexpected", "command not implemented", "bad parameters", "sanity-check error",
	"scan failed", "no time", "no SV detected", "almanac too old", "almanac update CRC error",
	"almanac update flash error", "almanac update too old", "almanac update error 0x0c",
	"almanac update error 0x0d", "almanac update error 0x0e",
}

// StripDestination removes the destination byte from raw chip output and
// returns the solver payload (a sub-slice of raw). A host-status message
// yields an error naming the status.
func StripDestination(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, &DecodeError{Field: "destination", Err: ErrShort}
	}
	switch raw[0] {
	case DestSolver:
		return raw[1:], nil
	case DestHost:
		if len(raw) < 2 {
			return nil, &DecodeError{Field: "host status", Offset: 8, Err: ErrShort}
		}
		name := fmt.Sprintf("status 0x%02x", raw[1])
		if int(raw[1]) < len(hostStatus) {
			name = hostStatus[raw[1]]
		}
		return nil, fmt.Errorf("%w: %s", ErrHostStatus, name)
	}
	return nil, fmt.Errorf("%w: destination 0x%02x", ErrNotSolver, raw[0])
}

// SVSystem is the system an sv_id belongs to.
type SVSystem uint8

// Systems addressed by sv_id ranges.
const (
	SysUnknown SVSystem = iota
	SysGPS
	SysSBAS
	SysBeiDou
)

func (s SVSystem) String() string {
	switch s {
	case SysGPS:
		return "GPS"
	case SysSBAS:
		return "SBAS"
	case SysBeiDou:
		return "BeiDou"
	}
	return "unknown"
}

// SVIDToPRN maps a 7-bit sv_id to its system and PRN: 0–31 GPS PRN id+1,
// 32–50 SBAS PRN id+88, 64–100 BeiDou PRN id−63. Other ids are SysUnknown.
func SVIDToPRN(id uint8) (SVSystem, int) {
	switch {
	case id <= 31:
		return SysGPS, int(id) + 1
	case id >= 32 && id <= 50:
		return SysSBAS, int(id) + 88
	case id >= 64 && id <= 100:
		return SysBeiDou, int(id) - 63
	}
	return SysUnknown, 0
}

// SVIDFromPRN is the inverse of SVIDToPRN.
func SVIDFromPRN(sys SVSystem, prn int) (uint8, error) {
	switch {
	case sys == SysGPS && prn >= 1 && prn <= 32:
		return uint8(prn - 1), nil
	case sys == SysSBAS && prn >= 120 && prn <= 138:
		return uint8(prn - 88), nil
	case sys == SysBeiDou && prn >= 1 && prn <= 37:
		return uint8(prn + 63), nil
	}
	return 0, fmt.Errorf("nav: %v PRN %d has no sv_id: %w", sys, prn, ErrInvalid)
}

// AIDP: the D-GNSSLOC-AIDP downlink on port 198 is tag 0x00 followed by three
// bytes of aiding position. That these hold the 12-bit latitude and 12-bit
// longitude of the assistance-position encoding, packed LSB-first like NAV1
// (latitude in bits 0–11, longitude in bits 12–23), is inferred.
const (
	AIDPTag = 0x00
	AIDPLen = 3
)

// AppendAIDP appends the 3-byte aiding-position payload for lat/lon (degrees).
func AppendAIDP(dst []byte, lat, lon float64) []byte {
	la, lo := APFromDegrees(lat, lon)
	w := bitWriter{b: dst}
	w.write(uint32(la)&0xfff, 12)
	w.write(uint32(lo)&0xfff, 12)
	return w.b
}

// AppendAIDPDownlink appends the whole downlink: tag 0x00 plus AppendAIDP.
func AppendAIDPDownlink(dst []byte, lat, lon float64) []byte {
	return AppendAIDP(append(dst, AIDPTag), lat, lon)
}

// DecodeAIDP decodes a 3-byte aiding-position payload to degrees.
func DecodeAIDP(b []byte) (lat, lon float64, err error) {
	if len(b) != AIDPLen {
		return 0, 0, &DecodeError{Field: "aiding position", Err: fmt.Errorf("%w: %d bytes, want %d", ErrShort, len(b), AIDPLen)}
	}
	r := bitReader{b: b}
	la := int16(signExtend(r.read(12), 12))
	lo := int16(signExtend(r.read(12), 12))
	lat, lon = APToDegrees(la, lo)
	return lat, lon, nil
}

// DecodeAIDPDownlink decodes tag 0x00 plus the 3-byte payload.
func DecodeAIDPDownlink(b []byte) (lat, lon float64, err error) {
	if len(b) == 0 {
		return 0, 0, &DecodeError{Field: "aidp tag", Err: ErrShort}
	}
	if b[0] != AIDPTag {
		return 0, 0, &DecodeError{Field: "aidp tag", Err: fmt.Errorf("%w: 0x%02x", ErrInvalid, b[0])}
	}
	return DecodeAIDP(b[1:])
}

// NGHeader is the GNSS-NG (port 192) header byte: bit 7 last NAV of the
// group, bits 6..5 reserved, bits 4..0 group token.
type NGHeader struct {
	Last  bool
	RFU   uint8 // bits 6..5, kept for a lossless round trip
	Token uint8 // 2..31; 0 and 1 are never used
}

// MaxNGNAVLen is the longest NAV a GNSS-NG uplink carries by default.
const MaxNGNAVLen = 49

// ParseNGHeader splits the header byte.
func ParseNGHeader(b byte) NGHeader {
	return NGHeader{Last: b&0x80 != 0, RFU: b >> 5 & 3, Token: b & 0x1f}
}

// Byte returns the header byte; fields are masked to their widths.
func (h NGHeader) Byte() byte {
	v := h.Token&0x1f | (h.RFU&3)<<5
	if h.Last {
		v |= 0x80
	}
	return v
}

// SplitNG splits a port-192 uplink into its header and NAV (a sub-slice of
// payload). Tokens 0 and 1 are rejected.
func SplitNG(payload []byte) (NGHeader, []byte, error) {
	if len(payload) < 2 {
		return NGHeader{}, nil, &DecodeError{Field: "gnss-ng header", Err: ErrShort}
	}
	h := ParseNGHeader(payload[0])
	if h.Token < 2 {
		return h, nil, &DecodeError{Field: "gnss-ng token", Err: fmt.Errorf("%w: %d (0 and 1 are skipped)", ErrInvalid, h.Token)}
	}
	return h, payload[1:], nil
}

// NextToken returns the token after t: tokens run 2..31 and roll over to 2.
func NextToken(t uint8) uint8 {
	t++
	if t > 31 || t < 2 {
		return 2
	}
	return t
}
