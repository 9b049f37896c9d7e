package gnsstest

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// hdrLine formats a RINEX header line: 60 columns of content, then the label.
func hdrLine(body, label string) string { return fmt.Sprintf("%-60s%-20s", body, label) }

// civil returns the calendar time of t seconds counted like GPS seconds (in
// whatever scale t is) and the fraction of its second.
func civil(t float64) (time.Time, float64) {
	whole := math.Floor(t)
	return gpsEpoch.Add(time.Duration(int64(whole)) * time.Second), t - whole
}

// field19 formats a D19.12 field; NaN is a blank field. dexp selects the
// Fortran D exponent.
func field19(v float64, dexp bool) string {
	if math.IsNaN(v) {
		return strings.Repeat(" ", 19)
	}
	s := fmt.Sprintf("%19.12e", v)
	if dexp {
		s = strings.Replace(s, "e", "D", 1)
	}
	return s
}

// navRecord writes a RINEX 3 navigation record: "A1 I2.2 date 3D19.12" and
// "4X 4D19.12" lines. Trailing blank fields are left out, as real files do.
func navRecord(b *bytes.Buffer, sys byte, prn int, epoch float64, clock [3]float64, lines [][]float64, dexp bool) {
	t, _ := civil(epoch)
	fmt.Fprintf(b, "%c%02d %04d %02d %02d %02d %02d %02d", sys, prn, t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
	for _, v := range clock {
		b.WriteString(field19(v, dexp))
	}
	b.WriteByte('\n')
	for _, l := range lines {
		var s strings.Builder
		s.WriteString("    ")
		for _, v := range l {
			s.WriteString(field19(v, dexp))
		}
		b.WriteString(strings.TrimRight(s.String(), " "))
		b.WriteByte('\n')
	}
}

// weekStart returns the GPS time of the start of week w of the record's
// system.
func weekStart(e *orbit.Ephemeris) float64 {
	if e.Sat.Sys == orbit.BeiDou {
		return bdtWeek0 + float64(e.Week)*icdWeek
	}
	return float64(e.Week) * icdWeek
}

// RINEXNav renders the mixed navigation file (RINEX 3.04): the header with
// IONOSPHERIC CORR (GPSA/GPSB, GAL, BDSA/BDSB), TIME SYSTEM CORR and LEAP
// SECONDS, then GPS, GLONASS, Galileo, BeiDou, QZSS and SBAS records. GPS
// records use e exponents, BeiDou records D exponents; BeiDou epochs are BDT.
func (m *Mixed) RINEXNav() []byte {
	var b bytes.Buffer
	hdr := func(body, label string) { b.WriteString(hdrLine(body, label) + "\n") }
	hdr(fmt.Sprintf("%9.2f%11s%-20s%-20s", 3.04, "", "N: GNSS NAV DATA", "M: MIXED"), "RINEX VERSION / TYPE")
	hdr(fmt.Sprintf("%-20s%-20s%-20s", "openmgs gnsstest", "openmgs", "20240303 000000 UTC"), "PGM / RUN BY / DATE")
	hdr("Generated broadcast orbits, not real satellites", "COMMENT")
	iono := func(name string, v []float64) {
		s := name + " "
		for _, x := range v {
			s += fmt.Sprintf("%12.4e", x)
		}
		hdr(s, "IONOSPHERIC CORR")
	}
	iono("GPSA", m.Iono.Alpha[:])
	iono("GPSB", m.Iono.Beta[:])
	iono("GAL ", []float64{66.25, -0.16406, -2.4414e-3})
	iono("BDSA", m.IonoBDS.Alpha[:])
	iono("BDSB", m.IonoBDS.Beta[:])
	tsc := func(kind string, a0, a1 float64, ref, week int) {
		hdr(fmt.Sprintf("%-4s %17.10e%16.9e %6d %4d", kind, a0, a1, ref, week), "TIME SYSTEM CORR")
	}
	tsc("GPUT", 1.8626451492e-09, 3.552713679e-15, 405504, 2303)
	tsc("BDUT", 9.3132257462e-10, 0, 14, 948)
	tsc("GAGP", 2.1827872842e-09, -4.440892099e-15, 432000, 2303)
	tsc("GLUT", -1.8626451492e-09, 0, 0, 0)
	hdr(fmt.Sprintf("%6d%6d%6d%6d", m.LeapSeconds, m.LeapSeconds, 2304, 7), "LEAP SECONDS")
	hdr("", "END OF HEADER")

	nan := math.NaN()
	for i := range m.Ephemerides {
		e := &m.Ephemerides[i]
		if e.Sat.Sys != orbit.GPS {
			continue
		}
		ws := weekStart(e)
		navRecord(&b, 'G', e.Sat.PRN, e.Toc, [3]float64{e.AF0, e.AF1, e.AF2}, [][]float64{
			{float64(e.IODE), e.Crs, e.DeltaN, e.M0},
			{e.Cuc, e.Ecc, e.Cus, e.SqrtA},
			{e.Toe - ws, e.Cic, e.Omega0, e.Cis},
			{e.I0, e.Crc, e.Omega, e.OmegaDot},
			{e.IDOT, 1, float64(e.Week), 0},
			{e.URA, float64(e.Health), e.TGD, float64(e.IODC)},
			{e.TransmitAt - ws, e.FitInterval},
		}, false)
	}
	// GLONASS: state vectors in km at tb (epoch in UTC), 3 orbit lines.
	for _, o := range m.others {
		if o.info.Type != OrbitGLONASS {
			continue
		}
		tb := m.T0 - 900 + float64(m.LeapSeconds) // 23:45:00 UTC the day before
		st := o.eph.State(tb)
		_, tod := sysSOW(false, tb-float64(m.LeapSeconds))
		navRecord(&b, 'R', o.info.PRN, tb-float64(m.LeapSeconds), [3]float64{-o.eph.AF0, o.eph.AF1, tod - 30}, [][]float64{
			{st.Pos[0] / 1e3, st.Vel[0] / 1e3, 0, 0},
			{st.Pos[1] / 1e3, st.Vel[1] / 1e3, 0, float64(o.info.FreqNum)},
			{st.Pos[2] / 1e3, st.Vel[2] / 1e3, 0, 0},
		}, false)
	}
	// Galileo: Keplerian, GAL week = GPS week, transmission time alone on
	// the last line.
	for _, o := range m.others {
		if o.info.Type != OrbitGalileo {
			continue
		}
		e := &o.eph
		ws := weekStart(e)
		navRecord(&b, 'E', o.info.PRN, e.Toc, [3]float64{e.AF0, e.AF1, e.AF2}, [][]float64{
			{float64(e.IODE), e.Crs, e.DeltaN, e.M0},
			{e.Cuc, e.Ecc, e.Cus, e.SqrtA},
			{e.Toe - ws, e.Cic, e.Omega0, e.Cis},
			{e.I0, e.Crc, e.Omega, e.OmegaDot},
			{e.IDOT, 517, float64(e.Week), nan},
			{3.12, 0, 2.328306436539e-10, 2.793967723846e-10},
			{e.TransmitAt - ws},
		}, false)
	}
	for i := range m.Ephemerides {
		e := &m.Ephemerides[i]
		if e.Sat.Sys != orbit.BeiDou {
			continue
		}
		ws := weekStart(e)
		tt := e.TransmitAt - ws
		if e.TransmitAt == 0 {
			tt = 0.9999e9 // unknown
		}
		navRecord(&b, 'C', e.Sat.PRN, e.Toc+bdtMinusGPST, [3]float64{e.AF0, e.AF1, e.AF2}, [][]float64{
			{float64(e.IODE), e.Crs, e.DeltaN, e.M0},
			{e.Cuc, e.Ecc, e.Cus, e.SqrtA},
			{e.Toe - ws, e.Cic, e.Omega0, e.Cis},
			{e.I0, e.Crc, e.Omega, e.OmegaDot},
			{e.IDOT, nan, float64(e.Week), nan}, // spare fields blank
			{e.URA, float64(e.Health), e.TGD, e.TGD2},
			{tt, float64(e.IODC)},
		}, true)
	}
	// One QZSS (Keplerian, 7 lines) and one SBAS record (3 lines).
	navRecord(&b, 'J', 2, m.T0, [3]float64{-1.862645149231e-08, 0, 0}, [][]float64{
		{57, -4.95e2, 2.23e-9, -2.9457},
		{-1.2e-5, 7.51e-2, 1.3e-6, 6493.2},
		{0, 3.1e-7, 2.21, -1.6e-7},
		{0.7108, -5.2e1, -1.5682, -2.7e-9},
		{3.4e-10, 2, 2304, 0},
		{2.8, 0, -4.656612873077e-09, 825},
		{-7182, 0},
	}, false)
	navRecord(&b, 'S', 27, m.T0+48, [3]float64{0, 0, 48}, [][]float64{
		{-3.389392800000e+04, 0, 0, 1},
		{2.508018800000e+04, 0, 0, 32767},
		{0, 0, 0, 3},
	}, false)
	return b.Bytes()
}

// RINEXObs renders the observation file (RINEX 3.04, mixed) with time tags
// in timeSystem, "GPS" or "BDT" (tags 14 s earlier; values unchanged).
func (m *Mixed) RINEXObs(timeSystem string) []byte {
	shift := 0.0
	switch timeSystem {
	case "GPS":
	case "BDT":
		shift = bdtMinusGPST
	default:
		panic("gnsstest: time system " + timeSystem)
	}
	var b bytes.Buffer
	hdr := func(body, label string) { b.WriteString(hdrLine(body, label) + "\n") }
	hdr(fmt.Sprintf("%9.2f%11s%-20s%-20s", 3.04, "", "OBSERVATION DATA", "M"), "RINEX VERSION / TYPE")
	hdr(fmt.Sprintf("%-20s%-20s%-20s", "openmgs gnsstest", "openmgs", "20240303 000000 UTC"), "PGM / RUN BY / DATE")
	hdr("OPENMGS-MIXED", "MARKER NAME")
	hdr("GEODETIC", "MARKER TYPE")
	hdr(fmt.Sprintf("%-20s%-40s", "openmgs", "gnsstest"), "OBSERVER / AGENCY")
	hdr(fmt.Sprintf("%-20s%-20s%-20s", "0001", "SIMULATED", "1.0"), "REC # / TYPE / VERS")
	hdr(fmt.Sprintf("%-20s%-20s", "0001", "SIMULATED       NONE"), "ANT # / TYPE")
	hdr(fmt.Sprintf("%14.4f%14.4f%14.4f", m.ApproxPosition[0], m.ApproxPosition[1], m.ApproxPosition[2]), "APPROX POSITION XYZ")
	hdr(fmt.Sprintf("%14.4f%14.4f%14.4f", 0.0, 0.0, 0.0), "ANTENNA: DELTA H/E/N")
	for _, sys := range mixedSysOrder {
		types := m.ObsTypes[sys]
		line := fmt.Sprintf("%c  %3d", sys, len(types))
		for i, t := range types {
			if i > 0 && i%13 == 0 {
				hdr(line, "SYS / # / OBS TYPES")
				line = strings.Repeat(" ", 6)
			}
			line += " " + t
		}
		hdr(line, "SYS / # / OBS TYPES")
	}
	hdr("DBHZ", "SIGNAL STRENGTH UNIT")
	hdr(fmt.Sprintf("%10.3f", m.Interval), "INTERVAL")
	first, frac := civil(m.DataEpochs()[0].Time + shift)
	hdr(fmt.Sprintf("%6d%6d%6d%6d%6d%13.7f%5s%-3s", first.Year(), int(first.Month()), first.Day(), first.Hour(), first.Minute(),
		float64(first.Second())+frac, "", timeSystem), "TIME OF FIRST OBS")
	hdr(fmt.Sprintf("%6d", 0), "RCV CLOCK OFFS APPL")
	glo, nGLO := "", 0
	for _, o := range m.others {
		if o.info.Type == OrbitGLONASS {
			glo += fmt.Sprintf(" R%02d %2d", o.info.PRN, o.info.FreqNum)
			nGLO++
		}
	}
	hdr(fmt.Sprintf("%3d", nGLO)+glo, "GLONASS SLOT / FRQ #")
	hdr(" C1C    0.000 C1P    0.000 C2C    0.000 C2P    0.000", "GLONASS COD/PHS/BIS")
	hdr(fmt.Sprintf("%6d", m.LeapSeconds), "LEAP SECONDS")
	hdr("", "END OF HEADER")

	for _, ep := range m.Epochs {
		n := len(ep.Sats) + len(ep.Records)
		if ep.Time == 0 {
			// An event without a time (allowed for flags 2–5).
			fmt.Fprintf(&b, ">%30s%d%3d\n", "", ep.Flag, n)
		} else {
			t, frac := civil(ep.Time + shift)
			fmt.Fprintf(&b, "> %04d %02d %02d %02d %02d%11.7f  %d%3d", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(),
				float64(t.Second())+frac, ep.Flag, n)
			if ep.HasClockOffset {
				fmt.Fprintf(&b, "%6s%15.12f", "", ep.ClockOffset)
			}
			b.WriteByte('\n')
		}
		for _, r := range ep.Records {
			b.WriteString(r + "\n")
		}
		for _, so := range ep.Sats {
			var s strings.Builder
			fmt.Fprintf(&s, "%c%02d", so.Sys, so.PRN)
			for k, v := range so.Values {
				if math.IsNaN(v) {
					s.WriteString(strings.Repeat(" ", 16))
					continue
				}
				fmt.Fprintf(&s, "%14.3f", v)
				s.WriteByte(digit(so.LLI[k]))
				s.WriteByte(digit(so.SSI))
			}
			b.WriteString(strings.TrimRight(s.String(), " ") + "\n")
		}
	}
	return b.Bytes()
}

// digit is a one-digit flag field, blank for 0.
func digit(v uint8) byte {
	if v == 0 {
		return ' '
	}
	return '0' + v
}
