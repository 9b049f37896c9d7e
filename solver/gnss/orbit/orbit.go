package orbit

import (
	"errors"
	"fmt"
	"math"
)

// Physical constants.
const (
	SpeedOfLight = 299792458.0 // m/s

	muGPS     = 3.986005e14     // m³/s², IS-GPS-200
	omegaEGPS = 7.2921151467e-5 // rad/s
	muBDS     = 3.986004418e14  // CGCS2000
	omegaEBDS = 7.2921150e-5

	// OmegaEarth is the WGS84 Earth rotation rate used for the Sagnac term.
	OmegaEarth = omegaEGPS

	// Week is the length of a GPS or BDT week in seconds.
	Week = 604800.0
	// BDTOffset is GPST − BDT in seconds.
	BDTOffset = 14.0
	// bdtEpoch is the start of BDT week 0 in GPS seconds.
	bdtEpoch = 1356*Week + BDTOffset
)

// System is a satellite system.
type System uint8

// Supported systems.
const (
	GPS    System = 1
	BeiDou System = 2
)

func (s System) String() string {
	switch s {
	case GPS:
		return "GPS"
	case BeiDou:
		return "BeiDou"
	}
	return fmt.Sprintf("System(%d)", uint8(s))
}

// Letter returns the RINEX system letter ('G', 'C'; '?' otherwise).
func (s System) Letter() byte {
	switch s {
	case GPS:
		return 'G'
	case BeiDou:
		return 'C'
	}
	return '?'
}

// mu and omegaE return the system's gravitational constant and Earth rotation rate.
func (s System) constants() (mu, omegaE float64) {
	if s == BeiDou {
		return muBDS, omegaEBDS
	}
	return muGPS, omegaEGPS
}

// WeekSeconds converts a system week number and seconds of week to GPS seconds.
func (s System) WeekSeconds(week int, sow float64) float64 {
	if s == BeiDou {
		return bdtEpoch + float64(week)*Week + sow
	}
	return float64(week)*Week + sow
}

// secondsOfWeek returns the system's seconds of week at GPS time t.
func (s System) secondsOfWeek(t float64) float64 {
	if s == BeiDou {
		t -= bdtEpoch
	}
	return t - math.Floor(t/Week)*Week
}

// SatID names one satellite.
type SatID struct {
	Sys System
	PRN int
}

func (id SatID) String() string { return fmt.Sprintf("%c%02d", id.Sys.Letter(), id.PRN) }

// State is a satellite's position, velocity and clock at one time.
type State struct {
	Pos, Vel [3]float64 // ECEF, m and m/s
	// ClockBias is the satellite clock offset in seconds (subtract c·ClockBias
	// from the geometric range to predict a pseudorange): polynomial plus the
	// relativistic eccentricity term, minus the group delay of the
	// single-frequency signal (TGD for GPS L1 C/A, TGD1 for BeiDou B1I).
	ClockBias  float64
	ClockDrift float64 // s/s
}

// ErrNoOrbit reports that no usable ephemeris or almanac covers a satellite
// at the requested time.
var ErrNoOrbit = errors.New("orbit: no orbit data")

// kepler holds the elements shared by ephemerides and almanacs.
type kepler struct {
	sys                           System
	sqrtA, ecc, i0, omega0, omega float64
	m0, deltaN, omegaDot, idot    float64
	cuc, cus, crc, crs, cic, cis  float64
	toe                           float64 // reference time, GPS seconds
	geo                           bool    // BeiDou GEO rotation
}

// sinE is returned for the relativistic clock term.
func (k *kepler) state(t float64) (pos, vel [3]float64, sinE, cosE, eDot float64) {
	mu, omegaE := k.sys.constants()
	a := k.sqrtA * k.sqrtA
	n := math.Sqrt(mu/(a*a*a)) + k.deltaN
	tk := t - k.toe
	m := k.m0 + n*tk
	e := k.ecc
	E := m
	for range 30 {
		d := (E - e*math.Sin(E) - m) / (1 - e*math.Cos(E))
		E -= d
		if math.Abs(d) < 1e-14 {
			break
		}
	}
	sinE, cosE = math.Sincos(E)
	den := 1 - e*cosE
	eDot = n / den
	sq := math.Sqrt(1 - e*e)
	nu := math.Atan2(sq*sinE, cosE-e)
	nuDot := eDot * sq / den
	phi := nu + k.omega
	s2, c2 := math.Sincos(2 * phi)
	u := phi + k.cus*s2 + k.cuc*c2
	r := a*den + k.crs*s2 + k.crc*c2
	inc := k.i0 + k.cis*s2 + k.cic*c2 + k.idot*tk
	uDot := nuDot * (1 + 2*(k.cus*c2-k.cuc*s2))
	rDot := a*e*sinE*eDot + 2*nuDot*(k.crs*c2-k.crc*s2)
	iDot := k.idot + 2*nuDot*(k.cis*c2-k.cic*s2)
	su, cu := math.Sincos(u)
	xp, yp := r*cu, r*su
	xpDot := rDot*cu - r*uDot*su
	ypDot := rDot*su + r*uDot*cu

	toeSOW := k.sys.secondsOfWeek(k.toe)
	var om, omDot float64
	if k.geo {
		// BeiDou GEO: orbit in an inertial-like frame, then rotated (BDS ICD).
		om = k.omega0 + k.omegaDot*tk - omegaE*toeSOW
		omDot = k.omegaDot
	} else {
		om = k.omega0 + (k.omegaDot-omegaE)*tk - omegaE*toeSOW
		omDot = k.omegaDot - omegaE
	}
	so, co := math.Sincos(om)
	si, ci := math.Sincos(inc)
	x := xp*co - yp*ci*so
	y := xp*so + yp*ci*co
	z := yp * si
	vx := xpDot*co - ypDot*ci*so + yp*si*so*iDot - y*omDot
	vy := xpDot*so + ypDot*ci*co - yp*si*co*iDot + x*omDot
	vz := ypDot*si + yp*ci*iDot
	if !k.geo {
		return [3]float64{x, y, z}, [3]float64{vx, vy, vz}, sinE, cosE, eDot
	}
	// Rx(−5°) then Rz(ωe·tk).
	const f = -5 * math.Pi / 180
	sf, cf := math.Sincos(f)
	x1, y1, z1 := x, cf*y+sf*z, -sf*y+cf*z
	vx1, vy1, vz1 := vx, cf*vy+sf*vz, -sf*vy+cf*vz
	sz, cz := math.Sincos(omegaE * tk)
	pos = [3]float64{cz*x1 + sz*y1, -sz*x1 + cz*y1, z1}
	vel = [3]float64{
		cz*vx1 + sz*vy1 + omegaE*(-sz*x1+cz*y1),
		-sz*vx1 + cz*vy1 + omegaE*(-cz*x1-sz*y1),
		vz1,
	}
	return pos, vel, sinE, cosE, eDot
}

// relativistic returns the eccentricity clock term and its rate.
func (k *kepler) relativistic(sinE, cosE, eDot float64) (dt, rate float64) {
	mu, _ := k.sys.constants()
	f := -2 * math.Sqrt(mu) / (SpeedOfLight * SpeedOfLight)
	return f * k.ecc * k.sqrtA * sinE, f * k.ecc * k.sqrtA * cosE * eDot
}
