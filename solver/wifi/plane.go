package wifi

import "math"

// WGS 84 ellipsoid.
const (
	wgsA  = 6378137.0
	wgsF  = 1 / 298.257223563
	wgsE2 = wgsF * (2 - wgsF)
)

// plane is a local east/north tangent plane around (lat0, lon0) using the
// ellipsoid's radii of curvature there. Within the 500 m a cluster spans its
// scale error is below 1e-4, far under the errors of crowd-sourced AP positions.
type plane struct {
	lat0, lon0 float64 // degrees
	mPerDegN   float64 // metres per degree of latitude
	mPerDegE   float64 // metres per degree of longitude (floored near the poles)
}

func newPlane(lat0, lon0 float64) plane {
	phi := lat0 * math.Pi / 180
	s := math.Sin(phi)
	w := 1 - wgsE2*s*s
	m := wgsA * (1 - wgsE2) / (w * math.Sqrt(w)) // meridional radius
	n := wgsA / math.Sqrt(w)                     // prime-vertical radius
	// Keep the east scale positive at the poles so the inverse stays finite.
	c := math.Max(math.Cos(phi), 1e-9)
	return plane{lat0: lat0, lon0: lon0, mPerDegN: m * math.Pi / 180, mPerDegE: n * c * math.Pi / 180}
}

// wrap180 maps a longitude difference into [-180, 180).
func wrap180(d float64) float64 {
	if d >= -180 && d < 180 {
		return d
	}
	d = math.Mod(d+180, 360)
	if d < 0 {
		d += 360
	}
	return d - 180
}

// toXY returns east and north metres of (lat, lon) from the origin.
func (p plane) toXY(lat, lon float64) (x, y float64) {
	return wrap180(lon-p.lon0) * p.mPerDegE, (lat - p.lat0) * p.mPerDegN
}

// toLatLon inverts toXY, clamping latitude and wrapping longitude.
func (p plane) toLatLon(x, y float64) (lat, lon float64) {
	lat = p.lat0 + y/p.mPerDegN
	lat = math.Max(-90, math.Min(90, lat))
	lon = wrap180(p.lon0 + x/p.mPerDegE)
	return lat, lon
}

// pairDist is the distance in metres between two points, in a plane at their
// mean latitude; exact enough at cluster scale and monotone beyond it.
func pairDist(lat1, lon1, lat2, lon2 float64) float64 {
	p := newPlane((lat1+lat2)/2, lon1)
	x, y := p.toXY(lat2, lon2)
	return math.Hypot(x, y-(lat1-p.lat0)*p.mPerDegN)
}
