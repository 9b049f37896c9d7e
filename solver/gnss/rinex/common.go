package rinex

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
)

// Sentinel errors.
var (
	ErrFormat      = errors.New("rinex: malformed input")
	ErrUnsupported = errors.New("rinex: unsupported file")
)

// ParseError names the line and field that failed.
type ParseError struct {
	Line  int
	Field string
	Err   error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("rinex: line %d: %s: %v", e.Line, e.Field, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// lineReader yields lines with their numbers, without trailing CR/LF.
type lineReader struct {
	sc *bufio.Scanner
	n  int
}

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), 1<<20)
	return &lineReader{sc: sc}
}

func (l *lineReader) next() (string, bool) {
	if !l.sc.Scan() {
		return "", false
	}
	l.n++
	return strings.TrimRight(l.sc.Text(), "\r"), true
}

func (l *lineReader) err() error { return l.sc.Err() }

// col returns s[a:b] clipped to the line length.
func col(s string, a, b int) string {
	if a >= len(s) {
		return ""
	}
	return s[a:min(b, len(s))]
}

// label returns the header label (columns 61–80).
func label(s string) string { return strings.TrimSpace(col(s, 60, 80)) }

// parseFloat parses a Fortran number; blank is zero.
func parseFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	s = strings.NewReplacer("D", "E", "d", "e").Replace(s)
	return strconv.ParseFloat(s, 64)
}

// parseInt parses an integer field; blank is zero.
func parseInt(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// civilSeconds converts a calendar time read in some GNSS time scale to
// seconds since 1980-01-06 in that same scale (no leap seconds involved).
func civilSeconds(y, mo, d, h, mi int, sec float64) float64 {
	u := time.Date(y, time.Month(mo), d, h, mi, 0, 0, time.UTC).Unix()
	return float64(u-315964800) + sec
}

// toGPS converts calendar seconds of a time system to GPS seconds.
func toGPS(sys string, t float64) float64 {
	switch sys {
	case "BDT":
		return t + 14
	case "GLO", "UTC":
		// GLONASS time is UTC(SU) + 3 h.
		if sys == "GLO" {
			t -= 3 * 3600
		}
		return t + float64(lora.LeapSecondsAt(time.Unix(int64(t)+315964800, 0)))
	}
	return t // GPS, GAL (aligned to GPS), QZS, IRN
}

// fullYear expands a two-digit RINEX 2 year (80–99 → 19xx).
func fullYear(y int) int {
	switch {
	case y >= 100:
		return y
	case y >= 80:
		return 1900 + y
	}
	return 2000 + y
}

// dateFields parses "y mo d h mi sec" from whitespace-separated text.
func dateFields(s string) (y, mo, d, h, mi int, sec float64, err error) {
	f := strings.Fields(s)
	if len(f) < 6 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("%w: date %q", ErrFormat, s)
	}
	var iv [5]int
	for i := range 5 {
		if iv[i], err = strconv.Atoi(f[i]); err != nil {
			return 0, 0, 0, 0, 0, 0, fmt.Errorf("%w: date %q", ErrFormat, s)
		}
	}
	if sec, err = parseFloat(f[5]); err != nil || math.IsNaN(sec) {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("%w: date %q", ErrFormat, s)
	}
	if iv[1] < 1 || iv[1] > 12 || iv[2] < 1 || iv[2] > 31 || iv[3] > 24 || iv[4] > 60 || sec < 0 || sec > 61 {
		return 0, 0, 0, 0, 0, 0, fmt.Errorf("%w: date %q out of range", ErrFormat, s)
	}
	return iv[0], iv[1], iv[2], iv[3], iv[4], sec, nil
}
