package gnsstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// Mixed-constellation fixture (RINEX 3.04): GPS and BeiDou MEO, IGSO and GEO
// satellites, plus Galileo, GLONASS, QZSS and SBAS records that parsers skip.
//
// Element conventions follow IS-GPS-200 and the BDS-SIS-ICD. The generator
// keeps its own copy of the constants and of the ICD geometry at the
// reference time (placement, GEO frame), so tests can check the orbit package
// against it; pseudoranges are then computed with the orbit package itself.

// ICD constants (kept here on purpose, see above).
const (
	icdMuGPS     = 3.986005e14
	icdOmegaGPS  = 7.2921151467e-5
	icdMuBDS     = 3.986004418e14
	icdOmegaBDS  = 7.2921150e-5
	icdWeek      = 604800.0
	bdtMinusGPST = -14.0
	// bdtWeek0 is BDT week 0 (2006-01-01 00:00:00 BDT) in GPS seconds.
	bdtWeek0 = 1356*icdWeek - bdtMinusGPST
	geoTilt  = -5 * math.Pi / 180 // R_X(−5°) of the BeiDou GEO computation
)

// Carrier frequencies, Hz.
const (
	fL1  = 1575.42e6
	fL2  = 1227.60e6
	fL5  = 1176.45e6
	fB1I = 1561.098e6
	fB2I = 1207.14e6
	fG1  = 1602e6
	fG1k = 0.5625e6
)

// MixedT0 is the mixed fixture's reference time, GPST: Sunday 2024-03-03
// 00:00:00, the start of GPS week 2304. BDT week 948 starts 14 s later.
var MixedT0 = time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC)

// OrbitType classifies a generated satellite.
type OrbitType uint8

// Orbit types of the mixed fixture.
const (
	OrbitGPS     OrbitType = iota + 1
	OrbitMEO               // BeiDou MEO
	OrbitIGSO              // BeiDou inclined geosynchronous
	OrbitGEO               // BeiDou geostationary (C01–C05)
	OrbitGalileo           // written for parsers to skip
	OrbitGLONASS           // written for parsers to skip
)

func (o OrbitType) String() string {
	switch o {
	case OrbitGPS:
		return "GPS"
	case OrbitMEO:
		return "BeiDou MEO"
	case OrbitIGSO:
		return "BeiDou IGSO"
	case OrbitGEO:
		return "BeiDou GEO"
	case OrbitGalileo:
		return "Galileo"
	case OrbitGLONASS:
		return "GLONASS"
	}
	return fmt.Sprintf("OrbitType(%d)", uint8(o))
}

// SatInfo describes one generated satellite.
type SatInfo struct {
	Sys  byte // RINEX system letter
	PRN  int
	Type OrbitType
	// Az and El are where the satellite was placed, degrees, as seen from
	// the receiver at Toe (non-GEO); Lon is a GEO's longitude at Toe.
	Az, El, Lon float64
	// Toe is the reference time of the satellite's first record, GPS s.
	Toe float64
	// Placed is the ECEF position at Toe computed by the generator from the
	// elements with its own ICD formulas (not the orbit package).
	Placed geo.ECEF
	// GLONASS frequency number (OrbitGLONASS only).
	FreqNum int
}

// ObsEpoch is one epoch record of the generated observation file.
type ObsEpoch struct {
	// Time is the receiver time tag, GPS seconds (0 for an event without a
	// time, flag 4 here).
	Time float64
	Flag int
	// ClockOffset is the receiver clock offset written in the epoch line
	// (only when HasClockOffset).
	ClockOffset    float64
	HasClockOffset bool
	// Records are the lines that follow an event epoch (flags 2–5).
	Records []string
	// Sats are the observation records (flags 0, 1) or the cycle-slip
	// records (flag 6).
	Sats []SatObs
}

// SatObs is one satellite's line: values in the order of ObsTypes[Sys], NaN
// for a blank field.
type SatObs struct {
	Sys    byte
	PRN    int
	Values []float64
	// LLI holds the loss-of-lock indicator of each value (0: blank); SSI is
	// the signal-strength digit written after every value.
	LLI []uint8
	SSI uint8
	// Elevation of the satellite, degrees (not written).
	Elevation float64
}

// Mixed is the generated GPS + BeiDou fixture: a receiver at a known
// position, broadcast records of every satellite (two per satellite, so that
// consecutive records can be compared), and noise-free observations.
type Mixed struct {
	Truth    geo.ECEF
	TruthLLH geo.LLH
	// ApproxPosition is the observation header's APPROX POSITION XYZ.
	ApproxPosition [3]float64
	// T0 is MixedT0 in GPS seconds.
	T0 float64
	// Ephemerides are the GPS and BeiDou records in file order, exactly as a
	// parser must return them (values are rounded to the file's digits).
	Ephemerides []orbit.Ephemeris
	Set         *orbit.Set
	// Iono is the GPS Klobuchar model (GPSA/GPSB). It is the ionosphere of
	// the observations for every system (scaled by (f_L1/f)²), as the solver
	// models it. IonoBDS is the header's BDSA/BDSB, written only.
	Iono, IonoBDS orbit.Klobuchar
	LeapSeconds   int
	// Skipped counts the navigation records of other systems.
	Skipped int
	Sats    []SatInfo
	// Receiver clock: offset ReceiverClock at T0 (s) and drift (s/s),
	// both as functions of the receiver's own time tag.
	ReceiverClock, ReceiverDrift float64
	// BeiDouBiasM is a receiver inter-system bias added to BeiDou ranges.
	BeiDouBiasM float64
	ObsTypes    map[byte][]string
	// Interval between data epochs, s.
	Interval float64
	// Epochs are the observation file's epoch records in file order,
	// events included.
	Epochs []ObsEpoch

	others []otherSat
}

// otherSat is a Galileo or GLONASS satellite, propagated with the GPS
// formulas (its records are only written, never parsed).
type otherSat struct {
	info SatInfo
	eph  orbit.Ephemeris
}

// satSpec is one row of the constellation table.
type satSpec struct {
	sys     byte
	prn     int
	typ     OrbitType
	az, el  float64 // placement (non-GEO), degrees
	lon     float64 // GEO longitude, degrees
	desc    bool    // on the descending part of the orbit
	l5, l1c bool    // GPS signals tracked
	k       int     // GLONASS frequency number
}

// mixedSky places every satellite. GEO longitudes are those of the BeiDou
// GEO slots; the rest are chosen for a good mixed geometry at 30.5° N.
var mixedSky = []satSpec{
	{sys: 'G', prn: 3, typ: OrbitGPS, az: 35, el: 58, l5: true},
	{sys: 'G', prn: 6, typ: OrbitGPS, az: 110, el: 33, l5: true},
	{sys: 'G', prn: 11, typ: OrbitGPS, az: 168, el: 52, desc: true, l1c: true},
	{sys: 'G', prn: 14, typ: OrbitGPS, az: 214, el: 26, l1c: true, l5: true},
	{sys: 'G', prn: 17, typ: OrbitGPS, az: 262, el: 61, desc: true},
	{sys: 'G', prn: 19, typ: OrbitGPS, az: 300, el: 19},
	{sys: 'G', prn: 22, typ: OrbitGPS, az: 320, el: 64, desc: true},
	{sys: 'G', prn: 25, typ: OrbitGPS, az: 75, el: 17, desc: true, l5: true},
	{sys: 'G', prn: 31, typ: OrbitGPS, az: 135, el: 79},
	{sys: 'C', prn: 1, typ: OrbitGEO, lon: 140},
	{sys: 'C', prn: 2, typ: OrbitGEO, lon: 80},
	{sys: 'C', prn: 3, typ: OrbitGEO, lon: 110.5},
	{sys: 'C', prn: 4, typ: OrbitGEO, lon: 160},
	{sys: 'C', prn: 5, typ: OrbitGEO, lon: 58.75},
	{sys: 'C', prn: 7, typ: OrbitIGSO, az: 205, el: 57},
	{sys: 'C', prn: 10, typ: OrbitIGSO, az: 150, el: 28, desc: true},
	{sys: 'C', prn: 13, typ: OrbitIGSO, az: 265, el: 72, desc: true},
	{sys: 'C', prn: 11, typ: OrbitMEO, az: 55, el: 50},
	{sys: 'C', prn: 12, typ: OrbitMEO, az: 290, el: 24},
	{sys: 'C', prn: 23, typ: OrbitMEO, az: 120, el: 63, desc: true},
	{sys: 'C', prn: 34, typ: OrbitMEO, az: 232, el: 38},
	{sys: 'E', prn: 5, typ: OrbitGalileo, az: 60, el: 30},
	{sys: 'E', prn: 12, typ: OrbitGalileo, az: 190, el: 45, desc: true},
	{sys: 'E', prn: 24, typ: OrbitGalileo, az: 280, el: 35},
	{sys: 'E', prn: 31, typ: OrbitGalileo, az: 10, el: 66},
	{sys: 'R', prn: 3, typ: OrbitGLONASS, az: 95, el: 50, k: 5},
	{sys: 'R', prn: 14, typ: OrbitGLONASS, az: 335, el: 40, desc: true, k: -7},
	{sys: 'R', prn: 21, typ: OrbitGLONASS, az: 245, el: 22, k: 4},
}

// Observation types per system. GPS has more than 13 (a continuation line).
var mixedTypes = map[byte][]string{
	'G': {"C1C", "L1C", "D1C", "S1C", "C2W", "L2W", "S2W", "C5Q", "L5Q", "D5Q", "S5Q", "C1L", "L1L", "S1L"},
	'C': {"C2I", "L2I", "D2I", "S2I", "C7I", "L7I", "D7I", "S7I"},
	'E': {"C1C", "L1C", "D1C", "S1C", "C5Q", "L5Q", "D5Q", "S5Q"},
	'R': {"C1C", "L1C", "D1C", "S1C"},
}

// mixedSysOrder is the order of systems in the headers and epochs.
var mixedSysOrder = []byte{'G', 'C', 'E', 'R'}

// Record spacing: GPS every 2 h, BeiDou every hour.
const (
	gpsRecordStep = 7200.0
	bdsRecordStep = 3600.0
)

// First data epoch (after T0) and the number of data epochs.
const (
	obsStart   = 300.0
	obsEpochs  = 6
	obsSpacing = 30.0
)

// NewMixed returns the mixed fixture. It is deterministic: every call gives
// the same values and files.
func NewMixed() *Mixed {
	llh := geo.LLH{Lat: 30.5156, Lon: 114.4902, Height: 42.5}
	m := &Mixed{
		Truth: llh.ECEF(), TruthLLH: llh, T0: float64(MixedT0.Unix() - gpsEpoch.Unix()),
		Iono: orbit.Klobuchar{
			Alpha: [4]float64{1.3039e-08, 2.2352e-08, -5.9605e-08, -1.1921e-07},
			Beta:  [4]float64{1.0035e+05, 9.8304e+04, -6.5536e+04, -5.2429e+05},
		},
		IonoBDS: orbit.Klobuchar{
			Alpha: [4]float64{1.4901e-08, 1.1921e-07, -1.1325e-06, 1.7285e-06},
			Beta:  [4]float64{1.2698e+05, 1.6384e+05, -1.0486e+06, 5.2429e+05},
		},
		LeapSeconds:   18,
		ReceiverClock: 3.217e-4, ReceiverDrift: 2.5e-9,
		BeiDouBiasM: 23.456,
		ObsTypes:    map[byte][]string{},
		Interval:    obsSpacing,
	}
	for sys, types := range mixedTypes {
		m.ObsTypes[sys] = slices.Clone(types)
	}
	for i := range 3 {
		m.ApproxPosition[i] = q4(m.Truth[i] + []float64{3.1, -2.4, 1.7}[i])
	}
	rng := rand.New(rand.NewPCG(20240303, 948))
	var gps, bds []orbit.Ephemeris
	for _, s := range mixedSky {
		info, recs := m.satellite(s, rng)
		switch s.typ {
		case OrbitGalileo, OrbitGLONASS:
			m.others = append(m.others, otherSat{info: info, eph: recs[0]})
		case OrbitGPS:
			gps = append(gps, recs...)
		default:
			bds = append(bds, recs...)
		}
		m.Sats = append(m.Sats, info)
	}
	// File order: GPS, then BeiDou (the other systems are interleaved
	// between them when written).
	m.Ephemerides = append(gps, bds...)
	m.Set = orbit.NewSet(m.Ephemerides, nil)
	m.Skipped = len(m.others) + 2 // + one QZSS and one SBAS record
	m.observations(rng)
	return m
}

// uniform draws from [lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// elements are the Keplerian and harmonic parameters of one orbit.
type elements struct {
	sqrtA, ecc, inc, omega, deltaN float64
	cuc, cus, crc, crs, cic, cis   float64
	omegaDot, idot                 float64
}

// drawElements returns plausible elements for an orbit type.
func drawElements(typ OrbitType, rng *rand.Rand) elements {
	deg := math.Pi / 180
	var e elements
	switch typ {
	case OrbitGPS:
		e = elements{sqrtA: uniform(rng, 5153.5, 5153.8), ecc: uniform(rng, 0.001, 0.02), inc: uniform(rng, 54.5, 56.5) * deg,
			deltaN: uniform(rng, 3.8e-9, 5.2e-9), omegaDot: uniform(rng, -8.4e-9, -7.6e-9), idot: uniform(rng, -4e-10, 4e-10),
			cuc: uniform(rng, -9e-6, 9e-6), cus: uniform(rng, -9e-6, 9e-6), crc: uniform(rng, 150, 330), crs: uniform(rng, -120, 120),
			cic: uniform(rng, -2.5e-7, 2.5e-7), cis: uniform(rng, -2.5e-7, 2.5e-7)}
	case OrbitMEO:
		e = elements{sqrtA: uniform(rng, 5282.55, 5282.7), ecc: uniform(rng, 3e-4, 2e-3), inc: uniform(rng, 54.8, 55.6) * deg,
			deltaN: uniform(rng, 3.5e-9, 4.3e-9), omegaDot: uniform(rng, -7.2e-9, -6.6e-9), idot: uniform(rng, -3e-10, 3e-10),
			cuc: uniform(rng, -1e-5, 1e-5), cus: uniform(rng, -1e-5, 1e-5), crc: uniform(rng, -200, 200), crs: uniform(rng, -200, 200),
			cic: uniform(rng, -1e-7, 1e-7), cis: uniform(rng, -1e-7, 1e-7)}
	case OrbitIGSO:
		e = elements{sqrtA: uniform(rng, 6493.3, 6493.5), ecc: uniform(rng, 1e-3, 8e-3), inc: uniform(rng, 54.5, 56) * deg,
			deltaN: uniform(rng, 1.0e-9, 2.0e-9), omegaDot: uniform(rng, -2.0e-9, -1.4e-9), idot: uniform(rng, -2e-10, 2e-10),
			cuc: uniform(rng, -1e-5, 1e-5), cus: uniform(rng, -1e-5, 1e-5), crc: uniform(rng, -300, 300), crs: uniform(rng, -300, 300),
			cic: uniform(rng, -1.5e-7, 1.5e-7), cis: uniform(rng, -1.5e-7, 1.5e-7)}
	case OrbitGEO:
		// Geostationary: mean motion n = √(µ/a³) + Δn equal to the Earth
		// rotation. In the GEO frame (tilted by 5°) the inclination is about
		// 5° and the node near 180°, so the true inclination is small. No
		// node or inclination rate and no inclination harmonics: the frame
		// change between consecutive records is then exact (geoNext).
		dn := uniform(rng, -3e-9, 3e-9)
		a := math.Cbrt(icdMuBDS / ((icdOmegaBDS - dn) * (icdOmegaBDS - dn)))
		e = elements{sqrtA: math.Sqrt(a), ecc: uniform(rng, 2e-4, 8e-4), inc: uniform(rng, 4.7, 6.2) * deg, deltaN: dn,
			cuc: uniform(rng, -1.5e-5, 1.5e-5), cus: uniform(rng, -1.5e-5, 1.5e-5), crc: uniform(rng, -400, 400), crs: uniform(rng, -400, 400)}
	case OrbitGalileo:
		e = elements{sqrtA: uniform(rng, 5440.55, 5440.65), ecc: uniform(rng, 1e-4, 6e-4), inc: uniform(rng, 55.8, 56.6) * deg,
			deltaN: uniform(rng, 2.6e-9, 3.2e-9), omegaDot: uniform(rng, -5.6e-9, -5.2e-9)}
	case OrbitGLONASS:
		e = elements{sqrtA: uniform(rng, 5050.6, 5050.8), ecc: uniform(rng, 5e-4, 2e-3), inc: uniform(rng, 64.5, 65.2) * deg}
	}
	e.omega = uniform(rng, -math.Pi, math.Pi)
	return e
}

// inPlane returns the radius, argument of latitude and inclination at mean
// anomaly m, with the harmonic corrections (at the reference time).
func (e *elements) inPlane(m float64) (r, u, inc float64) {
	ea := m
	for range 60 {
		ea = m + e.ecc*math.Sin(ea)
	}
	se, ce := math.Sincos(ea)
	nu := math.Atan2(math.Sqrt(1-e.ecc*e.ecc)*se, ce-e.ecc)
	phi := nu + e.omega
	s2, c2 := math.Sincos(2 * phi)
	a := e.sqrtA * e.sqrtA
	return a*(1-e.ecc*ce) + e.crs*s2 + e.crc*c2, phi + e.cus*s2 + e.cuc*c2, e.inc + e.cis*s2 + e.cic*c2
}

// meanAnomaly inverts inPlane: the mean anomaly at argument of latitude u.
func (e *elements) meanAnomaly(u float64) float64 {
	phi := u
	for range 20 {
		s2, c2 := math.Sincos(2 * phi)
		phi = u - e.cus*s2 - e.cuc*c2
	}
	nu := phi - e.omega
	sn, cn := math.Sincos(nu)
	ea := math.Atan2(math.Sqrt(1-e.ecc*e.ecc)*sn, e.ecc+cn)
	return wrap(ea - e.ecc*math.Sin(ea))
}

// orbitToFrame rotates the in-plane position (r, u) of an orbit with node
// longitude node and inclination inc into the node's frame.
func orbitToFrame(node, inc, r, u float64) geo.ECEF {
	su, cu := math.Sincos(u)
	so, co := math.Sincos(node)
	si, ci := math.Sincos(inc)
	x, y := r*cu, r*su
	return geo.ECEF{x*co - y*ci*so, x*so + y*ci*co, y * si}
}

// rotX is the ICD's R_X(φ) (a rotation of the frame about x).
func rotX(p geo.ECEF, phi float64) geo.ECEF {
	s, c := math.Sincos(phi)
	return geo.ECEF{p[0], c*p[1] + s*p[2], -s*p[1] + c*p[2]}
}

// rotZ is the ICD's R_Z(φ).
func rotZ(p geo.ECEF, phi float64) geo.ECEF {
	s, c := math.Sincos(phi)
	return geo.ECEF{c*p[0] + s*p[1], -s*p[0] + c*p[1], p[2]}
}

// placeSky finds the node longitude and mean anomaly that put the satellite
// at azimuth az and elevation el (radians) from the receiver at the
// reference time, and returns the resulting ECEF position.
func (m *Mixed) placeSky(e *elements, az, el float64, desc bool) (node, ma float64, pos geo.ECEF) {
	dir := geo.FromENU(m.TruthLLH, geo.ENU{E: math.Sin(az) * math.Cos(el), N: math.Cos(az) * math.Cos(el), U: math.Sin(el)})
	r, inc := e.sqrtA*e.sqrtA, e.inc
	for range 12 {
		xu := m.Truth.Dot(dir)
		rho := -xu + math.Sqrt(xu*xu-m.Truth.Dot(m.Truth)+r*r)
		p := m.Truth.Add(geo.ECEF{dir[0] * rho, dir[1] * rho, dir[2] * rho})
		s := p[2] / (r * math.Sin(inc))
		if math.Abs(s) > 1 {
			panic(fmt.Sprintf("gnsstest: cannot place a %.1f° orbit at az %.0f° el %.0f°", inc*180/math.Pi, az*180/math.Pi, el*180/math.Pi))
		}
		u := math.Asin(s)
		if desc {
			u = math.Pi - u
		}
		node = math.Atan2(p[1], p[0]) - math.Atan2(s*math.Cos(inc), math.Cos(u))
		ma = e.meanAnomaly(u)
		r, _, inc = e.inPlane(ma)
	}
	r, u, inc := e.inPlane(ma)
	return wrap(node), ma, orbitToFrame(node, inc, r, u)
}

// placeGEO finds the mean anomaly that puts a GEO satellite with GEO-frame
// node nodeG at longitude lon (radians) at the reference time, and returns
// its ECEF position there (R_Z(ωe·0) is the identity).
func placeGEO(e *elements, nodeG, lon float64) (ma float64, pos geo.ECEF) {
	ma = wrap(lon - nodeG)
	for range 30 {
		r, u, inc := e.inPlane(ma)
		pos = rotX(orbitToFrame(nodeG, inc, r, u), geoTilt)
		d := wrap(lon - math.Atan2(pos[1], pos[0]))
		ma = wrap(ma + d)
		if math.Abs(d) < 1e-14 {
			break
		}
	}
	r, u, inc := e.inPlane(ma)
	return ma, rotX(orbitToFrame(nodeG, inc, r, u), geoTilt)
}

// sysSOW returns the seconds of week of GPS time t in the satellite's own
// time scale (BDT for BeiDou).
func sysSOW(beidou bool, t float64) (week int, sow float64) {
	if beidou {
		t -= bdtWeek0
	}
	w := math.Floor(t / icdWeek)
	return int(w), t - w*icdWeek
}

// satellite builds the records of one satellite: two consecutive records for
// GPS and BeiDou, one (propagated as GPS) for the others.
func (m *Mixed) satellite(s satSpec, rng *rand.Rand) (SatInfo, []orbit.Ephemeris) {
	deg := math.Pi / 180
	beidou := s.sys == 'C'
	omegaE := icdOmegaGPS
	toe := m.T0
	if beidou {
		omegaE = icdOmegaBDS
		toe = m.T0 - bdtMinusGPST // BDT 00:00:00 of the same day
	}
	week, sow := sysSOW(beidou, toe)
	el := drawElements(s.typ, rng)
	info := SatInfo{Sys: s.sys, PRN: s.prn, Type: s.typ, Az: s.az, El: s.el, Lon: s.lon, Toe: toe, FreqNum: s.k}
	var node, ma float64
	if s.typ == OrbitGEO {
		nodeG := math.Pi + uniform(rng, -0.4, 0.4)
		ma, info.Placed = placeGEO(&el, nodeG, s.lon*deg)
		node = nodeG // GEO-frame node at Toe
	} else {
		node, ma, info.Placed = m.placeSky(&el, s.az*deg, s.el*deg, s.desc)
	}
	// Galileo and GLONASS keep System 0: the orbit package then uses the
	// GPS constants, and the records stay out of every orbit.Set.
	id := orbit.SatID{PRN: s.prn}
	switch s.sys {
	case 'G':
		id.Sys = orbit.GPS
	case 'C':
		id.Sys = orbit.BeiDou
	}
	e := orbit.Ephemeris{
		Sat: id, Toc: toe, Toe: toe, Week: week,
		SqrtA: el.sqrtA, Ecc: el.ecc, I0: el.inc, Omega: el.omega, M0: ma, DeltaN: el.deltaN,
		// Ω at Toe is Ω0 − ωe·toe(sow) for both branches.
		Omega0: wrap(node + omegaE*sow), OmegaDot: el.omegaDot, IDOT: el.idot,
		Cuc: el.cuc, Cus: el.cus, Crc: el.crc, Crs: el.crs, Cic: el.cic, Cis: el.cis,
		URA: 2,
	}
	switch s.typ {
	case OrbitGPS:
		e.AF0, e.AF1 = uniform(rng, -6e-4, 6e-4), uniform(rng, -8e-12, 8e-12)
		e.TGD = float64(rng.IntN(16)-5) * math.Ldexp(1, -31)
		e.IODE = 1 + rng.IntN(250)
		e.IODC = e.IODE
		e.FitInterval = 4
		e.TransmitAt = toe - 7182
	case OrbitMEO, OrbitIGSO, OrbitGEO:
		e.AF0, e.AF1 = uniform(rng, -9e-4, 9e-4), uniform(rng, -2.5e-11, 2.5e-11)
		e.AF2 = float64(rng.IntN(5)-2) * 1e-20
		e.TGD = math.Round(uniform(rng, -150, 150)) * 1e-10 // 0.1 ns steps
		e.TGD2 = math.Round(uniform(rng, -150, 150)) * 1e-10
		e.IODE, e.IODC = 1, 1
		e.TransmitAt = toe - 30
	default:
		e.AF0, e.AF1 = uniform(rng, -5e-4, 5e-4), uniform(rng, -5e-12, 5e-12)
		e.IODE = rng.IntN(128)
		e.TransmitAt = toe - 600
	}
	e = quantize(e)
	if s.typ == OrbitGalileo || s.typ == OrbitGLONASS {
		return info, []orbit.Ephemeris{e}
	}
	step := gpsRecordStep
	if beidou {
		step = bdsRecordStep
	}
	var next orbit.Ephemeris
	if s.typ == OrbitGEO {
		next = geoNext(e, step)
	} else {
		next = keplerNext(e, step)
	}
	next.IODE, next.IODC = e.IODE+1, e.IODC+1
	next.TransmitAt = e.TransmitAt + step
	if s.typ == OrbitIGSO && s.prn == 13 {
		next.TransmitAt = 0 // written as 0.9999e9: unknown
	}
	return info, []orbit.Ephemeris{e, quantize(next)}
}

// meanMotion returns √(µ/a³) + Δn for the record's system.
func meanMotion(e orbit.Ephemeris) float64 {
	mu := icdMuGPS
	if e.Sat.Sys == orbit.BeiDou {
		mu = icdMuBDS
	}
	a := e.SqrtA * e.SqrtA
	return math.Sqrt(mu/(a*a*a)) + e.DeltaN
}

// advanceClock moves the reference time of e by dt and re-expands the clock
// polynomial around it.
func advanceClock(e orbit.Ephemeris, dt float64) orbit.Ephemeris {
	e.AF0 += e.AF1*dt + e.AF2*dt*dt
	e.AF1 += 2 * e.AF2 * dt
	e.Toc += dt
	e.Toe += dt
	e.Week, _ = sysSOW(e.Sat.Sys == orbit.BeiDou, e.Toe)
	return e
}

// keplerNext returns the record dt seconds after e describing exactly the
// same orbit (ICD model, non-GEO).
func keplerNext(e orbit.Ephemeris, dt float64) orbit.Ephemeris {
	beidou := e.Sat.Sys == orbit.BeiDou
	omegaE := icdOmegaGPS
	if beidou {
		omegaE = icdOmegaBDS
	}
	_, sow1 := sysSOW(beidou, e.Toe)
	n := advanceClock(e, dt)
	_, sow2 := sysSOW(beidou, n.Toe)
	// Ω(t) = Ω0 + (Ω̇ − ωe)(t − toe) − ωe·sow(toe) must not change.
	n.Omega0 = wrap(e.Omega0 + e.OmegaDot*dt + omegaE*(sow2-sow1-dt))
	n.I0 = e.I0 + e.IDOT*dt
	n.M0 = wrap(e.M0 + meanMotion(e)*dt)
	return n
}

// geoNext returns the BeiDou GEO record dt seconds after e describing the
// same orbit. A GEO record's orbit lies in a frame X_G with
// ECEF = R_Z(ωe·tk)·R_X(−5°)·X_G, so the frame of a record dt later is
// X_G' = R_X(5°)·R_Z(ωe·dt)·R_X(−5°)·X_G: the plane (i, Ω) and the node
// (ω, harmonic phases) are re-expressed in it. Needs Ω̇ = i̇ = Cic = Cis = 0.
func geoNext(e orbit.Ephemeris, dt float64) orbit.Ephemeris {
	_, sow1 := sysSOW(true, e.Toe)
	n := advanceClock(e, dt)
	_, sow2 := sysSOW(true, n.Toe)
	node1 := e.Omega0 - icdOmegaBDS*sow1
	q := func(p geo.ECEF) geo.ECEF { return rotX(rotZ(rotX(p, geoTilt), icdOmegaBDS*dt), -geoTilt) }
	// Columns of B = Q·Rz(node1)·Rx(i1): node, in-plane normal-to-node, pole.
	bx := q(orbitToFrame(node1, e.I0, 1, 0))
	by := q(orbitToFrame(node1, e.I0, 1, math.Pi/2))
	bz := q(geo.ECEF{math.Sin(node1) * math.Sin(e.I0), -math.Cos(node1) * math.Sin(e.I0), math.Cos(e.I0)})
	i2 := math.Acos(math.Max(-1, math.Min(1, bz[2])))
	node2 := math.Atan2(bz[0], -bz[1])
	n2 := geo.ECEF{math.Cos(node2), math.Sin(node2), 0}
	// The new node seen in the old plane: Bᵀ·N2 = (cos d, −sin d, 0).
	d := math.Atan2(-by.Dot(n2), bx.Dot(n2))
	n.I0 = i2
	n.Omega0 = wrap(node2 + icdOmegaBDS*sow2)
	n.Omega = wrap(e.Omega + d)
	// φ' = φ + d: rotate the 2φ harmonics by 2d.
	s, c := math.Sincos(2 * d)
	n.Cus, n.Cuc = e.Cus*c+e.Cuc*s, -e.Cus*s+e.Cuc*c
	n.Crs, n.Crc = e.Crs*c+e.Crc*s, -e.Crs*s+e.Crc*c
	n.M0 = wrap(e.M0 + meanMotion(e)*dt)
	return n
}

// q12 rounds v to the 13 significant digits of a RINEX D19.12 field.
func q12(v float64) float64 { return parse(fmt.Sprintf("%.12e", v)) }

// q3 and q4 round to F14.3 and F14.4 fields.
func q3(v float64) float64 { return parse(fmt.Sprintf("%.3f", v)) }
func q4(v float64) float64 { return parse(fmt.Sprintf("%.4f", v)) }

func parse(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return v
}

// quantize rounds every real field to what the navigation file holds.
func quantize(e orbit.Ephemeris) orbit.Ephemeris {
	for _, p := range []*float64{&e.AF0, &e.AF1, &e.AF2, &e.SqrtA, &e.Ecc, &e.I0, &e.Omega0, &e.Omega, &e.M0,
		&e.DeltaN, &e.OmegaDot, &e.IDOT, &e.Cuc, &e.Cus, &e.Crc, &e.Crs, &e.Cic, &e.Cis, &e.TGD, &e.TGD2, &e.URA} {
		*p = q12(*p)
	}
	return e
}

// Sat returns the info of one satellite (ok false if not generated).
func (m *Mixed) Sat(sys byte, prn int) (SatInfo, bool) {
	for _, s := range m.Sats {
		if s.Sys == sys && s.PRN == prn {
			return s, true
		}
	}
	return SatInfo{}, false
}

// ClockAt returns the receiver clock offset at receiver time tag, s.
func (m *Mixed) ClockAt(tag float64) float64 {
	return m.ReceiverClock + m.ReceiverDrift*(tag-m.T0)
}

// TrueTime returns the GPS time at which the receiver's clock read tag.
func (m *Mixed) TrueTime(tag float64) float64 { return tag - m.ClockAt(tag) }

// Near returns a position d metres from the receiver on bearing b
// (degrees), at height 0, as an assistance position.
func (m *Mixed) Near(d, b float64) *geo.LLH {
	p := geo.Destination(m.TruthLLH, b*math.Pi/180, d)
	p.Height = 0
	return &p
}

// DataEpochs returns the observation epochs (flags 0 and 1) in file order.
func (m *Mixed) DataEpochs() []ObsEpoch {
	var out []ObsEpoch
	for _, e := range m.Epochs {
		if e.Flag <= 1 {
			out = append(out, e)
		}
	}
	return out
}
