package stream

import "math/bits"

// Bit sets over stream offsets; bit i of a set is offset base+i of the decoder's buffer.

func bitGet(s []uint64, i int64) bool { return s[i>>6]&(1<<(uint64(i)&63)) != 0 }
func bitSet(s []uint64, i int64)      { s[i>>6] |= 1 << (uint64(i) & 63) }
func bitClr(s []uint64, i int64)      { s[i>>6] &^= 1 << (uint64(i) & 63) }

// bitSetRange sets bits [from, to).
func bitSetRange(s []uint64, from, to int64) {
	for from < to {
		w := from >> 6
		lo := uint64(from) & 63
		n := min(to-from, 64-int64(lo))
		var m uint64
		if n == 64 {
			m = ^uint64(0)
		} else {
			m = ((1 << uint64(n)) - 1) << lo
		}
		s[w] |= m
		from += n
	}
}

// bitNext returns the first set bit in [from, to), or to if there is none.
func bitNext(s []uint64, from, to int64) int64 {
	if from >= to {
		return to
	}
	w := from >> 6
	x := s[w] >> (uint64(from) & 63)
	if x != 0 {
		if r := from + int64(bits.TrailingZeros64(x)); r < to {
			return r
		}
		return to
	}
	last := (to - 1) >> 6
	for w++; w <= last; w++ {
		if s[w] != 0 {
			if r := w<<6 + int64(bits.TrailingZeros64(s[w])); r < to {
				return r
			}
			return to
		}
	}
	return to
}

// bitCount counts the set bits in [from, to).
func bitCount(s []uint64, from, to int64) int {
	n := 0
	for from < to {
		w := from >> 6
		lo := uint64(from) & 63
		k := min(to-from, 64-int64(lo))
		x := s[w] >> lo
		if k < 64 {
			x &= (1 << uint64(k)) - 1
		}
		n += bits.OnesCount64(x)
		from += k
	}
	return n
}
