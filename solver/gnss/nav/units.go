package nav

import "math"

// This file is the single place where the physical meaning of NAV1 fields is
// decided. None of it is confirmed by a published source (gnss.md §1.5); change
// it here if a capture with known truth shows otherwise.

const (
	// TimestampUnitsPerMs is the number of timestamp counts per millisecond of
	// code phase (inferred): 1023 C/A chips × 320 sub-chip steps. All public
	// timestamp values stay below it although the field holds 2^19 − 1.
	TimestampUnitsPerMs = 327360

	// TimeIndicatorPeriod is the length in seconds of one step of the GPS time
	// indicator (inferred: floor(GPS seconds / 16) mod 65536).
	TimeIndicatorPeriod = 16
	// TimeIndicatorModulus is the wrap of the 16-bit time indicator.
	TimeIndicatorModulus = 1 << 16
	// TimeIndicatorSlack is how many indicator steps a real capture may sit
	// outside its nominal window. Public samples match within ±1 (sample A
	// reads 24736 where floor(t/16) mod 65536 is 24735, which would also fit a
	// rounding rule).
	TimeIndicatorSlack = 1

	// APLatScale and APLonScale turn the signed 12-bit assistance-position
	// fields into degrees (LR1110 user manual; documented for the chip's
	// assistance-position command, inferred for the NAV and AIDP fields).
	APLatScale = 90.0 / 2048
	APLonScale = 180.0 / 2048

	// DopplerUnitHz is the Doppler field's unit (inferred: observed values of
	// about ±4000 fit Hz at L1).
	DopplerUnitHz = 1.0
)

// DopplerHz converts the Doppler field to Hz, positive when the satellite
// approaches (range decreasing; inferred sign convention).
func DopplerHz(v int16) float64 { return float64(v) * DopplerUnitHz }

// DopplerField quantises a Doppler in Hz to the field, clamped to its range.
func DopplerField(hz float64) int16 {
	v := math.Round(hz / DopplerUnitHz)
	if math.IsNaN(v) {
		return 0
	}
	return int16(math.Max(minDoppler, math.Min(maxDoppler, v)))
}

// CodePhaseMs converts a timestamp field to a code phase in milliseconds,
// [0, 1) for values below TimestampUnitsPerMs (inferred unit). It is taken as
// the fractional pseudorange, pseudorange mod 1 ms (gnss.md §8); should the
// chip report the transmit-time fraction instead, the value is 1 − this.
// No public capture with ephemeris settles the convention.
func CodePhaseMs(ts uint32) float64 { return float64(ts) / TimestampUnitsPerMs }

// TimestampFromCodePhase quantises a code phase in milliseconds (any real;
// reduced modulo 1 ms) to a timestamp field value.
func TimestampFromCodePhase(ms float64) uint32 {
	f := ms - math.Floor(ms)
	v := uint32(math.Round(f * TimestampUnitsPerMs))
	if v >= TimestampUnitsPerMs {
		v -= TimestampUnitsPerMs
	}
	return v
}

// TimeIndicatorAt returns the time indicator a receiver would report for GPS
// time gps (seconds since 1980-01-06).
func TimeIndicatorAt(gps float64) uint16 {
	k := int64(math.Floor(gps/TimeIndicatorPeriod)) % TimeIndicatorModulus
	if k < 0 {
		k += TimeIndicatorModulus
	}
	return uint16(k)
}

// TimeWindow resolves a time indicator against a GPS-time estimate good to
// better than ±6 days, returning the nominal window [start, start+16 s) that
// is nearest to the estimate. A real capture time may lie up to
// TimeIndicatorSlack periods outside it.
func TimeWindow(indicator uint16, estimate float64) (start float64) {
	k0 := int64(math.Floor(estimate / TimeIndicatorPeriod))
	diff := (int64(indicator) - k0) % TimeIndicatorModulus
	if diff < 0 {
		diff += TimeIndicatorModulus
	}
	if diff >= TimeIndicatorModulus/2 {
		diff -= TimeIndicatorModulus
	}
	return float64(k0+diff) * TimeIndicatorPeriod
}

// CN0Class maps a C/N0 in dB-Hz to the 2-bit class: 0 ≥ 45, 1 41–45,
// 2 37–41, 3 < 37.
func CN0Class(dbHz float64) uint8 {
	switch {
	case dbHz >= 45:
		return 0
	case dbHz >= 41:
		return 1
	case dbHz >= 37:
		return 2
	}
	return 3
}

// CN0OfClass returns a representative C/N0 in dB-Hz for a class (the middle
// of its range; 47 and 35 for the open-ended classes).
func CN0OfClass(c uint8) float64 {
	switch c {
	case 0:
		return 47
	case 1:
		return 43
	case 2:
		return 39
	}
	return 35
}

// APToDegrees converts raw 12-bit assistance-position values to degrees.
func APToDegrees(rawLat, rawLon int16) (lat, lon float64) {
	return float64(rawLat) * APLatScale, float64(rawLon) * APLonScale
}

// APFromDegrees quantises a position to raw 12-bit values: latitude is clamped
// to the field range, longitude is wrapped into [−180°, 180°).
func APFromDegrees(lat, lon float64) (rawLat, rawLon int16) {
	la := math.Round(lat / APLatScale)
	la = math.Max(-2048, math.Min(2047, la))
	lo := math.Round(math.Mod(lon, 360) / APLonScale) // in (−4096, 4096)
	lo = math.Mod(lo+2048+8192, 4096) - 2048
	if math.IsNaN(la) || math.IsNaN(lo) {
		return 0, 0
	}
	return int16(la), int16(lo)
}
