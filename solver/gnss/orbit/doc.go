// Package orbit propagates GPS and BeiDou broadcast ephemerides (IS-GPS-200,
// BDS-SIS-ICD, including BeiDou GEO satellites) and almanacs to satellite
// positions, velocities and clock offsets, selects the ephemeris valid at a
// time with almanac fallback, and evaluates the broadcast Klobuchar
// ionosphere model.
//
// Time is one scale throughout: float64 seconds of GPS time since
// 1980-01-06T00:00:00 (GPST, no leap seconds). BeiDou records are converted on
// input (BDT = GPST − 14 s; BDT week 0 starts at GPS week 1356). Positions are
// ECEF metres in the frame of the requested time; the caller applies the
// Earth-rotation (Sagnac) correction for the signal travel time.
package orbit
