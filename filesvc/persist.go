package filesvc

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// Serialized session format (see doc.go).
const (
	sessionVersion  = 1
	stateCollecting = 0
	stateSolved     = 1
	sessionHeader   = 4
	recordHeader    = 8
)

// MarshalBinary serializes the session for storage between uplinks
// (format version 1, documented in the package doc). The in-memory basis is
// not stored; UnmarshalSession rebuilds it lazily.
func (s *Session) MarshalBinary() ([]byte, error) {
	n := sessionHeader + s.nstored*ChunkSize + len(s.recs)*recordHeader
	if s.solved != nil {
		n = sessionHeader + len(s.solved)*ChunkSize
	}
	return s.AppendBinary(make([]byte, 0, n))
}

// AppendBinary appends the serialized session to dst (see MarshalBinary).
func (s *Session) AppendBinary(dst []byte) ([]byte, error) {
	d, err := discriminator(s.sid, s.sctr, s.cct)
	if err != nil {
		return dst, err
	}
	dst = append(dst, sessionVersion)
	dst = binary.LittleEndian.AppendUint16(dst, d)
	if s.solved != nil {
		dst = append(dst, stateSolved)
		for _, c := range s.solved {
			dst = binary.LittleEndian.AppendUint64(dst, c)
		}
		return dst, nil
	}
	dst = append(dst, stateCollecting)
	for _, r := range s.recs {
		dst = binary.LittleEndian.AppendUint32(dst, r.fcnt)
		dst = binary.LittleEndian.AppendUint32(dst, r.mask)
		for _, c := range r.vals {
			dst = binary.LittleEndian.AppendUint64(dst, c)
		}
	}
	return dst, nil
}

// UnmarshalSession restores a session serialized by MarshalBinary. Nothing
// of b is retained.
func UnmarshalSession(b []byte) (*Session, error) {
	if len(b) < sessionHeader {
		return nil, &DecodeError{Field: "header", Offset: 0, Err: ErrShort}
	}
	if b[0] != sessionVersion {
		return nil, &DecodeError{Field: "version", Offset: 0, Err: ErrVersion}
	}
	sid, sctr, cct := splitDiscriminator(binary.LittleEndian.Uint16(b[1:]))
	s := NewSession(sid, sctr, cct)
	body := b[sessionHeader:]
	switch b[3] {
	case stateSolved:
		if len(body) != cct*ChunkSize {
			return nil, &DecodeError{Field: "stream", Offset: sessionHeader, Err: ErrShort}
		}
		s.solved = make([]uint64, cct)
		for i := range s.solved {
			s.solved[i] = binary.LittleEndian.Uint64(body[i*ChunkSize:])
		}
		s.rank = cct
		return s, nil
	case stateCollecting:
	default:
		return nil, &DecodeError{Field: "state", Offset: 3, Err: ErrRange}
	}
	var fcnts []uint32
	// One backing array for every record's chunks (capacity-limited slices,
	// so nothing appends across records).
	pool := make([]uint64, 0, (len(b)-sessionHeader)/ChunkSize)
	for off := sessionHeader; off < len(b); {
		if len(b)-off < recordHeader {
			return nil, &DecodeError{Field: "record", Offset: off, Err: ErrShort}
		}
		r := record{fcnt: binary.LittleEndian.Uint32(b[off:]), mask: binary.LittleEndian.Uint32(b[off+4:])}
		if r.mask == 0 {
			return nil, &DecodeError{Field: "mask", Offset: off + 4, Err: ErrRange}
		}
		off += recordHeader
		n := bits.OnesCount32(r.mask)
		if len(b)-off < n*ChunkSize {
			return nil, &DecodeError{Field: "chunks", Offset: off, Err: ErrShort}
		}
		if s.nstored+n >= cct {
			// Add eliminates as soon as cct chunks are stored and keeps
			// only independent ones, so a valid state holds fewer.
			return nil, &DecodeError{Field: "chunks", Offset: off, Err: ErrTooLarge}
		}
		start := len(pool)
		for i := range n {
			pool = append(pool, binary.LittleEndian.Uint64(b[off+i*ChunkSize:]))
		}
		r.vals = pool[start:len(pool):len(pool)]
		off += n * ChunkSize
		s.recs = append(s.recs, r)
		s.nstored += n
		fcnts = append(fcnts, r.fcnt)
	}
	slices.Sort(fcnts)
	for i := 1; i < len(fcnts); i++ {
		if fcnts[i] == fcnts[i-1] {
			return nil, &DecodeError{Field: "fcnt", Offset: sessionHeader, Err: ErrRange}
		}
	}
	return s, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler (see UnmarshalSession).
func (s *Session) UnmarshalBinary(b []byte) error {
	t, err := UnmarshalSession(b)
	if err != nil {
		return err
	}
	*s = *t
	return nil
}
