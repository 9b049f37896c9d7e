package stream

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecoderErrorsLeaveState(t *testing.T) {
	d := NewDecoder()
	if _, _, err := d.Add(10, vecFrame(t, 10)); err != nil {
		t.Fatal(err)
	}
	before, _ := d.MarshalBinary()
	for _, tc := range []struct {
		frame string
		err   error
	}{
		{"", ErrShort},
		{"7f0000", ErrReserved},
		{"850000aa", ErrShort},
		{"ff0200640000000008", ErrUnitSize}, // SINFO with 2-octet units
		{"ff005e6e00000000", ErrShort},
	} {
		_, _, err := d.Add(11, mustHex(t, tc.frame))
		var de *DecodeError
		if !errors.Is(err, tc.err) || !errors.As(err, &de) {
			t.Errorf("Add(%s) err = %v, want %v", tc.frame, err, tc.err)
		}
	}
	after, _ := d.MarshalBinary()
	if string(before) != string(after) {
		t.Error("a rejected frame changed the state")
	}
	// Frame 11 was never accepted, so it is not a duplicate.
	recs, _, err := d.Add(11, vecFrame(t, 11))
	if err != nil || len(recs) != 0 || d.Status().End != 15 {
		t.Errorf("frame 11: %v %v %+v", recs, err, d.Status())
	}
	// A second copy of frame 11 (even a different one) is ignored.
	if _, _, err := d.Add(11, vecFrame(t, 12)); err != nil || d.Status().End != 15 {
		t.Errorf("duplicate counter processed: %+v", d.Status())
	}
}

// A late frame (lower counter) with protocol context does not roll back a newer WL.
func TestDecoderLateContext(t *testing.T) {
	d := NewDecoder()
	sinfo, _ := AppendSInfo(nil, &SInfo{RQAWL: true, WL: 64, RR: 110, PCTXInterval: 8})
	if _, _, err := d.Add(50, sinfo); err != nil {
		t.Fatal(err)
	}
	if c, ok := d.AckCommand(); !ok || c != (Command{AckWL: true, WL: 64}) {
		t.Fatalf("ack %+v %v", c, ok)
	}
	late, _ := AppendSData(nil, &SData{PCTX: true, WL: 512, Sys: []byte{0xA0}})
	if _, _, err := d.Add(48, late); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.WL != 64 || !st.AckWLRequired {
		t.Errorf("status after late frame %+v", st)
	}
	next, _ := AppendSData(nil, &SData{Offset: 1, Sys: []byte{0xA1}})
	if _, _, err := d.Add(51, next); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.WL != 64 || st.AckWLRequired {
		t.Errorf("status after SDATA %+v", st)
	}
}

// A stream longer than 64 KiB: SOFFL wraps and the decoder resolves SOFFH between contexts.
func TestDecoderOffsetWrap(t *testing.T) {
	c := simConfig{wl: 16, rr: 30, pci: 255, maxLen: 242, records: 800, minRec: 80, maxRec: 120, seed: 51}
	sent, frames := simStream(t, c)
	if last := sent[len(sent)-1].Offset; last < 0x10000 {
		t.Fatalf("stream too short: %d", last)
	}
	res := runDecoder(t, NewDecoder(), frames)
	checkSubset(t, sent, res.records)
	if len(res.records) != len(sent) || res.lost != 0 {
		t.Errorf("got %d/%d records, lost %d", len(res.records), len(sent), res.lost)
	}
}

// Octets that no frame can deliver any more are declared lost, counted once, and the decoder
// resynchronises on the next record.
func TestDecoderLossAndResync(t *testing.T) {
	var stream []byte
	var sent []Record
	for i := range 12 {
		r := []byte{byte(i), 0xA0, byte(i), 0xA0}
		sent = append(sent, Record{Offset: uint32(len(stream)), Data: r})
		stream, _ = AppendRecord(stream, r)
	}
	// Hand-made frames without redundancy: offsets 10..19 are never sent.
	mk := func(off int, pctx bool) []byte {
		end := min(off+10, len(stream))
		b, err := AppendSData(nil, &SData{PCTX: pctx, WL: 16, Offset: uint32(off), Sys: stream[off:end]})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	d := NewDecoderConfig(Config{ReorderDepth: -1})
	var got []Record
	lost := 0
	for i, off := range []int{0, 20, 30, 40, 50, 60, 70} {
		recs, l, err := d.Add(uint32(i), mk(off, i == 0))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
		lost += l
	}
	// WL 16: after end 72 everything below 56 is final; 10..19 are lost.
	if lost != 10 {
		t.Errorf("lost %d, want 10", lost)
	}
	recs, l := d.Flush()
	got = append(got, recs...)
	if l != 0 {
		t.Errorf("flush lost %d", l)
	}
	// Records 0 (0..5) and 1 (6..11) survive only partly: 1 is cut by the loss, 2 (12..17) and 3
	// (18..23) touch it, resync happens on the terminator at 23, so 4.. come back.
	want := append([]Record{sent[0]}, sent[4:]...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// A forward jump beyond what can be buffered declares the skipped octets lost at once.
func TestDecoderFastForward(t *testing.T) {
	d := NewDecoder()
	a, _ := AppendSData(nil, &SData{PCTX: true, WL: 512, Sys: []byte{0xA2, 0x01, 0xA0}})
	b, _ := AppendSData(nil, &SData{PCTX: true, WL: 512, Offset: 1 << 24, Sys: []byte{0xA0, 0xA2, 0x02, 0xA0}})
	recs, _, err := d.Add(1, a)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%v %v", recs, err)
	}
	recs, lost, err := d.Add(2, b)
	if err != nil || len(recs) != 0 {
		t.Fatalf("%v %v", recs, err)
	}
	// Everything below the new frame's window is lost now; the window itself (508 octets) is
	// still pending, so the record after the jump waits.
	if lost != 1<<24-511 || len(d.buf) > 1<<13 {
		t.Errorf("lost %d, buffer %d", lost, len(d.buf))
	}
	recs, l2 := d.Flush()
	if l2 != 508 {
		t.Errorf("flush lost %d", l2)
	}
	want := []Record{{Offset: 1<<24 + 1, Data: []byte{0x02}}}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}
