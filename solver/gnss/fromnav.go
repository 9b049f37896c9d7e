package gnss

import (
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// FromNAV converts a decoded NAV1 message into a capture with the given
// capture-time estimate (GPS s), and returns the NAV's assistance position
// (nil if absent). Timestamp 1 is used as the code phase (nav.CodePhaseMs);
// Doppler is dropped for SVs carrying the Doppler-error flag. SBAS and
// unknown sv_ids are not converted and are counted in skipped.
func FromNAV(m *nav.Message, estimate float64) (c Capture, ap *geo.LLH, skipped int) {
	c = Capture{TimeEstimate: estimate, TimeIndicator: m.TimeIndicator, HasTimeIndicator: true}
	if lat, lon, ok := m.AssistPosition(); ok {
		ap = &geo.LLH{Lat: lat, Lon: lon}
	}
	for _, blk := range m.Constellations {
		for _, sv := range blk.SVs {
			sys, prn := nav.SVIDToPRN(sv.ID)
			var id orbit.SatID
			switch sys {
			case nav.SysGPS:
				id = orbit.SatID{Sys: orbit.GPS, PRN: prn}
			case nav.SysBeiDou:
				id = orbit.SatID{Sys: orbit.BeiDou, PRN: prn}
			default:
				skipped++
				continue
			}
			meas := Measurement{Sat: id, CN0: nav.CN0OfClass(sv.CN)}
			if sv.HasTimestamp1 && sv.Timestamp1 < nav.TimestampUnitsPerMs {
				meas.CodePhase, meas.HasCodePhase = nav.CodePhaseMs(sv.Timestamp1), true
			}
			if sv.HasDoppler && !sv.DopplerError {
				meas.Doppler, meas.HasDoppler = nav.DopplerHz(sv.Doppler), true
			}
			if !meas.HasCodePhase && !meas.HasDoppler {
				skipped++
				continue
			}
			c.Measurements = append(c.Measurements, meas)
		}
	}
	return c, ap, skipped
}
