// Package gnsstest generates small, self-consistent GNSS fixtures for tests
// that must run without the shared RINEX data: a GPS constellation defined
// by orbit parameters chosen here (written out as a RINEX 2.11 navigation
// file and a YUMA almanac) and NAV1 snapshots of a receiver at a known
// position computed from those orbits.
//
// The satellites are placed so that, at the reference time T0, they sit at
// chosen azimuths and elevations above the receiver, on circular orbits of
// GPS radius and 55° inclination. Pseudoranges include the light time, the
// Earth rotation during it, the satellite clock (af0/af1/TGD) and a
// Saastamoinen-style troposphere, i.e. what the solver models, so solutions
// land within metres of Truth. No ionosphere is added and the navigation
// file carries no ION ALPHA/BETA.
//
// NewMixed (mixed.go) is a second, multi-system fixture: GPS and BeiDou
// GEO/IGSO/MEO satellites (two broadcast records each) written as a RINEX
// 3.04 mixed navigation file, with Galileo, GLONASS, QZSS and SBAS records
// to skip, GPSA/GPSB and BDSA/BDSB ionosphere and TIME SYSTEM CORR headers,
// and a RINEX 3.04 observation file (four systems, 4–14 observation types,
// blank fields, every epoch flag) of a receiver at a known position. Its
// ranges include the Klobuchar ionosphere and a BeiDou inter-system bias.
// Every value is rounded to the files' digits, so parsed files compare
// exactly with the generator's fields. Only project code and the ICDs'
// definitions are involved; no third-party data.
package gnsstest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// Orbit parameters of the generated constellation.
const (
	sqrtA       = 5153.7954775   // √m: GPS semi-major axis 26 561.75 km
	inclination = 55.0           // degrees
	omegaDot    = -8.0e-9        // rad/s, a typical node regression
	msRange     = 299792458.0e-3 // metres per millisecond of code
)

// sky is where each satellite stands above the receiver at T0 (azimuth,
// elevation in degrees). Chosen for a good geometry at mid-northern
// latitudes, and so that every sub-satellite latitude is below 55°.
var sky = []struct{ prn, az, el int }{
	{2, 100, 75}, {5, 80, 35}, {7, 160, 55}, {10, 210, 30}, {13, 260, 62},
	{17, 300, 22}, {19, 135, 18}, {24, 60, 42}, {28, 185, 80}, {30, 240, 12},
}

// Fixture is one generated constellation and receiver.
type Fixture struct {
	// Truth is the receiver position.
	Truth    geo.ECEF
	TruthLLH geo.LLH
	// T0 is the ephemeris reference time (Toe = Toc), GPS seconds; records
	// are valid for ±2 h around it.
	T0          float64
	Ephemerides []orbit.Ephemeris
	Set         *orbit.Set
}

// T0Time is the fixture's reference time as a civil GPST date.
var T0Time = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

var gpsEpoch = time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC)

// New returns the fixture: a receiver at 47.2273° N, 8.8247° E, 400 m
// (the place of the public NAV1 sample A) and ten GPS satellites.
func New() *Fixture {
	llh := geo.LLH{Lat: 47.2273, Lon: 8.8247, Height: 400}
	f := &Fixture{TruthLLH: llh, Truth: llh.ECEF(), T0: T0Time.Sub(gpsEpoch).Seconds()}
	a := sqrtA * sqrtA
	inc := inclination * math.Pi / 180
	for i, s := range sky {
		// Satellite position at T0 on the line of sight, at orbit radius.
		az, el := float64(s.az)*math.Pi/180, float64(s.el)*math.Pi/180
		u := geo.FromENU(llh, geo.ENU{E: math.Sin(az) * math.Cos(el), N: math.Cos(az) * math.Cos(el), U: math.Sin(el)})
		xu := f.Truth.Dot(u)
		rho := -xu + math.Sqrt(xu*xu-f.Truth.Dot(f.Truth)+a*a)
		p := f.Truth.Add(geo.ECEF{u[0] * rho, u[1] * rho, u[2] * rho})
		// Circular orbit through p: argument of latitude from z, node from x/y.
		arg := math.Asin(p[2] / a / math.Sin(inc)) // |latitude| < 55° by the choice of sky
		if i%2 == 1 {
			arg = math.Pi - arg // descending pass
		}
		node := math.Atan2(p[1], p[0]) - math.Atan2(math.Sin(arg)*math.Cos(inc), math.Cos(arg))
		week := math.Floor(f.T0 / orbit.Week)
		e := orbit.Ephemeris{
			Sat: orbit.SatID{Sys: orbit.GPS, PRN: s.prn}, Toc: f.T0, Toe: f.T0, Week: int(week),
			AF0: float64(i-5) * 1.7e-5, AF1: float64(i%3-1) * 2e-12,
			SqrtA: sqrtA, I0: inc, M0: wrap(arg), Omega0: wrap(node + orbit.OmegaEarth*(f.T0-week*orbit.Week)),
			OmegaDot: omegaDot, TGD: -4.6e-9, IODE: 10 + i, IODC: 10 + i, URA: 2, FitInterval: 4,
		}
		// Ω at T0 must be node: Ω = Ω0 + (Ω̇ − ωe)·tk − ωe·toe(sow), tk = 0.
		f.Ephemerides = append(f.Ephemerides, e)
	}
	f.Set = orbit.NewSet(f.Ephemerides, nil)
	return f
}

func wrap(a float64) float64 { return math.Remainder(a, 2*math.Pi) }

// RINEXNav renders the ephemerides as a RINEX 2.11 GPS navigation file.
func (f *Fixture) RINEXNav() []byte {
	var b bytes.Buffer
	hdr := func(body, label string) { fmt.Fprintf(&b, "%-60s%-20s\n", body, label) }
	hdr(fmt.Sprintf("%9.2f%11s%-20s", 2.11, "", "N: GPS NAV DATA"), "RINEX VERSION / TYPE")
	hdr("openmgs gnsstest", "PGM / RUN BY / DATE")
	hdr(fmt.Sprintf("%6d", 18), "LEAP SECONDS")
	hdr("", "END OF HEADER")
	for _, e := range f.Ephemerides {
		t := gpsEpoch.Add(time.Duration(e.Toc * float64(time.Second)))
		fmt.Fprintf(&b, "%2d %02d %2d %2d %2d %2d%5.1f%s%s%s\n", e.Sat.PRN, t.Year()%100, int(t.Month()), t.Day(),
			t.Hour(), t.Minute(), float64(t.Second()), d19(e.AF0), d19(e.AF1), d19(e.AF2))
		sow := e.Toe - float64(e.Week)*orbit.Week
		lines := [7][4]float64{
			{float64(e.IODE), e.Crs, e.DeltaN, e.M0},
			{e.Cuc, e.Ecc, e.Cus, e.SqrtA},
			{sow, e.Cic, e.Omega0, e.Cis},
			{e.I0, e.Crc, e.Omega, e.OmegaDot},
			{e.IDOT, 1, float64(e.Week), 0},
			{e.URA, float64(e.Health), e.TGD, float64(e.IODC)},
			{sow - 30, e.FitInterval, 0, 0},
		}
		for _, l := range lines {
			b.WriteString("   ")
			for _, v := range l {
				b.WriteString(d19(v))
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// d19 formats v as RINEX D19.12.
func d19(v float64) string {
	return strings.Replace(fmt.Sprintf("%19.12E", v), "E", "D", 1)
}

// YUMA renders the same orbits as a GPS YUMA almanac (10-bit week).
func (f *Fixture) YUMA() []byte {
	var b bytes.Buffer
	for _, e := range f.Ephemerides {
		week := e.Week % 1024
		fmt.Fprintf(&b, "******** Week %d almanac for PRN-%02d ********\n", week, e.Sat.PRN)
		kv := func(k, v string) { fmt.Fprintf(&b, "%-28s%s\n", k+":", v) }
		kv("ID", fmt.Sprintf("%02d", e.Sat.PRN))
		kv("Health", "000")
		kv("Eccentricity", fmt.Sprintf("%.10E", e.Ecc))
		kv("Time of Applicability(s)", fmt.Sprintf("%.4f", e.Toe-float64(e.Week)*orbit.Week))
		kv("Orbital Inclination(rad)", fmt.Sprintf("%.10f", e.I0))
		kv("Rate of Right Ascen(r/s)", fmt.Sprintf("%.10E", e.OmegaDot))
		kv("SQRT(A)  (m 1/2)", fmt.Sprintf("%.6f", e.SqrtA))
		kv("Right Ascen at Week(rad)", fmt.Sprintf("%.10E", e.Omega0))
		kv("Argument of Perigee(rad)", fmt.Sprintf("%.9f", e.Omega))
		kv("Mean Anom(rad)", fmt.Sprintf("%.10E", e.M0))
		kv("Af0(s)", fmt.Sprintf("%.10E", e.AF0))
		kv("Af1(s/s)", fmt.Sprintf("%.10E", e.AF1))
		kv("week", fmt.Sprintf("%d", week))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Measurement is one satellite as a receiver would report it.
type Measurement struct {
	Sat orbit.SatID
	// CodePhaseMs is the pseudorange modulo 1 ms, in milliseconds.
	CodePhaseMs float64
	// DopplerHz is positive when the satellite approaches.
	DopplerHz float64
	CN0       float64
	Elevation float64 // degrees
}

// Options perturb a snapshot.
type Options struct {
	// AP is the assistance position written into the NAV (nil: none).
	AP *geo.LLH
	// Doppler adds the Doppler field to every satellite.
	Doppler bool
	// DopplerError sets the Doppler-error flag on the first satellite.
	DopplerError bool
	// MaxSats keeps the first MaxSats satellites (0: all visible).
	MaxSats int
	// NoiseM is the σ of Gaussian pseudorange noise, m (seeded by Seed).
	NoiseM float64
	Seed   uint64
	// ClockBiasM is the receiver clock bias added to every pseudorange, m
	// (default 0; any value works: only the code phase modulo 1 ms is sent).
	ClockBiasM float64
}

// Measurements returns the satellites above 5° seen by the receiver at GPS
// time t (its true capture time).
func (f *Fixture) Measurements(t float64, o Options) []Measurement {
	rng := rand.New(rand.NewPCG(o.Seed, 42))
	var out []Measurement
	for _, e := range f.Ephemerides {
		id := e.Sat
		tau := 0.075
		var st orbit.State
		var sp geo.ECEF
		for range 4 {
			var err error
			st, err = f.Set.State(id, t-tau)
			if err != nil {
				break
			}
			th := orbit.OmegaEarth * tau
			s, c := math.Sincos(th)
			sp = geo.ECEF{c*st.Pos[0] + s*st.Pos[1], -s*st.Pos[0] + c*st.Pos[1], st.Pos[2]}
			tau = geo.Distance(sp, f.Truth) / orbit.SpeedOfLight
		}
		_, el := geo.AzEl(f.TruthLLH, f.Truth, sp)
		if !(el >= 5*math.Pi/180) {
			continue
		}
		rng0 := geo.Distance(sp, f.Truth)
		pr := rng0 + o.ClockBiasM - orbit.SpeedOfLight*st.ClockBias + tropo(f.TruthLLH, el) + o.NoiseM*rng.NormFloat64()
		d := sp.Sub(f.Truth)
		rate := d.Dot(geo.ECEF(st.Vel))/d.Norm() - orbit.SpeedOfLight*st.ClockDrift
		ms := pr / msRange
		out = append(out, Measurement{Sat: id, CodePhaseMs: ms - math.Floor(ms), DopplerHz: -rate / (orbit.SpeedOfLight / 1575.42e6),
			CN0: 43, Elevation: el * 180 / math.Pi})
		if o.MaxSats > 0 && len(out) == o.MaxSats {
			break
		}
	}
	return out
}

// NAV1 encodes the snapshot at GPS time t as a NAV1 payload (without the
// destination byte), as a device sends it on port 198.
func (f *Fixture) NAV1(t float64, o Options) []byte {
	msg := nav.Message{FrameType: nav.FrameNAV, TimeIndicator: nav.TimeIndicatorAt(t)}
	if o.AP != nil {
		msg.SetAssistPosition(o.AP.Lat, o.AP.Lon)
	}
	c := nav.Constellation{Modulation: nav.ModGPS}
	for i, m := range f.Measurements(t, o) {
		id, err := nav.SVIDFromPRN(nav.SysGPS, m.Sat.PRN)
		if err != nil {
			panic(err)
		}
		sv := nav.SV{ID: id, CN: nav.CN0Class(m.CN0), HasTimestamp1: true, Timestamp1: nav.TimestampFromCodePhase(m.CodePhaseMs)}
		if o.Doppler {
			sv.HasDoppler, sv.Doppler = true, nav.DopplerField(m.DopplerHz)
		}
		sv.DopplerError = o.DopplerError && i == 0
		c.SVs = append(c.SVs, sv)
	}
	msg.Constellations = []nav.Constellation{c}
	b, err := msg.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

// tropo is a standard-atmosphere Saastamoinen zenith delay with a 1/sin(el)
// mapping (the model the solver applies).
func tropo(p geo.LLH, el float64) float64 {
	h := math.Max(p.Height, 0)
	pr := 1013.25 * math.Pow(1-2.2557e-5*h, 5.2568)
	tk := 15 - 6.5e-3*h + 273.16
	e := 6.108 * 0.7 * math.Exp((17.15*tk-4684)/(tk-38.45))
	sinEl := math.Sin(el)
	dry := 0.0022768 * pr / (1 - 0.00266*math.Cos(2*p.Lat*math.Pi/180) - 0.00028*h/1e3) / sinEl
	wet := 0.002277 * (1255/tk + 0.05) * e / sinEl
	return dry + wet
}

// Near returns a position d metres from the receiver on bearing b (degrees),
// at height 0, as an assistance position.
func (f *Fixture) Near(d, b float64) *geo.LLH {
	p := geo.Destination(f.TruthLLH, b*math.Pi/180, d)
	p.Height = 0
	return &p
}

// Shifted returns a copy of the fixture whose records are dated days later
// (Toe, Toc, week; T0 moves too), keeping only the given PRNs (none: all),
// for tests of data of several days such as retention. Only the dates
// move: the orbits are not physical at the new times, and Set is nil.
func (f *Fixture) Shifted(days float64, prns ...int) *Fixture {
	g := *f
	dt := days * 86400
	g.T0 += dt
	g.Set = nil
	g.Ephemerides = nil
	for _, e := range f.Ephemerides {
		if len(prns) > 0 && !slices.Contains(prns, e.Sat.PRN) {
			continue
		}
		e.Toe += dt
		e.Toc += dt
		e.Week = int(math.Floor(e.Toe / orbit.Week))
		g.Ephemerides = append(g.Ephemerides, e)
	}
	return &g
}
