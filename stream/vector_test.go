package stream

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// §5.8 test vector.
var (
	vecRecords = []string{"414243a0", "48656c6c6f", "0102030405060708", "11223344"}
	vecStream  = "a4414243a1a0 a648656c6c6fa0 a90102030405060708a0 a511223344a0"
	vecOffsets = []uint32{0, 6, 13, 23}
	vecFrames  = []struct {
		fcnt uint32
		hex  string
	}{
		{10, "8e0000a4414243a1a0a648656c6c6fa0a9000000"},
		{11, "010e0001e08601ca49a30f80674d8be46ba2c9e5"},
		{12, "0e0f0002030405060708a0a511223344a00ace"},
	}
)

func vecRecordData(t testing.TB) [][]byte {
	var out [][]byte
	for _, r := range vecRecords {
		out = append(out, mustHex(t, r))
	}
	return out
}

func TestVectorStreamOctets(t *testing.T) {
	var got []byte
	for _, r := range vecRecordData(t) {
		var err error
		if got, err = AppendRecord(got, r); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(mustHex(t, vecStream), got); diff != "" {
		t.Errorf("stream octets (-want +got):\n%s", diff)
	}
}

func TestVectorEncoderFrames(t *testing.T) {
	e := NewEncoder(16, 110, DefaultPCTXInterval)
	for _, r := range vecRecordData(t) {
		if err := e.AddRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range vecFrames {
		got, ok, err := e.NextFrame(f.fcnt, 20)
		if err != nil || !ok {
			t.Fatalf("fcnt %d: ok=%v err=%v", f.fcnt, ok, err)
		}
		if diff := cmp.Diff(mustHex(t, f.hex), got); diff != "" {
			t.Errorf("fcnt %d frame (-want +got):\n%s", f.fcnt, diff)
		}
	}
	if e.Busy() {
		t.Errorf("encoder still busy after the three frames")
	}
}

func vecFrame(t testing.TB, fcnt uint32) []byte {
	for _, f := range vecFrames {
		if f.fcnt == fcnt {
			return mustHex(t, f.hex)
		}
	}
	t.Fatalf("no frame %d", fcnt)
	return nil
}

func wantRecords(t testing.TB, idx ...int) []Record {
	data := vecRecordData(t)
	var out []Record
	for _, i := range idx {
		out = append(out, Record{Offset: vecOffsets[i], Data: data[i]})
	}
	return out
}

func TestVectorDecoder(t *testing.T) {
	tests := []struct {
		name      string
		fcnts     []uint32
		want      []Record // records after all frames
		wantLost  int      // octets lost after all frames
		flush     []Record // records completed by Flush
		flushLost int
		recovered uint64 // octets recovered from redundancy
	}{
		{name: "all", fcnts: []uint32{10, 11, 12}, want: wantRecords(t, 0, 1, 2, 3)},
		// Frame 12 first: offset 14 is recovered before frame 11 delivers it.
		{name: "reordered", fcnts: []uint32{10, 12, 11}, want: wantRecords(t, 0, 1, 2, 3), recovered: 1},
		// Offset 14 is in the set of redundancy octet 0 or 1 of frame 12, so it is recovered.
		{name: "drop 11", fcnts: []uint32{10, 12}, want: wantRecords(t, 0, 1, 2, 3), recovered: 1},
		// Octets 15..28 never arrive; the third record stays incomplete, nothing is lost yet.
		{name: "drop 12", fcnts: []uint32{10, 11}, want: wantRecords(t, 0, 1)},
		// Without the context frame the WL is unknown: systematic octets are used, redundancy
		// waits in the backlog and offsets 0..13 stay pending. Flush declares them lost; the
		// decoder resynchronises on the terminator at 22 and finds the last record.
		{name: "drop 10", fcnts: []uint32{11, 12}, flush: wantRecords(t, 3), flushLost: 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			var got []Record
			lost := 0
			for _, f := range tc.fcnts {
				recs, l, err := d.Add(f, vecFrame(t, f))
				if err != nil {
					t.Fatalf("Add(%d): %v", f, err)
				}
				got = append(got, recs...)
				lost += l
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if lost != tc.wantLost {
				t.Errorf("lost = %d, want %d", lost, tc.wantLost)
			}
			recs, l := d.Flush()
			if diff := cmp.Diff(tc.flush, recs); diff != "" {
				t.Errorf("flush records (-want +got):\n%s", diff)
			}
			if l != tc.flushLost {
				t.Errorf("flush lost = %d, want %d", l, tc.flushLost)
			}
			if st := d.Status(); st.Recovered != tc.recovered || st.Inconsistent != 0 || st.WL != 16 && tc.name != "drop 10" {
				t.Errorf("status %+v, want %d recovered", st, tc.recovered)
			}
		})
	}
}
