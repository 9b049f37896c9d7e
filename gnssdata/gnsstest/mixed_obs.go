package gnsstest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// geometry is one satellite as seen from the receiver.
type geometry struct {
	rho, rate  float64 // range (Sagnac-rotated satellite), range rate, m, m/s
	clk, drift float64 // satellite clock (orbit.State convention), s, s/s
	az, el     float64 // radians
}

// look evaluates a satellite for a signal received at GPS time t: light
// time, Earth rotation during it, clock. This is the solver's model.
func (m *Mixed) look(state func(float64) (orbit.State, error), t float64) (geometry, error) {
	var g geometry
	tau := 0.075
	for range 6 {
		st, err := state(t - tau)
		if err != nil {
			return g, err
		}
		s, c := math.Sincos(orbit.OmegaEarth * tau)
		sp := geo.ECEF{c*st.Pos[0] + s*st.Pos[1], -s*st.Pos[0] + c*st.Pos[1], st.Pos[2]}
		sv := geo.ECEF{c*st.Vel[0] + s*st.Vel[1], -s*st.Vel[0] + c*st.Vel[1], st.Vel[2]}
		d := sp.Sub(m.Truth)
		g.rho = d.Norm()
		g.rate = d.Dot(sv) / g.rho
		g.clk, g.drift = st.ClockBias, st.ClockDrift
		g.az, g.el = geo.AzEl(m.TruthLLH, m.Truth, sp)
		tau = g.rho / orbit.SpeedOfLight
	}
	return g, nil
}

// stateFunc returns the propagation of a generated satellite.
func (m *Mixed) stateFunc(s SatInfo) func(float64) (orbit.State, error) {
	switch s.Sys {
	case 'G':
		id := orbit.SatID{Sys: orbit.GPS, PRN: s.PRN}
		return func(t float64) (orbit.State, error) { return m.Set.State(id, t) }
	case 'C':
		id := orbit.SatID{Sys: orbit.BeiDou, PRN: s.PRN}
		return func(t float64) (orbit.State, error) { return m.Set.State(id, t) }
	}
	for i := range m.others {
		if o := &m.others[i]; o.info.Sys == s.Sys && o.info.PRN == s.PRN {
			return func(t float64) (orbit.State, error) { return o.eph.State(t), nil }
		}
	}
	panic(fmt.Sprintf("gnsstest: no satellite %c%02d", s.Sys, s.PRN))
}

// groupDelays returns TGD (GPS) or TGD1 and TGD2 (BeiDou) of a satellite.
func (m *Mixed) groupDelays(s SatInfo) (tgd, tgd2 float64) {
	for _, e := range m.Ephemerides {
		if e.Sat.Sys.Letter() == s.Sys && e.Sat.PRN == s.PRN {
			return e.TGD, e.TGD2
		}
	}
	return 0, 0
}

// satLine computes one satellite's observations at receiver time tag: code
// ρ + c·(dtr − dts) + ionosphere + troposphere (+ the BeiDou bias), carrier
// phase with the ionosphere advanced and an integer ambiguity, Doppler and
// C/N0. C1C (GPS) and C2I (BeiDou) use the broadcast single-frequency clock
// (TGD, TGD1 included); the other signals their own group delays.
func (m *Mixed) satLine(s SatInfo, tag float64, amb map[string]float64, cn0Off float64, rng *rand.Rand) SatObs {
	const c = orbit.SpeedOfLight
	dtr := m.ClockAt(tag)
	t := tag - dtr
	g, err := m.look(m.stateFunc(s), t)
	if err != nil {
		panic(err)
	}
	if g.el < 5*math.Pi/180 {
		panic(fmt.Sprintf("gnsstest: %c%02d at %.1f° elevation", s.Sys, s.PRN, g.el*180/math.Pi))
	}
	i1 := m.Iono.L1Delay(t, m.TruthLLH.Lat, m.TruthLLH.Lon, g.az, g.el)
	cp := g.rho + c*(dtr-g.clk) + tropo(m.TruthLLH, g.el)
	cn0 := 30 + 18*math.Sin(g.el) + cn0Off + 0.3*rng.NormFloat64()
	types := m.ObsTypes[s.Sys]
	so := SatObs{Sys: s.Sys, PRN: s.PRN, Values: make([]float64, len(types)), LLI: make([]uint8, len(types)),
		SSI: uint8(max(1, min(9, int(cn0/6)))), Elevation: g.el * 180 / math.Pi}
	// code, phase (m of range, before the ambiguity), Doppler of one signal
	// at frequency f, whose ionosphere is i1·(fL1/f)².
	type sig struct {
		band     byte
		f, delay float64 // frequency; group delay of the signal's clock, m
		cn0      float64
	}
	var sigs []sig
	tgd, tgd2 := m.groupDelays(s)
	bias := 0.0
	switch s.Sys {
	case 'G':
		sat := specOf(s)
		sigs = append(sigs, sig{'1', fL1, 0, cn0})
		g12 := (fL1 / fL2) * (fL1 / fL2)
		sigs = append(sigs, sig{'2', fL2, c * (g12 - 1) * tgd, cn0 - 7})
		if sat.l5 {
			sigs = append(sigs, sig{'5', fL5, -c * tgd, cn0 + 3})
		}
		if sat.l1c {
			sigs = append(sigs, sig{'L', fL1, 0, cn0 + 1.5})
		}
	case 'C':
		bias = m.BeiDouBiasM
		sigs = append(sigs, sig{'2', fB1I, 0, cn0})
		if s.PRN <= 18 { // B2I: BeiDou-2 satellites only
			sigs = append(sigs, sig{'7', fB2I, c * (tgd2 - tgd), cn0 - 2})
		}
	case 'E':
		sigs = append(sigs, sig{'1', fL1, 0, cn0}, sig{'5', fL5, 0, cn0 + 2})
	case 'R':
		sigs = append(sigs, sig{'1', fG1 + float64(s.FreqNum)*fG1k, 0, cn0})
	}
	set := func(code string, v float64) {
		for k, ty := range types {
			if ty == code {
				so.Values[k] = q3(v)
				return
			}
		}
		panic("gnsstest: no observation type " + code)
	}
	for k := range so.Values {
		so.Values[k] = math.NaN()
	}
	for _, sg := range sigs {
		code, ph, dop, snr := codesOf(s.Sys, sg.band)
		iono := i1 * (fL1 / sg.f) * (fL1 / sg.f)
		lambda := c / sg.f
		key := fmt.Sprintf("%c%02d%s", s.Sys, s.PRN, ph)
		if _, ok := amb[key]; !ok {
			amb[key] = float64(rng.IntN(40_000_000) - 20_000_000)
		}
		set(code, cp+sg.delay+iono+bias)
		set(ph, (cp+sg.delay-iono+bias)/lambda+amb[key])
		if dop != "" {
			set(dop, -(g.rate-c*g.drift+c*m.ReceiverDrift)/lambda)
		}
		set(snr, sg.cn0)
	}
	return so
}

// codesOf names the code, phase, Doppler and signal-strength types of a band.
func codesOf(sys, band byte) (code, phase, dop, snr string) {
	switch {
	case sys == 'G' && band == '2':
		return "C2W", "L2W", "", "S2W"
	case sys == 'G' && band == 'L':
		return "C1L", "L1L", "", "S1L"
	case (sys == 'G' || sys == 'E') && band == '5':
		return "C5Q", "L5Q", "D5Q", "S5Q"
	case sys == 'C':
		return "C" + string(band) + "I", "L" + string(band) + "I", "D" + string(band) + "I", "S" + string(band) + "I"
	}
	return "C1C", "L1C", "D1C", "S1C"
}

func specOf(s SatInfo) satSpec {
	for _, sp := range mixedSky {
		if sp.sys == s.Sys && sp.prn == s.PRN {
			return sp
		}
	}
	panic("gnsstest: unknown satellite")
}

// blank clears one value of a satellite line.
func (m *Mixed) blank(ep *ObsEpoch, sys byte, prn int, code string) {
	for i := range ep.Sats {
		so := &ep.Sats[i]
		if so.Sys != sys || so.PRN != prn {
			continue
		}
		for k, ty := range m.ObsTypes[sys] {
			if ty == code {
				so.Values[k] = math.NaN()
				return
			}
		}
	}
	panic("gnsstest: nothing to blank")
}

// observations builds the epoch records: six data epochs 30 s apart from
// T0+300 s with every satellite, and events between them: an external event
// (flag 5), header records with a blank time (4), antenna moved and set up
// again (2, 3), cycle slips (6) and a power failure (1). Some fields are
// blank: signals a satellite lacks, a lost C2W, a missing Doppler, and one
// satellite missing from an epoch.
func (m *Mixed) observations(rng *rand.Rand) {
	amb := map[string]float64{}
	cn0Off := map[string]float64{}
	for _, s := range m.Sats {
		cn0Off[fmt.Sprintf("%c%02d", s.Sys, s.PRN)] = uniform(rng, -1.5, 1.5)
		if s.Type == OrbitGEO {
			cn0Off[fmt.Sprintf("%c%02d", s.Sys, s.PRN)] += 4 // GEOs are strong
		}
	}
	data := func(k, flag int, clock bool) ObsEpoch {
		tag := m.T0 + obsStart + float64(k)*obsSpacing
		ep := ObsEpoch{Time: tag, Flag: flag}
		if clock {
			ep.ClockOffset, ep.HasClockOffset = parse(fmt.Sprintf("%.12f", m.ClockAt(tag))), true
		}
		for _, s := range m.Sats {
			if k == 2 && s.Sys == 'E' && s.PRN == 31 {
				continue // lost in this epoch
			}
			ep.Sats = append(ep.Sats, m.satLine(s, tag, amb, cn0Off[fmt.Sprintf("%c%02d", s.Sys, s.PRN)], rng))
		}
		return ep
	}
	t := func(k int, dt float64) float64 { return m.T0 + obsStart + float64(k)*obsSpacing + dt }
	d0 := data(0, 0, true)
	d1 := data(1, 0, false)
	m.blank(&d1, 'G', 19, "C2W")
	m.blank(&d1, 'C', 11, "D2I")
	d2 := data(2, 0, true)
	d3 := data(3, 0, false)
	// Cycle slips repaired on G06 L1C and C11 L2I before epoch 4.
	slip := ObsEpoch{Time: t(4, 0), Flag: 6}
	for _, s := range []struct {
		sys   byte
		prn   int
		code  string
		cycle float64
	}{{'G', 6, "L1C", 3}, {'C', 11, "L2I", -1}} {
		so := SatObs{Sys: s.sys, PRN: s.prn, Values: make([]float64, len(m.ObsTypes[s.sys])), LLI: make([]uint8, len(m.ObsTypes[s.sys]))}
		for k, ty := range m.ObsTypes[s.sys] {
			so.Values[k] = math.NaN()
			if ty == s.code {
				so.Values[k] = s.cycle
			}
		}
		slip.Sats = append(slip.Sats, so)
	}
	// Power failure before epoch 4: loss of lock on G06's phases.
	d4 := data(4, 1, true)
	for i := range d4.Sats {
		if so := &d4.Sats[i]; so.Sys == 'G' && so.PRN == 6 {
			so.LLI[1], so.LLI[5] = 1, 1
		}
	}
	d5 := data(5, 0, true)
	m.Epochs = []ObsEpoch{
		d0, d1,
		{Time: t(1, 15.1234567), Flag: 5},
		d2,
		{Flag: 4, Records: []string{
			hdrLine("receiver firmware updated; observations continue", "COMMENT"),
			hdrLine("generated by openmgs gnsstest", "COMMENT"),
		}},
		{Time: t(2, 10), Flag: 2},
		{Time: t(2, 20), Flag: 3, Records: []string{
			hdrLine("OPENMGS-MIXED", "MARKER NAME"),
			hdrLine("antenna set up again on the same mark", "COMMENT"),
		}},
		d3, slip, d4, d5,
	}
}

// Snapshot returns data epoch i as snapshot measurements of its GPS and
// BeiDou satellites: code phase C1C (GPS) or C2I (BeiDou) modulo 1 ms,
// Doppler D1C/D2I (NaN when blank), C/N0 S1C/S2I. The capture time is
// TrueTime of the epoch's time tag.
func (m *Mixed) Snapshot(i int) []Measurement {
	ep := m.DataEpochs()[i]
	var out []Measurement
	for _, so := range ep.Sats {
		var id orbit.SatID
		var code, dop, snr string
		switch so.Sys {
		case 'G':
			id, code, dop, snr = orbit.SatID{Sys: orbit.GPS, PRN: so.PRN}, "C1C", "D1C", "S1C"
		case 'C':
			id, code, dop, snr = orbit.SatID{Sys: orbit.BeiDou, PRN: so.PRN}, "C2I", "D2I", "S2I"
		default:
			continue
		}
		v := func(ty string) float64 {
			for k, t := range m.ObsTypes[so.Sys] {
				if t == ty && !math.IsNaN(so.Values[k]) {
					return so.Values[k]
				}
			}
			return math.NaN()
		}
		ms := v(code) / msRange
		out = append(out, Measurement{Sat: id, CodePhaseMs: ms - math.Floor(ms), DopplerHz: v(dop), CN0: v(snr), Elevation: so.Elevation})
	}
	return out
}

// NAV1 encodes Snapshot(i) as a NAV1 payload with a GPS and a BeiDou block,
// the time indicator of the true capture time, and ap if not nil.
func (m *Mixed) NAV1(i int, ap *geo.LLH, doppler bool) []byte {
	t := m.TrueTime(m.DataEpochs()[i].Time)
	msg := nav.Message{FrameType: nav.FrameNAV, TimeIndicator: nav.TimeIndicatorAt(t)}
	if ap != nil {
		msg.SetAssistPosition(ap.Lat, ap.Lon)
	}
	blocks := map[orbit.System]*nav.Constellation{
		orbit.GPS:    {Modulation: nav.ModGPS},
		orbit.BeiDou: {Modulation: nav.ModBeiDou},
	}
	for _, me := range m.Snapshot(i) {
		sys := nav.SysGPS
		if me.Sat.Sys == orbit.BeiDou {
			sys = nav.SysBeiDou
		}
		id, err := nav.SVIDFromPRN(sys, me.Sat.PRN)
		if err != nil {
			panic(err)
		}
		sv := nav.SV{ID: id, CN: nav.CN0Class(me.CN0), HasTimestamp1: true, Timestamp1: nav.TimestampFromCodePhase(me.CodePhaseMs)}
		if doppler && !math.IsNaN(me.DopplerHz) {
			sv.HasDoppler, sv.Doppler = true, nav.DopplerField(me.DopplerHz)
		}
		blocks[me.Sat.Sys].SVs = append(blocks[me.Sat.Sys].SVs, sv)
	}
	msg.Constellations = []nav.Constellation{*blocks[orbit.GPS], *blocks[orbit.BeiDou]}
	b, err := msg.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}
