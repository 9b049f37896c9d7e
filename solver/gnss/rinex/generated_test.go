package rinex

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/gnssdata/gnsstest"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// Tests on the project's generated RINEX 3.04 files (gnsstest.Mixed): a
// mixed navigation file (GPS, BeiDou GEO/IGSO/MEO, and Galileo, GLONASS,
// QZSS, SBAS records to skip) and a mixed observation file. The generator's
// values are rounded to the files' digits, so parsed values must be equal.

func TestParseNav3Generated(t *testing.T) {
	m := gnsstest.NewMixed()
	text := m.RINEXNav()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"LF", text},
		{"CRLF", bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNav(bytes.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if n.Version != 3.04 || n.LeapSeconds != 18 || n.Skipped != m.Skipped || m.Skipped != 9 {
				t.Errorf("header: version %v, leap %d, skipped %d (want %d)", n.Version, n.LeapSeconds, n.Skipped, m.Skipped)
			}
			if n.Iono == nil || *n.Iono != m.Iono {
				t.Errorf("GPSA/GPSB %+v, want %+v", n.Iono, m.Iono)
			}
			if n.IonoBDS == nil || *n.IonoBDS != m.IonoBDS {
				t.Errorf("BDSA/BDSB %+v, want %+v", n.IonoBDS, m.IonoBDS)
			}
			if len(n.Ephemerides) != len(m.Ephemerides) {
				t.Fatalf("%d records, want %d", len(n.Ephemerides), len(m.Ephemerides))
			}
			count := map[orbit.System]int{}
			for i, got := range n.Ephemerides {
				count[got.Sat.Sys]++
				if want := m.Ephemerides[i]; got != want {
					t.Errorf("record %d (%v):\n%s", i, want.Sat, ephDiff(got, want))
				}
			}
			if count[orbit.GPS] != 18 || count[orbit.BeiDou] != 24 {
				t.Errorf("records per system %v", count)
			}
		})
	}
}

// ephDiff lists the fields of two records that differ.
func ephDiff(got, want orbit.Ephemeris) string {
	g, w := strings.Fields(fmt.Sprintf("%+v", got)), strings.Fields(fmt.Sprintf("%+v", want))
	var b strings.Builder
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			fmt.Fprintf(&b, "  got %s, want %s\n", g[i], w[i])
		}
	}
	return b.String()
}

// The BeiDou epochs are written in BDT; parsed times are GPST, 14 s later.
// Checked against the text itself, independently of the generator's values.
func TestParseNav3GeneratedBDT(t *testing.T) {
	m := gnsstest.NewMixed()
	text := string(m.RINEXNav())
	n, err := ParseNav(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var epochs []string // BeiDou epoch fields in file order
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "C") && len(l) > 23 && !strings.Contains(l, "IONOSPHERIC") {
			epochs = append(epochs, l[4:23])
		}
	}
	k := 0
	for _, e := range n.Ephemerides {
		if e.Sat.Sys != orbit.BeiDou {
			continue
		}
		var y, mo, d, h, mi, s int
		if _, err := fmt.Sscanf(epochs[k], "%d %d %d %d %d %d", &y, &mo, &d, &h, &mi, &s); err != nil {
			t.Fatal(err)
		}
		k++
		if bdt := gpsAt(y, mo, d, h, mi, float64(s)); e.Toc-bdt != 14 {
			t.Errorf("%v: Toc %.0f is %.0f s after the BDT epoch written", e.Sat, e.Toc, e.Toc-bdt)
		}
		// Toe: BDT week and seconds of week, BDT week 0 = GPS week 1356 + 14 s.
		if sow := e.Toe - (float64(1356+e.Week)*orbit.Week + 14); sow != 0 && sow != 3600 {
			t.Errorf("%v: Toe at BDT second %.0f of week %d", e.Sat, sow, e.Week)
		}
	}
	if k != 24 || len(epochs) != 24 {
		t.Fatalf("%d BeiDou records, %d epochs in the text", k, len(epochs))
	}
	c01 := n.Ephemerides[18]
	if c01.Sat != (orbit.SatID{Sys: orbit.BeiDou, PRN: 1}) || c01.Toc != gpsAt(2024, 3, 3, 0, 0, 14) || c01.Week != 948 ||
		c01.TransmitAt != gpsAt(2024, 3, 2, 23, 59, 44) || !c01.IsGEO() || c01.MaxAge() != 3600 {
		t.Errorf("C01: %+v", c01)
	}
	g03 := n.Ephemerides[0]
	if g03.Toc != gpsAt(2024, 3, 3, 0, 0, 0) || g03.Week != 2304 || g03.TransmitAt != gpsAt(2024, 3, 2, 22, 0, 18) || g03.FitInterval != 4 {
		t.Errorf("G03: %+v", g03)
	}
}

// nanEqual compares observation values, NaN (blank) equal to NaN.
func nanEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) })
}

func TestParseObs3Generated(t *testing.T) {
	m := gnsstest.NewMixed()
	// Every epoch flag is exercised, with more than 12 satellites an epoch.
	flags := map[int]bool{}
	for _, ep := range m.Epochs {
		flags[ep.Flag] = true
	}
	if len(flags) != 7 {
		t.Fatalf("flags written: %v", flags)
	}
	for _, ts := range []string{"GPS", "BDT"} {
		t.Run(ts, func(t *testing.T) {
			o, err := ParseObs(bytes.NewReader(m.RINEXObs(ts)))
			if err != nil {
				t.Fatal(err)
			}
			if o.Version != 3.04 || o.MarkerName != "OPENMGS-MIXED" || o.ApproxPosition != m.ApproxPosition ||
				o.Interval != m.Interval || o.TimeSystem != ts {
				t.Errorf("header: %v %q %v %v %q", o.Version, o.MarkerName, o.ApproxPosition, o.Interval, o.TimeSystem)
			}
			if len(o.Types) != len(m.ObsTypes) {
				t.Errorf("types for %d systems", len(o.Types))
			}
			for sys, want := range m.ObsTypes {
				if !slices.Equal(o.Types[sys], want) {
					t.Errorf("%c types %v, want %v", sys, o.Types[sys], want)
				}
			}
			data := m.DataEpochs()
			if len(o.Epochs) != len(data) {
				t.Fatalf("%d epochs, want %d (events and cycle slips dropped)", len(o.Epochs), len(data))
			}
			for i, want := range data {
				got := o.Epochs[i]
				// BDT time tags come back as GPS time.
				if got.Time != want.Time || got.Flag != want.Flag || got.ClockOffset != want.ClockOffset || len(got.Sats) != len(want.Sats) {
					t.Errorf("epoch %d: time %+.7f flag %d clock %v, %d sats; want %+.7f %d %v %d", i, got.Time-m.T0, got.Flag,
						got.ClockOffset, len(got.Sats), want.Time-m.T0, want.Flag, want.ClockOffset, len(want.Sats))
					continue
				}
				for k, ws := range want.Sats {
					gs := got.Sats[k]
					if gs.Sys != ws.Sys || gs.PRN != ws.PRN || !nanEqual(gs.Values, ws.Values) {
						t.Errorf("epoch %d %c%02d: %v\nwant %c%02d %v", i, gs.Sys, gs.PRN, gs.Values, ws.Sys, ws.PRN, ws.Values)
					}
				}
			}
			// Lookups through Value: blanks are absent, fallback codes work.
			e1 := o.Epochs[1]
			for _, so := range e1.Sats {
				c2w, ok := o.Value(so, "C2W")
				switch {
				case so.Sys == 'G' && so.PRN == 19 && ok:
					t.Errorf("G19 blank C2W read as %v", c2w)
				case so.Sys == 'G' && so.PRN != 19 && !ok:
					t.Errorf("G%02d C2W missing", so.PRN)
				}
				if so.Sys == 'C' {
					_, b2 := o.Value(so, "C7I")
					if b2 != (so.PRN <= 18) {
						t.Errorf("C%02d C7I present %v", so.PRN, b2)
					}
					if d, ok := o.Value(so, "D2I"); ok == (so.PRN == 11) {
						t.Errorf("C%02d D2I %v %v", so.PRN, d, ok)
					}
				}
				if so.Sys == 'R' {
					if v, ok := o.Value(so, "C1P", "C1C"); !ok || v < 19e6 || v > 26e6 {
						t.Errorf("R%02d C1C %v %v", so.PRN, v, ok)
					}
				}
			}
		})
	}
}

// Cutting the generated files at any line inside a record is an error that
// names the field; cutting between records parses what came before.
func TestParseGeneratedTruncated(t *testing.T) {
	m := gnsstest.NewMixed()
	cut := func(text []byte) (prefixes [][]byte) {
		for i, c := range text {
			if c == '\n' {
				prefixes = append(prefixes, text[:i+1])
			}
		}
		return prefixes
	}
	// The header and the first record of each system, to keep this fast.
	var navText []byte
	seen := map[byte]bool{}
	inHeader, keep, kept := true, true, 0
	for _, l := range bytes.SplitAfter(m.RINEXNav(), []byte("\n")) {
		if !inHeader && len(l) > 0 && l[0] != ' ' {
			keep = !seen[l[0]]
			seen[l[0]] = true
			if keep {
				kept++
			}
		}
		if keep {
			navText = append(navText, l...)
		}
		inHeader = inHeader && !bytes.Contains(l, []byte("END OF HEADER"))
	}
	header := bytes.Index(navText, []byte("END OF HEADER"))
	records := 0
	for _, p := range cut(navText) {
		if len(p) < header {
			continue
		}
		n, err := ParseNav(bytes.NewReader(p))
		var pe *ParseError
		switch {
		case err == nil:
			records++
			if n.Skipped+len(n.Ephemerides) != records-1 {
				t.Errorf("cut at %d bytes: %d records parsed, %d complete", len(p), n.Skipped+len(n.Ephemerides), records-1)
			}
		case !errors.Is(err, ErrFormat) || !errors.As(err, &pe) || (pe.Field != "broadcast orbit" && pe.Field != "record"):
			t.Errorf("cut at %d bytes: %v", len(p), err)
		}
	}
	if want := kept + 1; records != want || kept != 6 {
		t.Errorf("%d clean cuts, want %d", records, want)
	}
	obsText := m.RINEXObs("GPS")
	header = bytes.Index(obsText, []byte("END OF HEADER"))
	clean := 0
	for _, p := range cut(obsText) {
		if len(p) < header {
			continue
		}
		_, err := ParseObs(bytes.NewReader(p))
		var pe *ParseError
		switch {
		case err == nil:
			clean++
		case !errors.Is(err, ErrFormat) || !errors.As(err, &pe) || (pe.Field != "observations" && pe.Field != "event records"):
			t.Errorf("cut at %d bytes: %v", len(p), err)
		}
	}
	if want := len(m.Epochs) + 1; clean != want {
		t.Errorf("%d clean cuts, want %d", clean, want)
	}
}

func BenchmarkParseNav3Generated(b *testing.B) {
	data := gnsstest.NewMixed().RINEXNav()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseNav(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseObs3Generated(b *testing.B) {
	data := gnsstest.NewMixed().RINEXObs("GPS")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseObs(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// RINEX 3.05 GLONASS records have a fourth orbit line; the parser skips it
// and reads the records after it.
func TestParseNav305GlonassFourLines(t *testing.T) {
	src := string(gnsstest.NewMixed().RINEXNav())
	lines := strings.Split(src, "\n")
	if !strings.HasPrefix(strings.TrimSpace(lines[0]), "3.04") {
		t.Fatalf("unexpected first line %q", lines[0])
	}
	lines[0] = strings.Replace(lines[0], "3.04", "3.05", 1)
	var out []string
	inHeader, glonass := true, 0
	for _, l := range lines {
		out = append(out, l)
		if inHeader {
			inHeader = !strings.Contains(l, "END OF HEADER")
			continue
		}
		switch {
		case strings.HasPrefix(l, "R"):
			glonass = 3
		case glonass > 0:
			if glonass--; glonass == 0 {
				out = append(out, "     0.000000000000D+00 0.000000000000D+00 0.000000000000D+00 0.000000000000D+00")
			}
		}
	}
	v304, err := ParseNav(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	v305, err := ParseNav(strings.NewReader(strings.Join(out, "\n")))
	if err != nil {
		t.Fatalf("RINEX 3.05 with 4-line GLONASS records: %v", err)
	}
	if len(v305.Ephemerides) != len(v304.Ephemerides) || v305.Skipped != v304.Skipped || v305.Skipped == 0 {
		t.Fatalf("3.05: %d records, %d skipped; 3.04: %d, %d", len(v305.Ephemerides), v305.Skipped, len(v304.Ephemerides), v304.Skipped)
	}
}
