package gnssdata

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/gnssdata/gnsstest"
)

func TestRecordRoundTrip(t *testing.T) {
	raw := gnsstest.New().RINEXNav()
	meta := Import{ID: 7, Name: "brdc.24n", Format: FormatRINEX, Imported: 1.7e9, Size: int64(len(raw)), SHA256: "ab"}
	rec, err := encodeRecord(meta, raw)
	if err != nil {
		t.Fatal(err)
	}
	got, data, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(zr)
	if !bytes.Equal(back, raw) {
		t.Error("file content changed")
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0}, {1, 50, '{'}, {1, 2, '{', '}'}, append([]byte{1, 17}, `{"format":"sp3"}`...)} {
		if _, _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%q) accepted", bad)
		}
	}
}

// FuzzDecodeRecord: stored records never panic the loader, and a decoded
// record re-encodes to one that decodes to the same metadata.
func FuzzDecodeRecord(f *testing.F) {
	rec, _ := encodeRecord(Import{ID: 1, Name: "x", Format: FormatYUMA}, []byte("data"))
	f.Add(rec)
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := encodeRecord(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		m2, _, err := decodeRecord(again)
		if err != nil || !cmp.Equal(m, m2) {
			t.Fatalf("re-encoded record: %+v, %v (was %+v)", m2, err, m)
		}
	})
}

// FuzzParse: any file content is parsed or rejected with ErrFormat or
// ErrTooLarge, never a panic.
func FuzzParse(f *testing.F) {
	fx := gnsstest.New()
	f.Add(fx.RINEXNav())
	f.Add(fx.YUMA())
	f.Add([]byte("\x1f\x8b"))
	f.Add([]byte("******** Week 1\nID: 01\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("f", FormatAuto, b, 1<<20)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FileError", err)
			}
			return
		}
		if len(p.Ephemerides)+len(p.Almanacs) == 0 {
			t.Fatal("parsed without records")
		}
	})
}
