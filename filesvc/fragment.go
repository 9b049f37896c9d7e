package filesvc

import (
	"encoding/binary"
	"fmt"
)

// Limits of the LBM4 upload service (modem-protocol.md §4.1, §4.3).
const (
	// Tag is the DM uplink tag that precedes a fragment.
	Tag = 0x0E
	// HeaderSize is the size of the virtual-stream header in front of the file.
	HeaderSize = 12
	// ChunkSize is the size of one source or coded chunk.
	ChunkSize = 8
	// MaxFileSize is the largest file LBM4 uploads (8 KiB minus the header).
	MaxFileSize = 8180
	// MaxChunkCount is the largest chunk count D can carry (10 bits of cct−1).
	MaxChunkCount = 1024
	// MaxFragmentChunks bounds the coded chunks of one fragment. The device
	// sends at most 12 (payload capped at 100 B); no LoRaWAN frame (≤ 242 B)
	// carries more than 29.
	MaxFragmentChunks = 32
	// maxFragmentPayload is the device's cap on the fragment frame size.
	maxFragmentPayload = 100
	// fragmentOverhead is tag + D.
	fragmentOverhead = 3
)

// Fragment is one decoded upload fragment: the bytes after DM tag 0x0E,
// D (u16 LE) then k × 8-byte coded chunks.
type Fragment struct {
	SID, Sctr  uint8
	ChunkCount int      // cct, 1..1024
	Chunks     []uint64 // coded chunks, little-endian words as on the wire
}

// D returns the discriminator sid<<14 | sctr<<10 | (cct−1).
func (f Fragment) D() (uint16, error) { return discriminator(f.SID, f.Sctr, f.ChunkCount) }

func discriminator(sid, sctr uint8, cct int) (uint16, error) {
	switch {
	case sid > 3:
		return 0, fmt.Errorf("filesvc: sid %d: %w", sid, ErrRange)
	case sctr > 15:
		return 0, fmt.Errorf("filesvc: sctr %d: %w", sctr, ErrRange)
	case cct < 1:
		return 0, fmt.Errorf("filesvc: chunk count %d: %w", cct, ErrRange)
	case cct > MaxChunkCount:
		return 0, fmt.Errorf("filesvc: chunk count %d: %w", cct, ErrTooLarge)
	}
	return uint16(sid)<<14 | uint16(sctr)<<10 | uint16(cct-1), nil
}

func splitDiscriminator(d uint16) (sid, sctr uint8, cct int) {
	return uint8(d >> 14), uint8(d>>10) & 0x0F, int(d&0x03FF) + 1
}

// ParseFragment decodes the bytes that follow tag 0x0E in a DM uplink. The
// chunks are copied; b may be reused after the call.
func ParseFragment(b []byte) (Fragment, error) {
	if len(b) < 2 {
		return Fragment{}, &DecodeError{Field: "D", Offset: 0, Err: ErrShort}
	}
	sid, sctr, cct := splitDiscriminator(binary.LittleEndian.Uint16(b))
	rest := b[2:]
	n := len(rest) / ChunkSize
	switch {
	case n == 0:
		return Fragment{}, &DecodeError{Field: "chunks", Offset: 2, Err: ErrShort}
	case len(rest)%ChunkSize != 0:
		return Fragment{}, &DecodeError{Field: "chunks", Offset: 2 + n*ChunkSize, Err: ErrShort}
	case n > MaxFragmentChunks:
		return Fragment{}, &DecodeError{Field: "chunks", Offset: 2, Err: ErrTooLarge}
	}
	f := Fragment{SID: sid, Sctr: sctr, ChunkCount: cct, Chunks: make([]uint64, n)}
	for i := range f.Chunks {
		f.Chunks[i] = binary.LittleEndian.Uint64(rest[i*ChunkSize:])
	}
	return f, nil
}

// AppendBinary appends the fragment's wire form (D then the chunks, without
// the 0x0E tag) to dst.
func (f Fragment) AppendBinary(dst []byte) ([]byte, error) {
	d, err := f.D()
	if err != nil {
		return dst, err
	}
	if err := checkChunkCount(len(f.Chunks)); err != nil {
		return dst, err
	}
	dst = binary.LittleEndian.AppendUint16(dst, d)
	for _, c := range f.Chunks {
		dst = binary.LittleEndian.AppendUint64(dst, c)
	}
	return dst, nil
}

// MarshalBinary implements encoding.BinaryMarshaler (see AppendBinary).
func (f Fragment) MarshalBinary() ([]byte, error) {
	return f.AppendBinary(make([]byte, 0, 2+len(f.Chunks)*ChunkSize))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler (see ParseFragment).
func (f *Fragment) UnmarshalBinary(b []byte) error {
	g, err := ParseFragment(b)
	if err != nil {
		return err
	}
	*f = g
	return nil
}

func checkChunkCount(n int) error {
	switch {
	case n == 0:
		return fmt.Errorf("filesvc: fragment without chunks: %w", ErrShort)
	case n > MaxFragmentChunks:
		return fmt.Errorf("filesvc: fragment with %d chunks: %w", n, ErrTooLarge)
	}
	return nil
}

// phash is the device's 32-bit pseudo hash (§4.3); all arithmetic wraps.
func phash(x uint32) uint32 {
	x = ((x >> 16) ^ x) * 0x45d9f3b
	x = ((x >> 16) ^ x) * 0x45d9f3b
	return (x >> 16) ^ x
}

// chunkID returns the id of coded chunk j of the uplink with counter fcnt.
func chunkID(fcnt uint32, j int) uint32 { return phash(fcnt) + uint32(j) }

// rowWords is the number of 64-bit words of a cct-bit coefficient row.
func rowWords(cct int) int { return (cct + 63) / 64 }

// coefficients writes the cct coefficient bits of chunk id cid into row
// (rowWords(cct) words; bit i of the row is bit i%64 of row[i/64]) and
// reports whether any bit is set. Coefficient i is bit i%32 of
// phash(cid·ncw + i/32), ncw = ceil(cct/32), so two 32-bit check words
// form one row word.
func coefficients(row []uint64, cid uint32, cct int) bool {
	ncw := uint32(cct+31) / 32
	base := cid * ncw
	var any uint64
	for w := uint32(0); w < ncw; w++ {
		v := uint64(phash(base + w))
		if w&1 == 0 {
			row[w/2] = v
		} else {
			row[w/2] |= v << 32
		}
	}
	if r := cct % 64; r != 0 {
		row[len(row)-1] &= 1<<r - 1
	}
	for _, v := range row {
		any |= v
	}
	return any != 0
}
