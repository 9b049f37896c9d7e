package wifi

import (
	"fmt"
	"math"
	"sync"
)

// indexEntry is an AP without its MAC (the map key holds it). next links the
// APs of one grid cell (noNext ends the list), which costs 8 bytes per AP
// instead of a slice per cell.
type indexEntry struct {
	lat, lon float64
	acc      float32
	obs      uint32
	next     uint64
}

// noNext ends a cell's list; MAC keys use 48 bits.
const noNext = 1 << 63

// Index is an in-memory AP database keyed by MAC, with a grid of 0.001°
// cells for NearbyAPs; for tests, benchmarks and small deployments (about
// 140 MB of heap per million APs, measured). It implements APSource and
// NearbySource and is safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	m     map[uint64]indexEntry
	cells map[int64]uint64 // cell → MAC key of the first AP in it
}

// cellDeg is the grid step: about 111 m of latitude.
const cellDeg = 0.001

// lonCells is the number of longitude cells around the globe.
const lonCells = 360000

// NewIndex returns an empty index with room for capacity APs.
func NewIndex(capacity int) *Index {
	capacity = max(capacity, 0)
	return &Index{m: make(map[uint64]indexEntry, capacity), cells: make(map[int64]uint64, capacity)}
}

func cellIndex(lat, lon float64) (int64, int64) {
	i := int64(math.Floor(lat / cellDeg))
	j := int64(math.Floor(lon/cellDeg)) % lonCells
	if j < 0 {
		j += lonCells
	}
	return i, j
}

func cellKey(i, j int64) int64 { return i*lonCells + j }

// addCell links the new entry e (not yet in x.m) at the head of its cell
// and returns it with next set.
func (x *Index) addCell(k uint64, e indexEntry) indexEntry {
	c := cellKey(cellIndex(e.lat, e.lon))
	e.next = noNext
	if h, ok := x.cells[c]; ok {
		e.next = h
	}
	x.cells[c] = k
	return e
}

// removeCell unlinks key k, stored as e, from its cell.
func (x *Index) removeCell(k uint64, e indexEntry) {
	c := cellKey(cellIndex(e.lat, e.lon))
	h, ok := x.cells[c]
	if !ok {
		return
	}
	if h == k {
		if e.next == noNext {
			delete(x.cells, c)
		} else {
			x.cells[c] = e.next
		}
		return
	}
	for p := h; p != noNext; {
		pe := x.m[p]
		if pe.next == k {
			pe.next = e.next
			x.m[p] = pe
			return
		}
		p = pe.next
	}
}

// Put inserts or replaces an AP. Positions must be valid (finite, latitude
// within ±90°, longitude within ±180°); others are rejected with ErrBadAP.
// Accuracy is stored as float32 and Observations saturate at 2³²−1.
func (x *Index) Put(ap AP) error {
	if !validAP(ap, 0) {
		return fmt.Errorf("%w: %s at (%v, %v) accuracy %v observations %d", ErrBadAP, MACString(ap.MAC), ap.Lat, ap.Lon, ap.Accuracy, ap.Observations)
	}
	obs := uint32(min(ap.Observations, math.MaxUint32))
	e := indexEntry{lat: ap.Lat, lon: ap.Lon, acc: float32(ap.Accuracy), obs: obs}
	k := MACKey(ap.MAC)
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.m[k]; ok {
		x.removeCell(k, old)
	}
	x.m[k] = x.addCell(k, e)
	return nil
}

// Delete removes an AP; it reports whether it was present.
func (x *Index) Delete(mac [6]byte) bool {
	k := MACKey(mac)
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.m[k]
	if ok {
		x.removeCell(k, e)
		delete(x.m, k)
	}
	return ok
}

// Get returns the AP stored for mac.
func (x *Index) Get(mac [6]byte) (AP, bool) {
	x.mu.RLock()
	e, ok := x.m[MACKey(mac)]
	x.mu.RUnlock()
	if !ok {
		return AP{}, false
	}
	return e.ap(mac), true
}

// Len returns the number of APs.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.m)
}

// LookupAPs implements APSource.
func (x *Index) LookupAPs(macs [][6]byte, dst []AP) []AP {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, mac := range macs {
		if e, ok := x.m[MACKey(mac)]; ok {
			dst = append(dst, e.ap(mac))
		}
	}
	return dst
}

// maxNearby caps the NearbyAPs radius (m); the solver asks for ≤ 500 m.
const maxNearby = 5000

// NearbyAPs implements NearbySource: it appends the APs within radius
// metres of (lat, lon); radius is capped at 5 km.
func (x *Index) NearbyAPs(lat, lon, radius float64, dst []AP) []AP {
	if !finite(lat) || !finite(lon) || !(radius >= 0) {
		return dst
	}
	radius = math.Min(radius, maxNearby)
	p := newPlane(lat, lon)
	dLat := radius / p.mPerDegN
	dLon := math.Min(radius/p.mPerDegE, 180)
	i0, _ := cellIndex(lat-dLat, lon)
	i1, _ := cellIndex(lat+dLat, lon)
	j0 := int64(math.Floor((lon - dLon) / cellDeg))
	j1 := int64(math.Floor((lon + dLon) / cellDeg))
	if j1-j0 >= lonCells {
		j0, j1 = 0, lonCells-1
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if (i1-i0+1)*(j1-j0+1) > int64(len(x.m)) {
		// Near the poles the cell window can exceed the index: scan it all.
		for k, e := range x.m {
			if ex, ey := p.toXY(e.lat, e.lon); ex*ex+ey*ey <= radius*radius {
				dst = append(dst, e.ap(MACFromKey(k)))
			}
		}
		return dst
	}
	for i := i0; i <= i1; i++ {
		for j := j0; j <= j1; j++ {
			jj := j % lonCells
			if jj < 0 {
				jj += lonCells
			}
			k, ok := x.cells[cellKey(i, jj)]
			for ok && k != noNext {
				e := x.m[k]
				if ex, ey := p.toXY(e.lat, e.lon); ex*ex+ey*ey <= radius*radius {
					dst = append(dst, e.ap(MACFromKey(k)))
				}
				k = e.next
			}
		}
	}
	return dst
}

func (e indexEntry) ap(mac [6]byte) AP {
	return AP{MAC: mac, Lat: e.lat, Lon: e.lon, Accuracy: float64(e.acc), Observations: int(e.obs)}
}
