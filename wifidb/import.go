package wifidb

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openmgs/openmgs/solver/wifi"
)

// Format is an import file format.
type Format string

// Import formats.
const (
	FormatAuto  Format = ""      // detected from the first bytes
	FormatCSV   Format = "csv"   // mac,lat,lon[,accuracy], optional header line
	FormatJSON  Format = "json"  // [{"mac","lat","lon","accuracy"}…] or one object per line
	FormatWiGLE Format = "wigle" // WiGLE CSV export (wifi.md §4.1)
)

// ErrFormat is wrapped by errors about the file as a whole (unknown
// format, missing WiGLE header, broken JSON array).
var ErrFormat = errors.New("wifidb: bad import file")

// ParseFormat parses a format name ("" and "auto" detect).
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatAuto, "auto":
		return FormatAuto, nil
	case FormatCSV, FormatJSON, FormatWiGLE:
		return f, nil
	}
	return "", fmt.Errorf("%w: unknown format %q (want wigle, csv or json)", ErrFormat, s)
}

// ImportStats counts an import's progress and outcome.
type ImportStats struct {
	Format   Format
	Bytes    int64            // input bytes read
	Rows     int64            // data rows read (headers and blank or comment lines excluded)
	Accepted int64            // rows used
	Rejected map[string]int64 // rows refused, by reason (Reject… constants)
	Created  int64            // access points added
	Updated  int64            // access points replaced (csv, json) or refined (wigle)
	Moved    int64            // wigle: access points replaced because they were seen far from the stored position
	// Done is set on the last progress report.
	Done bool
}

func (s *ImportStats) reject(reason string) {
	if s.Rejected == nil {
		s.Rejected = map[string]int64{}
	}
	s.Rejected[reason]++
}

// RejectedTotal is the number of rejected rows.
func (s ImportStats) RejectedTotal() int64 { return total(s.Rejected) }

// progressEvery is how often (in rows) Import reports progress while reading.
const progressEvery = 50000

// Import reads access points from r and stores them. CSV and JSON rows
// give AP positions and replace stored ones (keeping first sighting and
// counting the observation); a MAC given twice is rejected the second
// time. WiGLE rows are observations: they are averaged per MAC (weighted
// by GPS accuracy and RSSI range) and merged into stored records like
// learned sightings. Rows that cannot be used are counted by reason and
// skipped; an error is returned only for a file that cannot be read as a
// whole (ErrFormat), a store failure or ctx ending — with the counts so
// far. progress, when set, is called every 50,000 rows, after each store
// write, and at the end (Done set). A gzip-compressed input is decompressed
// (Bytes counts the compressed bytes read).
func (db *DB) Import(ctx context.Context, r io.Reader, f Format, progress func(ImportStats)) (ImportStats, error) {
	cr := &countReader{r: r}
	br := bufio.NewReaderSize(cr, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return ImportStats{Bytes: cr.n}, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	if f == FormatAuto {
		var err error
		if f, err = detect(br); err != nil {
			return ImportStats{Bytes: cr.n}, err
		}
	}
	im := &importer{db: db, ctx: ctx, cr: cr, progress: progress, stats: ImportStats{Format: f}, now: db.o.Now().Unix()}
	var err error
	switch f {
	case FormatCSV:
		err = im.csv(br)
	case FormatJSON:
		err = im.json(br)
	case FormatWiGLE:
		err = im.wigle(br)
	default:
		_, err = ParseFormat(string(f))
	}
	if err == nil {
		err = im.flush()
	}
	im.stats.Bytes = cr.n
	if err != nil {
		return im.stats, err
	}
	im.stats.Done = true
	if progress != nil {
		progress(im.stats)
	}
	return im.stats, nil
}

// detect peeks at the first bytes: "WigleWifi" or a "MAC,SSID" header is
// WiGLE, '[' or '{' JSON, anything else CSV.
func detect(br *bufio.Reader) (Format, error) {
	b, err := br.Peek(64)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	t := bytes.TrimLeft(b, " \t\r\n")
	switch {
	case bytes.HasPrefix(t, []byte("WigleWifi")), bytes.HasPrefix(bytes.ToUpper(t), []byte("MAC,SSID")):
		return FormatWiGLE, nil
	case bytes.HasPrefix(t, []byte("[")), bytes.HasPrefix(t, []byte("{")):
		return FormatJSON, nil
	}
	return FormatCSV, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type importer struct {
	db       *DB
	ctx      context.Context
	cr       *countReader
	progress func(ImportStats)
	stats    ImportStats
	now      int64

	seen    map[uint64]struct{} // csv/json: MACs given so far
	pending []Record            // csv/json rows not yet written
	aggs    map[uint64]*aggregate
}

// row counts a data row and reports progress now and then.
func (im *importer) row() error {
	im.stats.Rows++
	if im.stats.Rows%progressEvery == 0 {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		im.report()
	}
	return nil
}

func (im *importer) report() {
	if im.progress != nil {
		im.stats.Bytes = im.cr.n
		im.progress(im.stats)
	}
}

// position adds one csv/json AP position.
func (im *importer) position(macText string, lat, lon, acc float64) error {
	mac, err := wifi.ParseMAC(strings.TrimSpace(macText))
	if err != nil {
		im.stats.reject(RejectBadMAC)
		return nil
	}
	r := Record{MAC: mac, Lat: lat, Lon: lon, Accuracy: acc, Observations: 1, FirstSeen: im.now, LastSeen: im.now, Source: SourceImport}
	if err := r.Validate(); err != nil {
		im.stats.reject(rejectReason(err))
		return nil
	}
	if im.seen == nil {
		im.seen = map[uint64]struct{}{}
	}
	k := wifi.MACKey(mac)
	if _, dup := im.seen[k]; dup {
		im.stats.reject(RejectDuplicate)
		return nil
	}
	im.seen[k] = struct{}{}
	im.stats.Accepted++
	im.pending = append(im.pending, r)
	if len(im.pending) >= im.db.o.BatchSize {
		return im.flushPositions()
	}
	return nil
}

// flushPositions writes the pending csv/json records, replacing stored
// ones but keeping their first sighting and counting the import.
func (im *importer) flushPositions() error {
	if len(im.pending) == 0 {
		return nil
	}
	db := im.db
	db.mu.Lock()
	for i := range im.pending {
		r := &im.pending[i]
		old, ok, err := db.existing(im.ctx, r.MAC)
		if err != nil {
			db.mu.Unlock()
			return err
		}
		if ok {
			im.stats.Updated++
			if old.FirstSeen != 0 && old.FirstSeen < r.FirstSeen {
				r.FirstSeen = old.FirstSeen
			}
			r.Observations = uint32(min(uint64(old.Observations)+1, 1<<32-1))
			r.Source |= old.Source
		} else {
			im.stats.Created++
		}
	}
	err := db.write(im.ctx, im.pending)
	db.mu.Unlock()
	if err != nil {
		return err
	}
	im.pending = im.pending[:0]
	im.report()
	return nil
}

// flush writes what is left: pending positions or the WiGLE aggregates.
func (im *importer) flush() error {
	if err := im.flushPositions(); err != nil {
		return err
	}
	if len(im.aggs) == 0 {
		return nil
	}
	keys := make([]uint64, 0, len(im.aggs))
	for k := range im.aggs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	db := im.db
	for len(keys) > 0 {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		n := min(len(keys), db.o.BatchSize)
		batch := keys[:n]
		keys = keys[n:]
		recs := make([]Record, 0, n)
		db.mu.Lock()
		for _, k := range batch {
			mac := wifi.MACFromKey(k)
			old, ok, err := db.existing(im.ctx, mac)
			if err != nil {
				db.mu.Unlock()
				return err
			}
			r, moved := db.merge(old, ok, mac, im.aggs[k], SourceWiGLE)
			switch {
			case !ok:
				im.stats.Created++
			case moved:
				im.stats.Moved++
			default:
				im.stats.Updated++
			}
			recs = append(recs, r)
		}
		err := db.write(im.ctx, recs)
		db.mu.Unlock()
		if err != nil {
			return err
		}
		for _, k := range batch {
			delete(im.aggs, k)
		}
		im.report()
	}
	return nil
}

// newCSV returns a lenient CSV reader: variable field counts, lazy quotes.
func newCSV(r io.Reader, comment rune) *csv.Reader {
	c := csv.NewReader(r)
	c.FieldsPerRecord = -1
	c.LazyQuotes = true
	c.ReuseRecord = true
	c.TrimLeadingSpace = true
	c.Comment = comment
	return c
}

// readCSV calls fn for each record; a malformed line is counted and
// skipped.
func (im *importer) readCSV(c *csv.Reader, fn func(rec []string) error) error {
	for {
		rec, err := c.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if err := im.row(); err != nil {
				return err
			}
			im.stats.reject(RejectMalformed)
			continue
		}
		if err != nil {
			return err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// columns maps header names (lower case) to indexes.
func columns(rec []string) map[string]int {
	m := make(map[string]int, len(rec))
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := m[h]; !dup {
			m[h] = i
		}
	}
	return m
}

func pick(m map[string]int, names ...string) int {
	for _, n := range names {
		if i, ok := m[n]; ok {
			return i
		}
	}
	return -1
}

func field(rec []string, i int) (string, bool) {
	if i < 0 || i >= len(rec) {
		return "", false
	}
	return strings.TrimSpace(rec[i]), true
}

func parseFloat(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// csv imports mac,lat,lon[,accuracy] rows. A first line whose first field
// is "mac" or "bssid" is a header naming the columns (mac|bssid,
// lat|latitude, lon|lng|longitude, accuracy|acc|range; other columns are
// ignored, so exports re-import); lines starting with '#' are comments.
func (im *importer) csv(r io.Reader) error {
	c := newCSV(r, '#')
	iMAC, iLat, iLon, iAcc := 0, 1, 2, 3
	first := true
	return im.readCSV(c, func(rec []string) error {
		if first {
			first = false
			if h := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff"))); h == "mac" || h == "bssid" || h == "macaddress" {
				m := columns(rec)
				iMAC, iLat, iLon, iAcc = pick(m, "mac", "bssid", "macaddress"), pick(m, "lat", "latitude"),
					pick(m, "lon", "lng", "longitude"), pick(m, "accuracy", "acc", "range")
				if iLat < 0 || iLon < 0 {
					return fmt.Errorf("%w: csv header %q lacks a lat or lon column", ErrFormat, strings.Join(rec, ","))
				}
				return nil
			}
		}
		if err := im.row(); err != nil {
			return err
		}
		macText, ok1 := field(rec, iMAC)
		latText, ok2 := field(rec, iLat)
		lonText, ok3 := field(rec, iLon)
		if !ok1 || !ok2 || !ok3 {
			im.stats.reject(RejectMalformed)
			return nil
		}
		lat, okLat := parseFloat(latText)
		lon, okLon := parseFloat(lonText)
		if !okLat || !okLon {
			if _, err := wifi.ParseMAC(macText); err != nil {
				im.stats.reject(RejectBadMAC)
			} else {
				im.stats.reject(RejectBadCoordinate)
			}
			return nil
		}
		acc := 0.0
		if s, ok := field(rec, iAcc); ok && s != "" {
			v, ok := parseFloat(s)
			if !ok {
				v = -1 // rejected as bad_accuracy unless the MAC is bad first
			}
			acc = v
		}
		return im.position(macText, lat, lon, acc)
	})
}

// jsonAP is one element of a JSON import.
type jsonAP struct {
	MAC        string   `json:"mac"`
	MACAddress string   `json:"macAddress"`
	BSSID      string   `json:"bssid"`
	Lat        *float64 `json:"lat"`
	Latitude   *float64 `json:"latitude"`
	Lon        *float64 `json:"lon"`
	Lng        *float64 `json:"lng"`
	Longitude  *float64 `json:"longitude"`
	Accuracy   *float64 `json:"accuracy"`
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstSet(v ...*float64) *float64 {
	for _, p := range v {
		if p != nil {
			return p
		}
	}
	return nil
}

func (im *importer) jsonRow(a *jsonAP) error {
	mac := firstNonEmpty(a.MAC, a.MACAddress, a.BSSID)
	lat, lon := firstSet(a.Lat, a.Latitude), firstSet(a.Lon, a.Lng, a.Longitude)
	if mac == "" || lat == nil || lon == nil {
		im.stats.reject(RejectMalformed)
		return nil
	}
	acc := 0.0
	if a.Accuracy != nil {
		acc = *a.Accuracy
	}
	return im.position(mac, *lat, *lon, acc)
}

// json imports a JSON array of objects {"mac","lat","lon","accuracy"}
// ("macAddress"/"bssid", "latitude", "lng"/"longitude" also accepted) or
// the same objects one per line.
func (im *importer) json(br *bufio.Reader) error {
	for {
		b, err := br.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n', 0xef, 0xbb, 0xbf: // white space, byte order mark
			br.ReadByte()
			continue
		}
		break
	}
	b, _ := br.Peek(1)
	if b[0] == '[' {
		return im.jsonArray(br)
	}
	return im.jsonLines(br)
}

func (im *importer) jsonArray(r io.Reader) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: json: %v", ErrFormat, err)
	}
	for dec.More() {
		if err := im.row(); err != nil {
			return err
		}
		var a jsonAP
		err := dec.Decode(&a)
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			im.stats.reject(RejectMalformed)
			continue
		case err != nil:
			return fmt.Errorf("%w: json element %d: %v", ErrFormat, im.stats.Rows, err)
		}
		if err := im.jsonRow(&a); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: json: %v", ErrFormat, err)
	}
	return nil
}

// maxLine bounds one line of a JSON-lines or CSV import.
const maxLine = 1 << 20

func (im *importer) jsonLines(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if err := im.row(); err != nil {
			return err
		}
		var a jsonAP
		if err := json.Unmarshal(line, &a); err != nil {
			im.stats.reject(RejectMalformed)
			continue
		}
		if err := im.jsonRow(&a); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: json lines: %v", ErrFormat, err)
	}
	return nil
}

// wigleTime is WiGLE's FirstSeen layout (UTC).
const wigleTime = "2006-01-02 15:04:05"

// wigle imports a WiGLE CSV: an optional "WigleWifi-1.x,…" pre-header,
// the column header (MAC,SSID,AuthMode,FirstSeen,Channel,[Frequency,]RSSI,
// CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,…,Type),
// then one observation per row. Rows of other types (BT, BLE, cells) and
// SSIDs ending in "_nomap" are rejected.
func (im *importer) wigle(r io.Reader) error {
	c := newCSV(r, 0)
	var iMAC, iSSID, iSeen, iRSSI, iLat, iLon, iAcc, iType int
	header := false
	line := 0
	return im.readCSV(c, func(rec []string) error {
		line++
		if !header {
			first := strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff"))
			if line == 1 && strings.HasPrefix(first, "WigleWifi") {
				return nil // pre-header: app and device description
			}
			m := columns(rec)
			iMAC, iSSID, iSeen, iRSSI = pick(m, "mac"), pick(m, "ssid"), pick(m, "firstseen"), pick(m, "rssi")
			iLat, iLon, iAcc, iType = pick(m, "currentlatitude"), pick(m, "currentlongitude"), pick(m, "accuracymeters"), pick(m, "type")
			if iMAC < 0 || iLat < 0 || iLon < 0 {
				return fmt.Errorf("%w: line %d is not a WiGLE column header (MAC,…,CurrentLatitude,CurrentLongitude,…)", ErrFormat, line)
			}
			header = true
			return nil
		}
		if err := im.row(); err != nil {
			return err
		}
		if t, ok := field(rec, iType); ok && !strings.EqualFold(t, "WIFI") {
			im.stats.reject(RejectNotWiFi)
			return nil
		}
		macText, ok1 := field(rec, iMAC)
		latText, ok2 := field(rec, iLat)
		lonText, ok3 := field(rec, iLon)
		if !ok1 || !ok2 || !ok3 {
			im.stats.reject(RejectMalformed)
			return nil
		}
		mac, err := wifi.ParseMAC(macText)
		if err != nil {
			im.stats.reject(RejectBadMAC)
			return nil
		}
		if err := CheckMAC(mac); err != nil {
			im.stats.reject(rejectReason(err))
			return nil
		}
		if ssid, _ := field(rec, iSSID); strings.HasSuffix(ssid, "_nomap") {
			im.stats.reject(RejectNoMap)
			return nil
		}
		lat, okLat := parseFloat(latText)
		lon, okLon := parseFloat(lonText)
		if !okLat || !okLon || CheckPosition(lat, lon) != nil {
			im.stats.reject(RejectBadCoordinate)
			return nil
		}
		s := Sighting{MAC: mac, Lat: lat, Lon: lon, Time: im.now}
		if v, ok := field(rec, iAcc); ok && v != "" {
			acc, ok := parseFloat(v)
			if !ok || CheckAccuracy(acc) != nil {
				im.stats.reject(RejectBadAccuracy)
				return nil
			}
			s.PosAccuracy = acc
		}
		if v, ok := field(rec, iRSSI); ok {
			if n, err := strconv.Atoi(v); err == nil && n > -128 && n < 0 {
				s.RSSI, s.HasRSSI = n, true
			}
		}
		if v, ok := field(rec, iSeen); ok {
			if t, err := time.Parse(wigleTime, v); err == nil && t.Unix() > 0 {
				s.Time = t.Unix()
			}
		}
		if im.aggs == nil {
			im.aggs = map[uint64]*aggregate{}
		}
		k := wifi.MACKey(mac)
		a := im.aggs[k]
		if a == nil {
			a = &aggregate{}
			im.aggs[k] = a
		}
		a.add(lat, lon, im.db.weight(s), s.Time)
		im.stats.Accepted++
		return nil
	})
}
