package wifi

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMAC(t *testing.T) {
	want := [6]byte{0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5}
	for _, s := range []string{"a0:b1:c2:d3:e4:f5", "A0-B1-C2-D3-E4-F5", "a0b1c2d3e4f5", "A0:b1:C2:d3:E4:f5"} {
		if got := mac(t, s); got != want {
			t.Errorf("ParseMAC(%q) = %x", s, got)
		}
	}
	for _, s := range []string{"", "a0:b1:c2:d3:e4", "a0:b1-c2:d3:e4:f5", "a0.b1.c2.d3.e4.f5", "g0b1c2d3e4f5", "a0:b1:c2:d3:e4:f5:"} {
		if _, err := ParseMAC(s); !errors.Is(err, ErrMAC) {
			t.Errorf("ParseMAC(%q) err = %v, want ErrMAC", s, err)
		}
	}
	if got := MACString(want); got != "a0:b1:c2:d3:e4:f5" {
		t.Errorf("MACString = %q", got)
	}
	if k := MACKey(want); k != 0xa0b1c2d3e4f5 || MACFromKey(k) != want || MACFromKey(k|0xffff<<48) != want {
		t.Errorf("MACKey = %x", k)
	}
}

func TestLocallyAdministered(t *testing.T) {
	laa := [6]byte{0x02, 1, 2, 3, 4, 5}
	laa2 := [6]byte{0xda, 1, 2, 3, 4, 5} // 0xda = 1101 1010: bit 0x02 set
	uaa := [6]byte{0xa0, 1, 2, 3, 4, 5}
	mcast := [6]byte{0x01, 1, 2, 3, 4, 5}
	for _, tc := range []struct {
		mac  [6]byte
		want bool
	}{{laa, true}, {laa2, true}, {uaa, false}, {mcast, false}} {
		if got := IsLocallyAdministered(tc.mac); got != tc.want {
			t.Errorf("IsLocallyAdministered(%x) = %v", tc.mac, got)
		}
	}
	in := []Observation{{MAC: uaa, RSSI: -50, HasRSSI: true}, {MAC: laa, RSSI: -40, HasRSSI: true}, {MAC: ap2}, {MAC: laa2}}
	orig := append([]Observation(nil), in...)
	kept, dropped := SplitLocallyAdministered(in)
	if d := cmp.Diff([]Observation{in[0], in[2]}, kept); d != "" {
		t.Errorf("kept (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Observation{in[1], in[3]}, dropped); d != "" {
		t.Errorf("dropped (-want +got):\n%s", d)
	}
	if !cmp.Equal(in, orig) {
		t.Error("input modified")
	}
	if _, d := SplitLocallyAdministered(kept); d != nil {
		t.Errorf("dropped = %v, want nil", d)
	}
}

func TestDedup(t *testing.T) {
	in := []Observation{
		{MAC: ap1, RSSI: -80, HasRSSI: true},
		{MAC: ap2, RSSI: -128, HasRSSI: true}, // unusable
		{MAC: ap1, RSSI: -60, HasRSSI: true},
		{MAC: ap2, RSSI: -90, HasRSSI: true},
		{MAC: ap3},
		{MAC: ap1, RSSI: -70, HasRSSI: true},
		{MAC: ap3, RSSI: 127, HasRSSI: true}, // unusable, not better than none
	}
	want := []Observation{
		{MAC: ap1, RSSI: -60, HasRSSI: true},
		{MAC: ap2, RSSI: -90, HasRSSI: true},
		{MAC: ap3},
	}
	if d := cmp.Diff(want, Dedup(in)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestUsableRSSI(t *testing.T) {
	for _, tc := range []struct {
		o    Observation
		want bool
	}{
		{Observation{RSSI: -60, HasRSSI: true}, true},
		{Observation{RSSI: -127, HasRSSI: true}, true},
		{Observation{RSSI: -1, HasRSSI: true}, true},
		{Observation{RSSI: -128, HasRSSI: true}, false}, // 0x80
		{Observation{RSSI: 127, HasRSSI: true}, false},  // 0x7F
		{Observation{RSSI: 0, HasRSSI: true}, false},
		{Observation{RSSI: -60}, false},
	} {
		if got := tc.o.UsableRSSI(); got != tc.want {
			t.Errorf("%+v.UsableRSSI() = %v", tc.o, got)
		}
	}
}
