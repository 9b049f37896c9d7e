package wifidb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
)

// Options tune the database; the zero value gives the defaults.
type Options struct {
	// Logger receives load warnings (undecodable records); nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// BatchSize bounds the records of one store write during imports
	// (default 10000).
	BatchSize int
	// DefaultAccuracy (m, per axis) stands for an unknown record accuracy
	// when sightings are merged into it (default 30).
	DefaultAccuracy float64
	// MinAccuracy (m) floors the accuracy of merged positions, because
	// sightings of one place are not independent (default 5).
	MinAccuracy float64
	// MovedDistance (m): a sighting further than this from the stored
	// position replaces it instead of being averaged in (default 500, the
	// solver's cluster radius).
	MovedDistance float64
	// PathLossExponent and RefPower turn a sighting's RSSI into a range
	// estimate (defaults 3 and −40 dBm at 1 m, as the solver).
	PathLossExponent float64
	RefPower         float64
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10000
	}
	if !(o.DefaultAccuracy > 0) {
		o.DefaultAccuracy = 30
	}
	if !(o.MinAccuracy > 0) {
		o.MinAccuracy = 5
	}
	if !(o.MovedDistance > 0) {
		o.MovedDistance = 500
	}
	if !(o.PathLossExponent > 0) {
		o.PathLossExponent = 3
	}
	if o.RefPower == 0 {
		o.RefPower = -40
	}
}

// DB is the access-point database: records in the store table
// "wifi_aps" and an in-memory wifi.Index of them for the solver. It is
// safe for concurrent use. Writes go through one DB per store: the index
// is loaded once, at Open, and then follows this DB's writes only.
type DB struct {
	t   store.Table
	idx *wifi.Index
	o   Options
	// mu serialises writers so that the store and the index change in the
	// same order; readers use the index (its own lock) or the store.
	mu sync.Mutex
}

var (
	_ wifi.APSource     = (*DB)(nil)
	_ wifi.NearbySource = (*DB)(nil)
)

// Open loads the access points of s into memory. Records that do not
// decode are skipped with a warning (they stay in the store).
func Open(ctx context.Context, s store.Store, o *Options) (*DB, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	opts.defaults()
	db := &DB{t: s.Table(TableName), idx: wifi.NewIndex(0), o: opts}
	start := time.Now()
	bad := 0
	err := db.t.Range(ctx, nil, func(key, value []byte, _ uint64) error {
		mac, ok := MACOfKey(key)
		if !ok {
			bad++
			return nil
		}
		r, err := DecodeRecord(mac, value)
		if err == nil {
			err = db.idx.Put(r.AP())
		}
		if err != nil {
			bad++
			if bad <= 10 {
				opts.Logger.WarnContext(ctx, "wifi_aps: record skipped", "key", fmt.Sprintf("%x", key), "err", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("wifidb: load %s: %w", TableName, err)
	}
	opts.Logger.InfoContext(ctx, "wifi access points loaded", "aps", db.idx.Len(), "skipped", bad, "duration", time.Since(start))
	return db, nil
}

// Len returns the number of access points.
func (db *DB) Len() int { return db.idx.Len() }

// Index returns the in-memory index (read it; write through the DB).
func (db *DB) Index() *wifi.Index { return db.idx }

// LookupAPs implements wifi.APSource from memory.
func (db *DB) LookupAPs(macs [][6]byte, dst []wifi.AP) []wifi.AP { return db.idx.LookupAPs(macs, dst) }

// NearbyAPs implements wifi.NearbySource from memory.
func (db *DB) NearbyAPs(lat, lon, radius float64, dst []wifi.AP) []wifi.AP {
	return db.idx.NearbyAPs(lat, lon, radius, dst)
}

// Get returns the stored record of mac or store.ErrNotFound.
func (db *DB) Get(ctx context.Context, mac [6]byte) (Record, error) {
	v, _, err := db.t.Get(ctx, Key(mac))
	if err != nil {
		return Record{}, err
	}
	return DecodeRecord(mac, v)
}

// Put validates and stores records as given, replacing existing ones
// (FirstSeen 0 keeps the stored first sighting or takes the current time;
// LastSeen 0 takes the current time).
func (db *DB) Put(ctx context.Context, recs ...Record) error {
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	now := db.o.Now().Unix()
	out := make([]Record, len(recs))
	for i, r := range recs {
		if r.FirstSeen == 0 || r.LastSeen == 0 {
			if old, ok, err := db.existing(ctx, r.MAC); err != nil {
				return err
			} else if ok && r.FirstSeen == 0 {
				r.FirstSeen = old.FirstSeen
			}
			if r.FirstSeen == 0 {
				r.FirstSeen = now
			}
			if r.LastSeen == 0 {
				r.LastSeen = now
			}
		}
		out[i] = r
	}
	return db.write(ctx, out)
}

// existing returns the stored record of mac when the index knows it.
// Callers hold db.mu.
func (db *DB) existing(ctx context.Context, mac [6]byte) (Record, bool, error) {
	if _, ok := db.idx.Get(mac); !ok {
		return Record{}, false, nil
	}
	r, err := db.Get(ctx, mac)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrRecord) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	return r, true, nil
}

// write stores validated records in one store write, in key order, then
// updates the index. Callers hold db.mu.
func (db *DB) write(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	slices.SortFunc(recs, func(a, b Record) int { return bytes.Compare(a.MAC[:], b.MAC[:]) })
	ops := make([]store.Op, len(recs))
	buf := make([]byte, 0, len(recs)*(8+recordSize))
	for i, r := range recs {
		k := len(buf)
		buf = append(buf, Key(r.MAC)...)
		v := len(buf)
		buf = AppendRecord(buf, r)
		ops[i] = store.Op{Key: buf[k:v:v], Value: buf[v:len(buf):len(buf)]}
	}
	if err := db.t.Write(ctx, ops); err != nil {
		return fmt.Errorf("wifidb: write %d records: %w", len(recs), err)
	}
	for _, r := range recs {
		// Records were validated: Put cannot fail.
		if err := db.idx.Put(r.AP()); err != nil {
			return fmt.Errorf("wifidb: index %s: %w", wifi.MACString(r.MAC), err)
		}
	}
	return nil
}

// Delete removes access points and returns how many existed.
func (db *DB) Delete(ctx context.Context, macs ...[6]byte) (int, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	var ops []store.Op
	var del [][6]byte
	for _, m := range macs {
		if _, ok := db.idx.Get(m); ok && !slices.Contains(del, m) {
			del = append(del, m)
			ops = append(ops, store.Op{Key: Key(m)})
		}
	}
	if len(ops) == 0 {
		return 0, nil
	}
	if err := db.t.Write(ctx, ops); err != nil {
		return 0, fmt.Errorf("wifidb: delete: %w", err)
	}
	for _, m := range del {
		db.idx.Delete(m)
	}
	return len(del), nil
}

// rangePage is the number of records read per store transaction by Range.
const rangePage = 1024

// Range calls fn for every stored record with MAC >= from, in MAC order.
// It reads the store in pages, so that no transaction stays open while fn
// runs (fn may be slow: a client stream); records written meanwhile may or
// may not be seen. Returning store.ErrStop ends the walk without error.
// Records that do not decode are skipped.
func (db *DB) Range(ctx context.Context, from [6]byte, fn func(Record) error) error {
	next := Key(from)
	page := make([]Record, 0, rangePage)
	for {
		page = page[:0]
		var last []byte
		seen, full := 0, false
		err := db.t.Range(ctx, next, func(key, value []byte, _ uint64) error {
			if seen == rangePage {
				full = true
				return store.ErrStop
			}
			seen++
			last = append(last[:0], key...)
			if mac, ok := MACOfKey(key); ok {
				if r, err := DecodeRecord(mac, value); err == nil {
					page = append(page, r)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				if errors.Is(err, store.ErrStop) {
					return nil
				}
				return err
			}
		}
		if !full {
			return nil
		}
		if next = binaryNext(last); next == nil {
			return nil
		}
	}
}

// binaryNext returns the smallest key greater than k of the same length,
// or nil when k is all 0xff.
func binaryNext(k []byte) []byte {
	n := bytes.Clone(k)
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return n
		}
	}
	return nil
}

// distance is the horizontal distance in metres between two points, on a
// local plane (exact enough below a few km).
func distance(lat1, lon1, lat2, lon2 float64) float64 {
	x, y := offset(lat1, lon1, lat2, lon2)
	return math.Hypot(x, y)
}

// offset returns the east and north metres of point 2 from point 1.
func offset(lat1, lon1, lat2, lon2 float64) (x, y float64) {
	const mPerDeg = 111_195.0 // mean Earth radius 6371 km
	dLon := math.Mod(lon2-lon1+540, 360) - 180
	return dLon * mPerDeg * math.Cos((lat1+lat2)/2*math.Pi/180), (lat2 - lat1) * mPerDeg
}
