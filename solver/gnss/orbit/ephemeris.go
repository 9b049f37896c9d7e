package orbit

import "math"

// Ephemeris is one broadcast ephemeris record (GPS LNAV or BeiDou D1/D2).
// Times are GPS seconds; angles radians; distances metres.
type Ephemeris struct {
	Sat  SatID
	Toc  float64 // clock reference time
	Toe  float64 // ephemeris reference time
	Week int     // broadcast week of Toe (GPS or BDT week)

	AF0, AF1, AF2 float64 // s, s/s, s/s²

	SqrtA, Ecc, I0, Omega0, Omega, M0 float64
	DeltaN, OmegaDot, IDOT            float64
	Cuc, Cus, Crc, Crs, Cic, Cis      float64

	TGD  float64 // GPS TGD, BeiDou TGD1 (B1I), s
	TGD2 float64 // BeiDou TGD2 (B2I), s

	IODE, IODC  int     // GPS issue of data; BeiDou AODE, AODC
	Health      int     // 0 = healthy
	URA         float64 // m
	FitInterval float64 // hours; 0 = system default
	TransmitAt  float64 // transmission time of message, GPS seconds (0 if unknown)
}

// IsGEO reports whether the record is a BeiDou geostationary satellite, which
// needs the rotated-frame computation (C01–C05, C59–C63).
func (e *Ephemeris) IsGEO() bool {
	return e.Sat.Sys == BeiDou && (e.Sat.PRN <= 5 || e.Sat.PRN >= 59)
}

// MaxAge returns how far from Toe the record may be used, in seconds: half the
// fit interval (4 h default) for GPS, and 1 h either side of BeiDou's hourly
// updates.
func (e *Ephemeris) MaxAge() float64 {
	if e.Sat.Sys == BeiDou {
		return 3600
	}
	if e.FitInterval > 0 {
		return e.FitInterval * 3600 / 2
	}
	return 7200
}

func (e *Ephemeris) kepler() kepler {
	return kepler{
		sys: e.Sat.Sys, sqrtA: e.SqrtA, ecc: e.Ecc, i0: e.I0, omega0: e.Omega0, omega: e.Omega,
		m0: e.M0, deltaN: e.DeltaN, omegaDot: e.OmegaDot, idot: e.IDOT,
		cuc: e.Cuc, cus: e.Cus, crc: e.Crc, crs: e.Crs, cic: e.Cic, cis: e.Cis,
		toe: e.Toe, geo: e.IsGEO(),
	}
}

// State returns the satellite state at GPS time t (the signal transmission
// time), in the ECEF frame at t.
func (e *Ephemeris) State(t float64) State {
	k := e.kepler()
	pos, vel, sinE, cosE, eDot := k.state(t)
	rel, relRate := k.relativistic(sinE, cosE, eDot)
	dt := t - e.Toc
	return State{
		Pos:        pos,
		Vel:        vel,
		ClockBias:  e.AF0 + e.AF1*dt + e.AF2*dt*dt + rel - e.TGD,
		ClockDrift: e.AF1 + 2*e.AF2*dt + relRate,
	}
}

// Almanac is one almanac record (YUMA for GPS). Week may be the broadcast
// 8- or 10-bit week; it is resolved modulo WeekModulus to the week nearest the
// requested time.
type Almanac struct {
	Sat    SatID
	Health int
	Week   int
	// WeekModulus is the wrap of Week (1024 for YUMA, 0 if Week is complete).
	WeekModulus int
	Toa         float64 // seconds of week

	Ecc, I0, OmegaDot, SqrtA, Omega0, Omega, M0 float64 // I0 is the full inclination
	AF0, AF1                                    float64
}

// RefTime returns the almanac reference time in GPS seconds, resolving a
// truncated week to the one nearest GPS time near.
func (a *Almanac) RefTime(near float64) float64 {
	t := a.Sat.Sys.WeekSeconds(a.Week, a.Toa)
	if a.WeekModulus <= 0 {
		return t
	}
	span := float64(a.WeekModulus) * Week
	return t + math.Round((near-t)/span)*span
}

// State returns the almanac-propagated state at GPS time t. Accuracy is
// kilometres: there are no harmonic corrections or Δn.
func (a *Almanac) State(t float64) State {
	toa := a.RefTime(t)
	k := kepler{
		sys: a.Sat.Sys, sqrtA: a.SqrtA, ecc: a.Ecc, i0: a.I0, omega0: a.Omega0, omega: a.Omega,
		m0: a.M0, omegaDot: a.OmegaDot, toe: toa,
		geo: a.Sat.Sys == BeiDou && (a.Sat.PRN <= 5 || a.Sat.PRN >= 59),
	}
	pos, vel, sinE, cosE, eDot := k.state(t)
	rel, relRate := k.relativistic(sinE, cosE, eDot)
	dt := t - toa
	return State{Pos: pos, Vel: vel, ClockBias: a.AF0 + a.AF1*dt + rel, ClockDrift: a.AF1 + relRate}
}
