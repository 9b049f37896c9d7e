package geo

import (
	"math"
	"testing"
)

func TestECEFLLHKnownStations(t *testing.T) {
	// Station coordinates from gnss.md §7 (RINEX headers and their geodetic form).
	tests := []struct {
		name string
		ecef ECEF
		llh  LLH
		tolD float64 // degrees
		tolH float64 // metres
	}{
		{"0759", ECEF{-3976219.5082, 3382372.5671, 3652512.9849}, LLH{35.160875, 139.613837, 70.15}, 1e-6, 0.01},
		{"SLAC", ECEF{-2703115.2660, -4291768.3440, 3854247.9550}, LLH{37.41651, -122.20425, math.NaN()}, 1e-5, 0},
	}
	for _, tc := range tests {
		got := tc.ecef.LLH()
		if math.Abs(got.Lat-tc.llh.Lat) > tc.tolD || math.Abs(got.Lon-tc.llh.Lon) > tc.tolD {
			t.Errorf("%s: LLH = %+v, want %+v", tc.name, got, tc.llh)
		}
		if !math.IsNaN(tc.llh.Height) && math.Abs(got.Height-tc.llh.Height) > tc.tolH {
			t.Errorf("%s: height = %.4f, want %.4f", tc.name, got.Height, tc.llh.Height)
		}
		if d := Distance(got.ECEF(), tc.ecef); d > 1e-4 {
			t.Errorf("%s: round trip off by %g m", tc.name, d)
		}
	}
}

func TestRoundTripGrid(t *testing.T) {
	for lat := -90.0; lat <= 90; lat += 7.5 {
		for lon := -180.0; lon < 180; lon += 15 {
			for _, h := range []float64{-400, 0, 70, 8848, 400e3, 20200e3} {
				in := LLH{lat, lon, h}
				p := in.ECEF()
				back := p.LLH()
				if d := Distance(back.ECEF(), p); d > 1e-4 {
					t.Fatalf("%+v: round trip error %g m (got %+v)", in, d, back)
				}
				if math.Abs(back.Height-h) > 1e-4 {
					t.Fatalf("%+v: height %g", in, back.Height)
				}
			}
		}
	}
	if got := (ECEF{}).LLH(); got.Height != -SemiMajorAxis {
		t.Errorf("centre: %+v", got)
	}
	if got := (ECEF{0, 0, SemiMinorAxis + 10}).LLH(); math.Abs(got.Lat-90) > 1e-9 || math.Abs(got.Height-10) > 1e-6 {
		t.Errorf("north pole: %+v", got)
	}
}

func TestENU(t *testing.T) {
	ref := LLH{35.160875, 139.613837, 70.15}
	p := ref.ECEF()
	for _, v := range []ENU{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {100, -250, 33}} {
		d := FromENU(ref, v)
		back := ToENU(ref, d)
		if math.Abs(back.E-v.E)+math.Abs(back.N-v.N)+math.Abs(back.U-v.U) > 1e-9 {
			t.Errorf("ENU round trip %v -> %v", v, back)
		}
	}
	// A point straight up has elevation 90°; one due north on the horizon has azimuth 0.
	_, el := AzEl(ref, p, p.Add(FromENU(ref, ENU{0, 0, 1000})))
	if math.Abs(el-math.Pi/2) > 1e-9 {
		t.Errorf("zenith elevation %g", el)
	}
	az, el := AzEl(ref, p, p.Add(FromENU(ref, ENU{1000, 0, 0})))
	if math.Abs(az-math.Pi/2) > 1e-9 || math.Abs(el) > 1e-9 {
		t.Errorf("east az/el %g %g", az, el)
	}
	// The ellipsoid normal matches the height gradient.
	up := Up(ref)
	q := ref
	q.Height += 1
	if d := q.ECEF().Sub(p).Sub(up).Norm(); d > 1e-6 {
		t.Errorf("Up differs from height gradient by %g", d)
	}
	h, v := HorizontalVertical(ref, p.Add(FromENU(ref, ENU{3, 4, -2})))
	if math.Abs(h-5) > 1e-6 || math.Abs(v+2) > 1e-6 {
		t.Errorf("HorizontalVertical = %g, %g", h, v)
	}
}

func TestGreatCircleDestination(t *testing.T) {
	p := LLH{Lat: 47.2412, Lon: 8.7891}
	for _, b := range []float64{0, 1, 2.5, math.Pi, 5} {
		for _, d := range []float64{0, 1000, 150e3, 1e6} {
			q := Destination(p, b, d)
			if got := GreatCircle(p, q); math.Abs(got-d) > 1e-6*d+1e-6 {
				t.Errorf("bearing %g dist %g: got %g", b, d, got)
			}
		}
	}
	// 1° of latitude on the mean sphere.
	if got := GreatCircle(LLH{0, 0, 0}, LLH{1, 0, 0}); math.Abs(got-EarthRadius*math.Pi/180) > 1e-6 {
		t.Errorf("1° = %g", got)
	}
	// Crossing the antimeridian wraps the longitude.
	if q := Destination(LLH{0, 179.9, 0}, math.Pi/2, 50e3); q.Lon > -179 || q.Lon < -180 {
		t.Errorf("antimeridian: %+v", q)
	}
}

func FuzzLLH(f *testing.F) {
	f.Add(35.0, 139.0, 70.0)
	f.Add(-90.0, 0.0, 0.0)
	f.Add(0.0, 180.0, 20e6)
	f.Fuzz(func(t *testing.T, lat, lon, h float64) {
		if math.IsNaN(lat+lon+h) || math.Abs(lat) > 90 || math.Abs(lon) > 360 || h < -1e5 || h > 1e8 {
			return
		}
		p := LLH{lat, lon, h}.ECEF()
		back := p.LLH()
		if math.IsNaN(back.Lat + back.Lon + back.Height) {
			t.Fatalf("NaN for %v %v %v", lat, lon, h)
		}
		if d := Distance(back.ECEF(), p); d > 1e-3 {
			t.Fatalf("round trip error %g m for %v %v %v", d, lat, lon, h)
		}
	})
}

func BenchmarkECEFToLLH(b *testing.B) {
	p := ECEF{-3976219.5082, 3382372.5671, 3652512.9849}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.LLH()
	}
}
