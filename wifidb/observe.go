package wifidb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/openmgs/openmgs/solver/wifi"
)

// Sighting is one observation of an access point from a known position:
// a Wi-Fi scan paired with a GNSS fix, a geosubmit item or a WiGLE row.
type Sighting struct {
	MAC     [6]byte
	RSSI    int // dBm, when HasRSSI
	HasRSSI bool
	// Lat, Lon is where the observer was; PosAccuracy (m) how well that
	// is known (0: unknown, Options.DefaultAccuracy is used).
	Lat, Lon    float64
	PosAccuracy float64
	Time        int64 // Unix seconds (0: now)
}

// Reject reasons of imports and sightings (keys of the Rejected maps).
const (
	RejectMalformed     = "malformed"            // wrong column count, unparseable row or JSON value
	RejectBadMAC        = "bad_mac"              // not 12 hex digits, multicast or all zeros
	RejectLocal         = "locally_administered" // randomised MAC, usually a phone hotspot
	RejectBadCoordinate = "bad_coordinate"       // not a latitude/longitude, or (0, 0)
	RejectBadAccuracy   = "bad_accuracy"         // negative, not a number or above MaxAccuracy
	RejectDuplicate     = "duplicate"            // MAC already given earlier in the same CSV/JSON import
	RejectNotWiFi       = "not_wifi"             // WiGLE row of another type (BT, BLE, GSM, LTE, ...)
	RejectNoMap         = "nomap"                // SSID ends in _nomap (the owner opted out)
)

// rejectReason maps a validation error to its reject reason.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, ErrLocallyAdministered):
		return RejectLocal
	case errors.Is(err, ErrBadMAC):
		return RejectBadMAC
	case errors.Is(err, ErrBadCoordinate):
		return RejectBadCoordinate
	case errors.Is(err, ErrBadAccuracy):
		return RejectBadAccuracy
	}
	return RejectMalformed
}

// ObserveResult counts what Observe did.
type ObserveResult struct {
	Accepted int            // sightings used
	Rejected map[string]int // sightings refused, by reason
	Created  int            // new access points
	Updated  int            // refined access points
	Moved    int            // access points replaced because they were seen far away
}

// Observe adds or refines the access points of the sightings: each
// position becomes a running weighted mean of the sightings (weight
// 1/σ², σ² per axis = (position accuracy² + RSSI range²)/2), with the
// count of observations and the first and last sighting times. A sighting
// further than Options.MovedDistance from the stored position replaces it
// (the access point moved). src is added to the records' sources.
func (db *DB) Observe(ctx context.Context, src Source, sightings []Sighting) (ObserveResult, error) {
	res := ObserveResult{}
	now := db.o.Now().Unix()
	aggs := map[[6]byte]*aggregate{}
	var order [][6]byte
	for _, s := range sightings {
		err := CheckMAC(s.MAC)
		if err == nil {
			err = CheckPosition(s.Lat, s.Lon)
		}
		if err == nil {
			err = CheckAccuracy(s.PosAccuracy)
		}
		if err != nil {
			if res.Rejected == nil {
				res.Rejected = map[string]int{}
			}
			res.Rejected[rejectReason(err)]++
			continue
		}
		if s.Time == 0 {
			s.Time = now
		}
		a := aggs[s.MAC]
		if a == nil {
			a = &aggregate{}
			aggs[s.MAC] = a
			order = append(order, s.MAC)
		}
		a.add(s.Lat, s.Lon, db.weight(s), s.Time)
		res.Accepted++
	}
	if len(order) == 0 {
		return res, nil
	}
	slices.SortFunc(order, func(a, b [6]byte) int { return compareMAC(a, b) })
	db.mu.Lock()
	defer db.mu.Unlock()
	recs := make([]Record, 0, len(order))
	for _, mac := range order {
		old, ok, err := db.existing(ctx, mac)
		if err != nil {
			return res, err
		}
		r, moved := db.merge(old, ok, mac, aggs[mac], src)
		switch {
		case !ok:
			res.Created++
		case moved:
			res.Moved++
		default:
			res.Updated++
		}
		recs = append(recs, r)
	}
	if err := db.write(ctx, recs); err != nil {
		return ObserveResult{Rejected: res.Rejected}, err
	}
	return res, nil
}

func compareMAC(a, b [6]byte) int {
	return slices.Compare(a[:], b[:])
}

// rangeOf estimates the distance (m) at which an AP is heard at rssi dBm
// by the log-distance model, clamped to 1…150 m; without RSSI, 50 m.
func (db *DB) rangeOf(rssi int, has bool) float64 {
	o := wifi.Observation{RSSI: rssi, HasRSSI: has}
	if !o.UsableRSSI() {
		return 50
	}
	d := math.Pow(10, (db.o.RefPower-float64(rssi))/(10*db.o.PathLossExponent))
	return math.Max(1, math.Min(150, d))
}

// weight is 1/σ² of a sighting, σ the per-axis uncertainty of the AP
// being where the observer was: position error and unknown direction at
// the RSSI range.
func (db *DB) weight(s Sighting) float64 {
	acc := s.PosAccuracy
	if acc == 0 {
		acc = db.o.DefaultAccuracy
	}
	d := db.rangeOf(s.RSSI, s.HasRSSI)
	return 2 / (acc*acc + d*d)
}

// aggregate is a weighted mean of positions on a plane around the first.
type aggregate struct {
	lat0, lon0  float64
	sw, sx, sy  float64
	n           uint32
	first, last int64
}

func (a *aggregate) add(lat, lon, w float64, t int64) {
	if a.n == 0 {
		a.lat0, a.lon0, a.first, a.last = lat, lon, t, t
	}
	x, y := offset(a.lat0, a.lon0, lat, lon)
	a.sw += w
	a.sx += w * x
	a.sy += w * y
	if a.n < math.MaxUint32 {
		a.n++
	}
	a.first, a.last = min(a.first, t), max(a.last, t)
}

// mean returns the weighted mean position.
func (a *aggregate) mean() (lat, lon float64) {
	return move(a.lat0, a.lon0, a.sx/a.sw, a.sy/a.sw)
}

// move returns the point x metres east and y metres north of (lat, lon).
func move(lat, lon, x, y float64) (float64, float64) {
	const mPerDeg = 111_195.0
	lat2 := lat + y/mPerDeg
	c := math.Max(math.Cos((lat+lat2)/2*math.Pi/180), 1e-6)
	lon2 := math.Mod(lon+x/(mPerDeg*c)+540, 360) - 180
	return math.Max(-90, math.Min(90, lat2)), lon2
}

// merge folds an aggregate of sightings into the stored record old (ok:
// it exists) and reports whether it replaced it because it moved.
func (db *DB) merge(old Record, ok bool, mac [6]byte, a *aggregate, src Source) (Record, bool) {
	lat, lon := a.mean()
	fresh := Record{MAC: mac, Lat: lat, Lon: lon, Accuracy: db.accuracyOf(a.sw), Observations: a.n,
		FirstSeen: a.first, LastSeen: a.last, Source: src}
	if !ok {
		return fresh, false
	}
	if distance(old.Lat, old.Lon, lat, lon) > db.o.MovedDistance {
		return fresh, true
	}
	sa := old.Accuracy
	if sa == 0 {
		sa = db.o.DefaultAccuracy
	}
	we := 1 / (sa * sa)
	w := we + a.sw
	x, y := offset(old.Lat, old.Lon, lat, lon)
	r := old
	r.Lat, r.Lon = move(old.Lat, old.Lon, x*a.sw/w, y*a.sw/w)
	r.Accuracy = db.accuracyOf(w)
	r.Observations = uint32(min(uint64(old.Observations)+uint64(a.n), math.MaxUint32))
	if r.FirstSeen == 0 || a.first < r.FirstSeen {
		r.FirstSeen = a.first
	}
	r.LastSeen = max(r.LastSeen, a.last)
	r.Source |= src
	if err := r.Validate(); err != nil {
		// Cannot happen for validated inputs; keep the fresh estimate.
		return fresh, true
	}
	return r, false
}

// accuracyOf is the per-axis σ of a mean with total weight w, floored.
func (db *DB) accuracyOf(w float64) float64 {
	acc := math.Max(db.o.MinAccuracy, 1/math.Sqrt(w))
	return math.Min(acc, MaxAccuracy)
}

// String summarises the result for logs.
func (r ObserveResult) String() string {
	return fmt.Sprintf("%d accepted (%d new, %d refined, %d moved), %d rejected", r.Accepted, r.Created, r.Updated, r.Moved, total(r.Rejected))
}

func total[K comparable, V int | int64](m map[K]V) V {
	var n V
	for _, v := range m {
		n += v
	}
	return n
}
