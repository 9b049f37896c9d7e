package filesvc

import (
	"math/rand/v2"
	"testing"
)

// uplink is one fragment as the network delivers it.
type uplink struct {
	fcnt  uint32
	frame []byte // full DM frame including the 0x0E tag
}

// deviceUplinks returns the frames an LBM device sends for src: consecutive
// frame counters from fcnt0 (wrapping), at least 3 frames, until 2·cct
// coded chunks have gone out (file_upload_is_data_remaining), plus extra
// frames beyond that.
func deviceUplinks(t testing.TB, src *Source, sctr uint8, fcnt0 uint32, maxPayload, extra int) []uplink {
	t.Helper()
	var ups []uplink
	sent := 0
	for fcnt := fcnt0; len(ups) < 3 || sent < 2*src.ChunkCount() || extra > 0; fcnt++ {
		if len(ups) >= 3 && sent >= 2*src.ChunkCount() {
			extra--
		}
		fr, err := src.Fragment(0, sctr, fcnt, maxPayload)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, uplink{fcnt, fr})
		sent += (len(fr) - 3) / 8
	}
	return ups
}

// feed parses and adds uplinks until done; it returns the number used.
func feed(t testing.TB, s *Session, ups []uplink) (int, bool) {
	t.Helper()
	for i, u := range ups {
		f, err := ParseFragment(u.frame[1:])
		if err != nil {
			t.Fatal(err)
		}
		done, err := s.Add(u.fcnt, f)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return i + 1, true
		}
	}
	return len(ups), false
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustSource(t testing.TB, port uint8, data []byte) *Source {
	t.Helper()
	src, err := EncodeFile(port, false, data)
	if err != nil {
		t.Fatal(err)
	}
	return src
}
