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
}

// ImportResult is the outcome of Import.
type ImportResult struct {
	Import
	// Duplicate reports that the same file was imported before; nothing
	// was stored and Import describes the earlier import.
	Duplicate bool
}

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

	mu      sync.Mutex // serialises imports; guards entries and nextID
	entries []*entry
	nextID  uint64

	cur atomic.Pointer[snapshot]
}

// Open loads the stored imports and builds the orbit set. A stored record
// that no longer parses is logged and skipped.
func Open(ctx context.Context, st store.Store, o Options) (*Service, error) {
	s := &Service{table: st.Table(TableOrbits), cfg: gnss.DefaultConfig(), maxFile: o.MaxFileBytes, log: o.Logger, now: o.Now,
		nextID: 1}
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
		s.log.Error("stored orbit file skipped", "id", id, "err", err)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gnssdata: load %s: %w", TableOrbits, err)
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
	return m
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
	meta := Import{ID: s.nextID, Name: name, Format: p.Format, Imported: lora.UnixSeconds(now), Size: int64(len(raw)), SHA256: digest}
	rec, err := encodeRecord(meta, raw)
	if err != nil {
		return ImportResult{}, err
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], meta.ID)
	if _, err := s.table.CompareAndSwap(ctx, key[:], 0, rec); err != nil {
		return ImportResult{}, fmt.Errorf("gnssdata: store import %d: %w", meta.ID, err)
	}
	s.nextID++
	meta = describe(meta, p, lora.TimeToGPS(now))
	s.entries = append(s.entries, &entry{meta: meta, parsed: p})
	if err := s.rebuild(); err != nil {
		return ImportResult{}, err
	}
	s.log.Info("orbit file imported", "id", meta.ID, "name", name, "format", string(meta.Format), "gps", meta.Counts.GPS,
		"beidou", meta.Counts.BeiDou, "almanacs", meta.Counts.Almanacs, "skipped", meta.Counts.Skipped)
	return ImportResult{Import: meta}, nil
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
	s.mu.Unlock()
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
