package filesvc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lfuVectors are the fragments of modem-protocol.md §4.6.
var lfuVectors = []struct {
	fcnt       uint32
	maxPayload int
	hex        string
}{
	{5, 51, "0e03046f2c204c6f5261202d405d398d8154002445455fc5e4386c2445455fc5e4386c4a6977132c446c6c2445455fc5e4386c"},
	{6, 51, "0e03046f2c204c6f5261206f2c204c6f5261202d405d398d8154002445455fc5e4386c4a6977132c446c6c4a6977132c446c6c"},
	{7, 51, "0e03046e2c324ce9a054006f2c204c6f526120436c6f75642100000100120086f235200100120086f2352008050a66ce97594c"},
	{5, 27, "0e03046f2c204c6f5261202d405d398d8154002445455fc5e4386c"},
	{6, 27, "0e03046f2c204c6f5261206f2c204c6f5261202d405d398d815400"},
	{7, 27, "0e03046e2c324ce9a054006f2c204c6f526120436c6f7564210000"},
	{8, 27, "0e03040100120086f235200905186648656c6c4b696513aab6594c"},
}

const vectorFile = "Hello, LoRa Cloud!"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectorFragment returns the parsed §4.6 fragment for (fcnt, maxPayload).
func vectorFragment(t testing.TB, fcnt uint32, maxPayload int) Fragment {
	t.Helper()
	for _, v := range lfuVectors {
		if v.fcnt == fcnt && v.maxPayload == maxPayload {
			b := mustHex(t, v.hex)
			f, err := ParseFragment(b[1:])
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no vector for fcnt %d / %d", fcnt, maxPayload)
	return Fragment{}
}

func TestPhashVector(t *testing.T) {
	if got := phash(5); got != 0x23531b52 {
		t.Fatalf("phash(5) = %#08x, want 0x23531b52", got)
	}
}

func TestVectorHeader(t *testing.T) {
	src, err := EncodeFile(1, false, []byte(vectorFile))
	if err != nil {
		t.Fatal(err)
	}
	if src.ChunkCount() != 4 {
		t.Fatalf("cct = %d, want 4", src.ChunkCount())
	}
	var stream []byte
	for _, c := range src.chunks {
		for i := range 8 {
			stream = append(stream, byte(c>>(8*i)))
		}
	}
	if got, want := hex.EncodeToString(stream[:12]), "0100120086f2352009051866"; got != want {
		t.Fatalf("header %s, want %s", got, want)
	}
}

// TestVectorFragments parses every §4.6 frame, re-encodes it, and checks
// that the encoder produces it byte for byte.
func TestVectorFragments(t *testing.T) {
	src, err := EncodeFile(1, false, []byte(vectorFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range lfuVectors {
		frame := mustHex(t, v.hex)
		if frame[0] != Tag {
			t.Fatalf("fcnt %d: tag %#x", v.fcnt, frame[0])
		}
		f, err := ParseFragment(frame[1:])
		if err != nil {
			t.Fatalf("fcnt %d: %v", v.fcnt, err)
		}
		if f.SID != 0 || f.Sctr != 1 || f.ChunkCount != 4 || len(f.Chunks) != (v.maxPayload-3)/8 {
			t.Errorf("fcnt %d: got %+v", v.fcnt, f)
		}
		if d, _ := f.D(); d != 0x0403 {
			t.Errorf("fcnt %d: D = %#04x, want 0x0403", v.fcnt, d)
		}
		back, err := f.AppendBinary([]byte{Tag})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, frame) {
			t.Errorf("fcnt %d: re-encoded %x", v.fcnt, back)
		}
		got, err := src.Fragment(0, 1, v.fcnt, v.maxPayload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, frame) {
			t.Errorf("fcnt %d/%d: encoder\n got %x\nwant %x", v.fcnt, v.maxPayload, got, frame)
		}
	}
}

func wantVectorFile(t *testing.T, s *Session) {
	t.Helper()
	f, err := s.File()
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Port: 1, Data: []byte(vectorFile), Hash: mustHex(t, "86f2352009051866")}
	if d := cmp.Diff(want, f); d != "" {
		t.Fatalf("file (-want +got):\n%s", d)
	}
}

func TestVectorSingle51(t *testing.T) {
	for _, fcnt := range []uint32{5, 6, 7} {
		s := NewSession(0, 1, 4)
		done, err := s.Add(fcnt, vectorFragment(t, fcnt, 51))
		if err != nil || !done {
			t.Fatalf("fcnt %d: done %v err %v", fcnt, done, err)
		}
		if s.Rank() != 4 {
			t.Fatalf("fcnt %d: rank %d", fcnt, s.Rank())
		}
		wantVectorFile(t, s)
	}
}

// TestVectorSets27 checks the §4.6 claims ({5,6,7} and {7,8} reach rank 4,
// {5,6} only 3) in every arrival order, and the rank of every other subset
// against a naive reference elimination.
func TestVectorSets27(t *testing.T) {
	for _, tc := range []struct {
		fcnts []uint32
		rank  int
	}{
		{[]uint32{5, 6, 7}, 4},
		{[]uint32{7, 8}, 4},
		{[]uint32{5, 6}, 3},
	} {
		for _, order := range permutations(tc.fcnts) {
			s := NewSession(0, 1, 4)
			for i, fcnt := range order {
				done, err := s.Add(fcnt, vectorFragment(t, fcnt, 27))
				if err != nil {
					t.Fatal(err)
				}
				if want := naiveRank(t, 4, order[:i+1]) == 4; done != want {
					t.Fatalf("%v: done %v after %d fragments, want %v", order, done, i+1, want)
				}
			}
			if got := s.Rank(); got != tc.rank {
				t.Fatalf("%v: rank %d, want %d", order, got, tc.rank)
			}
			if tc.rank == 4 {
				wantVectorFile(t, s)
			} else if _, err := s.File(); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("%v: File err %v, want ErrIncomplete", order, err)
			}
		}
	}
	all := []uint32{5, 6, 7, 8}
	for m := 1; m < 1<<len(all); m++ {
		var set []uint32
		s := NewSession(0, 1, 4)
		for i, fcnt := range all {
			if m&(1<<i) != 0 {
				set = append(set, fcnt)
				if _, err := s.Add(fcnt, vectorFragment(t, fcnt, 27)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got, want := s.Rank(), naiveRank(t, 4, set); got != want {
			t.Errorf("%v: rank %d, reference %d", set, got, want)
		}
	}
}

// naiveRank is naiveRankIDs over the chunk ids of the 27-byte vector
// fragments with the given frame counters.
func naiveRank(t testing.TB, cct int, fcnts []uint32) int {
	var ids []uint32
	for _, fcnt := range fcnts {
		for j := range vectorFragment(t, fcnt, 27).Chunks {
			ids = append(ids, phash(fcnt)+uint32(j))
		}
	}
	return naiveRankIDs(cct, ids)
}

// naiveRankIDs is a reference: the coefficient matrix of the chunk ids built
// bit by bit from the §4.3 formulas and reduced as [][]bool.
func naiveRankIDs(cct int, ids []uint32) int {
	var rows [][]bool
	ncw := uint32((cct + 31) / 32)
	for _, cid := range ids {
		row := make([]bool, cct)
		for i := range cct {
			row[i] = phash(cid*ncw+uint32(i/32))>>(i%32)&1 == 1
		}
		rows = append(rows, row)
	}
	rank := 0
	for col := 0; col < cct && rank < len(rows); col++ {
		piv := -1
		for r := rank; r < len(rows); r++ {
			if rows[r][col] {
				piv = r
				break
			}
		}
		if piv < 0 {
			continue
		}
		rows[rank], rows[piv] = rows[piv], rows[rank]
		for r := range rows {
			if r != rank && rows[r][col] {
				for c := range cct {
					rows[r][c] = rows[r][c] != rows[rank][c]
				}
			}
		}
		rank++
	}
	return rank
}

func permutations(in []uint32) [][]uint32 {
	if len(in) <= 1 {
		return [][]uint32{append([]uint32(nil), in...)}
	}
	var out [][]uint32
	for i := range in {
		rest := append(append([]uint32(nil), in[:i]...), in[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]uint32{in[i]}, p...))
		}
	}
	return out
}
