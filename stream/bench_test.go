package stream

import (
	"math/rand/v2"
	"testing"
)

type benchStream struct {
	octets int
	frames []simFrame
}

func makeBenchStream(b *testing.B, maxLen int, loss float64) benchStream {
	b.Helper()
	c := simConfig{wl: 512, rr: 110, pci: 8, maxLen: maxLen, records: 4000, minRec: 20, maxRec: 100, seed: 77, tail: true}
	sent, frames := simStream(b, c)
	var n int
	for _, r := range sent {
		n += len(r.Data) + 2
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fs := dropFrames(rng, frames[1:], loss)
	return benchStream{octets: n, frames: append([]simFrame{frames[0]}, fs...)}
}

func benchmarkDecoder(b *testing.B, maxLen int, loss float64) {
	s := makeBenchStream(b, maxLen, loss)
	b.SetBytes(int64(s.octets))
	b.ReportAllocs()
	var nrec, state int
	var st Status
	for b.Loop() {
		d := NewDecoder()
		nrec = 0
		for _, f := range s.frames {
			recs, _, err := d.Add(f.fcnt, f.b)
			if err != nil {
				b.Fatal(err)
			}
			nrec += len(recs)
			if f.fcnt%97 == 0 {
				blob, _ := d.MarshalBinary()
				state = max(state, len(blob))
			}
		}
		st = d.Status()
	}
	b.ReportMetric(float64(nrec), "records")
	b.ReportMetric(float64(st.Recovered), "recovered")
	b.ReportMetric(float64(state), "max-state-B")
}

// Decoder throughput in stream octets (WL 512, RR 110 %, 10 % frame loss).
func BenchmarkDecoder51Loss10(b *testing.B)  { benchmarkDecoder(b, 51, 0.10) }
func BenchmarkDecoder242Loss10(b *testing.B) { benchmarkDecoder(b, 242, 0.10) }
func BenchmarkDecoder51Loss0(b *testing.B)   { benchmarkDecoder(b, 51, 0) }

// Steady-state serialised size, sampled every frame.
func BenchmarkMarshalState(b *testing.B) {
	for _, maxLen := range []int{51, 242} {
		s := makeBenchStream(b, maxLen, 0.10)
		for _, depth := range []int{-1, DefaultReorderDepth} {
			d := NewDecoderConfig(Config{ReorderDepth: depth})
			var sum, n, mx int
			for i, f := range s.frames {
				if _, _, err := d.Add(f.fcnt, f.b); err != nil {
					b.Fatal(err)
				}
				if i > 50 {
					blob, _ := d.MarshalBinary()
					sum += len(blob)
					n++
					mx = max(mx, len(blob))
				}
			}
			b.Logf("frames %d B, reorder depth %d: mean state %d B, max %d B", maxLen, max(depth, 0), sum/n, mx)
		}
	}
	s := makeBenchStream(b, 51, 0.10)
	d := NewDecoder()
	for _, f := range s.frames[:len(s.frames)/2] {
		d.Add(f.fcnt, f.b)
	}
	b.ReportAllocs()
	for b.Loop() {
		blob, err := d.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnmarshalDecoder(blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncoder(b *testing.B) {
	rec := make([]byte, 50)
	b.SetBytes(52)
	b.ReportAllocs()
	e := NewEncoder(512, 110, 8)
	fcnt := uint32(0)
	for b.Loop() {
		_ = e.AddRecord(rec)
		for e.Pending() > 0 {
			_, _, _ = e.NextFrame(fcnt, 51)
			fcnt++
		}
	}
}

func BenchmarkDraw512(b *testing.B) {
	s := newSelector(512)
	win := make([]byte, 512)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.draw(uint32(i), i&0xFF, win)
		i++
	}
}

func BenchmarkParseFrame(b *testing.B) {
	f := mustHex(b, capturedFrame[2:])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFrame(f); err != nil {
			b.Fatal(err)
		}
	}
}
