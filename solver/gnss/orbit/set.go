package orbit

import (
	"fmt"
	"math"
	"slices"
)

// Source says where a state came from.
type Source uint8

// Sources of a satellite state.
const (
	SourceEphemeris Source = iota + 1
	SourceAlmanac
)

// DefaultAlmanacMaxAge is how old an almanac may be before Set stops using it
// as a fallback: 15 weeks, the LR11xx limit (gnss.md §4).
const DefaultAlmanacMaxAge = 15 * Week

// Set is an immutable in-memory store of ephemerides and almanacs. It is safe
// for concurrent use.
type Set struct {
	eph map[SatID][]Ephemeris // sorted by Toe
	alm map[SatID][]Almanac
	// almanacMaxAge bounds the almanac fallback; ≤ 0 disables almanacs.
	almanacMaxAge float64
}

// NewSet builds a set. Records are copied. Duplicate ephemerides (same
// satellite and Toe) keep the last one given.
func NewSet(ephs []Ephemeris, alms []Almanac) *Set {
	s := &Set{eph: map[SatID][]Ephemeris{}, alm: map[SatID][]Almanac{}, almanacMaxAge: DefaultAlmanacMaxAge}
	for _, e := range ephs {
		s.eph[e.Sat] = append(s.eph[e.Sat], e)
	}
	for id, l := range s.eph {
		slices.SortStableFunc(l, func(a, b Ephemeris) int { return cmpFloat(a.Toe, b.Toe) })
		out := l[:0]
		for i := range l {
			if len(out) > 0 && out[len(out)-1].Toe == l[i].Toe {
				out[len(out)-1] = l[i]
				continue
			}
			out = append(out, l[i])
		}
		s.eph[id] = out
	}
	for _, a := range alms {
		s.alm[a.Sat] = append(s.alm[a.Sat], a)
	}
	return s
}

// WithAlmanacMaxAge returns a copy of s whose almanac fallback accepts
// almanacs up to maxAge seconds from their reference time (≤ 0 disables it).
func (s *Set) WithAlmanacMaxAge(maxAge float64) *Set {
	c := *s
	c.almanacMaxAge = maxAge
	return &c
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sats returns every satellite with at least one record, sorted.
func (s *Set) Sats() []SatID {
	var ids []SatID
	for id := range s.eph {
		ids = append(ids, id)
	}
	for id := range s.alm {
		if _, ok := s.eph[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b SatID) int {
		if a.Sys != b.Sys {
			return int(a.Sys) - int(b.Sys)
		}
		return a.PRN - b.PRN
	})
	return ids
}

// Ephemeris returns the healthy ephemeris with Toe nearest t among those valid
// at t (|t − Toe| ≤ MaxAge).
func (s *Set) Ephemeris(id SatID, t float64) (*Ephemeris, error) {
	l := s.eph[id]
	if len(l) == 0 {
		return nil, fmt.Errorf("%w: no ephemeris for %v", ErrNoOrbit, id)
	}
	best, unhealthy := -1, false
	for i := range l {
		d := math.Abs(t - l[i].Toe)
		if d > l[i].MaxAge() {
			continue
		}
		if l[i].Health != 0 {
			unhealthy = true
			continue
		}
		if best < 0 || d < math.Abs(t-l[best].Toe) {
			best = i
		}
	}
	if best < 0 {
		if unhealthy {
			return nil, fmt.Errorf("%w: %v unhealthy at the requested time", ErrNoOrbit, id)
		}
		return nil, fmt.Errorf("%w: no ephemeris for %v valid at the requested time", ErrNoOrbit, id)
	}
	return &l[best], nil
}

// Almanac returns the healthy almanac nearest t within the age limit.
func (s *Set) Almanac(id SatID, t float64) (*Almanac, error) {
	l := s.alm[id]
	if s.almanacMaxAge <= 0 {
		l = nil
	}
	best := -1
	for i := range l {
		d := math.Abs(t - l[i].RefTime(t))
		if l[i].Health != 0 || d > s.almanacMaxAge {
			continue
		}
		if best < 0 || d < math.Abs(t-l[best].RefTime(t)) {
			best = i
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("%w: no almanac for %v valid at the requested time", ErrNoOrbit, id)
	}
	return &l[best], nil
}

// State returns the state of id at GPS time t from the selected ephemeris,
// or from an almanac when no ephemeris is valid. Errors wrap ErrNoOrbit.
func (s *Set) State(id SatID, t float64) (State, error) {
	st, _, err := s.StateSource(id, t)
	return st, err
}

// StateSource is State plus the kind of record used.
func (s *Set) StateSource(id SatID, t float64) (State, Source, error) {
	e, err := s.Ephemeris(id, t)
	if err == nil {
		return e.State(t), SourceEphemeris, nil
	}
	a, aerr := s.Almanac(id, t)
	if aerr == nil {
		return a.State(t), SourceAlmanac, nil
	}
	return State{}, 0, err
}

// Klobuchar holds the broadcast ionosphere parameters (RINEX ION ALPHA/BETA).
type Klobuchar struct {
	Alpha, Beta [4]float64
}

// L1Delay returns the GPS L1 ionospheric group delay in metres for a receiver
// at lat/lon (degrees) looking at azimuth/elevation (radians) at GPS time t
// (IS-GPS-200 §20.3.3.5.2.5). Scale by (fL1/f)² for other frequencies.
func (k *Klobuchar) L1Delay(t, lat, lon, az, el float64) float64 {
	const sc = 180.0 // semicircles ↔ degrees
	e := el / math.Pi
	psi := 0.0137/(e+0.11) - 0.022
	phiI := lat/sc + psi*math.Cos(az)
	phiI = math.Max(-0.416, math.Min(0.416, phiI))
	lamI := lon/sc + psi*math.Sin(az)/math.Cos(phiI*math.Pi)
	phiM := phiI + 0.064*math.Cos((lamI-1.617)*math.Pi)
	tl := 43200*lamI + t
	tl -= math.Floor(tl/86400) * 86400
	f := 1 + 16*math.Pow(0.53-e, 3)
	amp := k.Alpha[0] + phiM*(k.Alpha[1]+phiM*(k.Alpha[2]+phiM*k.Alpha[3]))
	per := k.Beta[0] + phiM*(k.Beta[1]+phiM*(k.Beta[2]+phiM*k.Beta[3]))
	amp = math.Max(amp, 0)
	per = math.Max(per, 72000)
	x := 2 * math.Pi * (tl - 50400) / per
	d := 5e-9
	if math.Abs(x) < 1.57 {
		x2 := x * x
		d += amp * (1 - x2/2 + x2*x2/24)
	}
	return SpeedOfLight * f * d
}
