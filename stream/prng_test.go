package stream

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// refDraw is the §5.6 definition, step by step.
func refDraw(fcnt uint32, i, wl int, win []byte) (byte, []int) {
	wlx := uint32(wl)
	if wl&(wl-1) == 0 {
		wlx++
	}
	x := 1 + 1001*(fcnt^uint32(i)<<8)
	set := map[uint32]bool{}
	var order []int
	var acc byte
	for len(set) < wl/2 {
		x = (x >> 1) + (((x ^ (x >> 5)) & 1) << 22)
		r := x % wlx
		if r >= uint32(wl) || set[r] {
			continue
		}
		set[r] = true
		order = append(order, int(r))
		acc ^= win[r]
	}
	return acc, order
}

func TestDrawMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, wl := range []int{16, 20, 32, 64, 100, 256, 272, 512, 784, 1024, 1792} {
		s := newSelector(wl)
		win := make([]byte, wl)
		for i := range win {
			win[i] = byte(rng.Uint32())
		}
		for k := range 300 {
			fcnt := rng.Uint32()
			if k < 50 {
				fcnt = uint32(k)
			}
			i := rng.IntN(256)
			want, set := refDraw(fcnt, i, wl, win)
			got, ok := s.draw(fcnt, i, win)
			if !ok || got != want {
				t.Fatalf("wl %d fcnt %d i %d: got %#x ok %v, want %#x", wl, fcnt, i, got, ok, want)
			}
			for _, r := range set {
				if s.word(int64(r))&1 == 0 {
					t.Fatalf("wl %d fcnt %d i %d: index %d missing", wl, fcnt, i, r)
				}
			}
			n := 0
			for r := -64; r < wl+64; r += 64 {
				n += bits.OnesCount64(s.word(int64(r)))
			}
			if n != wl/2 {
				t.Fatalf("wl %d: |S| = %d", wl, n)
			}
		}
	}
}

// The one seed per i for which x starts at 0 is refused instead of looping forever.
func TestDrawStuckGenerator(t *testing.T) {
	inv := uint32(1)
	for range 5 { // Newton iteration for the inverse of 1001 mod 2^32
		inv *= 2 - 1001*inv
	}
	y := -inv // 1 + 1001*y == 0
	if 1+1001*y != 0 {
		t.Fatal("bad inverse")
	}
	s := newSelector(512)
	if _, ok := s.draw(y^(3<<8), 3, make([]byte, 512)); ok {
		t.Error("stuck generator accepted")
	}
}
