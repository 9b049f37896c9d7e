package wifisim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/openmgs/openmgs/solver/wifi"
)

// ErrConfig is wrapped by Config.Validate errors.
var ErrConfig = errors.New("wifisim: invalid config")

// Config describes a synthetic city and the evaluation run over it.
type Config struct {
	Seed     uint64  // seeds every random draw; equal configs give equal reports
	Lat, Lon float64 // city centre (degrees)
	Size     float64 // side of the square city (m)
	Density  float64 // access points per km²

	// Radio: RSSI = P0ᵢ + device offset − 10·n·log10(d3D) + N(0, Shadowing²).
	PathLossExponent float64 // n
	RefPower         float64 // mean P0 at 1 m (dBm)
	RefPowerSpread   float64 // σ of P0ᵢ across APs (dB)
	DeviceOffset     float64 // σ of a per-scan receiver gain offset (dB)
	Shadowing        float64 // σ of independent per-link shadowing (dB)
	MaxAPHeight      float64 // AP heights uniform in [0, MaxAPHeight] m above the device
	Sensitivity      float64 // weakest reported RSSI (dBm)

	MaxResults int   // APs per payload, strongest first (LBM: 5–8; chip max 32)
	MinSend    int   // scans with fewer detected APs are not sent (LBM: 3)
	Format     uint8 // wifi.FormatRSSIMAC or wifi.FormatMACOnly

	MissingShare float64 // share of APs absent from the database
	MovedShare   float64 // share of APs relocated to a random point of the city; the database keeps the old place
	// APPositionError is the per-axis σ (m) of a database position built from
	// one sighting; it shrinks as 1/√observations (observations log-uniform in
	// 1…200) down to a 3 m floor. The database reports this σ as AP.Accuracy.
	APPositionError float64
	HotspotRate     float64 // mean number of mobile hotspots (locally administered MACs, 2–20 m away) per scan

	Scans  int         // device positions drawn uniformly, 100 m inside the edge
	Solver wifi.Config // configuration of the solver under test
}

// DefaultConfig is the default scenario: a 2 km × 2 km city with 2000 APs per
// km² (mean spacing about 22 m), n = 3, 6 dB shadowing, 5 % moved and 20 %
// unknown APs, 7 RSSI + MAC results per scan (the LBM 51-byte limit).
func DefaultConfig() Config {
	return Config{
		Seed: 1, Lat: 52.37, Lon: 4.89, Size: 2000, Density: 2000,
		PathLossExponent: 3, RefPower: -40, RefPowerSpread: 2, DeviceOffset: 2, Shadowing: 6,
		MaxAPHeight: 10, Sensitivity: -90,
		MaxResults: 7, MinSend: 3, Format: wifi.FormatRSSIMAC,
		MissingShare: 0.2, MovedShare: 0.05, APPositionError: 30, HotspotRate: 0.2,
		Scans:  2000,
		Solver: wifi.DefaultConfig(),
	}
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	bad := func(f string, v any) error { return fmt.Errorf("%w: %s = %v", ErrConfig, f, v) }
	share := func(v float64) bool { return v >= 0 && v <= 1 }
	switch {
	case !(c.Lat > -80 && c.Lat < 80) || !(c.Lon >= -180 && c.Lon <= 180):
		return bad("Lat/Lon", [2]float64{c.Lat, c.Lon})
	case !(c.Size >= 300 && c.Size <= 50000):
		return bad("Size", c.Size)
	case !(c.Density > 0) || c.Density*c.Size*c.Size/1e6 > 5e6:
		return bad("Density", c.Density)
	case !(c.PathLossExponent >= 1 && c.PathLossExponent <= 10):
		return bad("PathLossExponent", c.PathLossExponent)
	case !(c.RefPower > -100 && c.RefPower < 30):
		return bad("RefPower", c.RefPower)
	case !(c.RefPowerSpread >= 0 && c.RefPowerSpread <= 20):
		return bad("RefPowerSpread", c.RefPowerSpread)
	case !(c.DeviceOffset >= 0 && c.DeviceOffset <= 20):
		return bad("DeviceOffset", c.DeviceOffset)
	case !(c.Shadowing >= 0 && c.Shadowing <= 20):
		return bad("Shadowing", c.Shadowing)
	case !(c.MaxAPHeight >= 0 && c.MaxAPHeight <= 100):
		return bad("MaxAPHeight", c.MaxAPHeight)
	case !(c.Sensitivity > -127 && c.Sensitivity < c.RefPower):
		return bad("Sensitivity", c.Sensitivity)
	case c.MaxResults < 2 || c.MaxResults > 32:
		return bad("MaxResults", c.MaxResults)
	case c.MinSend < 2 || c.MinSend > c.MaxResults:
		return bad("MinSend", c.MinSend)
	case c.Format != wifi.FormatRSSIMAC && c.Format != wifi.FormatMACOnly:
		return bad("Format", c.Format)
	case !share(c.MissingShare) || !share(c.MovedShare):
		return bad("MissingShare/MovedShare", [2]float64{c.MissingShare, c.MovedShare})
	case !(c.APPositionError >= 0 && c.APPositionError <= 1000):
		return bad("APPositionError", c.APPositionError)
	case !(c.HotspotRate >= 0 && c.HotspotRate <= 10):
		return bad("HotspotRate", c.HotspotRate)
	case c.Scans < 1 || c.Scans > 1e6:
		return bad("Scans", c.Scans)
	}
	return c.Solver.Validate()
}

// simAP is one access point: where it is, and what the database believes.
type simAP struct {
	mac    [6]byte
	x, y   float64 // true position (m)
	h      float64 // height above the device (m)
	p0     float64 // RSSI at 1 m (dBm)
	moved  bool
	inDB   bool
	dbLat  float64
	dbLon  float64
	dbAcc  float64
	dbObs  int
	dbX    float64 // database position in plane metres
	dbY    float64
	gridID int
}

// City is a generated AP field with its database (an in-memory wifi.Index).
type City struct {
	cfg   Config
	pl    plane
	aps   []simAP
	byMAC map[[6]byte]int
	grid  [][]int32 // AP indices per cell
	cell  float64
	nCell int
	rmax  float64 // beyond this distance an AP is never heard
	db    *wifi.Index
}

// NewCity generates the city of cfg (deterministic in cfg.Seed).
func NewCity(cfg Config) (*City, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	n := int(math.Round(cfg.Density * cfg.Size * cfg.Size / 1e6))
	c := &City{cfg: cfg, pl: newPlane(cfg.Lat, cfg.Lon), byMAC: make(map[[6]byte]int, n), db: wifi.NewIndex(n)}
	// Farthest audible distance: mean P0 + 4σ of every gain term.
	margin := 4 * math.Sqrt(cfg.Shadowing*cfg.Shadowing+cfg.RefPowerSpread*cfg.RefPowerSpread+cfg.DeviceOffset*cfg.DeviceOffset)
	c.rmax = math.Pow(10, (cfg.RefPower+margin-cfg.Sensitivity)/(10*cfg.PathLossExponent))
	c.cell = math.Max(50, math.Min(c.rmax, cfg.Size))
	c.nCell = int(math.Ceil(cfg.Size / c.cell))
	c.grid = make([][]int32, c.nCell*c.nCell)
	half := cfg.Size / 2
	for len(c.aps) < n {
		mac := randomMAC(rng)
		if _, dup := c.byMAC[mac]; dup {
			continue
		}
		a := simAP{mac: mac, x: rng.Float64()*cfg.Size - half, y: rng.Float64()*cfg.Size - half}
		a.h = rng.Float64() * cfg.MaxAPHeight
		a.p0 = cfg.RefPower + rng.NormFloat64()*cfg.RefPowerSpread
		a.inDB = rng.Float64() >= cfg.MissingShare
		a.moved = rng.Float64() < cfg.MovedShare
		// Database position: the (old) true place plus crowd-sourcing error.
		a.dbObs = int(math.Exp(rng.Float64() * math.Log(200)))
		a.dbAcc = math.Max(3, cfg.APPositionError/math.Sqrt(float64(a.dbObs)))
		a.dbX = a.x + rng.NormFloat64()*a.dbAcc
		a.dbY = a.y + rng.NormFloat64()*a.dbAcc
		if a.moved {
			a.x, a.y = rng.Float64()*cfg.Size-half, rng.Float64()*cfg.Size-half
		}
		a.dbLat, a.dbLon = c.pl.toLatLon(a.dbX, a.dbY)
		a.gridID = c.cellOf(a.x, a.y)
		c.byMAC[mac] = len(c.aps)
		c.grid[a.gridID] = append(c.grid[a.gridID], int32(len(c.aps)))
		if a.inDB {
			if err := c.db.Put(wifi.AP{MAC: mac, Lat: a.dbLat, Lon: a.dbLon, Accuracy: a.dbAcc, Observations: a.dbObs}); err != nil {
				return nil, err
			}
		}
		c.aps = append(c.aps, a)
	}
	return c, nil
}

// randomMAC draws a universally administered unicast MAC.
func randomMAC(rng *rand.Rand) [6]byte {
	v := rng.Uint64()
	m := wifi.MACFromKey(v)
	m[0] &^= 0x03
	return m
}

func (c *City) cellOf(x, y float64) int {
	half := c.cfg.Size / 2
	i := min(max(int((x+half)/c.cell), 0), c.nCell-1)
	j := min(max(int((y+half)/c.cell), 0), c.nCell-1)
	return j*c.nCell + i
}

// Index returns the city's AP database.
func (c *City) Index() *wifi.Index { return c.db }

// APs returns the number of access points in the city.
func (c *City) APs() int { return len(c.aps) }

// Sample is one simulated device scan.
type Sample struct {
	Lat, Lon float64 // true device position
	Payload  []byte  // the LBM uplink (port 197), nil when not sent
	Detected int     // APs above sensitivity (before MaxResults)
}

// heard is an AP (or hotspot) above sensitivity in one scan.
type heard struct {
	mac  [6]byte
	rssi int
}

// Sample draws a device position and its scan using rng.
func (c *City) Sample(rng *rand.Rand) Sample {
	cfg := &c.cfg
	inner := cfg.Size/2 - 100
	x, y := (rng.Float64()*2-1)*inner, (rng.Float64()*2-1)*inner
	return c.ScanAt(rng, x, y)
}

// ScanAt simulates a scan at plane position (x, y) metres from the centre.
func (c *City) ScanAt(rng *rand.Rand, x, y float64) Sample {
	cfg := &c.cfg
	s := Sample{}
	s.Lat, s.Lon = c.pl.toLatLon(x, y)
	off := rng.NormFloat64() * cfg.DeviceOffset
	var hs []heard
	r := int(math.Ceil(c.rmax / c.cell))
	ci, cj := c.cellOf(x, y)%c.nCell, c.cellOf(x, y)/c.nCell
	for j := max(cj-r, 0); j <= min(cj+r, c.nCell-1); j++ {
		for i := max(ci-r, 0); i <= min(ci+r, c.nCell-1); i++ {
			for _, id := range c.grid[j*c.nCell+i] {
				a := &c.aps[id]
				dx, dy := a.x-x, a.y-y
				d2 := dx*dx + dy*dy + a.h*a.h
				if d2 > c.rmax*c.rmax {
					continue
				}
				d2 = math.Max(d2, 1)
				rssi := a.p0 + off - 5*cfg.PathLossExponent*math.Log10(d2) + rng.NormFloat64()*cfg.Shadowing
				if q := quantise(rssi); float64(q) >= cfg.Sensitivity {
					hs = append(hs, heard{mac: a.mac, rssi: q})
				}
			}
		}
	}
	// Mobile hotspots: random locally administered MACs close by.
	for range poisson(rng, cfg.HotspotRate) {
		m := randomMAC(rng)
		m[0] |= 0x02
		d := 2 + rng.Float64()*18
		rssi := cfg.RefPower + off - 10*cfg.PathLossExponent*math.Log10(d) + rng.NormFloat64()*cfg.Shadowing
		if q := quantise(rssi); float64(q) >= cfg.Sensitivity {
			hs = append(hs, heard{mac: m, rssi: q})
		}
	}
	s.Detected = len(hs)
	if len(hs) < cfg.MinSend {
		return s
	}
	slices.SortStableFunc(hs, func(a, b heard) int { return b.rssi - a.rssi })
	hs = hs[:min(len(hs), cfg.MaxResults)]
	scan := wifi.Scan{Format: cfg.Format, APs: make([]wifi.Observation, len(hs))}
	for i, h := range hs {
		scan.APs[i] = wifi.Observation{MAC: h.mac}
		if cfg.Format == wifi.FormatRSSIMAC {
			scan.APs[i].RSSI, scan.APs[i].HasRSSI = h.rssi, true
		}
	}
	p, err := wifi.AppendScan(nil, scan)
	if err != nil {
		// Cannot happen: MACs are distinct and RSSIs quantised into int8.
		panic(fmt.Sprintf("wifisim: encode scan: %v", err))
	}
	s.Payload = p
	return s
}

// quantise rounds to whole dBm within the int8 range a receiver reports.
func quantise(v float64) int {
	return int(math.Max(-127, math.Min(-1, math.Round(v))))
}

// poisson draws a Poisson variate with a small mean (Knuth).
func poisson(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
