package lora

import (
	"errors"
	"testing"
	"time"
)

func TestParseEUI64(t *testing.T) {
	want := EUI64{0x00, 0x16, 0xc0, 0x01, 0xf0, 0x00, 0x40, 0x6e}
	for _, s := range []string{"0016c001f000406e", "00-16-C0-01-F0-00-40-6E", "00:16:c0:01:f0:00:40:6e", "0016C001F000406E"} {
		got, err := ParseEUI64(s)
		if err != nil || got != want {
			t.Errorf("ParseEUI64(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0016c001f000406", "0016c001f000406g", "00-16-c0-01-f0-00-40:6e", "00-16-c0-01-f0-00-406e-", "00.16.c0.01.f0.00.40.6e"} {
		if _, err := ParseEUI64(s); !errors.Is(err, ErrInvalidEUI) {
			t.Errorf("ParseEUI64(%q) err = %v; want ErrInvalidEUI", s, err)
		}
	}
	if got := want.String(); got != "00-16-c0-01-f0-00-40-6e" {
		t.Errorf("String = %q", got)
	}
	if got := EUI64FromWire([]byte{0x6e, 0x40, 0x00, 0xf0, 0x01, 0xc0, 0x16, 0x00}); got != want {
		t.Errorf("EUI64FromWire = %v", got)
	}
	r := want.Reversed()
	if EUI64FromWire(r[:]) != want {
		t.Error("Reversed/FromWire do not round-trip")
	}
	if EUI64FromUint64(want.Uint64()) != want {
		t.Error("Uint64 does not round-trip")
	}
}

func FuzzParseEUI64(f *testing.F) {
	f.Add("00-16-C0-01-F0-00-40-6E")
	f.Add("0016c001f000406e")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEUI64(s)
		if err != nil {
			return
		}
		again, err := ParseEUI64(e.String())
		if err != nil || again != e {
			t.Fatalf("round trip %q -> %v -> %v, %v", s, e, again, err)
		}
	})
}

func TestGPSTime(t *testing.T) {
	// modem-protocol.md §7: 0x512C87B2 GPS s = 2023-03-03T10:00:00Z.
	got := GPSToTime(float64(0x512C87B2))
	if want := time.Date(2023, 3, 3, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("GPSToTime = %v, want %v", got, want)
	}
	if g := TimeToGPS(time.Date(2023, 3, 3, 10, 0, 0, 0, time.UTC)); g != float64(0x512C87B2) {
		t.Errorf("TimeToGPS = %v", g)
	}
	// Semtech's host tool: GPS = unix + 18 − 315964800 (valid since 2017).
	u := 1700000000.25
	if g := UnixToGPS(u); g != u+18-315964800 {
		t.Errorf("UnixToGPS = %v", g)
	}
	if back := GPSToUnix(UnixToGPS(u)); back != u {
		t.Errorf("GPSToUnix round trip = %v", back)
	}
	// 2005 (RINEX test data): 13 leap seconds.
	if n := LeapSecondsAt(time.Date(2005, 4, 2, 0, 0, 0, 0, time.UTC)); n != 13 {
		t.Errorf("leap seconds 2005 = %d", n)
	}
}

func BenchmarkParseEUI64(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEUI64("00-16-C0-01-F0-00-40-6E"); err != nil {
			b.Fatal(err)
		}
	}
}
