package rinex

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// NavFile is a parsed navigation file.
type NavFile struct {
	Version float64
	// Iono is the GPS Klobuchar model from the header, nil if absent.
	Iono *orbit.Klobuchar
	// IonoBDS holds the BDSA/BDSB header parameters of 3.x files, nil if absent.
	IonoBDS     *orbit.Klobuchar
	LeapSeconds int
	Ephemerides []orbit.Ephemeris
	// Skipped counts records of systems other than GPS and BeiDou.
	Skipped int
}

// Orbits returns an orbit set of the file's ephemerides.
func (f *NavFile) Orbits() *orbit.Set { return orbit.NewSet(f.Ephemerides, nil) }

// ParseNav reads a RINEX 2.10/2.11 GPS or 3.x navigation file.
func ParseNav(r io.Reader) (*NavFile, error) {
	lr := newLineReader(r)
	f := &NavFile{}
	first, ok := lr.next()
	if !ok {
		return nil, &ParseError{Line: 1, Field: "RINEX VERSION / TYPE", Err: fmt.Errorf("%w: empty input", ErrFormat)}
	}
	if label(first) != "RINEX VERSION / TYPE" {
		return nil, &ParseError{Line: 1, Field: "RINEX VERSION / TYPE", Err: fmt.Errorf("%w: missing header label", ErrFormat)}
	}
	v, err := parseFloat(col(first, 0, 9))
	if err != nil {
		return nil, &ParseError{Line: 1, Field: "version", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
	}
	f.Version = v
	ftype := col(first, 20, 21)
	switch {
	case v >= 2 && v < 3:
		if ftype != "N" {
			return nil, &ParseError{Line: 1, Field: "file type", Err: fmt.Errorf("%w: RINEX %.2f type %q (only GPS navigation 'N')", ErrUnsupported, v, ftype)}
		}
	case v >= 3 && v < 4:
		if ftype != "N" {
			return nil, &ParseError{Line: 1, Field: "file type", Err: fmt.Errorf("%w: RINEX %.2f type %q is not navigation", ErrUnsupported, v, ftype)}
		}
	default:
		return nil, &ParseError{Line: 1, Field: "version", Err: fmt.Errorf("%w: RINEX version %.2f", ErrUnsupported, v)}
	}
	if err := f.parseHeader(lr); err != nil {
		return nil, err
	}
	if v < 3 {
		err = f.parseRecords2(lr)
	} else {
		err = f.parseRecords3(lr)
	}
	if err != nil {
		return nil, err
	}
	if err := lr.err(); err != nil {
		return nil, fmt.Errorf("rinex: read: %w", err)
	}
	return f, nil
}

func (f *NavFile) parseHeader(lr *lineReader) error {
	var gps, bds orbit.Klobuchar
	var haveA, haveB, haveBDSA, haveBDSB bool
	read4 := func(s string, start, width int) ([4]float64, error) {
		var out [4]float64
		for i := range out {
			v, err := parseFloat(col(s, start+i*width, start+(i+1)*width))
			if err != nil {
				return out, err
			}
			out[i] = v
		}
		return out, nil
	}
	for {
		s, ok := lr.next()
		if !ok {
			return &ParseError{Line: lr.n, Field: "header", Err: fmt.Errorf("%w: no END OF HEADER", ErrFormat)}
		}
		var err error
		switch lab := label(s); lab {
		case "END OF HEADER":
			if haveA && haveB {
				f.Iono = &gps
			}
			if haveBDSA && haveBDSB {
				f.IonoBDS = &bds
			}
			return nil
		case "ION ALPHA":
			gps.Alpha, err = read4(s, 2, 12)
			haveA = true
		case "ION BETA":
			gps.Beta, err = read4(s, 2, 12)
			haveB = true
		case "IONOSPHERIC CORR":
			switch col(s, 0, 4) {
			case "GPSA":
				gps.Alpha, err = read4(s, 5, 12)
				haveA = true
			case "GPSB":
				gps.Beta, err = read4(s, 5, 12)
				haveB = true
			case "BDSA":
				bds.Alpha, err = read4(s, 5, 12)
				haveBDSA = true
			case "BDSB":
				bds.Beta, err = read4(s, 5, 12)
				haveBDSB = true
			}
		case "LEAP SECONDS":
			f.LeapSeconds, err = parseInt(col(s, 0, 6))
		}
		if err != nil {
			return &ParseError{Line: lr.n, Field: label(s), Err: fmt.Errorf("%w: %v", ErrFormat, err)}
		}
	}
}

// navRecord is the clock line plus seven orbit lines: 3 + 28 numbers.
type navRecord [31]float64

// orbitField returns broadcast orbit line l (1..7), column c (0..3).
func (r *navRecord) orbitField(l, c int) float64 { return r[3+4*(l-1)+c] }

func (f *NavFile) parseRecords2(lr *lineReader) error {
	for {
		s, ok := lr.next()
		if !ok {
			return nil
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		start := lr.n
		prn, err := parseInt(col(s, 0, 2))
		if err != nil || prn < 1 || prn > 32 {
			return &ParseError{Line: start, Field: "PRN", Err: fmt.Errorf("%w: %q", ErrFormat, col(s, 0, 2))}
		}
		y, mo, d, h, mi, sec, err := dateFields(col(s, 2, 22))
		if err != nil {
			return &ParseError{Line: start, Field: "epoch", Err: err}
		}
		var rec navRecord
		if err := readValues(lr, s, 22, 3, 7, &rec); err != nil {
			return err
		}
		toc := civilSeconds(fullYear(y), mo, d, h, mi, sec)
		f.Ephemerides = append(f.Ephemerides, ephemeris(orbit.SatID{Sys: orbit.GPS, PRN: prn}, toc, &rec))
	}
}

func (f *NavFile) parseRecords3(lr *lineReader) error {
	for {
		s, ok := lr.next()
		if !ok {
			return nil
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		start := lr.n
		sysLetter := s[0]
		var lines int
		var sys orbit.System
		switch sysLetter {
		case 'G':
			sys, lines = orbit.GPS, 7
		case 'C':
			sys, lines = orbit.BeiDou, 7
		case 'E', 'J', 'I':
			lines = 7
		case 'R':
			// RINEX 3.05 added a fourth orbit line to GLONASS records.
			lines = 3
			if f.Version >= 3.05 {
				lines = 4
			}
		case 'S':
			lines = 3
		default:
			return &ParseError{Line: start, Field: "system", Err: fmt.Errorf("%w: record starts with %q", ErrFormat, col(s, 0, 3))}
		}
		if sys == 0 {
			f.Skipped++
			for range lines {
				if _, ok := lr.next(); !ok {
					return &ParseError{Line: lr.n, Field: "record", Err: fmt.Errorf("%w: truncated %c record", ErrFormat, sysLetter)}
				}
			}
			continue
		}
		prn, err := strconv.Atoi(strings.TrimSpace(col(s, 1, 3)))
		if err != nil || prn < 1 || prn > 63 {
			return &ParseError{Line: start, Field: "PRN", Err: fmt.Errorf("%w: %q", ErrFormat, col(s, 0, 3))}
		}
		y, mo, d, h, mi, sec, err := dateFields(col(s, 3, 23))
		if err != nil {
			return &ParseError{Line: start, Field: "epoch", Err: err}
		}
		var rec navRecord
		if err := readValues(lr, s, 23, 4, lines, &rec); err != nil {
			return err
		}
		toc := civilSeconds(y, mo, d, h, mi, sec)
		if sys == orbit.BeiDou {
			toc = toGPS("BDT", toc)
		}
		f.Ephemerides = append(f.Ephemerides, ephemeris(orbit.SatID{Sys: sys, PRN: prn}, toc, &rec))
	}
}

// readValues parses the three clock values of the first line (from column
// clockCol) and lines × 4 orbit values starting at column indent.
func readValues(lr *lineReader, first string, clockCol, indent, lines int, rec *navRecord) error {
	for i := range 3 {
		v, err := parseFloat(col(first, clockCol+19*i, clockCol+19*(i+1)))
		if err != nil {
			return &ParseError{Line: lr.n, Field: "clock", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
		}
		rec[i] = v
	}
	for l := range lines {
		s, ok := lr.next()
		if !ok {
			return &ParseError{Line: lr.n, Field: "broadcast orbit", Err: fmt.Errorf("%w: record truncated", ErrFormat)}
		}
		for c := range 4 {
			v, err := parseFloat(col(s, indent+19*c, indent+19*(c+1)))
			if err != nil {
				return &ParseError{Line: lr.n, Field: fmt.Sprintf("broadcast orbit %d", l+1), Err: fmt.Errorf("%w: %v", ErrFormat, err)}
			}
			rec[3+4*l+c] = v
		}
	}
	return nil
}

// nearest returns the GPS time with the given system seconds of week that is
// nearest to ref.
func nearest(sys orbit.System, ref, sow float64) float64 {
	t := sys.WeekSeconds(0, sow)
	return t + math.Round((ref-t)/orbit.Week)*orbit.Week
}

func ephemeris(id orbit.SatID, toc float64, r *navRecord) orbit.Ephemeris {
	e := orbit.Ephemeris{
		Sat: id, Toc: toc,
		AF0: r[0], AF1: r[1], AF2: r[2],
		IODE: int(r.orbitField(1, 0)), Crs: r.orbitField(1, 1), DeltaN: r.orbitField(1, 2), M0: r.orbitField(1, 3),
		Cuc: r.orbitField(2, 0), Ecc: r.orbitField(2, 1), Cus: r.orbitField(2, 2), SqrtA: r.orbitField(2, 3),
		Cic: r.orbitField(3, 1), Omega0: r.orbitField(3, 2), Cis: r.orbitField(3, 3),
		I0: r.orbitField(4, 0), Crc: r.orbitField(4, 1), Omega: r.orbitField(4, 2), OmegaDot: r.orbitField(4, 3),
		IDOT: r.orbitField(5, 0), Week: int(r.orbitField(5, 2)),
		URA: r.orbitField(6, 0), Health: int(r.orbitField(6, 1)), TGD: r.orbitField(6, 2),
	}
	// Toe is taken as seconds of week nearest to Toc, which is robust to
	// week-number conventions (10-bit, continuous, rollover at Toe).
	e.Toe = nearest(id.Sys, toc, r.orbitField(3, 0))
	if tt := r.orbitField(7, 0); tt != 0 && math.Abs(tt) < orbit.Week*2 {
		e.TransmitAt = nearest(id.Sys, toc, tt)
	}
	switch id.Sys {
	case orbit.GPS:
		e.IODC = int(r.orbitField(6, 3))
		e.FitInterval = r.orbitField(7, 1)
		if e.FitInterval > 0 && e.FitInterval < 4 {
			e.FitInterval = 4 // a 0/1 flag in some files; 4 h is the minimum
		}
	case orbit.BeiDou:
		e.TGD2 = r.orbitField(6, 3)
		e.IODC = int(r.orbitField(7, 1))
	}
	return e
}
