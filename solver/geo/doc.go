// Package geo converts between WGS84 Earth-centred Earth-fixed (ECEF), geodetic
// (latitude, longitude, ellipsoidal height) and local East-North-Up (ENU)
// coordinates, and measures distances.
//
// Conventions: ECEF in metres; latitude and longitude in degrees (north and
// east positive); heights in metres above the WGS84 ellipsoid; azimuth and
// elevation in radians. Pure: no I/O, no state.
package geo
