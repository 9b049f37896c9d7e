package modemproto

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTagNames(t *testing.T) {
	want := map[Tag]string{
		TagStatus: "status", TagCharge: "charge", TagVoltage: "voltage", TagTemp: "temp", TagSignal: "signal",
		TagUptime: "uptime", TagRxTime: "rxtime", TagFirmware: "firmware", TagADRMode: "adrmode",
		TagJoinEUI: "joineui", TagInterval: "interval", TagRegion: "region", TagOpMode: "opmode",
		TagCrashLog: "crashlog", TagUpload: "upload", TagRstCount: "rstcount", TagDevEUI: "deveui",
		TagRFU: "rfu", TagSession: "session", TagChipEUI: "chipeui", TagStream: "stream",
		TagStreamPar: "streampar", TagAppStatus: "appstatus", TagALCSync: "alcsync",
		TagAlmanacStatus: "almstatus", TagDebugResponse: "dbgrsp", TagGNSSLoc: "gnssloc", TagWiFiLoc: "wifiloc",
	}
	if len(want) != numTags {
		t.Fatalf("table has %d tags", len(want))
	}
	for tag, name := range want {
		if got := tag.String(); got != name {
			t.Errorf("%#x.String() = %q, want %q", uint8(tag), got, name)
		}
		if got, ok := ParseTagName(name); !ok || got != tag {
			t.Errorf("ParseTagName(%q) = %v, %v", name, got, ok)
		}
	}
	for name, tag := range map[string]Tag{"TEMP": TagTemp, "owncnt": TagRFU, "factrst": TagRFU} {
		if got, ok := ParseTagName(name); !ok || got != tag {
			t.Errorf("ParseTagName(%q) = %v, %v", name, got, ok)
		}
	}
	for _, bad := range []string{"", "foo", "tag(0x1c)"} {
		if _, ok := ParseTagName(bad); ok {
			t.Errorf("ParseTagName(%q) accepted", bad)
		}
	}
	if got := Tag(0x1c).String(); got != "tag(0x1c)" {
		t.Errorf("unknown tag String = %q", got)
	}
	// cloud-api.md §6: the GETINFO field names of seed 003 and the Node-RED
	// "update all" list all parse and are all allowed in GETINFO.
	for _, n := range []string{"status", "charge", "voltage", "temp", "signal", "uptime", "rxtime", "firmware",
		"adrmode", "joineui", "interval", "region", "crashlog", "rstcount", "deveui", "session", "chipeui", "appstatus"} {
		tag, ok := ParseTagName(n)
		if !ok || !tag.GetInfoAllowed() {
			t.Errorf("GETINFO name %q: tag %v ok %v allowed %v", n, tag, ok, tag.GetInfoAllowed())
		}
	}
}

func TestTagSizesAndRules(t *testing.T) {
	fixed := map[Tag]int{0x00: 1, 0x01: 2, 0x02: 1, 0x03: 1, 0x04: 2, 0x05: 2, 0x06: 2, 0x07: 8, 0x08: 1, 0x09: 8,
		0x0A: 1, 0x0B: 1, 0x0C: 4, 0x0F: 2, 0x10: 8, 0x11: 2, 0x12: 2, 0x13: 8, 0x15: 2, 0x16: 8, 0x18: 7}
	variable := []Tag{0x0D, 0x0E, 0x14, 0x17, 0x19, 0x1A, 0x1B}
	for tag, n := range fixed {
		if got, v := tag.Size(); got != n || v {
			t.Errorf("%v.Size() = %d, %v; want %d", tag, got, v, n)
		}
	}
	for _, tag := range variable {
		if _, v := tag.Size(); !v {
			t.Errorf("%v.Size() not variable", tag)
		}
	}
	if n, v := Tag(0x1c).Size(); n != 0 || v || Tag(0x1c).Known() {
		t.Errorf("0x1c: size %d variable %v", n, v)
	}

	var getInfo, setDMInfo, setConf []Tag
	for i := range 256 {
		tag := Tag(i)
		if tag.GetInfoAllowed() {
			getInfo = append(getInfo, tag)
		}
		if tag.SetDMInfoAllowed() {
			setDMInfo = append(setDMInfo, tag)
		}
		if tag.SetConfAllowed() {
			setConf = append(setConf, tag)
		}
	}
	wantGetInfo := []Tag{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0A, 0x0B, 0x0D, 0x0F, 0x10, 0x12, 0x13, 0x15, 0x16}
	if diff := cmp.Diff(wantGetInfo, getInfo); diff != "" {
		t.Errorf("GETINFO-allowed tags (-want +got):\n%s", diff)
	}
	wantSetDMInfo := []Tag{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0A, 0x0B, 0x0F, 0x10, 0x12, 0x13, 0x15, 0x16}
	if diff := cmp.Diff(wantSetDMInfo, setDMInfo); diff != "" {
		t.Errorf("SET_DM_INFO-allowed tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Tag{8, 9, 0x0A, 0x0B}, setConf); diff != "" {
		t.Errorf("SETCONF-allowed tags (-want +got):\n%s", diff)
	}
}

func TestTagSet(t *testing.T) {
	var s TagSet
	if s.Tags() != nil || s.Len() != 0 || s.String() != "{}" {
		t.Errorf("empty set: %v %d %q", s.Tags(), s.Len(), s)
	}
	s = s.Add(TagSession).Add(TagStatus).Add(TagTemp).Add(TagTemp).Add(200)
	if !s.Has(TagStatus) || !s.Has(TagSession) || s.Has(TagCharge) || s.Has(200) {
		t.Errorf("Has wrong for %b", s)
	}
	if diff := cmp.Diff([]Tag{TagStatus, TagTemp, TagSession}, s.Tags()); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	if s.Len() != 3 || s.String() != "{status,temp,session}" {
		t.Errorf("Len %d String %q", s.Len(), s)
	}
	if s = s.Remove(TagTemp); s != TagSetOf(TagStatus, TagSession) {
		t.Errorf("Remove: %v", s)
	}
	if TagSetOf(63).Tags()[0] != 63 {
		t.Error("bit 63")
	}
}

func TestStatusByte(t *testing.T) {
	for i := range 256 {
		if got := StatusFromByte(uint8(i)).Byte(); got != uint8(i) {
			t.Fatalf("StatusFromByte(%#x).Byte() = %#x", i, got)
		}
	}
	if (Status{Joined: true}).Byte() != 0x08 || (Status{Stream: true}).Byte() != 0x80 || (Status{Brownout: true}).Byte() != 0x01 {
		t.Error("bit positions")
	}
}

func TestInterval(t *testing.T) {
	tests := []struct {
		iv   Interval
		d    time.Duration
		s    string
		unit IntervalUnit
	}{
		{0x81, time.Hour, "1h", IntervalHours},           // LBM default
		{0xC2, 2 * time.Minute, "2m", IntervalMinutes},   // §3.3 SETCONF example (3<<6 | 2)
		{0x1E, 30 * time.Second, "30s", IntervalSeconds}, // unit 0 = seconds
		{0x43, 3 * 24 * time.Hour, "3d", IntervalDays},   // unit 1 = days
		{0x00, 0, "disabled", IntervalSeconds},           // value 0 disables
		{0x80, 0, "disabled", IntervalHours},             // in any unit
		{0xFF, 63 * time.Minute, "63m", IntervalMinutes},
		{0x7F, 63 * 24 * time.Hour, "63d", IntervalDays},
		{0xBF, 63 * time.Hour, "63h", IntervalHours},
		{0x01, time.Second, "1s", IntervalSeconds},
	}
	for _, tc := range tests {
		if got := tc.iv.Duration(); got != tc.d {
			t.Errorf("%#x.Duration() = %v, want %v", uint8(tc.iv), got, tc.d)
		}
		if got := tc.iv.String(); got != tc.s {
			t.Errorf("%#x.String() = %q, want %q", uint8(tc.iv), got, tc.s)
		}
		if tc.iv.Unit() != tc.unit {
			t.Errorf("%#x.Unit() = %d", uint8(tc.iv), tc.iv.Unit())
		}
		if tc.iv.Value() != 0 {
			iv, err := NewInterval(tc.unit, tc.iv.Value())
			if err != nil || iv != tc.iv {
				t.Errorf("NewInterval(%d, %d) = %#x, %v", tc.unit, tc.iv.Value(), uint8(iv), err)
			}
		}
	}
	if _, err := NewInterval(IntervalHours, 64); err == nil {
		t.Error("NewInterval accepted value 64")
	}
	if _, err := NewInterval(4, 1); err == nil {
		t.Error("NewInterval accepted unit 4")
	}
	from := []struct {
		d    time.Duration
		want Interval
		ok   bool
	}{
		{0, 0, true},
		{time.Hour, 0xFC, true}, // 60 minutes: minutes before hours
		{2 * time.Minute, 0xC2, true},
		{90 * time.Minute, 0, false}, // 90 min > 63, not whole hours
		{3 * time.Hour, 0x83, true},
		{2 * 24 * time.Hour, 0xB0, true}, // 48 hours before 2 days
		{64 * 24 * time.Hour, 0, false},
		{1500 * time.Millisecond, 0, false},
		{-time.Second, 0, false},
		{45 * time.Second, 0x2D, true},
		{10 * 24 * time.Hour, 0x4A, true},
	}
	for _, tc := range from {
		got, ok := IntervalFromDuration(tc.d)
		if got != tc.want || ok != tc.ok {
			t.Errorf("IntervalFromDuration(%v) = %#x, %v; want %#x, %v", tc.d, uint8(got), ok, uint8(tc.want), tc.ok)
		}
		if ok && got.Duration() != tc.d {
			t.Errorf("IntervalFromDuration(%v) does not round-trip: %v", tc.d, got.Duration())
		}
	}
}
