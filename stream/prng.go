package stream

import "math/bits"

// prbs23 is one step of the redundancy selector's generator (§5.6). The "+" (not OR) matters
// while x still has bits above bit 22.
func prbs23(x uint32) uint32 {
	return (x >> 1) + (((x ^ (x >> 5)) & 1) << 22)
}

// selector draws the index sets of redundancy octets for one window length (§5.6).
type selector struct {
	wl, wlx uint32
	half    uint32
	magic   uint64     // Lemire fast-modulo constant for wlx (any 32-bit x)
	m34     uint64     // x % wlx = x - (x*m34>>34)*wlx for x < 2^23
	seen    [32]uint64 // the set drawn last; 32 words so that indexing with &31 needs no bounds check
}

func newSelector(wl int) *selector {
	s := &selector{}
	s.reset(wl)
	return s
}

func (s *selector) reset(wl int) {
	w := uint32(wl)
	s.wl, s.wlx, s.half = w, w, w/2
	if w&(w-1) == 0 {
		s.wlx = w + 1
	}
	s.magic = ^uint64(0)/uint64(s.wlx) + 1
	s.m34 = (uint64(1)<<34)/uint64(s.wlx) + 1
	clear(s.seen[:]) // word() relies on no stale bits beyond WL
}

// draw fills s.seen with the index set S of redundancy octet i of the frame with counter fcnt and
// returns XOR of win[r] for r in S; len(win) must be at least WL. ok is false only when the
// generator is stuck at 0 (x = 1 + 1001*(fcnt ^ i<<8) = 0 mod 2^32), on which the device would
// loop forever, so such an octet never occurs in a genuine frame.
//
// The generator is first stepped exactly while x has bits above bit 22 (at most a few dozen
// steps, the excess halves each step). From then on it is a plain 23-bit LFSR with taps 0 and 5,
// which visits every nonzero state, so the loop terminates; four states are derived from each x
// at once (new bit k is bit k-1 XOR bit k+4 of x for k <= 18), which shortens the dependency chain.
func (s *selector) draw(fcnt uint32, i int, win []byte) (acc byte, ok bool) {
	wl, wlx, half, m34 := s.wl, s.wlx, s.half, s.m34
	seen := &s.seen
	clear(seen[:(wl+63)>>6])
	win = win[:wl]
	x := 1 + 1001*(fcnt^(uint32(i)<<8))
	n := uint32(0)
	// add inserts index r (< wlx) branch-free apart from the rare r == WL rejection.
	add := func(r uint32) bool {
		if r < wl {
			j, sh := (r>>6)&31, r&63
			old := seen[j]
			seen[j] = old | 1<<sh
			isNew := uint32(^old>>sh) & 1
			n += isNew
			acc ^= win[r] & byte(-isNew)
		}
		return n == half
	}
	for x >= 1<<23 {
		x = prbs23(x)
		hi, _ := bits.Mul64(s.magic*uint64(x), uint64(wlx))
		if add(uint32(hi)) {
			return acc, true
		}
	}
	if x == 0 {
		return 0, false
	}
	mod := func(y uint32) uint32 { return y - uint32((uint64(y)*m34)>>34)*wlx }
	for {
		t := x ^ x>>5
		if add(mod(x>>1|(t&1)<<22)) || add(mod(x>>2|(t&3)<<21)) || add(mod(x>>3|(t&7)<<20)) {
			return acc, true
		}
		x = x>>4 | (t&15)<<19
		if add(mod(x)) {
			return acc, true
		}
	}
}

// word returns the membership bits of indices start..start+63 of the set drawn last (bit j is
// index start+j); indices outside [0, WL) read as 0.
func (s *selector) word(start int64) uint64 {
	switch {
	case start <= -64 || start >= int64(len(s.seen))<<6:
		return 0
	case start < 0:
		return s.seen[0] << uint(-start)
	}
	w, sh := start>>6, uint(start&63)
	v := s.seen[w] >> sh
	if sh != 0 && w+1 < int64(len(s.seen)) {
		v |= s.seen[w+1] << (64 - sh)
	}
	return v
}
