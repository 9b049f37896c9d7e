package stream

import (
	"math/rand/v2"
	"testing"
)

// simFrame is one uplink produced by the simulated device.
type simFrame struct {
	fcnt uint32
	b    []byte
}

type simConfig struct {
	wl, rr, pci int
	maxLen      int
	records     int
	minRec      int
	maxRec      int
	seed        uint64
	tail        bool // low-latency tail so the last octets get redundancy too
}

// simStream builds records and the frames an encoder emits for them, fcnt starting at 1.
func simStream(t testing.TB, c simConfig) (sent []Record, frames []simFrame) {
	t.Helper()
	rng := rand.New(rand.NewPCG(c.seed, 7))
	e := NewEncoder(c.wl, c.rr, c.pci)
	fcnt := uint32(1)
	emit := func() {
		f, ok, err := e.NextFrame(fcnt, c.maxLen)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			frames = append(frames, simFrame{fcnt, f})
			fcnt++
		}
	}
	for range c.records {
		n := c.minRec + rng.IntN(c.maxRec-c.minRec+1)
		data := make([]byte, n)
		for i := range data {
			if rng.IntN(8) == 0 {
				data[i] = recTag // exercise the chain
			} else {
				data[i] = byte(rng.Uint32())
			}
		}
		sent = append(sent, Record{Offset: e.Offset(), Data: data})
		if err := e.AddRecord(data); err != nil {
			t.Fatal(err)
		}
		// The device sends while data is pending; keep a little backlog like a real FIFO.
		for e.Pending() > c.maxLen {
			emit()
		}
	}
	if c.tail {
		e.SetLowLatency(true)
	}
	for e.Busy() {
		emit()
	}
	return sent, frames
}

// checkSubset fails unless got is an in-order subsequence of sent (same offsets and data).
func checkSubset(t testing.TB, sent, got []Record) {
	t.Helper()
	j := 0
	for _, g := range got {
		for j < len(sent) && sent[j].Offset != g.Offset {
			j++
		}
		if j == len(sent) {
			t.Fatalf("record at %d was never sent (or out of order)", g.Offset)
		}
		if string(sent[j].Data) != string(g.Data) {
			t.Fatalf("record at %d: got %x, sent %x", g.Offset, g.Data, sent[j].Data)
		}
		j++
	}
}

type runResult struct {
	records []Record
	lost    int
	dec     *Decoder
}

func runDecoder(t testing.TB, d *Decoder, frames []simFrame) runResult {
	t.Helper()
	var res runResult
	for _, f := range frames {
		recs, l, err := d.Add(f.fcnt, f.b)
		if err != nil {
			t.Fatalf("Add(%d): %v", f.fcnt, err)
		}
		res.records = append(res.records, recs...)
		res.lost += l
	}
	recs, l := d.Flush()
	res.records = append(res.records, recs...)
	res.lost += l
	res.dec = d
	return res
}

func dropFrames(rng *rand.Rand, frames []simFrame, p float64) []simFrame {
	var out []simFrame
	for _, f := range frames {
		if rng.Float64() >= p {
			out = append(out, f)
		}
	}
	return out
}

func TestSimNoLoss(t *testing.T) {
	for _, c := range []simConfig{
		{wl: 16, rr: 110, pci: 8, maxLen: 20, records: 50, minRec: 1, maxRec: 10, seed: 1},
		{wl: 512, rr: 110, pci: 8, maxLen: 50, records: 300, minRec: 1, maxRec: 254, seed: 2},
		{wl: 64, rr: 50, pci: 0, maxLen: 242, records: 300, minRec: 1, maxRec: 40, seed: 3},
		{wl: 1792, rr: 200, pci: 255, maxLen: 100, records: 100, minRec: 100, maxRec: 254, seed: 4},
	} {
		sent, frames := simStream(t, c)
		res := runDecoder(t, NewDecoder(), frames)
		if len(res.records) != len(sent) || res.lost != 0 {
			t.Errorf("wl %d: got %d/%d records, lost %d", c.wl, len(res.records), len(sent), res.lost)
		}
		checkSubset(t, sent, res.records)
		if st := res.dec.Status(); st.Inconsistent != 0 || st.Recovered != 0 {
			t.Errorf("wl %d: status %+v", c.wl, st)
		}
	}
}

// Dropping any single frame (the first one included) is recovered when RR is at least 100 %.
func TestSimDropEachFrame(t *testing.T) {
	c := simConfig{wl: 64, rr: 120, pci: 4, maxLen: 30, records: 40, minRec: 1, maxRec: 20, seed: 5, tail: true}
	sent, frames := simStream(t, c)
	withSys := 0
	for i := range frames {
		fs := append(append([]simFrame(nil), frames[:i]...), frames[i+1:]...)
		res := runDecoder(t, NewDecoder(), fs)
		checkSubset(t, sent, res.records)
		if len(res.records) != len(sent) || res.lost != 0 {
			t.Errorf("drop frame %d (fcnt %d, %d bytes): got %d/%d records, lost %d",
				i, frames[i].fcnt, len(frames[i].b), len(res.records), len(sent), res.lost)
		}
		// Exactly the dropped systematic octets are recovered from redundancy.
		nsys := int(frames[i].b[0] & 0x7F)
		if st := res.dec.Status(); st.Recovered != uint64(nsys) || st.Inconsistent != 0 {
			t.Errorf("drop frame %d: recovered %d of %d octets, status %+v", i, st.Recovered, nsys, st)
		}
		if nsys > 0 {
			withSys++
		}
	}
	if withSys < len(frames)/3 {
		t.Errorf("only %d of %d frames carry systematic octets", withSys, len(frames))
	}
}

func TestSimRandomLoss(t *testing.T) {
	tests := []struct {
		loss float64
		rr   int
	}{
		{0.10, 110}, {0.20, 150}, {0.30, 200},
	}
	for _, tc := range tests {
		for seed := uint64(10); seed < 13; seed++ {
			c := simConfig{wl: 512, rr: tc.rr, pci: 8, maxLen: 51, records: 400, minRec: 1, maxRec: 60, seed: seed, tail: true}
			sent, frames := simStream(t, c)
			rng := rand.New(rand.NewPCG(seed, 99))
			fs := dropFrames(rng, frames, tc.loss)
			if fs[0].fcnt != frames[0].fcnt {
				fs = append([]simFrame{frames[0]}, fs...) // keep the context frame
			}
			res := runDecoder(t, NewDecoder(), fs)
			checkSubset(t, sent, res.records)
			if len(res.records) != len(sent) || res.lost != 0 {
				t.Errorf("loss %.0f%% rr %d seed %d: got %d/%d records, lost %d (%d/%d frames)",
					tc.loss*100, tc.rr, seed, len(res.records), len(sent), res.lost, len(fs), len(frames))
			}
		}
	}
}

// Heavy loss: records may be lost, but every reported record must be genuine and the decoder
// must resynchronise after each loss.
func TestSimHeavyLoss(t *testing.T) {
	c := simConfig{wl: 128, rr: 60, pci: 8, maxLen: 51, records: 600, minRec: 1, maxRec: 30, seed: 21}
	sent, frames := simStream(t, c)
	rng := rand.New(rand.NewPCG(3, 4))
	fs := dropFrames(rng, frames, 0.5)
	res := runDecoder(t, NewDecoder(), fs)
	checkSubset(t, sent, res.records)
	if res.lost == 0 || len(res.records) < len(sent)/10 {
		t.Errorf("got %d/%d records, lost %d", len(res.records), len(sent), res.lost)
	}
	st := res.dec.Status()
	if st.Pending != 0 || st.Inconsistent != 0 {
		t.Errorf("status after flush %+v", st)
	}
	var total int
	for _, r := range sent {
		total += len(r.Data) + 2
	}
	if int(st.End) != total || res.lost > total {
		t.Errorf("end %d lost %d, stream %d octets", st.End, res.lost, total)
	}
}

func TestSimReorder(t *testing.T) {
	c := simConfig{wl: 256, rr: 110, pci: 8, maxLen: 51, records: 300, minRec: 1, maxRec: 40, seed: 31, tail: true}
	sent, frames := simStream(t, c)
	rng := rand.New(rand.NewPCG(5, 6))
	fs := append([]simFrame(nil), frames...)
	// Shuffle within blocks of 4 counters (each frame at most 3 late), keep the first frame.
	for i := 1; i+4 <= len(fs); i += 4 {
		blk := fs[i : i+4]
		rng.Shuffle(len(blk), func(a, b int) { blk[a], blk[b] = blk[b], blk[a] })
	}
	// Also drop 10 % and duplicate some frames.
	var in []simFrame
	for _, f := range fs {
		switch x := rng.Float64(); {
		case x < 0.1:
		case x < 0.15:
			in = append(in, f, f)
		default:
			in = append(in, f)
		}
	}
	res := runDecoder(t, NewDecoder(), in)
	checkSubset(t, sent, res.records)
	if len(res.records) != len(sent) || res.lost != 0 {
		t.Errorf("got %d/%d records, lost %d", len(res.records), len(sent), res.lost)
	}
}

// Marshal and restore the decoder after every frame: the outcome must match an uninterrupted run.
func TestSimMarshalContinue(t *testing.T) {
	c := simConfig{wl: 512, rr: 110, pci: 8, maxLen: 51, records: 200, minRec: 1, maxRec: 60, seed: 41, tail: true}
	sent, frames := simStream(t, c)
	rng := rand.New(rand.NewPCG(7, 8))
	fs := dropFrames(rng, frames, 0.15)
	fs = append([]simFrame{frames[0]}, fs...)
	want := runDecoder(t, NewDecoder(), fs)

	d := NewDecoder()
	var got []Record
	lost, maxState := 0, 0
	for _, f := range fs {
		recs, l, err := d.Add(f.fcnt, f.b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
		lost += l
		st, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		maxState = max(maxState, len(st))
		if d, err = UnmarshalDecoder(st); err != nil {
			t.Fatalf("fcnt %d: %v", f.fcnt, err)
		}
		st2, _ := d.MarshalBinary()
		if string(st) != string(st2) {
			t.Fatalf("fcnt %d: state not stable across a round trip", f.fcnt)
		}
	}
	recs, l := d.Flush()
	got = append(got, recs...)
	lost += l
	checkSubset(t, sent, got)
	if len(got) != len(want.records) || lost != want.lost {
		t.Errorf("with marshal: %d records, %d lost; without: %d, %d", len(got), lost, len(want.records), want.lost)
	}
	t.Logf("largest state %d bytes (WL 512)", maxState)
}
