package rinex

import (
	"fmt"
	"io"
	"strings"

	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// yumaField maps the lower-case key prefix of a YUMA line to a setter.
var yumaFields = []struct {
	prefix string
	set    func(a *orbit.Almanac, v float64)
}{
	{"id", func(a *orbit.Almanac, v float64) { a.Sat.PRN = int(v) }},
	{"health", func(a *orbit.Almanac, v float64) { a.Health = int(v) }},
	{"eccentricity", func(a *orbit.Almanac, v float64) { a.Ecc = v }},
	{"time of applicability", func(a *orbit.Almanac, v float64) { a.Toa = v }},
	{"orbital inclination", func(a *orbit.Almanac, v float64) { a.I0 = v }},
	{"rate of right ascen", func(a *orbit.Almanac, v float64) { a.OmegaDot = v }},
	{"sqrt(a)", func(a *orbit.Almanac, v float64) { a.SqrtA = v }},
	{"right ascen at week", func(a *orbit.Almanac, v float64) { a.Omega0 = v }},
	{"argument of perigee", func(a *orbit.Almanac, v float64) { a.Omega = v }},
	{"mean anom", func(a *orbit.Almanac, v float64) { a.M0 = v }},
	{"af0", func(a *orbit.Almanac, v float64) { a.AF0 = v }},
	{"af1", func(a *orbit.Almanac, v float64) { a.AF1 = v }},
	{"week", func(a *orbit.Almanac, v float64) { a.Week = int(v) }},
}

// ParseYUMA reads a GPS YUMA almanac. Weeks below 1024 are taken as
// truncated (WeekModulus 1024) and resolved against the time of use.
func ParseYUMA(r io.Reader) ([]orbit.Almanac, error) {
	lr := newLineReader(r)
	var out []orbit.Almanac
	var cur *orbit.Almanac
	var seen int // bit set of yumaFields found for cur
	finish := func() error {
		if cur == nil {
			return nil
		}
		if seen != 1<<len(yumaFields)-1 {
			for i, f := range yumaFields {
				if seen&(1<<i) == 0 {
					return &ParseError{Line: lr.n, Field: f.prefix, Err: fmt.Errorf("%w: missing in almanac record", ErrFormat)}
				}
			}
		}
		if cur.Sat.PRN < 1 || cur.Sat.PRN > 32 {
			return &ParseError{Line: lr.n, Field: "id", Err: fmt.Errorf("%w: PRN %d", ErrFormat, cur.Sat.PRN)}
		}
		if cur.Week < 1024 {
			cur.WeekModulus = 1024
		}
		out = append(out, *cur)
		cur = nil
		return nil
	}
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		t := strings.TrimSpace(s)
		switch {
		case t == "":
			continue
		case strings.HasPrefix(t, "****"):
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &orbit.Almanac{Sat: orbit.SatID{Sys: orbit.GPS}}
			seen = 0
			continue
		}
		key, val, found := strings.Cut(t, ":")
		if !found || cur == nil {
			return nil, &ParseError{Line: lr.n, Field: "record", Err: fmt.Errorf("%w: unexpected line %q", ErrFormat, t)}
		}
		key = strings.ToLower(strings.TrimSpace(key))
		for i, f := range yumaFields {
			if strings.HasPrefix(key, f.prefix) {
				v, err := parseFloat(val)
				if err != nil {
					return nil, &ParseError{Line: lr.n, Field: f.prefix, Err: fmt.Errorf("%w: %v", ErrFormat, err)}
				}
				f.set(cur, v)
				seen |= 1 << i
				break
			}
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if err := lr.err(); err != nil {
		return nil, fmt.Errorf("rinex: read: %w", err)
	}
	if len(out) == 0 {
		return nil, &ParseError{Line: lr.n, Field: "almanac", Err: fmt.Errorf("%w: no records", ErrFormat)}
	}
	return out, nil
}
