package nav

// bitReader reads little-endian bit fields: bit i of the stream is bit i%8 of
// byte i/8, and a field's first bit is its least significant bit.
type bitReader struct {
	b   []byte
	pos int // bits consumed
}

func (r *bitReader) remaining() int { return len(r.b)*8 - r.pos }

// read returns the next n ≤ 32 bits; the caller checks remaining() first.
func (r *bitReader) read(n int) uint32 {
	var v uint32
	for i := 0; i < n; {
		byteIdx, bit := r.pos>>3, r.pos&7
		take := min(8-bit, n-i)
		chunk := uint32(r.b[byteIdx]>>bit) & (1<<take - 1)
		v |= chunk << i
		i += take
		r.pos += take
	}
	return v
}

// bitWriter appends little-endian bit fields to a byte slice.
type bitWriter struct {
	b     []byte
	nbits int // bits written so far
}

func (w *bitWriter) write(v uint32, n int) {
	for i := 0; i < n; {
		bit := w.nbits & 7
		if bit == 0 {
			w.b = append(w.b, 0)
		}
		take := min(8-bit, n-i)
		w.b[len(w.b)-1] |= byte((v>>i)&(1<<take-1)) << bit
		i += take
		w.nbits += take
	}
}

func signExtend(v uint32, n int) int32 {
	shift := 32 - n
	return int32(v<<shift) >> shift
}
