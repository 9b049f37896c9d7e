package stream

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func FuzzParseFrame(f *testing.F) {
	for _, r := range frameRows {
		f.Add(mustHex(f, r.hex))
	}
	for _, v := range vecFrames {
		f.Add(mustHex(f, v.hex))
	}
	f.Add(mustHex(f, capturedFrame)[1:])
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseFrame(b)
		if err != nil {
			return
		}
		var enc []byte
		switch x := v.(type) {
		case *SData:
			enc, err = AppendSData(nil, x)
			if err == nil && string(enc) != string(b) {
				t.Fatalf("SDATA re-encodes as %x, input %x", enc, b)
			}
		case *SInfo:
			enc, err = AppendSInfo(nil, x)
		default:
			t.Fatalf("unexpected %T", v)
		}
		if err != nil {
			t.Fatalf("re-encode %+v: %v", v, err)
		}
		v2, err := ParseFrame(enc)
		if err != nil {
			t.Fatalf("re-parse %x: %v", enc, err)
		}
		if !sameFrame(v, v2) {
			t.Fatalf("unstable: %+v then %+v", v, v2)
		}
	})
}

// sameFrame compares parsed frames (go-cmp is too slow for the fuzzer's hot loop).
func sameFrame(a, b any) bool {
	switch x := a.(type) {
	case *SData:
		y, ok := b.(*SData)
		return ok && x.PCTX == y.PCTX && x.Offset == y.Offset && x.SOFFL == y.SOFFL && x.WL == y.WL &&
			x.SOFFH == y.SOFFH && bytes.Equal(x.Sys, y.Sys) && bytes.Equal(x.Red, y.Red)
	case *SInfo:
		y, ok := b.(*SInfo)
		return ok && *x == *y
	}
	return false
}

func FuzzDecodeCommand(f *testing.F) {
	for _, r := range commandRows {
		f.Add(mustHex(f, r.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		enc, err := c.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", c, err)
		}
		c2, err := DecodeCommand(enc)
		if err != nil || c2 != c {
			t.Fatalf("unstable: %+v -> %x -> %+v, %v", c, enc, c2, err)
		}
	})
}

// FuzzDecoder runs a genuine encoder stream through a fuzz-chosen channel: drops, duplicates,
// swaps, state round trips and, when corrupt is set, byte flips and frames split in two. The
// decoder must never panic; with unmodified frames every record it reports must have been sent,
// at its offset, in order.
func FuzzDecoder(f *testing.F) {
	f.Add(uint64(1), []byte("hello\xa0world, stream"), []byte{0, 0, 8, 0, 9, 0, 10, 0, 13, 0}, false)
	f.Add(uint64(2), []byte("\xa0\xa0\xa0\x00\x01\x02\x03"), []byte{8, 8, 8, 0, 0, 0, 0}, false)
	f.Add(uint64(3), []byte("0123456789abcdef0123456789abcdef"), []byte{11, 0, 12, 0, 13, 8, 0}, true)
	f.Add(uint64(4), []byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, seed uint64, payload, ops []byte, corrupt bool) {
		fuzzDecoder(t, seed, payload, ops, corrupt)
	})
}

func fuzzDecoder(t testing.TB, seed uint64, payload, ops []byte, corrupt bool) {
	{
		wl := []int{16, 40, 64, 512}[seed&3]
		rr := int(seed>>2&0xFF) + 20
		pci := int(seed >> 10 & 15)
		maxLen := 10 + int(seed>>14&0xFF)%233
		e := NewEncoder(wl, rr, pci)
		e.SetLowLatency(seed>>22&1 != 0)
		var sent []Record
		// Records: length-prefixed chunks of the payload (length byte % 32 + 1).
		for p := payload; len(p) > 0; {
			n := min(int(p[0])%32+1, len(p)-1)
			if n <= 0 {
				break
			}
			sent = append(sent, Record{Offset: e.Offset(), Data: p[1 : 1+n]})
			if err := e.AddRecord(p[1 : 1+n]); err != nil {
				t.Fatal(err)
			}
			p = p[1+n:]
		}
		var frames []simFrame
		fcnt := uint32(seed >> 24)
		for e.Busy() && len(frames) < 500 {
			b, ok, err := e.NextFrame(fcnt, maxLen)
			if err != nil || !ok {
				break
			}
			frames = append(frames, simFrame{fcnt, b})
			fcnt++
		}
		d := NewDecoderConfig(Config{ReorderDepth: int(seed>>40&15) - 1})
		var got []Record
		deliver := func(fc uint32, b []byte) {
			recs, _, err := d.Add(fc, b)
			if err != nil && !corrupt {
				t.Fatalf("Add(%d, %x): %v", fc, b, err)
			}
			got = append(got, recs...)
		}
		k := 0
		for i := 0; i < len(frames); i++ {
			op := byte(0)
			if k < len(ops) {
				op = ops[k] % 16
				k++
			}
			fr := frames[i]
			switch {
			case op == 8: // drop
			case op == 9:
				deliver(fr.fcnt, fr.b)
				deliver(fr.fcnt, fr.b)
			case op == 10 && i+1 < len(frames):
				deliver(frames[i+1].fcnt, frames[i+1].b)
				deliver(fr.fcnt, fr.b)
				i++
			case op == 11 && corrupt:
				b := append([]byte(nil), fr.b...)
				if k < len(ops) {
					b[int(ops[k])%len(b)] ^= 1 << (ops[k] & 7)
					k++
				}
				deliver(fr.fcnt, b)
			case op == 12 && corrupt:
				cut := len(fr.b) / 2
				if k < len(ops) {
					cut = int(ops[k]) % (len(fr.b) + 1)
					k++
				}
				deliver(fr.fcnt, fr.b[:cut])
				deliver(fr.fcnt, fr.b[cut:])
			case op == 13:
				st, err := d.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if d, err = UnmarshalDecoder(st); err != nil {
					t.Fatalf("UnmarshalDecoder: %v", err)
				}
				if st2, _ := d.MarshalBinary(); string(st2) != string(st) {
					t.Fatal("state round trip not stable")
				}
				deliver(fr.fcnt, fr.b)
			default:
				deliver(fr.fcnt, fr.b)
			}
		}
		recs, _ := d.Flush()
		got = append(got, recs...)
		if !corrupt {
			checkSubset(t, sent, got)
			if st := d.Status(); st.Inconsistent != 0 {
				t.Fatalf("inconsistent equations on a clean stream: %+v", st)
			}
		}
		if st := d.Status(); st.Pending != 0 {
			t.Fatalf("pending octets after Flush: %+v", st)
		}
	}
}

// FuzzUnmarshalDecoder: arbitrary state blobs never panic; an accepted state is stable and usable.
func FuzzUnmarshalDecoder(f *testing.F) {
	c := simConfig{wl: 64, rr: 110, pci: 3, maxLen: 30, records: 30, minRec: 1, maxRec: 20, seed: 9}
	_, frames := simStream(f, c)
	d := NewDecoder()
	for i, fr := range frames {
		if i%4 == 2 {
			continue
		}
		if _, _, err := d.Add(fr.fcnt, fr.b); err != nil {
			f.Fatal(err)
		}
		if i%3 == 0 {
			st, _ := d.MarshalBinary()
			f.Add(st)
		}
	}
	f.Add([]byte{stateVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalDecoder(b)
		if err != nil {
			return
		}
		st, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := UnmarshalDecoder(st)
		if err != nil {
			t.Fatalf("re-unmarshal: %v", err)
		}
		if st2, _ := d2.MarshalBinary(); string(st2) != string(st) {
			t.Fatal("state not stable")
		}
		// The restored decoder must accept further frames without panicking.
		fc := d.fcntMax
		for _, fr := range frames[len(frames)-5:] {
			fc++
			d.Add(fc, fr.b)
			var tail [4]byte
			copy(tail[:], b[len(b)-min(4, len(b)):])
			d.Add(binary.LittleEndian.Uint32(tail[:]), fr.b)
		}
		d.Flush()
	})
}
