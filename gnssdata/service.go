package gnssdata

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
	"github.com/openmgs/openmgs/store"
)

// TableOrbits is the store table of imported orbit files.
const TableOrbits = "gnss_orbits"

const recordVersion = 1

// Options configure the service.
type Options struct {
	// Solver is the solver configuration; nil means gnss.DefaultConfig.
	// A nil Iono is filled from the navigation data.
	Solver *gnss.Config
	// MaxFileBytes bounds one file after decompression (default
	// DefaultMaxFileBytes).
	MaxFileBytes int64
	// Logger receives import and load messages; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Retention bounds how far back stored imports reach: an import whose
	// data ends (Import.DataEnd) more than Retention before the newest data
	// end of all imports is deleted, at Open and with every Import, except
	// the newest import of each format (RINEX, YUMA). The window follows
	// the data, not the clock: a feed that stops keeps its last window, and
	// restarts, tests and replays prune alike at any date (the clock only
	// caps the newest data end at now + 7 days, against mis-dated files).
	// 0 keeps every import; negative is an error. mgsd uses
	// DefaultRetention.
	Retention time.Duration
}

// DefaultRetention is mgsd's retention of orbit imports: two weeks of data.
// Broadcast ephemerides are valid for hours (±2 h GPS, ±1 h BeiDou), so
// only the files covering a capture time matter for it; but uplinks are
// not always live: trackers buffer scans out of coverage and upload them
// days later, network servers and integrations replay or deliver late, and
// operators re-run uplinks. Two weeks of daily navigation files lets such
// late uplinks still get an ephemeris fix, at a bounded cost (a daily
// multi-GNSS file is about 1 MB compressed, and every file is parsed at
// start). Almanacs stay usable for weeks (orbit.DefaultAlmanacMaxAge), and
// the newest one is always kept as the fallback.
const DefaultRetention = 14 * 24 * time.Hour

// maxDataLead caps how far ahead of the service clock the newest data end
// may move the retention horizon, so that a mis-dated file (a wrong week
// rollover, a 2-digit year read in the wrong century) cannot make every
// other import expire. Real files run ahead by days at most: a YUMA
// almanac's reference time is up to about five days after it is published.
const maxDataLead = 7 * 24 * time.Hour

// ParseRetention reads a retention setting: "0" or "off" keeps every
// import, otherwise a positive duration in Go syntax ("336h") or a number
// of days or weeks ("14d", "2w").
func ParseRetention(in string) (time.Duration, error) {
	s := strings.ToLower(strings.TrimSpace(in))
	switch s {
	case "0", "off", "none", "forever":
		return 0, nil
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		unit := 24 * time.Hour
		if s[n-1] == 'w' {
			unit *= 7
		}
		v, err := strconv.ParseFloat(s[:n-1], 64)
		if err == nil && v >= 0 && v*float64(unit) < math.MaxInt64 {
			return time.Duration(v * float64(unit)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not off, 0, a duration such as 336h or a number of days or weeks such as 14d or 2w", in)
}

// fmtDuration renders whole days as "14d", other durations as Go does.
func fmtDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Import describes one imported file.
type Import struct {
	ID       uint64  `json:"id"`
	Name     string  `json:"name"`
	Format   Format  `json:"format"`
	Imported float64 `json:"imported"` // Unix seconds
	Size     int64   `json:"size"`     // bytes, decompressed
	SHA256   string  `json:"sha256"`   // of the decompressed file
	// Derived from the file each time it is parsed (not stored).
	Version float64 `json:"-"`
	Counts  Counts  `json:"-"`
	Iono    bool    `json:"-"`
	// DataEnd is the newest time the file's data covers, GPS seconds: the
	// end of its latest ephemeris's validity (Toe + half the fit interval),
	// or its newest almanac reference time (an almanac describes the orbits
	// at that time; it is superseded by newer almanacs, not by its age).
	// Retention compares it.
	DataEnd float64 `json:"-"`
}

// ImportResult is the outcome of Import.
type ImportResult struct {
	Import
	// Duplicate reports that the same file was imported before; nothing
	// was stored and Import describes the earlier import.
	Duplicate bool
	// Pruned are the older imports that the retention deleted with this
	// one (in the same store write).
	Pruned []Import
}

// ErrRetention: the file's data ends before the retention window, so it
// would be deleted at once (it is not stored).
var ErrRetention = errors.New("gnssdata: orbit file older than the retention window")

// SatStatus is what is loaded for one satellite.
type SatStatus struct {
	Sat         orbit.SatID
	Ephemerides int
	Almanacs    int
	// EphemerisFrom and EphemerisTo span the validity of its ephemerides
	// (Toe ∓ the fit interval), GPS seconds; 0 without ephemerides.
	EphemerisFrom, EphemerisTo float64
	// AlmanacRef is the newest almanac reference time, GPS seconds.
	AlmanacRef float64
}

// Status is the loaded orbit data.
type Status struct {
	Imports []Import
	Sats    []SatStatus
	// EphemerisSats and AlmanacSats count satellites with at least one
	// record of that kind; ValidNow counts those with an ephemeris valid at
	// the status time, AlmanacNow those usable from an almanac only.
	EphemerisSats, AlmanacSats int
	ValidNow, AlmanacNow       int
	// ValidFrom and ValidTo span all ephemeris validity, GPS seconds.
	ValidFrom, ValidTo float64
	// Newest is the newest reference time of any record (GPS seconds) and
	// Age is Now − Newest in seconds (negative for predicted data).
	Newest float64
	Age    float64
	// Now is the status time, GPS seconds.
	Now float64
	// Iono reports a Klobuchar model in use (from the newest navigation
	// file that has one).
	Iono bool
	// Retention is Options.Retention (0: every import is kept), and
	// RetainFrom the current retention horizon, GPS seconds (0 with
	// Retention 0 or no imports): imports whose DataEnd is before it are
	// deleted, except the newest of each format.
	Retention  time.Duration
	RetainFrom float64
}

// entry is one stored import with its parsed content.
type entry struct {
	meta   Import
	parsed *Parsed
}

// snapshot is the immutable in-memory state served to solvers.
type snapshot struct {
	set    *orbit.Set
	solver *gnss.Solver // nil without data
	iono   *orbit.Klobuchar
	sats   []SatStatus
	valid  [2]float64
	newest float64
}

// Service stores orbit files and serves the merged orbits. It is safe for
// concurrent use.
type Service struct {
	table   store.Table
	cfg     gnss.Config
	maxFile int64
	log     *slog.Logger
	now     func() time.Time
	keep    time.Duration // retention; 0 keeps everything

	mu      sync.Mutex // serialises imports and deletes; guards entries, broken and nextID
	entries []*entry
	// broken are stored records that no longer parse (logged at Open);
	// Delete removes them too.
	broken map[uint64]Import
	nextID uint64

	cur atomic.Pointer[snapshot]
}

// Open loads the stored imports, deletes those the retention no longer
// keeps (so that a lowered Options.Retention applies at restart) and builds
// the orbit set. A stored record that no longer parses is logged and
// skipped (Delete removes it).
func Open(ctx context.Context, st store.Store, o Options) (*Service, error) {
	s := &Service{table: st.Table(TableOrbits), cfg: gnss.DefaultConfig(), maxFile: o.MaxFileBytes, log: o.Logger, now: o.Now,
		keep: o.Retention, broken: map[uint64]Import{}, nextID: 1}
	if o.Retention < 0 {
		return nil, fmt.Errorf("gnssdata: negative retention %v", o.Retention)
	}
	if o.Solver != nil {
		s.cfg = *o.Solver
	}
	if err := s.cfg.Validate(); err != nil {
		return nil, err
	}
	if s.maxFile <= 0 {
		s.maxFile = DefaultMaxFileBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	near := lora.TimeToGPS(s.now())
	err := s.table.Range(ctx, nil, func(key, value []byte, _ uint64) error {
		if len(key) != 8 {
			return nil
		}
		id := binary.BigEndian.Uint64(key)
		s.nextID = max(s.nextID, id+1)
		meta, data, err := decodeRecord(value)
		if err == nil {
			var p *Parsed
			if p, err = Parse(meta.Name, meta.Format, data, s.maxFile); err == nil {
				meta.ID = id
				s.entries = append(s.entries, &entry{meta: describe(meta, p, near), parsed: p})
				return nil
			}
		}
		meta.ID = id
		s.broken[id] = meta
		s.log.Error("stored orbit file skipped (remove it with mgsctl gnss delete)", "id", id, "name", meta.Name, "err", err)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gnssdata: load %s: %w", TableOrbits, err)
	}
	if keep, drop, horizon := retain(s.entries, s.keep, near); len(drop) > 0 {
		ops := make([]store.Op, len(drop))
		for i, e := range drop {
			ops[i] = store.Op{Key: recordKey(e.meta.ID)}
		}
		// Retention is housekeeping: a failed delete keeps serving the data
		// (the store is unchanged, memory matches it) and retries next start.
		if err := s.table.Write(ctx, ops); err != nil {
			s.log.Error("orbit retention: delete failed; keeping the imports", "imports", len(drop), "err", err)
		} else {
			s.entries = keep
			s.logPruned(drop, horizon)
		}
	}
	if err := s.rebuild(); err != nil {
		return nil, err
	}
	st0 := s.Status()
	s.log.Info("orbit data loaded", "imports", len(s.entries), "ephemeris_sats", st0.EphemerisSats,
		"almanac_sats", st0.AlmanacSats, "valid_now", st0.ValidNow)
	return s, nil
}

// describe fills the derived fields of an import.
func describe(m Import, p *Parsed, near float64) Import {
	m.Format, m.Version, m.Counts, m.Iono = p.Format, p.Version, p.Counts(near), p.Iono != nil
	m.DataEnd = math.Inf(-1)
	for i := range p.Ephemerides {
		e := &p.Ephemerides[i]
		m.DataEnd = math.Max(m.DataEnd, e.Toe+e.MaxAge())
	}
	for i := range p.Almanacs {
		m.DataEnd = math.Max(m.DataEnd, p.Almanacs[i].RefTime(near))
	}
	if math.IsInf(m.DataEnd, -1) {
		m.DataEnd = 0
	}
	return m
}

// recordKey is the store key of an import.
func recordKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// retain applies retention r to entries at service time now (GPS seconds)
// and returns the entries kept and dropped (each in the given order) and
// the horizon (0 when r is 0 or there are no entries).
//
// The horizon is the newest DataEnd of all entries minus r, and an entry
// is dropped when its DataEnd is before the horizon, unless it is the
// newest entry of its format (newest DataEnd, then highest id): the last
// almanac stays as the fallback, and the last navigation file stays for
// late uplinks even when only almanacs are imported any more.
//
// The horizon follows the data, not the clock: the window is the last r of
// data the service has, whatever day it is, so a feed that stops does not
// let the store age out to nothing, and restarts, tests and replays of
// old data prune the same way at any date. The clock only caps the newest
// DataEnd at now + maxDataLead, so that one mis-dated file cannot expire
// every other import; a clock that is behind only prunes less.
func retain(entries []*entry, r time.Duration, now float64) (keep, drop []*entry, horizon float64) {
	if r <= 0 || len(entries) == 0 {
		return entries, nil, 0
	}
	newestEnd := math.Inf(-1)
	newest := map[Format]*entry{}
	for _, e := range entries {
		newestEnd = math.Max(newestEnd, e.meta.DataEnd)
		if n := newest[e.meta.Format]; n == nil || e.meta.DataEnd > n.meta.DataEnd ||
			e.meta.DataEnd == n.meta.DataEnd && e.meta.ID > n.meta.ID {
			newest[e.meta.Format] = e
		}
	}
	horizon = math.Min(newestEnd, now+maxDataLead.Seconds()) - r.Seconds()
	for _, e := range entries {
		if e.meta.DataEnd < horizon && newest[e.meta.Format] != e {
			drop = append(drop, e)
		} else {
			keep = append(keep, e)
		}
	}
	return keep, drop, horizon
}

// logPruned logs the imports the retention deleted.
func (s *Service) logPruned(drop []*entry, horizon float64) {
	for _, e := range drop {
		s.log.Info("orbit import pruned (retention)", "id", e.meta.ID, "name", e.meta.Name, "format", string(e.meta.Format),
			"data_end", lora.GPSToTime(e.meta.DataEnd).UTC().Format(time.RFC3339), "retain_from", lora.GPSToTime(horizon).UTC().Format(time.RFC3339),
			"retention", fmtDuration(s.keep))
	}
}

// metas returns the descriptions of entries.
func metas(es []*entry) []Import {
	if len(es) == 0 {
		return nil
	}
	out := make([]Import, len(es))
	for i, e := range es {
		out[i] = e.meta
	}
	return out
}

// Import parses data (RINEX navigation or YUMA, gzip allowed), stores it
// and makes its orbits available. format FormatAuto detects the format.
// Parse failures wrap ErrFormat or ErrTooLarge in a *FileError.
func (s *Service) Import(ctx context.Context, name string, format Format, data []byte) (ImportResult, error) {
	raw, err := Decompress(data, s.maxFile)
	if err != nil {
		return ImportResult{}, &FileError{Name: name, Err: err}
	}
	p, err := Parse(name, format, raw, s.maxFile)
	if err != nil {
		return ImportResult{}, err
	}
	sum := sha256.Sum256(raw)
	digest := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.meta.SHA256 == digest {
			return ImportResult{Import: e.meta, Duplicate: true}, nil
		}
	}
	now := s.now()
	near := lora.TimeToGPS(now)
	meta := describe(Import{ID: s.nextID, Name: name, Format: p.Format, Imported: lora.UnixSeconds(now), Size: int64(len(raw)), SHA256: digest}, p, near)
	e := &entry{meta: meta, parsed: p}
	keep, drop, horizon := retain(append(slices.Clip(s.entries), e), s.keep, near)
	if slices.Contains(drop, e) {
		return ImportResult{}, fmt.Errorf("%w: %s: its data ends %s, before %s (the newest data minus the retention of %s)", ErrRetention, name,
			lora.GPSToTime(meta.DataEnd).UTC().Format(time.RFC3339), lora.GPSToTime(horizon).UTC().Format(time.RFC3339), fmtDuration(s.keep))
	}
	rec, err := encodeRecord(meta, raw)
	if err != nil {
		return ImportResult{}, err
	}
	key := recordKey(meta.ID)
	if len(drop) == 0 {
		_, err = s.table.CompareAndSwap(ctx, key, 0, rec)
	} else {
		// The new record and the deletes go in one atomic write, so a crash
		// leaves either the old imports or the new state. Write is
		// unconditional where CompareAndSwap(…, 0, …) refuses an existing
		// key; the id is still new: ids only grow, from above every stored
		// key, under s.mu.
		ops := []store.Op{{Key: key, Value: rec}}
		for _, d := range drop {
			ops = append(ops, store.Op{Key: recordKey(d.meta.ID)})
		}
		err = s.table.Write(ctx, ops)
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("gnssdata: store import %d: %w", meta.ID, err)
	}
	s.nextID++
	s.entries = keep
	if err := s.rebuild(); err != nil {
		return ImportResult{}, err
	}
	s.log.Info("orbit file imported", "id", meta.ID, "name", name, "format", string(meta.Format), "gps", meta.Counts.GPS,
		"beidou", meta.Counts.BeiDou, "almanacs", meta.Counts.Almanacs, "skipped", meta.Counts.Skipped, "pruned", len(drop))
	s.logPruned(drop, horizon)
	return ImportResult{Import: meta, Pruned: metas(drop)}, nil
}

// Delete removes the imports with the given ids (also stored records that
// no longer parse) in one store write, rebuilds the orbit set and returns
// the imports deleted; unknown ids are ignored. Retention does not protect
// an import from Delete, not even the last almanac.
func (s *Service) Delete(ctx context.Context, ids ...uint64) ([]Import, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ops []store.Op
	var deleted []Import
	var keep []*entry
	for _, e := range s.entries {
		if slices.Contains(ids, e.meta.ID) {
			ops = append(ops, store.Op{Key: recordKey(e.meta.ID)})
			deleted = append(deleted, e.meta)
		} else {
			keep = append(keep, e)
		}
	}
	var broken []uint64
	for id, m := range s.broken {
		if slices.Contains(ids, id) {
			ops = append(ops, store.Op{Key: recordKey(id)})
			deleted = append(deleted, m)
			broken = append(broken, id)
		}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	if err := s.table.Write(ctx, ops); err != nil {
		return nil, fmt.Errorf("gnssdata: delete imports: %w", err)
	}
	for _, id := range broken {
		delete(s.broken, id)
	}
	slices.SortFunc(deleted, func(a, b Import) int { return cmp.Compare(a.ID, b.ID) })
	// Deleting never moves the retention horizon later (it can only lower
	// the newest data end), so nothing else expires: one rebuild.
	s.entries = keep
	if err := s.rebuild(); err != nil {
		return nil, err
	}
	for _, m := range deleted {
		s.log.Info("orbit import deleted", "id", m.ID, "name", m.Name, "format", string(m.Format))
	}
	return deleted, nil
}

// rebuild builds a new snapshot from the entries (s.mu held or at Open).
func (s *Service) rebuild() error {
	var ephs []orbit.Ephemeris
	var alms []orbit.Almanac
	var iono *orbit.Klobuchar
	ionoTime := math.Inf(-1)
	type satAcc struct {
		toes map[float64]bool
		st   SatStatus
	}
	sats := map[orbit.SatID]*satAcc{}
	acc := func(id orbit.SatID) *satAcc {
		a := sats[id]
		if a == nil {
			a = &satAcc{toes: map[float64]bool{}, st: SatStatus{Sat: id}}
			sats[id] = a
		}
		return a
	}
	near := lora.TimeToGPS(s.now())
	snap := &snapshot{newest: math.Inf(-1), valid: [2]float64{math.Inf(1), math.Inf(-1)}}
	for _, e := range s.entries {
		p := e.parsed
		ephs = append(ephs, p.Ephemerides...)
		alms = append(alms, p.Almanacs...)
		if p.Iono != nil && e.meta.Counts.To > ionoTime {
			iono, ionoTime = p.Iono, e.meta.Counts.To
		}
		for i := range p.Ephemerides {
			eph := &p.Ephemerides[i]
			a := acc(eph.Sat)
			if a.toes[eph.Toe] {
				continue // the same record from another file
			}
			a.toes[eph.Toe] = true
			a.st.Ephemerides++
			from, to := eph.Toe-eph.MaxAge(), eph.Toe+eph.MaxAge()
			if a.st.Ephemerides == 1 || from < a.st.EphemerisFrom {
				a.st.EphemerisFrom = from
			}
			a.st.EphemerisTo = max(a.st.EphemerisTo, to)
			snap.valid[0], snap.valid[1] = math.Min(snap.valid[0], from), math.Max(snap.valid[1], to)
			snap.newest = math.Max(snap.newest, eph.Toe)
		}
		for i := range p.Almanacs {
			alm := &p.Almanacs[i]
			a := acc(alm.Sat)
			a.st.Almanacs++
			ref := alm.RefTime(near)
			a.st.AlmanacRef = max(a.st.AlmanacRef, ref)
			snap.newest = math.Max(snap.newest, ref)
		}
	}
	if math.IsInf(snap.newest, -1) {
		snap.newest = 0
	}
	if math.IsInf(snap.valid[0], 1) {
		snap.valid = [2]float64{}
	}
	for _, a := range sats {
		snap.sats = append(snap.sats, a.st)
	}
	slices.SortFunc(snap.sats, func(a, b SatStatus) int {
		return cmp.Or(cmp.Compare(a.Sat.Sys, b.Sat.Sys), cmp.Compare(a.Sat.PRN, b.Sat.PRN))
	})
	snap.set = orbit.NewSet(ephs, alms)
	snap.iono = iono
	if len(ephs)+len(alms) > 0 {
		cfg := s.cfg
		if cfg.Iono == nil {
			cfg.Iono = iono
		}
		sv, err := gnss.New(snap.set, cfg)
		if err != nil {
			return err
		}
		snap.solver = sv
	}
	s.cur.Store(snap)
	return nil
}

// State implements gnss.Orbits over the current data.
func (s *Service) State(id orbit.SatID, t float64) (orbit.State, error) {
	return s.cur.Load().set.State(id, t)
}

// Orbits returns the current orbit set (immutable).
func (s *Service) Orbits() *orbit.Set { return s.cur.Load().set }

// Solve solves req with the current data. It fails with ErrNoData before
// any import.
func (s *Service) Solve(req gnss.Request) (gnss.Solution, error) {
	sv := s.cur.Load().solver
	if sv == nil {
		return gnss.Solution{}, ErrNoData
	}
	return sv.Solve(req)
}

// Status describes the loaded data at the service's current time.
func (s *Service) Status() Status {
	snap := s.cur.Load()
	now := lora.TimeToGPS(s.now())
	st := Status{Sats: slices.Clone(snap.sats), ValidFrom: snap.valid[0], ValidTo: snap.valid[1], Newest: snap.newest,
		Now: now, Iono: snap.iono != nil}
	if snap.newest != 0 {
		st.Age = now - snap.newest
	}
	for _, sat := range snap.sats {
		if sat.Ephemerides > 0 {
			st.EphemerisSats++
		}
		if sat.Almanacs > 0 {
			st.AlmanacSats++
		}
		_, src, err := snap.set.StateSource(sat.Sat, now)
		switch {
		case err != nil:
		case src == orbit.SourceEphemeris:
			st.ValidNow++
		case src == orbit.SourceAlmanac:
			st.AlmanacNow++
		}
	}
	s.mu.Lock()
	for _, e := range s.entries {
		st.Imports = append(st.Imports, e.meta)
	}
	_, _, st.RetainFrom = retain(s.entries, s.keep, now)
	s.mu.Unlock()
	st.Retention = s.keep
	return st
}

// encodeRecord builds the stored value of an import.
func encodeRecord(meta Import, raw []byte) ([]byte, error) {
	mj, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte(recordVersion)
	b.Write(binary.AppendUvarint(nil, uint64(len(mj))))
	b.Write(mj)
	zw, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var errRecord = errors.New("gnssdata: corrupt stored record")

// decodeRecord splits a stored value into metadata and the compressed file.
func decodeRecord(v []byte) (Import, []byte, error) {
	var m Import
	if len(v) < 2 || v[0] != recordVersion {
		return m, nil, fmt.Errorf("%w: version", errRecord)
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || uint64(len(v)-1-k) < n {
		return m, nil, fmt.Errorf("%w: metadata length", errRecord)
	}
	meta := v[1+k : 1+k+int(n)]
	if err := json.Unmarshal(meta, &m); err != nil {
		return m, nil, fmt.Errorf("%w: metadata: %v", errRecord, err)
	}
	if m.Format != FormatRINEX && m.Format != FormatYUMA {
		return m, nil, fmt.Errorf("%w: format %q", errRecord, m.Format)
	}
	m.Name = strings.TrimSpace(m.Name)
	return m, v[1+k+int(n):], nil
}
