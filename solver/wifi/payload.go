package wifi

import (
	"encoding/binary"
	"fmt"
)

// Scan formats: byte 0 of an LBM Wi-Fi payload (wifi.md §1.1).
const (
	FormatMACOnly uint8 = 0x00 // 00 | MAC(6) | MAC(6) | …
	FormatRSSIMAC uint8 = 0x01 // 01 | RSSI(int8) MAC(6) | RSSI MAC | …
)

// Tracker TLV tags carrying Wi-Fi scans (wifi.md §1.3).
const (
	TagWiFiLegacy uint8 = 0x08 // value = RSSI|MAC pairs, no format byte
	TagWiFi       uint8 = 0x0E // value = version(1) | device time(4, BE) | RSSI|MAC pairs
)

// MinAPs is the minimum number of distinct MACs in a scan the modem service
// accepts (wifi.md §1.1).
const MinAPs = 2

// Observation is one access point as the device reported it.
type Observation struct {
	MAC     [6]byte
	RSSI    int  // dBm; meaningful only when HasRSSI
	HasRSSI bool // false in MAC-only scans
}

// UsableRSSI reports whether the RSSI may be used for ranging: present and
// in −127…−1 dBm. 0x80 (−128, the int8 floor, a common "no value" marker) and
// non-negative values (0x7F = +127 dBm is physically impossible at a receiver)
// are kept by the codec for exact round trips but are not trusted.
func (o Observation) UsableRSSI() bool {
	return o.HasRSSI && o.RSSI > -128 && o.RSSI < 0
}

// Scan is a decoded Wi-Fi scan payload. APs keep the wire order (LBM sends
// them by descending RSSI) and duplicates; see Dedup.
type Scan struct {
	Format uint8
	APs    []Observation
}

// recordSize returns the bytes per AP for a format.
func recordSize(format uint8) (int, bool) {
	switch format {
	case FormatMACOnly:
		return 6, true
	case FormatRSSIMAC:
		return 7, true
	}
	return 0, false
}

// DecodeScan decodes an LBM Wi-Fi payload (port 197): a format byte followed
// by MAC-only or RSSI + MAC records. It requires at least MinAPs distinct
// MACs. The result does not alias b.
func DecodeScan(b []byte) (Scan, error) {
	if len(b) == 0 {
		return Scan{}, &DecodeError{Field: "format", Offset: 0, Err: ErrShort}
	}
	return decodeAPs(b[0], b[1:], 1)
}

// DecodeBody decodes AP records that arrive without a format byte: the
// port-196 MAC-only variant (format FormatMACOnly) and the value of a legacy
// tracker record (format FormatRSSIMAC). Offsets in errors are relative to
// body.
func DecodeBody(format uint8, body []byte) (Scan, error) {
	return decodeAPs(format, body, 0)
}

// decodeAPs decodes body as records of the given format; base is the offset
// of body in the caller's input, used in errors.
func decodeAPs(format uint8, body []byte, base int) (Scan, error) {
	rec, ok := recordSize(format)
	if !ok {
		off := base - 1
		if off < 0 {
			off = 0
		}
		return Scan{}, &DecodeError{Field: "format", Offset: off,
			Err: fmt.Errorf("%w 0x%02x (want 0x00 MAC only or 0x01 RSSI + MAC)", ErrUnknownFormat, format)}
	}
	if len(body)%rec != 0 {
		return Scan{}, &DecodeError{Field: "aps", Offset: base + len(body)/rec*rec,
			Err: fmt.Errorf("%w: %d bytes of AP records, want a multiple of %d (format 0x%02x: %d + %dn bytes)",
				ErrLength, len(body), rec, format, base, rec)}
	}
	s := Scan{Format: format, APs: make([]Observation, len(body)/rec)}
	for i := range s.APs {
		r := body[i*rec : (i+1)*rec]
		o := &s.APs[i]
		if format == FormatRSSIMAC {
			o.RSSI, o.HasRSSI = int(int8(r[0])), true
			r = r[1:]
		}
		copy(o.MAC[:], r)
	}
	if n := distinctMACs(s.APs); n < MinAPs {
		return Scan{}, &DecodeError{Field: "aps", Offset: base,
			Err: fmt.Errorf("%w: %d distinct MAC(s) in %d record(s), need at least %d", ErrTooFewAPs, n, len(s.APs), MinAPs)}
	}
	return s, nil
}

// AppendScan appends the LBM wire form of s (format byte included) to dst.
// It rejects what DecodeScan rejects: an unknown format, fewer than MinAPs
// distinct MACs, and RSSIs that the format cannot carry (a MAC-only scan with
// an RSSI, an RSSI + MAC scan without one or outside the int8 range).
func AppendScan(dst []byte, s Scan) ([]byte, error) {
	if _, ok := recordSize(s.Format); !ok {
		return dst, fmt.Errorf("wifi: encode scan: %w 0x%02x", ErrUnknownFormat, s.Format)
	}
	if err := checkAPs(s); err != nil {
		return dst, err
	}
	dst = append(dst, s.Format)
	return appendAPs(dst, s), nil
}

func checkAPs(s Scan) error {
	for i, o := range s.APs {
		switch {
		case s.Format == FormatMACOnly && o.HasRSSI:
			return fmt.Errorf("wifi: encode ap %d: %w: RSSI set in a MAC-only scan", i, ErrRSSI)
		case s.Format == FormatRSSIMAC && !o.HasRSSI:
			return fmt.Errorf("wifi: encode ap %d: %w: RSSI missing in an RSSI + MAC scan", i, ErrRSSI)
		case o.HasRSSI && (o.RSSI < -128 || o.RSSI > 127):
			return fmt.Errorf("wifi: encode ap %d: %w: %d dBm does not fit int8", i, ErrRSSI, o.RSSI)
		}
	}
	if n := distinctMACs(s.APs); n < MinAPs {
		return fmt.Errorf("wifi: encode scan: %w: %d distinct MAC(s), need at least %d", ErrTooFewAPs, n, MinAPs)
	}
	return nil
}

func appendAPs(dst []byte, s Scan) []byte {
	for _, o := range s.APs {
		if s.Format == FormatRSSIMAC {
			dst = append(dst, byte(int8(o.RSSI)))
		}
		dst = append(dst, o.MAC[:]...)
	}
	return dst
}

// AppendBinary implements encoding.BinaryAppender; see AppendScan.
func (s Scan) AppendBinary(dst []byte) ([]byte, error) { return AppendScan(dst, s) }

// MarshalBinary implements encoding.BinaryMarshaler.
func (s Scan) MarshalBinary() ([]byte, error) { return AppendScan(nil, s) }

// UnmarshalBinary implements encoding.BinaryUnmarshaler; see DecodeScan.
func (s *Scan) UnmarshalBinary(b []byte) error {
	v, err := DecodeScan(b)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// TrackerRecord is a Wi-Fi record of the LoRa Edge tracker TLV stream.
type TrackerRecord struct {
	Tag        uint8  // TagWiFiLegacy or TagWiFi
	Version    uint8  // TagWiFi only (ignored when encoding TagWiFiLegacy)
	DeviceTime uint32 // TagWiFi only: device clock, big-endian on the wire
	Scan       Scan   // always FormatRSSIMAC
}

// DecodeTrackerRecord decodes one TLV record `tag(1) len(1) value` at the
// start of b and returns it with the number of bytes it occupies. n is also
// returned with ErrUnknownTag when the length byte is readable and the value
// fits, so a caller walking a mixed stream can skip GNSS or sensor records.
func DecodeTrackerRecord(b []byte) (r TrackerRecord, n int, err error) {
	if len(b) < 2 {
		return r, 0, &DecodeError{Field: "len", Offset: len(b), Err: ErrShort}
	}
	tag, l := b[0], int(b[1])
	if len(b) < 2+l {
		return r, 0, &DecodeError{Field: "value", Offset: 2,
			Err: fmt.Errorf("%w: length byte says %d, %d available", ErrShort, l, len(b)-2)}
	}
	n = 2 + l
	v := b[2:n]
	r.Tag = tag
	switch tag {
	case TagWiFiLegacy:
		r.Scan, err = decodeAPs(FormatRSSIMAC, v, 2)
	case TagWiFi:
		if len(v) < 5 {
			return TrackerRecord{}, n, &DecodeError{Field: "timestamp", Offset: 2,
				Err: fmt.Errorf("%w: value is %d bytes, want version(1) + timestamp(4) + pairs", ErrShort, len(v))}
		}
		r.Version = v[0]
		r.DeviceTime = binary.BigEndian.Uint32(v[1:5])
		r.Scan, err = decodeAPs(FormatRSSIMAC, v[5:], 7)
	default:
		return TrackerRecord{}, n, &DecodeError{Field: "tag", Offset: 0,
			Err: fmt.Errorf("%w 0x%02x (want 0x08 or 0x0e)", ErrUnknownTag, tag)}
	}
	if err != nil {
		return TrackerRecord{}, n, err
	}
	return r, n, nil
}

// AppendTrackerRecord appends the TLV form of r to dst.
func AppendTrackerRecord(dst []byte, r TrackerRecord) ([]byte, error) {
	if r.Scan.Format != FormatRSSIMAC {
		return dst, fmt.Errorf("wifi: encode tracker record: %w 0x%02x (tracker records carry RSSI + MAC)", ErrUnknownFormat, r.Scan.Format)
	}
	if err := checkAPs(r.Scan); err != nil {
		return dst, err
	}
	l := 7 * len(r.Scan.APs)
	switch r.Tag {
	case TagWiFiLegacy:
	case TagWiFi:
		l += 5
	default:
		return dst, fmt.Errorf("wifi: encode tracker record: %w 0x%02x", ErrUnknownTag, r.Tag)
	}
	if l > 255 {
		return dst, fmt.Errorf("wifi: encode tracker record: %w: value of %d bytes exceeds 255", ErrTooLong, l)
	}
	dst = append(dst, r.Tag, byte(l))
	if r.Tag == TagWiFi {
		dst = append(dst, r.Version)
		dst = binary.BigEndian.AppendUint32(dst, r.DeviceTime)
	}
	return appendAPs(dst, r.Scan), nil
}

// Payload returns what a server forwards to the solver as msgtype "wifi":
// the record's pairs behind a 0x01 format byte (wifi.md §1.3).
func (r TrackerRecord) Payload() ([]byte, error) { return AppendScan(nil, r.Scan) }
