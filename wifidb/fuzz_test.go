package wifidb_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/wifidb"
)

func FuzzDecodeRecord(f *testing.F) {
	f.Add(wifidb.AppendRecord(nil, wifidb.Record{Lat: 52.37, Lon: 4.89, Accuracy: 12.5, Observations: 7, FirstSeen: 1, LastSeen: 2, Source: 5}))
	f.Add(wifidb.AppendRecord(nil, wifidb.Record{Lat: -90, Lon: 180, Accuracy: 10000}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		mac := [6]byte{0, 1, 2, 3, 4, 5}
		r, err := wifidb.DecodeRecord(mac, b)
		if err != nil {
			return
		}
		if r.Validate() != nil || math.IsNaN(r.Accuracy) {
			t.Fatalf("decoded an invalid record %+v", r)
		}
		// decode → encode → decode is stable.
		enc := wifidb.AppendRecord(nil, r)
		r2, err := wifidb.DecodeRecord(mac, enc)
		if err != nil || r2 != r || !bytes.Equal(enc, b[:len(enc)]) && len(b) == len(enc) {
			t.Fatalf("round trip: %+v → %x → %+v %v", r, enc, r2, err)
		}
	})
}

// FuzzImport feeds arbitrary files to every format: never a panic, and
// every data row is accepted or rejected with a reason.
func FuzzImport(f *testing.F) {
	for _, s := range []string{csvFile, wigleFile, `[{"mac":"00:11:22:33:44:55","lat":1,"lon":2}]`,
		"{\"mac\":\"00:11:22:33:44:55\",\"lat\":1,\"lon\":2}\n{x\n", "mac,lat\n", "\"a,\"b\n"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
		f.Add(s, uint8(3))
	}
	db, _, _ := newDB(f)
	formats := []wifidb.Format{wifidb.FormatAuto, wifidb.FormatCSV, wifidb.FormatJSON, wifidb.FormatWiGLE}
	f.Fuzz(func(t *testing.T, s string, fi uint8) {
		st, err := db.Import(context.Background(), strings.NewReader(s), formats[int(fi)%len(formats)], nil)
		if err != nil {
			return
		}
		if st.Rows != st.Accepted+st.RejectedTotal() {
			t.Fatalf("rows %d != accepted %d + rejected %v", st.Rows, st.Accepted, st.Rejected)
		}
		if st.Format != wifidb.FormatWiGLE && st.Created+st.Updated != st.Accepted {
			t.Fatalf("accepted %d but created %d updated %d", st.Accepted, st.Created, st.Updated)
		}
	})
}
