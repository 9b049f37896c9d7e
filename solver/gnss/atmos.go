package gnss

import (
	"math"

	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// Carrier frequencies, Hz.
const (
	freqL1  = 1575.42e6
	freqB1I = 1561.098e6
)

// Wavelength returns the carrier wavelength of the system's signal (L1 C/A, B1I).
func Wavelength(sys orbit.System) float64 {
	if sys == orbit.BeiDou {
		return orbit.SpeedOfLight / freqB1I
	}
	return orbit.SpeedOfLight / freqL1
}

// ionoScale converts an L1 ionospheric delay to the system's frequency.
func ionoScale(sys orbit.System) float64 {
	if sys == orbit.BeiDou {
		return (freqL1 / freqB1I) * (freqL1 / freqB1I)
	}
	return 1
}

// minAtmosElevation keeps the mapping functions finite near the horizon.
const minAtmosElevation = 3 * math.Pi / 180

// saastamoinen returns the tropospheric delay in metres for a receiver at
// latitude lat (degrees) and height h (m) seeing elevation el (radians), with
// a standard atmosphere (1013.25 hPa, 15 °C, 70 % humidity at sea level).
func saastamoinen(lat, h, el float64) float64 {
	if h < -100 || h > 1e4 {
		return 0
	}
	el = math.Max(el, minAtmosElevation)
	hh := math.Max(h, 0)
	p := 1013.25 * math.Pow(1-2.2557e-5*hh, 5.2568)
	t := 15 - 6.5e-3*hh + 273.16
	e := 6.108 * 0.7 * math.Exp((17.15*t-4684)/(t-38.45))
	z := math.Pi/2 - el
	cz := math.Cos(z)
	dry := 0.0022768 * p / (1 - 0.00266*math.Cos(2*lat*math.Pi/180) - 0.00028*hh/1e3) / cz
	wet := 0.002277 * (1255/t + 0.05) * e / cz
	return dry + wet
}
