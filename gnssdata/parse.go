package gnssdata

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

// Format is the kind of an orbit file.
type Format string

// Orbit file formats. FormatAuto detects RINEX navigation or YUMA from the
// content.
const (
	FormatAuto  Format = ""
	FormatRINEX Format = "rinex"
	FormatYUMA  Format = "yuma"
)

// ParseFormat reads a format name ("", "auto", "rinex", "yuma"; any case).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "rinex", "rinex-nav", "nav":
		return FormatRINEX, nil
	case "yuma", "almanac":
		return FormatYUMA, nil
	}
	return "", fmt.Errorf("%w: format %q (want rinex, yuma or auto)", ErrFormat, s)
}

// Errors of Parse and Import.
var (
	// ErrFormat: the file is not a supported orbit file.
	ErrFormat = errors.New("gnssdata: unsupported orbit file")
	// ErrTooLarge: the (decompressed) file exceeds the size limit.
	ErrTooLarge = errors.New("gnssdata: orbit file too large")
	// ErrNoData: no orbit data has been imported yet.
	ErrNoData = errors.New("gnssdata: no orbit data imported (import RINEX navigation or YUMA almanac files)")
)

// FileError is a file that could not be parsed: its name and why.
type FileError struct {
	Name string
	Err  error
}

func (e *FileError) Error() string {
	if e.Name == "" {
		return e.Err.Error()
	}
	return e.Name + ": " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// DefaultMaxFileBytes bounds an orbit file after decompression. A daily
// multi-GNSS RINEX 3 navigation file is about 5–7 MB.
const DefaultMaxFileBytes = 64 << 20

// Parsed is the content of one orbit file.
type Parsed struct {
	Format Format
	// Version is the RINEX version (0 for YUMA).
	Version     float64
	Ephemerides []orbit.Ephemeris
	Almanacs    []orbit.Almanac
	// Iono is the GPS Klobuchar model of a navigation file header, if any.
	Iono *orbit.Klobuchar
	// Skipped counts records of other systems (GLONASS, Galileo, ...).
	Skipped int
}

// Counts summarises parsed records.
type Counts struct {
	GPS, BeiDou int // ephemerides
	Almanacs    int
	Skipped     int
	// From and To span the reference times (Toe, Toa) of the records, GPS
	// seconds; almanacs with a 10-bit week are resolved near the time near.
	From, To float64
}

// Counts summarises p; near resolves truncated almanac weeks (GPS s).
func (p *Parsed) Counts(near float64) Counts {
	c := Counts{Almanacs: len(p.Almanacs), Skipped: p.Skipped, From: math.Inf(1), To: math.Inf(-1)}
	span := func(t float64) {
		c.From, c.To = math.Min(c.From, t), math.Max(c.To, t)
	}
	for i := range p.Ephemerides {
		e := &p.Ephemerides[i]
		if e.Sat.Sys == orbit.BeiDou {
			c.BeiDou++
		} else {
			c.GPS++
		}
		span(e.Toe)
	}
	for i := range p.Almanacs {
		span(p.Almanacs[i].RefTime(near))
	}
	if math.IsInf(c.From, 1) {
		c.From, c.To = 0, 0
	}
	return c
}

// Decompress returns data, gunzipped when it starts with the gzip magic,
// and fails with ErrTooLarge beyond max bytes (≤ 0: DefaultMaxFileBytes).
func Decompress(data []byte, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFileBytes
	}
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		if int64(len(data)) > max {
			return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(data), max)
		}
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes after decompression", ErrTooLarge, max)
	}
	return out, nil
}

// Detect guesses the format of a (decompressed) orbit file: RINEX when the
// first line carries the "RINEX VERSION / TYPE" label, YUMA when an almanac
// record header ("****") is followed by an "ID:" line.
func Detect(data []byte) Format {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	stars := false
	for n := 0; sc.Scan() && n < 50; n++ {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if strings.Contains(line, "RINEX VERSION / TYPE") {
			return FormatRINEX
		}
		if strings.HasPrefix(t, "****") {
			stars = true
			continue
		}
		if stars && strings.HasPrefix(strings.ToLower(t), "id:") {
			return FormatYUMA
		}
		if !stars {
			break
		}
	}
	return FormatAuto
}

// Parse parses an orbit file (gzip allowed) of the given format (FormatAuto
// detects it). A file without any GPS or BeiDou record is an error.
func Parse(name string, format Format, data []byte, maxBytes int64) (*Parsed, error) {
	fail := func(err error) (*Parsed, error) { return nil, &FileError{Name: name, Err: err} }
	raw, err := Decompress(data, maxBytes)
	if err != nil {
		return fail(err)
	}
	detected := Detect(raw)
	if format == FormatAuto {
		format = detected
	}
	switch format {
	case FormatRINEX:
		nf, err := rinex.ParseNav(bytes.NewReader(raw))
		if err != nil {
			return fail(fmt.Errorf("%w: RINEX navigation: %w", ErrFormat, err))
		}
		p := &Parsed{Format: FormatRINEX, Version: nf.Version, Ephemerides: nf.Ephemerides, Iono: nf.Iono, Skipped: nf.Skipped}
		if len(p.Ephemerides) == 0 {
			return fail(fmt.Errorf("%w: no GPS or BeiDou ephemerides (%d records of other systems skipped)", ErrFormat, nf.Skipped))
		}
		return p, nil
	case FormatYUMA:
		alms, err := rinex.ParseYUMA(bytes.NewReader(raw))
		if err != nil {
			return fail(fmt.Errorf("%w: YUMA almanac: %w", ErrFormat, err))
		}
		return &Parsed{Format: FormatYUMA, Almanacs: alms}, nil
	}
	return fail(fmt.Errorf("%w: neither a RINEX navigation file nor a YUMA almanac", ErrFormat))
}
