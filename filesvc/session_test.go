package filesvc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testSizes covers every size up to 40, every chunk-count boundary region at
// the low end, the maximum, and random sizes in between.
func testSizes(r *rand.Rand) []int {
	var sizes []int
	for n := 1; n <= 40; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 100, 123, 124, 125, 500, 1000, 2036, 4084, 4085, 8171, 8172, 8173, 8179, 8180)
	for range 30 {
		sizes = append(sizes, 1+r.IntN(MaxFileSize))
	}
	return sizes
}

var payloads = []int{11, 19, 27, 51, 100, 242}

func TestRoundTripSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range testSizes(r) {
		data := randBytes(r, size)
		port := uint8(r.Uint32())
		fcnt0 := r.Uint32()
		if size%3 == 0 {
			fcnt0 = math.MaxUint32 - uint32(r.IntN(20)) // wrap-around of fcnt and cid
		}
		mp := payloads[r.IntN(len(payloads))]
		sctr := uint8(r.IntN(16))
		src := mustSource(t, port, data)
		if want := (size + 12 + 7) / 8; src.ChunkCount() != want {
			t.Fatalf("size %d: cct %d, want %d", size, src.ChunkCount(), want)
		}
		// The device stops after 2·cct chunks; send more in case this seed
		// is unlucky, and count how often that is needed.
		ups := deviceUplinks(t, src, sctr, fcnt0, mp, 2*src.ChunkCount())
		s := NewSession(0, sctr, src.ChunkCount())
		n, done := feed(t, s, ups)
		if !done {
			t.Fatalf("size %d: rank %d/%d after %d uplinks", size, s.Rank(), s.ChunkCount(), n)
		}
		f, err := s.File()
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		sum := sha256.Sum256(data)
		want := &File{Port: port, Data: data, Hash: sum[:8]}
		if d := cmp.Diff(want, f); d != "" {
			t.Fatalf("size %d (-want +got):\n%s", size, d)
		}
	}
}

// TestRankSteps checks at every step that done ⇔ Rank() == cct, that the
// rank never decreases, and that it never exceeds the chunks received.
func TestRankSteps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{1, 5, 20, 60, 300} {
		src := mustSource(t, 7, randBytes(r, size))
		ups := deviceUplinks(t, src, 2, r.Uint32(), 19, 0)
		s := NewSession(0, 2, src.ChunkCount())
		prev, chunks := 0, 0
		for _, u := range ups {
			f, _ := ParseFragment(u.frame[1:])
			done, err := s.Add(u.fcnt, f)
			if err != nil {
				t.Fatal(err)
			}
			chunks += len(f.Chunks)
			rank := s.Rank()
			if rank < prev || rank > chunks || rank > s.ChunkCount() || done != (rank == s.ChunkCount()) {
				t.Fatalf("size %d: rank %d (prev %d, chunks %d), done %v", size, rank, prev, chunks, done)
			}
			prev = rank
		}
	}
}

func TestLossDropEach(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ size, maxPayload int }{{300, 51}, {1000, 100}, {60, 27}} {
		data := randBytes(r, tc.size)
		src := mustSource(t, 3, data)
		ups := deviceUplinks(t, src, 9, r.Uint32(), tc.maxPayload, 0)
		for drop := range ups {
			kept := append(append([]uplink(nil), ups[:drop]...), ups[drop+1:]...)
			s := NewSession(0, 9, src.ChunkCount())
			if _, done := feed(t, s, kept); !done {
				t.Fatalf("size %d, drop %d of %d: rank %d/%d", tc.size, drop, len(ups), s.Rank(), src.ChunkCount())
			}
			f, err := s.File()
			if err != nil || !bytes.Equal(f.Data, data) {
				t.Fatalf("size %d, drop %d: err %v", tc.size, drop, err)
			}
		}
	}
}

// TestLossRandomAndReorder drops 30 % of the device's uplinks at random and
// delivers the rest shuffled. The remaining 1.4·cct chunks give full rank
// except with probability about 2^(−0.4·cct), negligible for these sizes.
func TestLossRandomAndReorder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 12 {
		size := []int{200, 700, 3000, 8180}[trial%4]
		data := randBytes(r, size)
		src := mustSource(t, 1, data)
		ups := deviceUplinks(t, src, 4, r.Uint32(), []int{27, 51, 100}[trial%3], 0)
		r.Shuffle(len(ups), func(i, j int) { ups[i], ups[j] = ups[j], ups[i] })
		kept := ups[:len(ups)-len(ups)*3/10]
		s := NewSession(0, 4, src.ChunkCount())
		if _, done := feed(t, s, kept); !done {
			t.Fatalf("trial %d (size %d): %d of %d uplinks kept, rank %d/%d", trial, size, len(kept), len(ups), s.Rank(), src.ChunkCount())
		}
		f, err := s.File()
		if err != nil || !bytes.Equal(f.Data, data) {
			t.Fatalf("trial %d: err %v", trial, err)
		}
	}
}

// TestRankReference compares Rank with the naive reference elimination on
// random subsets of uplinks of small files, and checks that exactly the
// full-rank subsets decode.
func TestRankReference(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for trial := range 200 {
		size := 1 + r.IntN(500)
		data := randBytes(r, size)
		src := mustSource(t, 0, data)
		cct := src.ChunkCount()
		ups := deviceUplinks(t, src, 0, r.Uint32(), payloads[r.IntN(len(payloads))], 0)
		var ids []uint32
		s := NewSession(0, 0, cct)
		for _, u := range ups {
			if r.IntN(2) == 0 {
				continue
			}
			f, _ := ParseFragment(u.frame[1:])
			for j := range f.Chunks {
				ids = append(ids, chunkID(u.fcnt, j))
			}
			if _, err := s.Add(u.fcnt, f); err != nil {
				t.Fatal(err)
			}
		}
		want := naiveRankIDs(cct, ids)
		if got := s.Rank(); got != want {
			t.Fatalf("trial %d (cct %d): rank %d, reference %d", trial, cct, got, want)
		}
		f, err := s.File()
		if want == cct {
			if err != nil || !bytes.Equal(f.Data, data) {
				t.Fatalf("trial %d: full rank but %v", trial, err)
			}
		} else if !errors.Is(err, ErrIncomplete) {
			t.Fatalf("trial %d: rank %d/%d but File err %v", trial, want, cct, err)
		}
	}
}

func TestEncrypted(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	key := [16]byte{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
	wrong := key
	wrong[15] ^= 1
	for _, size := range []int{1, 15, 16, 17, 100, 1000, MaxFileSize} {
		plain := randBytes(r, size)
		ct := Encrypt(key, plain)
		if bytes.Equal(ct, plain) {
			t.Fatalf("size %d: ciphertext equals plaintext", size)
		}
		src, err := EncodeEncryptedFile(5, key, plain)
		if err != nil {
			t.Fatal(err)
		}
		ups := deviceUplinks(t, src, 1, r.Uint32(), 100, 8)
		s := NewSession(0, 1, src.ChunkCount())
		if _, done := feed(t, s, ups); !done {
			t.Fatalf("size %d: incomplete", size)
		}
		f, err := s.File()
		if err != nil {
			t.Fatal(err)
		}
		cs, ps := sha256.Sum256(ct), sha256.Sum256(plain)
		want := &File{Port: 5, Encrypted: true, Data: ct, Hash: cs[:4], PlainHash: ps[:4]}
		if d := cmp.Diff(want, f); d != "" {
			t.Fatalf("size %d (-want +got):\n%s", size, d)
		}
		if err := Decrypt(wrong, f); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("size %d: wrong key: %v", size, err)
		}
		if !bytes.Equal(f.Data, ct) || f.Decrypted {
			t.Fatalf("size %d: failed Decrypt changed the file", size)
		}
		if err := Decrypt(key, f); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(f.Data, plain) || !f.Decrypted || !f.Encrypted {
			t.Fatalf("size %d: decrypted %+v", size, f)
		}
		if err := Decrypt(key, f); !errors.Is(err, ErrNotEncrypted) {
			t.Fatalf("second Decrypt: %v", err)
		}
	}
}

// TestEncryptReference checks Encrypt against crypto/cipher's CTR mode with
// the §4.5 initial counter block (nonce || 00 01).
func TestEncryptReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var key [16]byte
	copy(key[:], randBytes(r, 16))
	for _, size := range []int{1, 16, 31, 4096, MaxFileSize} {
		plain := randBytes(r, size)
		sum := sha256.Sum256(plain)
		iv := []byte{0x01, 0, 0, 0, 0, 0x40, byte(size), byte(size >> 8), 0, 0, sum[0], sum[1], sum[2], sum[3], 0, 1}
		blk, _ := aes.NewCipher(key[:])
		want := make([]byte, size)
		cipher.NewCTR(blk, iv).XORKeyStream(want, plain)
		if got := Encrypt(key, plain); !bytes.Equal(got, want) {
			t.Fatalf("size %d: Encrypt differs from the CTR reference", size)
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	var key [16]byte
	if err := Decrypt(key, nil); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("nil: %v", err)
	}
	if err := Decrypt(key, &File{Data: []byte("x")}); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("plain: %v", err)
	}
	if err := Decrypt(key, &File{Encrypted: true, Data: []byte("x"), PlainHash: []byte{1}}); !errors.Is(err, ErrRange) {
		t.Errorf("short plain hash: %v", err)
	}
	if err := Decrypt(key, &File{Encrypted: true, PlainHash: []byte{1, 2, 3, 4}}); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("no data: %v", err)
	}
}

func TestEncodeFileErrors(t *testing.T) {
	for _, tc := range []struct {
		data      []byte
		encrypted bool
		want      error
	}{
		{nil, false, ErrShort},
		{make([]byte, MaxFileSize+1), false, ErrTooLarge},
		{[]byte("x"), true, ErrNotEncrypted},
	} {
		if _, err := EncodeFile(0, tc.encrypted, tc.data); !errors.Is(err, tc.want) {
			t.Errorf("len %d enc %v: %v, want %v", len(tc.data), tc.encrypted, err, tc.want)
		}
	}
	if _, err := EncodeEncryptedFile(0, [16]byte{}, nil); !errors.Is(err, ErrShort) {
		t.Errorf("encrypted empty: %v", err)
	}
	if _, err := EncodeFile(0, false, make([]byte, MaxFileSize)); err != nil {
		t.Errorf("max size: %v", err)
	}
}

func TestSourceFragment(t *testing.T) {
	src := mustSource(t, 1, []byte(vectorFile))
	for _, tc := range []struct {
		sid, sctr uint8
		mp        int
		want      error
		k         int
	}{
		{0, 1, 10, ErrShort, 0},
		{0, 1, 11, nil, 1},
		{0, 1, 100, nil, 12},
		{0, 1, 242, nil, 12}, // the device caps the fragment at 100 bytes
		{4, 1, 51, ErrRange, 0},
		{0, 16, 51, ErrRange, 0},
	} {
		fr, err := src.Fragment(tc.sid, tc.sctr, 1, tc.mp)
		if !errors.Is(err, tc.want) {
			t.Errorf("%+v: err %v", tc, err)
			continue
		}
		if err == nil && len(fr) != 3+8*tc.k {
			t.Errorf("%+v: %d bytes", tc, len(fr))
		}
	}
}

func TestPersistence(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, size := range []int{18, 700, MaxFileSize} {
		data := randBytes(r, size)
		src := mustSource(t, 2, data)
		cct := src.ChunkCount()
		ups := deviceUplinks(t, src, 3, r.Uint32(), 100, 4)

		// Pipeline style: restore, add, store at every uplink.
		state, err := NewSession(0, 3, cct).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		done := false
		for i, u := range ups {
			s, err := UnmarshalSession(state)
			if err != nil {
				t.Fatalf("size %d uplink %d: %v", size, i, err)
			}
			if s.SID() != 0 || s.Sctr() != 3 || s.ChunkCount() != cct {
				t.Fatalf("restored (%d, %d, %d)", s.SID(), s.Sctr(), s.ChunkCount())
			}
			f, _ := ParseFragment(u.frame[1:])
			d, err := s.Add(u.fcnt, f)
			if err != nil {
				t.Fatal(err)
			}
			if done && !d {
				t.Fatalf("size %d: done went back to false", size)
			}
			done = d
			if state, err = s.MarshalBinary(); err != nil {
				t.Fatal(err)
			}
			if !done && len(state) >= 4+8*cct+8*(i+1) {
				t.Fatalf("size %d: collecting state of %d bytes", size, len(state))
			}
			again, err := UnmarshalSession(state)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := again.MarshalBinary()
			if !bytes.Equal(b2, state) {
				t.Fatalf("size %d: marshal not stable", size)
			}
		}
		if !done {
			t.Fatalf("size %d: incomplete", size)
		}
		if len(state) != 4+8*cct {
			t.Fatalf("size %d: solved state %d bytes, want %d", size, len(state), 4+8*cct)
		}
		s, err := UnmarshalSession(state)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.File()
		if err != nil || !bytes.Equal(f.Data, data) {
			t.Fatalf("size %d: %v", size, err)
		}
		fr, _ := ParseFragment(ups[0].frame[1:])
		if d, err := s.Add(ups[0].fcnt, fr); !d || err != nil {
			t.Fatalf("Add after done: %v %v", d, err)
		}

		// Mid-session split with the basis already built on one side.
		half := NewSession(0, 3, cct)
		n := 0
		for _, u := range ups {
			f, _ := ParseFragment(u.frame[1:])
			half.Add(u.fcnt, f)
			n++
			if half.Rank() >= cct/2 {
				break
			}
		}
		b, err := half.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("size %d (cct %d): half-complete session %d bytes, rank %d", size, cct, len(b), half.Rank())
		rest, err := UnmarshalSession(b)
		if err != nil {
			t.Fatal(err)
		}
		if rest.Rank() != half.Rank() {
			t.Fatalf("restored rank %d, want %d", rest.Rank(), half.Rank())
		}
		if _, ok := feed(t, rest, ups[n:]); !ok {
			t.Fatalf("size %d: incomplete after restore", size)
		}
		if f, err := rest.File(); err != nil || !bytes.Equal(f.Data, data) {
			t.Fatalf("size %d after restore: %v", size, err)
		}
	}
}

func TestUnmarshalSessionErrors(t *testing.T) {
	valid := func() []byte {
		s := NewSession(0, 1, 4)
		s.Add(5, vectorFragment(t, 5, 27))
		b, _ := s.MarshalBinary()
		return b
	}()
	dup := append(append([]byte(nil), valid...), valid[4:]...)
	for _, tc := range []struct {
		name  string
		in    []byte
		field string
		want  error
	}{
		{"empty", nil, "header", ErrShort},
		{"version", []byte{2, 3, 4, 0}, "version", ErrVersion},
		{"state", []byte{1, 3, 4, 7}, "state", ErrRange},
		{"solved short", []byte{1, 3, 4, 1, 0}, "stream", ErrShort},
		{"record short", append(append([]byte(nil), valid...), 1, 2, 3), "record", ErrShort},
		{"zero mask", []byte{1, 3, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0}, "mask", ErrRange},
		{"chunks short", valid[:len(valid)-1], "chunks", ErrShort},
		{"too many", dup, "chunks", ErrTooLarge},
	} {
		_, err := UnmarshalSession(tc.in)
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != tc.field || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want field %s / %v", tc.name, err, tc.field, tc.want)
		}
	}
	// Duplicate fcnt in a state that is otherwise small enough.
	s := NewSession(0, 1, 100)
	s.recs = []record{{5, 1, []uint64{1}}, {5, 1, []uint64{2}}}
	s.nstored = 2
	b, _ := s.MarshalBinary()
	if _, err := UnmarshalSession(b); !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), "fcnt") {
		t.Errorf("duplicate fcnt: %v", err)
	}
}

func TestHashMismatch(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	data := randBytes(r, 200)
	for _, tc := range []struct {
		name  string
		chunk int
		flip  uint64
		enc   bool
	}{
		{"data", 5, 1 << 9, false},
		{"hash", 0, 1 << 40, false},
		{"hash tail", 1, 1 << 3, false},
		{"encrypted data", 7, 1, true},
	} {
		var src *Source
		if tc.enc {
			src, _ = EncodeEncryptedFile(9, [16]byte{1}, data)
		} else {
			src = mustSource(t, 9, data)
		}
		src.chunks[tc.chunk] ^= tc.flip // the device's stream itself is wrong
		s := NewSession(0, 0, src.ChunkCount())
		if _, done := feed(t, s, deviceUplinks(t, src, 0, 77, 100, 8)); !done {
			t.Fatal("incomplete")
		}
		f, err := s.File()
		if !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("%s: err %v", tc.name, err)
		}
		if f == nil || f.Data != nil || f.Port != 9 || f.Encrypted != tc.enc || len(f.Hash) == 0 {
			t.Fatalf("%s: file %+v", tc.name, f)
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(h []byte)
		field string
		want  error
	}{
		{"encryption flag", func(h []byte) { h[1] = 2 }, "encryption", ErrRange},
		{"length zero", func(h []byte) { h[2], h[3] = 0, 0 }, "length", ErrRange},
		{"length mismatch", func(h []byte) { h[2] += 8 }, "length", ErrRange},
		{"length too large", func(h []byte) { h[2], h[3] = 0xff, 0xff }, "length", ErrTooLarge},
	} {
		src := mustSource(t, 1, []byte(vectorFile))
		var h [8]byte
		for i := range h {
			h[i] = byte(src.chunks[0] >> (8 * i))
		}
		tc.mod(h[:])
		src.chunks[0] = 0
		for i := range h {
			src.chunks[0] |= uint64(h[i]) << (8 * i)
		}
		s := NewSession(0, 1, 4)
		if _, done := feed(t, s, deviceUplinks(t, src, 1, 5, 51, 0)); !done {
			t.Fatal("incomplete")
		}
		_, err := s.File()
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != tc.field || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestSessionMismatch(t *testing.T) {
	f := vectorFragment(t, 5, 51)
	for _, s := range []*Session{NewSession(1, 1, 4), NewSession(0, 2, 4), NewSession(0, 1, 5)} {
		if _, err := s.Add(5, f); !errors.Is(err, ErrSessionMismatch) {
			t.Errorf("%d/%d/%d: %v", s.SID(), s.Sctr(), s.ChunkCount(), err)
		}
		if s.Rank() != 0 {
			t.Errorf("rank %d after mismatch", s.Rank())
		}
	}
	s := NewSession(0, 1, 4)
	if done, err := s.Add(5, f); !done || err != nil {
		t.Fatal(done, err)
	}
	other := f
	other.Sctr = 2
	if done, err := s.Add(6, other); !done || !errors.Is(err, ErrSessionMismatch) {
		t.Errorf("mismatch after done: %v %v", done, err)
	}
	bad := f
	bad.Chunks = nil
	if _, err := s.Add(6, bad); !errors.Is(err, ErrShort) {
		t.Errorf("no chunks: %v", err)
	}
	if _, err := NewSession(0, 1, 4).File(); !errors.Is(err, ErrIncomplete) {
		t.Errorf("empty session File: %v", err)
	}
	inv := NewSession(4, 1, 4)
	if _, err := inv.MarshalBinary(); !errors.Is(err, ErrRange) {
		t.Errorf("invalid session marshal: %v", err)
	}
	if _, err := inv.Add(1, Fragment{SID: 4, Sctr: 1, ChunkCount: 4, Chunks: []uint64{1}}); !errors.Is(err, ErrRange) {
		t.Errorf("invalid fragment: %v", err)
	}
}

func TestDuplicateFcnt(t *testing.T) {
	s := NewSession(0, 1, 4)
	f := vectorFragment(t, 5, 27)
	s.Add(5, f)
	before, _ := s.MarshalBinary()
	if done, err := s.Add(5, f); done || err != nil {
		t.Fatal(done, err)
	}
	after, _ := s.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatalf("duplicate stored: %x → %x", before, after)
	}
}

// TestZeroCoefficientsSkipped finds uplinks whose chunks have all-zero
// coefficient rows for a tiny cct and checks they are not stored.
func TestZeroCoefficientsSkipped(t *testing.T) {
	const cct = 2
	src := mustSource(t, 0, []byte{1, 2, 3})
	found := false
	for fcnt := uint32(0); fcnt < 1000 && !found; fcnt++ {
		row := make([]uint64, 1)
		if coefficients(row, chunkID(fcnt, 0), cct) {
			continue
		}
		found = true
		fr, _ := src.Fragment(0, 0, fcnt, 11)
		f, _ := ParseFragment(fr[1:])
		if f.Chunks[0] != 0 {
			t.Fatalf("fcnt %d: zero row but chunk %x", fcnt, f.Chunks[0])
		}
		s := NewSession(0, 0, cct)
		s.Add(fcnt, f)
		if b, _ := s.MarshalBinary(); len(b) != 4 || s.Rank() != 0 {
			t.Fatalf("zero chunk stored: %x", b)
		}
	}
	if !found {
		t.Fatal("no all-zero row among 1000 uplinks")
	}
}
