package wifisim

import "math"

// A private east/north plane (WGS 84 radii of curvature at the origin), used
// to place the city and to measure errors. solver/wifi has its own copy: the
// two packages agree to better than 1e-4 of the distances involved.
const (
	wgsA  = 6378137.0
	wgsF  = 1 / 298.257223563
	wgsE2 = wgsF * (2 - wgsF)
)

type plane struct {
	lat0, lon0         float64
	mPerDegN, mPerDegE float64
}

func newPlane(lat0, lon0 float64) plane {
	phi := lat0 * math.Pi / 180
	s := math.Sin(phi)
	w := 1 - wgsE2*s*s
	m := wgsA * (1 - wgsE2) / (w * math.Sqrt(w))
	n := wgsA / math.Sqrt(w)
	return plane{lat0: lat0, lon0: lon0, mPerDegN: m * math.Pi / 180, mPerDegE: n * math.Cos(phi) * math.Pi / 180}
}

func (p plane) toXY(lat, lon float64) (x, y float64) {
	return (lon - p.lon0) * p.mPerDegE, (lat - p.lat0) * p.mPerDegN
}

func (p plane) toLatLon(x, y float64) (lat, lon float64) {
	return p.lat0 + y/p.mPerDegN, p.lon0 + x/p.mPerDegE
}
