package lora

import (
	"math"
	"time"
)

// GPSEpoch is 1980-01-06T00:00:00Z, the origin of GPS time (GPST).
var GPSEpoch = time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC)

// gpsEpochUnix is GPSEpoch as Unix seconds.
const gpsEpochUnix = 315964800

// leapSeconds lists, for each leap second since the GPS epoch, the Unix time
// at which the new GPS−UTC offset took effect (the first second after the
// inserted one). The offset is the index + 1.
var leapSeconds = [...]int64{
	362793600,  // 1981-07-01: 1
	394329600,  // 1982-07-01: 2
	425865600,  // 1983-07-01: 3
	489024000,  // 1985-07-01: 4
	567993600,  // 1988-01-01: 5
	631152000,  // 1990-01-01: 6
	662688000,  // 1991-01-01: 7
	709948800,  // 1992-07-01: 8
	741484800,  // 1993-07-01: 9
	773020800,  // 1994-07-01: 10
	820454400,  // 1996-01-01: 11
	867715200,  // 1997-07-01: 12
	915148800,  // 1999-01-01: 13
	1136073600, // 2006-01-01: 14
	1230768000, // 2009-01-01: 15
	1341100800, // 2012-07-01: 16
	1435708800, // 2015-07-01: 17
	1483228800, // 2017-01-01: 18
}

// LeapSecondsAt returns GPS − UTC in whole seconds at the given UTC time.
func LeapSecondsAt(t time.Time) int64 {
	u := t.Unix()
	n := int64(0)
	for _, l := range leapSeconds {
		if u >= l {
			n++
		}
	}
	return n
}

// UnixToGPS converts Unix seconds (UTC) to GPS seconds.
func UnixToGPS(unix float64) float64 {
	sec := math.Floor(unix)
	return unix - gpsEpochUnix + float64(LeapSecondsAt(time.Unix(int64(sec), 0)))
}

// GPSToUnix converts GPS seconds to Unix seconds (UTC).
func GPSToUnix(gps float64) float64 {
	// First guess with the current offset, then correct around a leap second.
	u := gps + gpsEpochUnix
	off := float64(LeapSecondsAt(time.Unix(int64(math.Floor(u)), 0)))
	off = float64(LeapSecondsAt(time.Unix(int64(math.Floor(u-off)), 0)))
	return u - off
}

// TimeToGPS converts a time to GPS seconds.
func TimeToGPS(t time.Time) float64 {
	return UnixToGPS(float64(t.UnixNano()) / 1e9)
}

// GPSToTime converts GPS seconds to a UTC time.
func GPSToTime(gps float64) time.Time {
	u := GPSToUnix(gps)
	sec := math.Floor(u)
	return time.Unix(int64(sec), int64((u-sec)*1e9)).UTC()
}

// UnixSeconds returns t as float Unix seconds, the timestamp format of the
// LoRa Cloud API.
func UnixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// FromUnixSeconds converts float Unix seconds to a time.
func FromUnixSeconds(s float64) time.Time {
	sec := math.Floor(s)
	return time.Unix(int64(sec), int64(math.Round((s-sec)*1e9))).UTC()
}
