package modemproto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeUplink: DecodeUplink never panics and always returns an uplink;
// whatever it decoded (even before an error) re-encodes, decodes again to
// the same value, and the re-encoding is a fixed point.
func FuzzDecodeUplink(f *testing.F) {
	for _, row := range uplinkRows {
		f.Add(mustHex(f, row.Bytes))
	}
	f.Add(mustHex(f, capturedHex))
	f.Add(mustHex(f, "00 08 01 0000 03 19 04 0E1C 05 00"))
	f.Add(mustHex(f, "0F 0300 00 08 1C"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeUplink(b)
		if u == nil {
			t.Fatal("nil uplink")
		}
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error %T is not a *DecodeError", err)
		}
		enc, err := u.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode of %+v: %v", u, err)
		}
		u2, err := DecodeUplink(enc)
		if err != nil {
			t.Fatalf("decode of re-encoding % x: %v", enc, err)
		}
		if diff := cmp.Diff(u, u2, uplinkCmp); diff != "" {
			t.Fatalf("decode→encode→decode changed the uplink:\n%s", diff)
		}
		enc2, err := u2.AppendBinary(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x vs % x (%v)", enc, enc2, err)
		}
	})
}

// FuzzDecodeDownlink: DecodeDownlink never panics; an accepted downlink
// re-encodes to exactly the input bytes and decodes to the same value.
func FuzzDecodeDownlink(f *testing.F) {
	for _, row := range downlinkRows {
		f.Add(mustHex(f, row.Bytes))
	}
	f.Add(mustHex(f, "00 00 03 03 04 0C"))
	f.Add(mustHex(f, "00 00 04 0A C2 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDownlink(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || d.Command != nil {
				t.Fatalf("error %v (%T) with command %v", err, err, d.Command)
			}
			return
		}
		enc, err := d.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode of %v: %v", d, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding % x differs from input % x", enc, b)
		}
		d2, err := DecodeDownlink(enc)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, d2); diff != "" {
			t.Fatalf("decode→encode→decode changed the downlink:\n%s", diff)
		}
	})
}

// FuzzALC decodes the input in both directions; the commands decoded (even
// before an error) re-encode and decode to the same values.
func FuzzALC(f *testing.F) {
	for _, row := range alcUplinkRows {
		f.Add(mustHex(f, row.Bytes))
	}
	for _, row := range alcDownlinkRows {
		f.Add(mustHex(f, row.Bytes))
	}
	f.Add(mustHex(f, "01 B2872C51 FF 02 FE 00000000 07"))
	type codec struct {
		name   string
		decode func([]byte) ([]any, error)
		encode func([]byte, ...any) ([]byte, error)
	}
	codecs := []codec{
		{"uplink", DecodeALCUplink, AppendALCUplink},
		{"downlink", DecodeALCDownlink, AppendALCDownlink},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range codecs {
			cmds, err := c.decode(b)
			var de *DecodeError
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("%s: error %T is not a *DecodeError", c.name, err)
			}
			enc, err := c.encode(nil, cmds...)
			if err != nil {
				t.Fatalf("%s: re-encode of %v: %v", c.name, cmds, err)
			}
			cmds2, err := c.decode(enc)
			if err != nil {
				t.Fatalf("%s: decode of re-encoding: %v", c.name, err)
			}
			if diff := cmp.Diff(cmds, cmds2); diff != "" {
				t.Fatalf("%s: decode→encode→decode changed the commands:\n%s", c.name, diff)
			}
		}
	})
}
