package geo

import "math"

// WGS84 ellipsoid.
const (
	SemiMajorAxis = 6378137.0                        // a, m
	Flattening    = 1 / 298.257223563                // f
	SemiMinorAxis = SemiMajorAxis * (1 - Flattening) // b, m
	EarthRadius   = 6371008.8                        // mean radius, m (great-circle distances)

	eccSq      = Flattening * (2 - Flattening) // e²
	eccPrimeSq = eccSq / (1 - eccSq)           // e'²
	degToRad   = math.Pi / 180
	radToDeg   = 180 / math.Pi
	twoPi      = 2 * math.Pi
)

// ECEF is a WGS84 Earth-centred Earth-fixed position or vector in metres.
type ECEF [3]float64

// LLH is a geodetic position: degrees and metres above the WGS84 ellipsoid.
type LLH struct {
	Lat, Lon, Height float64
}

// ENU is a local East-North-Up vector in metres.
type ENU struct {
	E, N, U float64
}

// Sub returns p − q.
func (p ECEF) Sub(q ECEF) ECEF { return ECEF{p[0] - q[0], p[1] - q[1], p[2] - q[2]} }

// Add returns p + q.
func (p ECEF) Add(q ECEF) ECEF { return ECEF{p[0] + q[0], p[1] + q[1], p[2] + q[2]} }

// Norm returns the Euclidean length of p.
func (p ECEF) Norm() float64 { return math.Sqrt(p[0]*p[0] + p[1]*p[1] + p[2]*p[2]) }

// Dot returns p·q.
func (p ECEF) Dot(q ECEF) float64 { return p[0]*q[0] + p[1]*q[1] + p[2]*q[2] }

// Distance returns the straight-line distance between two ECEF points.
func Distance(p, q ECEF) float64 { return p.Sub(q).Norm() }

// ECEF converts a geodetic position to ECEF.
func (g LLH) ECEF() ECEF {
	lat, lon := g.Lat*degToRad, g.Lon*degToRad
	sl, cl := math.Sincos(lat)
	so, co := math.Sincos(lon)
	n := SemiMajorAxis / math.Sqrt(1-eccSq*sl*sl)
	return ECEF{
		(n + g.Height) * cl * co,
		(n + g.Height) * cl * so,
		(n*(1-eccSq) + g.Height) * sl,
	}
}

// LLH converts an ECEF position to geodetic coordinates (Bowring's method with
// two refinements; sub-millimetre for terrestrial and orbital heights). The
// Earth's centre maps to latitude 0, longitude 0, height −a.
func (p ECEF) LLH() LLH {
	x, y, z := p[0], p[1], p[2]
	r := math.Hypot(x, y)
	if r == 0 && z == 0 {
		return LLH{Height: -SemiMajorAxis}
	}
	lon := math.Atan2(y, x)
	// Initial parametric latitude, then iterate the geodetic latitude.
	beta := math.Atan2(z, (1-Flattening)*r)
	var lat float64
	for range 3 {
		sb, cb := math.Sincos(beta)
		lat = math.Atan2(z+eccPrimeSq*SemiMinorAxis*sb*sb*sb, r-eccSq*SemiMajorAxis*cb*cb*cb)
		beta = math.Atan2((1-Flattening)*math.Sin(lat), math.Cos(lat))
	}
	sl, cl := math.Sincos(lat)
	n := SemiMajorAxis / math.Sqrt(1-eccSq*sl*sl)
	var h float64
	if math.Abs(cl) > 1e-9 {
		h = r/cl - n
	} else {
		h = math.Abs(z) - SemiMinorAxis
	}
	return LLH{Lat: lat * radToDeg, Lon: lon * radToDeg, Height: h}
}

// rotation returns the ECEF→ENU rotation rows (east, north, up) at ref.
func rotation(ref LLH) (e, n, u ECEF) {
	sl, cl := math.Sincos(ref.Lat * degToRad)
	so, co := math.Sincos(ref.Lon * degToRad)
	return ECEF{-so, co, 0}, ECEF{-sl * co, -sl * so, cl}, ECEF{cl * co, cl * so, sl}
}

// Up returns the unit vector of the local vertical (ellipsoid normal) at ref.
func Up(ref LLH) ECEF {
	_, _, u := rotation(ref)
	return u
}

// ToENU returns the ENU components of the ECEF vector d (for example p − ref)
// in the local frame at ref.
func ToENU(ref LLH, d ECEF) ENU {
	e, n, u := rotation(ref)
	return ENU{E: e.Dot(d), N: n.Dot(d), U: u.Dot(d)}
}

// FromENU returns the ECEF vector whose local components at ref are v.
func FromENU(ref LLH, v ENU) ECEF {
	e, n, u := rotation(ref)
	return ECEF{
		e[0]*v.E + n[0]*v.N + u[0]*v.U,
		e[1]*v.E + n[1]*v.N + u[1]*v.U,
		e[2]*v.E + n[2]*v.N + u[2]*v.U,
	}
}

// AzEl returns the azimuth (clockwise from north, [0, 2π)) and elevation of
// target as seen from rx, in radians.
func AzEl(rx LLH, rxECEF, target ECEF) (az, el float64) {
	v := ToENU(rx, target.Sub(rxECEF))
	hor := math.Hypot(v.E, v.N)
	el = math.Atan2(v.U, hor)
	az = math.Atan2(v.E, v.N)
	if az < 0 {
		az += twoPi
	}
	return az, el
}

// HorizontalVertical returns the horizontal and vertical (signed, up positive)
// components of p − truth in the local frame at truth.
func HorizontalVertical(truth LLH, p ECEF) (h, v float64) {
	d := ToENU(truth, p.Sub(truth.ECEF()))
	return math.Hypot(d.E, d.N), d.U
}

// GreatCircle returns the great-circle (haversine) distance in metres between
// two geodetic positions on a sphere of radius EarthRadius; heights are ignored.
func GreatCircle(a, b LLH) float64 {
	la1, la2 := a.Lat*degToRad, b.Lat*degToRad
	dla := la2 - la1
	dlo := (b.Lon - a.Lon) * degToRad
	s := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(s)))
}

// Destination returns the point reached from p after distance metres along the
// initial bearing (radians clockwise from north) on the sphere; height is kept.
func Destination(p LLH, bearing, distance float64) LLH {
	la1, lo1 := p.Lat*degToRad, p.Lon*degToRad
	d := distance / EarthRadius
	sla, cla := math.Sincos(la1)
	sd, cd := math.Sincos(d)
	la2 := math.Asin(sla*cd + cla*sd*math.Cos(bearing))
	lo2 := lo1 + math.Atan2(math.Sin(bearing)*sd*cla, cd-sla*math.Sin(la2))
	lon := math.Mod(lo2*radToDeg+540, 360) - 180
	return LLH{Lat: la2 * radToDeg, Lon: lon, Height: p.Height}
}
