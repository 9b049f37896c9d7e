package rinex

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ObsFile is a parsed observation file.
type ObsFile struct {
	Version    float64
	MarkerName string
	// ApproxPosition is the header APPROX POSITION XYZ (ECEF, m).
	ApproxPosition [3]float64
	TimeSystem     string  // "GPS" unless the header says otherwise
	Interval       float64 // s, 0 if not given
	// Types lists the observation codes per system letter ('G', 'C', …).
	// RINEX 2 files share one list, stored under every letter seen.
	Types  map[byte][]string
	Epochs []ObsEpoch
}

// ObsEpoch is one epoch of observations.
type ObsEpoch struct {
	Time        float64 // receiver time tag, GPS seconds
	Flag        int     // 0 OK, 1 power failure before this epoch
	ClockOffset float64 // receiver clock offset if reported, s
	Sats        []SatObs
}

// SatObs holds one satellite's observations in the order of Types[Sys];
// missing values are NaN.
type SatObs struct {
	Sys    byte // RINEX system letter
	PRN    int
	Values []float64
}

// Value returns the first present observation among codes (for example
// "C1C", "C1") for s.
func (f *ObsFile) Value(s SatObs, codes ...string) (float64, bool) {
	types := f.Types[s.Sys]
	for _, c := range codes {
		for i, t := range types {
			if t == c && i < len(s.Values) && !math.IsNaN(s.Values[i]) {
				return s.Values[i], true
			}
		}
	}
	return 0, false
}

// ParseObs reads a RINEX 2.10/2.11 or 3.x observation file.
func ParseObs(r io.Reader) (*ObsFile, error) {
	lr := newLineReader(r)
	first, ok := lr.next()
	if !ok || label(first) != "RINEX VERSION / TYPE" {
		return nil, &ParseError{Line: 1, Field: "RINEX VERSION / TYPE", Err: fmt.Errorf("%w: missing header label", ErrFormat)}
	}
	v, err := parseFloat(col(first, 0, 9))
	if err != nil {
		return nil, &ParseError{Line: 1, Field: "version", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
	}
	if ft := col(first, 20, 21); ft != "O" {
		return nil, &ParseError{Line: 1, Field: "file type", Err: fmt.Errorf("%w: type %q is not observation", ErrUnsupported, ft)}
	}
	if v < 2 || v >= 4 {
		return nil, &ParseError{Line: 1, Field: "version", Err: fmt.Errorf("%w: RINEX version %.2f", ErrUnsupported, v)}
	}
	f := &ObsFile{Version: v, TimeSystem: "GPS", Types: map[byte][]string{}}
	if err := f.parseHeader(lr); err != nil {
		return nil, err
	}
	if v < 3 {
		err = f.parseEpochs2(lr)
	} else {
		err = f.parseEpochs3(lr)
	}
	if err != nil {
		return nil, err
	}
	if err := lr.err(); err != nil {
		return nil, fmt.Errorf("rinex: read: %w", err)
	}
	return f, nil
}

// rinex2Sys is the key under which RINEX 2 types are stored first; a blank
// satellite letter means GPS in RINEX 2.
const rinex2Sys = 'G'

func (f *ObsFile) parseHeader(lr *lineReader) error {
	var types2 []string
	n2 := 0
	var cur3 byte
	n3 := 0
	for {
		s, ok := lr.next()
		if !ok {
			return &ParseError{Line: lr.n, Field: "header", Err: fmt.Errorf("%w: no END OF HEADER", ErrFormat)}
		}
		lab := label(s)
		var err error
		switch lab {
		case "END OF HEADER":
			if f.Version < 3 {
				if len(types2) != n2 {
					return &ParseError{Line: lr.n, Field: "# / TYPES OF OBSERV", Err: fmt.Errorf("%w: %d types listed, %d declared", ErrFormat, len(types2), n2)}
				}
				if len(types2) > 0 {
					f.Types[rinex2Sys] = types2
				}
			}
			if len(f.Types) == 0 {
				return &ParseError{Line: lr.n, Field: "observation types", Err: fmt.Errorf("%w: none declared", ErrFormat)}
			}
			return nil
		case "MARKER NAME":
			f.MarkerName = strings.TrimSpace(col(s, 0, 60))
		case "APPROX POSITION XYZ":
			for i := range 3 {
				if f.ApproxPosition[i], err = parseFloat(col(s, 14*i, 14*(i+1))); err != nil {
					break
				}
			}
		case "INTERVAL":
			f.Interval, err = parseFloat(col(s, 0, 10))
		case "TIME OF FIRST OBS":
			if ts := strings.TrimSpace(col(s, 48, 51)); ts != "" {
				f.TimeSystem = ts
			}
		case "# / TYPES OF OBSERV":
			if c := strings.TrimSpace(col(s, 0, 6)); c != "" {
				n2, err = strconv.Atoi(c)
			}
			for i := range 9 {
				if t := strings.TrimSpace(col(s, 6+6*i, 12+6*i)); t != "" {
					types2 = append(types2, t)
				}
			}
		case "SYS / # / OBS TYPES":
			if sys := col(s, 0, 1); sys != " " && sys != "" {
				cur3 = sys[0]
				if n3, err = strconv.Atoi(strings.TrimSpace(col(s, 3, 6))); err != nil {
					break
				}
			}
			if cur3 == 0 {
				err = fmt.Errorf("continuation before system")
				break
			}
			for i := range 13 {
				if t := strings.TrimSpace(col(s, 7+4*i, 10+4*i)); t != "" {
					f.Types[cur3] = append(f.Types[cur3], t)
				}
			}
			if len(f.Types[cur3]) > n3 {
				err = fmt.Errorf("%d types listed, %d declared", len(f.Types[cur3]), n3)
			}
		}
		if err != nil {
			return &ParseError{Line: lr.n, Field: lab, Err: fmt.Errorf("%w: %v", ErrFormat, err)}
		}
	}
}

// obsValues reads n 16-column fields (F14.3 + LLI + SSI) starting at column
// start of s.
func obsValues(s string, start, n int, out []float64) error {
	for i := range n {
		fld := strings.TrimSpace(col(s, start+16*i, start+16*i+14))
		if fld == "" {
			out[i] = math.NaN()
			continue
		}
		v, err := strconv.ParseFloat(fld, 64)
		if err != nil {
			return err
		}
		out[i] = v
	}
	return nil
}

func (f *ObsFile) parseEpochs2(lr *lineReader) error {
	types := f.Types[rinex2Sys]
	nt := len(types)
	linesPerSat := (nt + 4) / 5
	for {
		s, ok := lr.next()
		if !ok {
			return nil
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		start := lr.n
		flag, err := parseInt(col(s, 28, 29))
		if err != nil {
			return &ParseError{Line: start, Field: "epoch flag", Err: fmt.Errorf("%w: %q", ErrFormat, col(s, 28, 29))}
		}
		n, err := parseInt(col(s, 29, 32))
		if err != nil || n < 0 {
			return &ParseError{Line: start, Field: "number of satellites", Err: fmt.Errorf("%w: %q", ErrFormat, col(s, 29, 32))}
		}
		if flag >= 2 && flag <= 5 {
			// Event: n header or comment lines follow.
			for range n {
				if _, ok := lr.next(); !ok {
					return &ParseError{Line: lr.n, Field: "event records", Err: fmt.Errorf("%w: truncated", ErrFormat)}
				}
			}
			continue
		}
		if flag > 6 {
			return &ParseError{Line: start, Field: "epoch flag", Err: fmt.Errorf("%w: %d", ErrFormat, flag)}
		}
		y, mo, d, h, mi, sec, err := dateFields(col(s, 0, 26))
		if err != nil {
			return &ParseError{Line: start, Field: "epoch time", Err: err}
		}
		ep := ObsEpoch{Time: toGPS(f.TimeSystem, civilSeconds(fullYear(y), mo, d, h, mi, sec)), Flag: flag}
		if c := strings.TrimSpace(col(s, 68, 80)); c != "" {
			if ep.ClockOffset, err = parseFloat(c); err != nil {
				return &ParseError{Line: start, Field: "clock offset", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
			}
		}
		// Satellite list: 12 per line, continued on following lines.
		ids := make([]string, 0, n)
		line := s
		for len(ids) < n {
			if len(ids) > 0 && len(ids)%12 == 0 {
				if line, ok = lr.next(); !ok {
					return &ParseError{Line: lr.n, Field: "satellite list", Err: fmt.Errorf("%w: truncated", ErrFormat)}
				}
			}
			k := len(ids) % 12
			ids = append(ids, col(line, 32+3*k, 35+3*k))
		}
		for _, id := range ids {
			sys, prn, err := satID(id, rinex2Sys)
			if err != nil {
				return &ParseError{Line: start, Field: "satellite list", Err: err}
			}
			so := SatObs{Sys: sys, PRN: prn, Values: make([]float64, nt)}
			if _, ok := f.Types[sys]; !ok {
				f.Types[sys] = types
			}
			for l := range linesPerSat {
				ol, ok := lr.next()
				if !ok {
					return &ParseError{Line: lr.n, Field: "observations", Err: fmt.Errorf("%w: truncated", ErrFormat)}
				}
				cnt := min(5, nt-5*l)
				if err := obsValues(ol, 0, cnt, so.Values[5*l:]); err != nil {
					return &ParseError{Line: lr.n, Field: "observations", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
				}
			}
			ep.Sats = append(ep.Sats, so)
		}
		if flag <= 1 {
			f.Epochs = append(f.Epochs, ep)
		}
	}
}

func (f *ObsFile) parseEpochs3(lr *lineReader) error {
	for {
		s, ok := lr.next()
		if !ok {
			return nil
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		start := lr.n
		if s[0] != '>' {
			return &ParseError{Line: start, Field: "epoch record", Err: fmt.Errorf("%w: expected '>'", ErrFormat)}
		}
		flag, err := parseInt(col(s, 31, 32))
		if err != nil {
			return &ParseError{Line: start, Field: "epoch flag", Err: fmt.Errorf("%w: %q", ErrFormat, col(s, 31, 32))}
		}
		n, err := parseInt(col(s, 32, 35))
		if err != nil || n < 0 {
			return &ParseError{Line: start, Field: "number of satellites", Err: fmt.Errorf("%w: %q", ErrFormat, col(s, 32, 35))}
		}
		if flag >= 2 && flag <= 5 {
			for range n {
				if _, ok := lr.next(); !ok {
					return &ParseError{Line: lr.n, Field: "event records", Err: fmt.Errorf("%w: truncated", ErrFormat)}
				}
			}
			continue
		}
		if flag > 6 {
			return &ParseError{Line: start, Field: "epoch flag", Err: fmt.Errorf("%w: %d", ErrFormat, flag)}
		}
		y, mo, d, h, mi, sec, err := dateFields(col(s, 1, 29))
		if err != nil {
			return &ParseError{Line: start, Field: "epoch time", Err: err}
		}
		ep := ObsEpoch{Time: toGPS(f.TimeSystem, civilSeconds(y, mo, d, h, mi, sec)), Flag: flag}
		if c := strings.TrimSpace(col(s, 41, 56)); c != "" {
			if ep.ClockOffset, err = parseFloat(c); err != nil {
				return &ParseError{Line: start, Field: "clock offset", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
			}
		}
		for range n {
			l, ok := lr.next()
			if !ok {
				return &ParseError{Line: lr.n, Field: "observations", Err: fmt.Errorf("%w: truncated", ErrFormat)}
			}
			sys, prn, err := satID(col(l, 0, 3), 'G')
			if err != nil {
				return &ParseError{Line: lr.n, Field: "satellite", Err: err}
			}
			nt := len(f.Types[sys])
			so := SatObs{Sys: sys, PRN: prn, Values: make([]float64, nt)}
			if err := obsValues(l, 3, nt, so.Values); err != nil {
				return &ParseError{Line: lr.n, Field: "observations", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
			}
			ep.Sats = append(ep.Sats, so)
		}
		if flag <= 1 {
			f.Epochs = append(f.Epochs, ep)
		}
	}
}

// satID parses "G05", " 5" or "C01"; a blank letter means def.
func satID(s string, def byte) (byte, int, error) {
	if len(s) < 2 {
		return 0, 0, fmt.Errorf("%w: satellite %q", ErrFormat, s)
	}
	sys := s[0]
	if sys == ' ' {
		sys = def
	}
	if sys < 'A' || sys > 'Z' {
		return 0, 0, fmt.Errorf("%w: satellite %q", ErrFormat, s)
	}
	prn, err := strconv.Atoi(strings.TrimSpace(s[1:]))
	if err != nil || prn < 1 || prn > 199 {
		return 0, 0, fmt.Errorf("%w: satellite %q", ErrFormat, s)
	}
	return sys, prn, nil
}
