package filesvc

import (
	"math/rand/v2"
	"testing"
)

// benchUplinks returns the device's uplinks for a random 8,180-byte file
// (cct = 1024) with 100-byte fragments (12 chunks each).
func benchUplinks(b *testing.B) (*Source, []uplink) {
	r := rand.New(rand.NewPCG(21, 22))
	src := mustSource(b, 1, randBytes(r, MaxFileSize))
	return src, deviceUplinks(b, src, 1, r.Uint32(), 100, 0)
}

// BenchmarkReassemble8K rebuilds an 8,180-byte file from its fragments:
// parse, Add until done, File (header, SHA-256).
func BenchmarkReassemble8K(b *testing.B) {
	src, ups := benchUplinks(b)
	b.ReportAllocs()
	adds := 0
	for b.Loop() {
		s := NewSession(0, 1, src.ChunkCount())
		n, done := feed(b, s, ups)
		if !done {
			b.Fatal("incomplete")
		}
		if _, err := s.File(); err != nil {
			b.Fatal(err)
		}
		adds = n
	}
	b.ReportMetric(float64(adds), "uplinks/op")
}

// halfState returns the serialized state of the 8 KiB upload after the
// uplinks that bring it to about half rank, and the next uplink.
func halfState(b *testing.B) ([]byte, uplink, int) {
	src, ups := benchUplinks(b)
	s := NewSession(0, 1, src.ChunkCount())
	n, _ := feed(b, s, ups[:43]) // 43 × 12 = 516 chunks
	st, err := s.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return st, ups[n], s.Rank()
}

// BenchmarkUplinkHalf is the pipeline's per-uplink cost on a half-complete
// 8 KiB session: UnmarshalSession, ParseFragment, Add, MarshalBinary.
func BenchmarkUplinkHalf(b *testing.B) {
	st, next, _ := halfState(b)
	b.ReportMetric(float64(len(st)), "state-bytes")
	b.ReportAllocs()
	for b.Loop() {
		s, err := UnmarshalSession(st)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := ParseFragment(next.frame[1:])
		if _, err := s.Add(next.fcnt, f); err != nil {
			b.Fatal(err)
		}
		if _, err := s.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUplinkCompleting is the worst uplink: the restored 8 KiB session
// holds 1020 chunks and the next fragment pushes it past cct, so Add runs
// the whole elimination, solves, and File verifies.
func BenchmarkUplinkCompleting(b *testing.B) {
	src, ups := benchUplinks(b)
	s := NewSession(0, 1, src.ChunkCount())
	n, _ := feed(b, s, ups[:85]) // 85 × 12 = 1020 chunks, basis not built yet
	st, _ := s.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		s, err := UnmarshalSession(st)
		if err != nil {
			b.Fatal(err)
		}
		if _, done := feed(b, s, ups[n:]); !done {
			b.Fatal("incomplete")
		}
		if _, err := s.File(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddIncremental is one Add of a 12-chunk fragment into an
// in-memory half-rank basis (the basis is already built), measured on a
// clone so every iteration starts from the same state.
func BenchmarkAddIncremental(b *testing.B) {
	st, next, _ := halfState(b)
	base, _ := UnmarshalSession(st)
	base.Rank() // build the basis
	f, _ := ParseFragment(next.frame[1:])
	clone := func() *Session {
		c := *base
		c.basis = append([]uint64(nil), base.basis...)
		c.pivots = append([]uint64(nil), base.pivots...)
		c.recs = append([]record(nil), base.recs...)
		c.scratch = nil
		return &c
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := clone()
		b.StartTimer()
		if _, err := s.Add(next.fcnt, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFragment(b *testing.B) {
	_, ups := benchUplinks(b)
	in := ups[0].frame[1:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFragment(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSourceFragment(b *testing.B) {
	src, _ := benchUplinks(b)
	b.ReportAllocs()
	fcnt := uint32(0)
	for b.Loop() {
		fcnt++
		if _, err := src.Fragment(0, 1, fcnt, 100); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddCollecting is one Add of a 12-chunk fragment into a restored
// half-complete 8 KiB session whose basis is not built (the common case:
// Add only records the chunks).
func BenchmarkAddCollecting(b *testing.B) {
	st, next, _ := halfState(b)
	f, _ := ParseFragment(next.frame[1:])
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, _ := UnmarshalSession(st)
		b.StartTimer()
		if _, err := s.Add(next.fcnt, f); err != nil {
			b.Fatal(err)
		}
	}
}
