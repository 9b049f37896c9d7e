package filesvc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

func FuzzParseFragment(f *testing.F) {
	for _, v := range lfuVectors {
		f.Add(mustHex(f, v.hex)[1:])
	}
	for _, row := range fragmentRows {
		f.Add(row.in)
	}
	f.Add([]byte{})
	f.Add([]byte{3, 4, 1})
	f.Add(make([]byte, 2+8*(MaxFragmentChunks+1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		frag, err := ParseFragment(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		out, err := frag.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip %x → %x", b, out)
		}
		again, err := ParseFragment(out)
		if err != nil || again.SID != frag.SID || again.Sctr != frag.Sctr || again.ChunkCount != frag.ChunkCount ||
			len(again.Chunks) != len(frag.Chunks) {
			t.Fatalf("second decode %+v %v", again, err)
		}
	})
}

func FuzzUnmarshalSession(f *testing.F) {
	s := NewSession(0, 1, 4)
	b, _ := s.MarshalBinary()
	f.Add(b)
	s.Add(5, vectorFragment(f, 5, 27))
	b, _ = s.MarshalBinary()
	f.Add(b)
	s.Add(7, vectorFragment(f, 7, 27))
	b, _ = s.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 3, 4, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSession(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		out, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip %x → %x (%v)", b, out, err)
		}
		rank := s.Rank()
		if rank < 0 || rank > s.ChunkCount() {
			t.Fatalf("rank %d of %d", rank, s.ChunkCount())
		}
		file, err := s.File()
		checkFile(t, file, err)
		if rank < s.ChunkCount() && !errors.Is(err, ErrIncomplete) {
			t.Fatalf("rank %d/%d but File err %v", rank, s.ChunkCount(), err)
		}
	})
}

// checkFile fails unless a File returned without error verifies against its
// own header hash, and a hash mismatch comes with Data == nil.
func checkFile(t *testing.T, f *File, err error) {
	t.Helper()
	switch {
	case err == nil:
		if f == nil || f.Data == nil {
			t.Fatalf("nil file or data without error")
		}
		sum := sha256.Sum256(f.Data)
		want := sum[:8]
		if f.Encrypted {
			want = sum[:4]
			if len(f.PlainHash) != 4 {
				t.Fatalf("encrypted file with plain hash %x", f.PlainHash)
			}
		}
		if !bytes.Equal(f.Hash, want) {
			t.Fatalf("file returned without error but hash %x, SHA-256 %x", f.Hash, sum[:8])
		}
		if len(f.Data) == 0 || len(f.Data) > MaxFileSize {
			t.Fatalf("file of %d bytes", len(f.Data))
		}
	case errors.Is(err, ErrHashMismatch):
		if f == nil || f.Data != nil {
			t.Fatalf("hash mismatch with file %+v", f)
		}
	case errors.Is(err, ErrIncomplete):
	default:
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("unexpected error %v", err)
		}
	}
}

// FuzzReassemble runs two feeds over one input.
//
// Raw: data, split into pieces at the lengths given by plan, is a sequence
// of fragments (the bytes after the 0x0E tag) with frame counters from
// fcnt0; the session is stored and restored between uplinks where plan says.
//
// Device: data is a file; its device uplinks from fcnt0 are dropped,
// duplicated, corrupted and stored/restored as plan says.
//
// Neither may panic or return a File without error whose hash does not
// verify; the device feed, when nothing was corrupted and the rank is full,
// must return the file.
func FuzzReassemble(f *testing.F) {
	var all []byte
	var plan []byte
	for _, v := range lfuVectors[3:] {
		b := mustHex(f, v.hex)[1:]
		all = append(all, b...)
		plan = append(plan, byte(len(b)-2))
	}
	f.Add(all, uint32(5), uint8(27), plan)
	f.Add(mustHex(f, lfuVectors[0].hex)[1:], uint32(5), uint8(51), []byte{0})
	f.Add([]byte(vectorFile), uint32(5), uint8(27), []byte{0x40, 0x81, 0x02})
	f.Add(bytes.Repeat([]byte("0123456789"), 100), uint32(0xfffffff0), uint8(100), []byte{1, 2, 3, 0x85, 0xc6})
	f.Fuzz(func(t *testing.T, data []byte, fcnt0 uint32, maxPayload uint8, plan []byte) {
		fuzzRaw(t, data, fcnt0, plan)
		fuzzDevice(t, data, fcnt0, int(maxPayload), plan)
	})
}

func fuzzRaw(t *testing.T, data []byte, fcnt0 uint32, plan []byte) *File {
	var s *Session
	fcnt := fcnt0
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		var p byte
		if i < len(plan) {
			p = plan[i]
			if p&0x7f != 0 {
				n = min(n, int(p&0x7f)+2)
			}
		}
		piece := data[:n]
		data = data[n:]
		frag, err := ParseFragment(piece)
		if err != nil {
			continue
		}
		if s == nil {
			s = NewSession(frag.SID, frag.Sctr, frag.ChunkCount)
		}
		if _, err := s.Add(fcnt, frag); err != nil && !errors.Is(err, ErrSessionMismatch) {
			t.Fatalf("Add: %v", err)
		}
		fcnt++
		if p&0x80 != 0 {
			s = restore(t, s)
		}
	}
	if s == nil {
		return nil
	}
	file, err := s.File()
	checkFile(t, file, err)
	return file
}

// TestFuzzRawSeed checks that the raw feed of FuzzReassemble's first seed
// (the four 27-byte vectors, one per piece) really reassembles the file.
func TestFuzzRawSeed(t *testing.T) {
	var all, plan []byte
	for _, v := range lfuVectors[3:] {
		b := mustHex(t, v.hex)[1:]
		all = append(all, b...)
		plan = append(plan, byte(len(b)-2)|0x80) // and store/restore after each
	}
	f := fuzzRaw(t, all, 5, plan)
	if f == nil || string(f.Data) != vectorFile {
		t.Fatalf("seed feed gave %+v", f)
	}
}

func fuzzDevice(t *testing.T, data []byte, fcnt0 uint32, maxPayload int, plan []byte) {
	if len(data) == 0 {
		return
	}
	data = data[:min(len(data), 600)] // keep executions fast
	maxPayload = 11 + maxPayload%90
	src, err := EncodeFile(uint8(fcnt0), false, data)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(0, 5, src.ChunkCount())
	corrupted := false
	fcnt := fcnt0
	for i := 0; i < 3 || i*((maxPayload-3)/8) < 3*src.ChunkCount(); i++ {
		fr, err := src.Fragment(0, 5, fcnt, maxPayload)
		if err != nil {
			t.Fatal(err)
		}
		var p byte
		if i < len(plan) {
			p = plan[i]
		}
		switch p & 0x3 {
		case 1: // lost
			fcnt++
			continue
		case 2: // corrupted chunk byte
			pos := 3 + int(p>>2)%(len(fr)-3)
			fr[pos] ^= 1 << (p & 7)
			corrupted = true
		}
		frag, err := ParseFragment(fr[1:])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(fcnt, frag); err != nil {
			t.Fatal(err)
		}
		if p&0x3 == 3 { // duplicate, then store and restore
			if _, err := s.Add(fcnt, frag); err != nil {
				t.Fatal(err)
			}
			s = restore(t, s)
		}
		fcnt++
	}
	file, err := s.File()
	checkFile(t, file, err)
	if err == nil && !bytes.Equal(file.Data, data) {
		t.Fatalf("file verified but differs from the upload")
	}
	if !corrupted && s.Rank() == src.ChunkCount() && err != nil {
		t.Fatalf("clean full-rank upload: %v", err)
	}
}

func restore(t *testing.T, s *Session) *Session {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r, err := UnmarshalSession(b)
	if err != nil {
		t.Fatalf("restore %x: %v", b, err)
	}
	if r.SID() != s.SID() || r.Sctr() != s.Sctr() || r.ChunkCount() != s.ChunkCount() {
		t.Fatal("restored another session")
	}
	return r
}
