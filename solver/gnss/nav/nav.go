package nav

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding failures are wrapped in *DecodeError.
var (
	ErrShort          = errors.New("nav: message too short")
	ErrUnsupportedNAV = errors.New("nav: unsupported NAV format")
	ErrUnknownFrame   = errors.New("nav: unknown frame type")
	ErrInvalid        = errors.New("nav: invalid field value")
)

// DecodeError names the field that failed and its bit offset in the message.
type DecodeError struct {
	Field  string
	Offset int // bit offset of the field (LSB-first numbering)
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("nav: decode %s at bit %d: %v", e.Field, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Frame types of the solver payload.
const (
	FrameNoAssistance uint8 = 0x00 // parser name "no assistance position"
	FrameNAV          uint8 = 0x01 // parser name "NAV message"
)

// Modulation identifies a constellation block.
type Modulation uint8

// Modulation values on the wire.
const (
	ModGPS    Modulation = 1
	ModBeiDou Modulation = 2
)

func (m Modulation) String() string {
	switch m {
	case ModGPS:
		return "GPS"
	case ModBeiDou:
		return "BeiDou"
	}
	return fmt.Sprintf("Modulation(%d)", uint8(m))
}

// Field limits.
const (
	maxSVPerBlock = 15
	maxSVID       = 127
	maxTimestamp  = 1<<19 - 1
	minDoppler    = -1 << 14
	maxDoppler    = 1<<14 - 1
	minAP         = -2048
	maxAP         = 2047
)

// SV is one satellite record. Each Has… flag says whether the field is present
// on the wire; absent fields are zero.
type SV struct {
	ID           uint8 // 7-bit sv_id (see SVIDToPRN)
	CN           uint8 // C/N class 0..3 (CN0OfClass)
	DopplerError bool  // device flagged its Doppler as unreliable (AP too far off)

	HasTimestamp1, HasTimestamp2, HasDoppler, HasBitChange1, HasBitChange2 bool

	Timestamp1, Timestamp2 uint32 // 19 bits; CodePhaseMs gives the inferred unit
	Doppler                int16  // 15-bit signed; DopplerUnitHz
	BitChange1, BitChange2 uint8  // meaning unknown
}

// Constellation is one modulation block of SV records.
type Constellation struct {
	Modulation Modulation
	SVs        []SV
}

// Message is a decoded NAV1 message (without the destination byte).
type Message struct {
	FrameType      uint8
	TimeIndicator  uint16 // TimeWindow resolves it against an estimate
	HasAP          bool
	APLat, APLon   int16 // raw signed 12-bit values; APToDegrees converts
	Constellations []Constellation
}

// AssistPosition returns the assistance position in degrees, if present.
func (m *Message) AssistPosition() (lat, lon float64, ok bool) {
	if !m.HasAP {
		return 0, 0, false
	}
	lat, lon = APToDegrees(m.APLat, m.APLon)
	return lat, lon, true
}

// SetAssistPosition quantises and stores an assistance position.
func (m *Message) SetAssistPosition(lat, lon float64) {
	m.HasAP = true
	m.APLat, m.APLon = APFromDegrees(lat, lon)
}

// NumSVs returns the number of SV records in all blocks.
func (m *Message) NumSVs() int {
	n := 0
	for _, c := range m.Constellations {
		n += len(c.SVs)
	}
	return n
}

// Decode parses a NAV1 message. It does not keep b. NAV2 and NAV3 payloads
// fail with an error wrapping ErrUnsupportedNAV that names the format. A first
// byte 0x00 decodes as frame type "no assistance position" (chip output); on
// port 198 such an uplink is a REQAID instead (see Classify).
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 {
		return m, &DecodeError{Field: "frame type", Err: ErrShort}
	}
	switch k := versionOf(b[0]); k {
	case KindNAV1, KindREQAID:
	case KindNAV2, KindNAV3:
		return m, &DecodeError{Field: "frame type", Err: fmt.Errorf("%w: %v (first byte 0x%02x; layout not published)", ErrUnsupportedNAV, k, b[0])}
	default:
		return m, &DecodeError{Field: "frame type", Err: fmt.Errorf("%w 0x%02x", ErrUnknownFrame, b[0])}
	}
	r := bitReader{b: b}
	need := func(field string, n int) error {
		if r.remaining() < n {
			return &DecodeError{Field: field, Offset: r.pos, Err: ErrShort}
		}
		return nil
	}
	if err := need("time indicator", 8+16+1); err != nil {
		return m, err
	}
	m.FrameType = uint8(r.read(8))
	m.TimeIndicator = uint16(r.read(16))
	m.HasAP = r.read(1) == 1
	if m.HasAP {
		if err := need("assistance position", 24); err != nil {
			return m, err
		}
		m.APLat = int16(signExtend(r.read(12), 12))
		m.APLon = int16(signExtend(r.read(12), 12))
	}
	// At least one block, then more while a block header still fits.
	for first := true; first || r.remaining() >= 8; first = false {
		if err := need("constellation header", 8); err != nil {
			return m, err
		}
		off := r.pos
		c := Constellation{Modulation: Modulation(r.read(4))}
		if c.Modulation != ModGPS && c.Modulation != ModBeiDou {
			return m, &DecodeError{Field: "modulation", Offset: off, Err: fmt.Errorf("%w: %d", ErrInvalid, c.Modulation)}
		}
		n := int(r.read(4))
		c.SVs = make([]SV, n)
		for i := range c.SVs {
			if err := decodeSV(&r, &c.SVs[i]); err != nil {
				return m, err
			}
		}
		m.Constellations = append(m.Constellations, c)
	}
	return m, nil
}

func decodeSV(r *bitReader, s *SV) error {
	field := func(name string, n int) (uint32, error) {
		if r.remaining() < n {
			return 0, &DecodeError{Field: name, Offset: r.pos, Err: ErrShort}
		}
		return r.read(n), nil
	}
	v, err := field("sv header", 7+2+6)
	if err != nil {
		return err
	}
	s.ID = uint8(v & 0x7f)
	s.CN = uint8(v>>7) & 3
	s.HasBitChange2 = v>>9&1 == 1
	s.HasBitChange1 = v>>10&1 == 1
	s.DopplerError = v>>11&1 == 1
	s.HasDoppler = v>>12&1 == 1
	s.HasTimestamp2 = v>>13&1 == 1
	s.HasTimestamp1 = v>>14&1 == 1
	if s.HasTimestamp1 {
		if s.Timestamp1, err = field("timestamp1", 19); err != nil {
			return err
		}
	}
	if s.HasTimestamp2 {
		if s.Timestamp2, err = field("timestamp2", 19); err != nil {
			return err
		}
	}
	if s.HasDoppler {
		if v, err = field("doppler", 15); err != nil {
			return err
		}
		s.Doppler = int16(signExtend(v, 15))
	}
	if s.HasBitChange1 {
		if v, err = field("bit change 1", 8); err != nil {
			return err
		}
		s.BitChange1 = uint8(v)
	}
	if s.HasBitChange2 {
		if v, err = field("bit change 2", 8); err != nil {
			return err
		}
		s.BitChange2 = uint8(v)
	}
	return nil
}

// AppendBinary appends the NAV1 encoding of m to dst. Padding bits are zero.
func (m Message) AppendBinary(dst []byte) ([]byte, error) {
	if m.FrameType != FrameNAV && m.FrameType != FrameNoAssistance {
		return dst, fmt.Errorf("nav: encode frame type 0x%02x: %w", m.FrameType, ErrInvalid)
	}
	if len(m.Constellations) == 0 {
		return dst, fmt.Errorf("nav: encode: %w: no constellation block", ErrInvalid)
	}
	if m.HasAP && (m.APLat < minAP || m.APLat > maxAP || m.APLon < minAP || m.APLon > maxAP) {
		return dst, fmt.Errorf("nav: encode assistance position %d/%d: %w", m.APLat, m.APLon, ErrInvalid)
	}
	for _, c := range m.Constellations {
		if c.Modulation != ModGPS && c.Modulation != ModBeiDou {
			return dst, fmt.Errorf("nav: encode modulation %d: %w", c.Modulation, ErrInvalid)
		}
		if len(c.SVs) > maxSVPerBlock {
			return dst, fmt.Errorf("nav: encode %v block: %w: %d SVs > %d", c.Modulation, ErrInvalid, len(c.SVs), maxSVPerBlock)
		}
		for _, s := range c.SVs {
			if err := s.validate(); err != nil {
				return dst, err
			}
		}
	}
	w := bitWriter{b: dst}
	w.write(uint32(m.FrameType), 8)
	w.write(uint32(m.TimeIndicator), 16)
	if m.HasAP {
		w.write(1, 1)
		w.write(uint32(m.APLat)&0xfff, 12)
		w.write(uint32(m.APLon)&0xfff, 12)
	} else {
		w.write(0, 1)
	}
	for _, c := range m.Constellations {
		w.write(uint32(c.Modulation), 4)
		w.write(uint32(len(c.SVs)), 4)
		for _, s := range c.SVs {
			w.write(uint32(s.ID), 7)
			w.write(uint32(s.CN), 2)
			w.write(b2u(s.HasBitChange2), 1)
			w.write(b2u(s.HasBitChange1), 1)
			w.write(b2u(s.DopplerError), 1)
			w.write(b2u(s.HasDoppler), 1)
			w.write(b2u(s.HasTimestamp2), 1)
			w.write(b2u(s.HasTimestamp1), 1)
			if s.HasTimestamp1 {
				w.write(s.Timestamp1, 19)
			}
			if s.HasTimestamp2 {
				w.write(s.Timestamp2, 19)
			}
			if s.HasDoppler {
				w.write(uint32(s.Doppler)&0x7fff, 15)
			}
			if s.HasBitChange1 {
				w.write(uint32(s.BitChange1), 8)
			}
			if s.HasBitChange2 {
				w.write(uint32(s.BitChange2), 8)
			}
		}
	}
	return w.b, nil
}

// MarshalBinary returns the NAV1 encoding of m.
func (m Message) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// UnmarshalBinary decodes a NAV1 message into m.
func (m *Message) UnmarshalBinary(b []byte) error {
	d, err := Decode(b)
	if err != nil {
		return err
	}
	*m = d
	return nil
}

func (s SV) validate() error {
	bad := func(field string, v any) error {
		return fmt.Errorf("nav: encode SV %d %s %v: %w", s.ID, field, v, ErrInvalid)
	}
	switch {
	case s.ID > maxSVID:
		return bad("id", s.ID)
	case s.CN > 3:
		return bad("C/N class", s.CN)
	case s.Timestamp1 > maxTimestamp:
		return bad("timestamp1", s.Timestamp1)
	case s.Timestamp2 > maxTimestamp:
		return bad("timestamp2", s.Timestamp2)
	case s.Doppler < minDoppler || s.Doppler > maxDoppler:
		return bad("doppler", s.Doppler)
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
