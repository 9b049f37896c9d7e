package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss/eval"
	"github.com/openmgs/openmgs/solver/gnss/rinex"
)

func runGNSS(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "gnss", "Manage the GNSS orbit data and evaluate the solver", []subcommand{
		{"import", "[--format rinex|yuma] FILE...", "upload RINEX navigation files or YUMA almanacs (gzip allowed) for the GNSS solver", gnssImport},
		{"status", "[--sats]", "show the loaded orbit data: imports, satellites, validity, age and retention", gnssStatus},
		{"delete", "ID...", "remove imported orbit files (the IDs of gnss status)", gnssDelete},
		{"eval", "--obs OBS --nav NAV [--truth X,Y,Z] [--noise M] [--ap-error KM] [--time-error S] [--max-sats N] [--seed N]",
			"run the solver locally on NAV1 snapshots built from a RINEX observation file and print the accuracy table " +
				"(comma-separated values give one row each)", gnssEval},
	}, args)
}

// geolocation dials the server and returns its GeolocationService.
func (c *cli) geolocation() (mgsv1.GeolocationServiceClient, error) {
	if _, err := c.client(); err != nil {
		return nil, err
	}
	return mgsv1.NewGeolocationServiceClient(c.conn), nil
}

// importChunk is the size of one ImportOrbits message (the server accepts
// up to 1 MiB).
const importChunk = 256 << 10

// compressFrom: files larger than this are gzip-compressed before sending.
const compressFrom = 64 << 10

func gnssImport(ctx context.Context, c *cli, f *flags) error {
	format := f.String("format", "", "file `format`: rinex, yuma or empty to detect")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return f.fail("at least one FILE is required")
	}
	ff, err := gnssdata.ParseFormat(*format)
	if err != nil {
		return f.fail("--format: %q is not rinex or yuma", *format)
	}
	api, err := c.geolocation()
	if err != nil {
		return err
	}
	var results []*mgsv1.ImportOrbitsResponse
	var rows, pruned [][]string
	for _, path := range pos {
		res, err := c.importOne(ctx, api, path, ff)
		if err != nil {
			if st, ok := status.FromError(err); ok {
				c.itemError(path, fmt.Sprintf("%s: %s", st.Code(), st.Message()))
			} else {
				c.itemError(path, err.Error())
			}
			continue
		}
		results = append(results, res)
		rows = append(rows, importRow(res.Import, res.Duplicate))
		for _, p := range res.Pruned {
			pruned = append(pruned, importRow(p, false))
		}
	}
	if c.jsonOut() {
		msgs := make([]proto.Message, len(results))
		for i, r := range results {
			msgs[i] = r
		}
		return c.printJSONList("imports", msgs)
	}
	if len(rows) > 0 {
		table(c.stdout, importHeader, rows)
	}
	if len(pruned) > 0 {
		section(c.stdout, "Pruned (data older than the server's retention)", importHeader, pruned)
	}
	return nil
}

// importOne parses a file locally (to fail early and show what it holds),
// then streams it to the server, reporting progress for large files.
func (c *cli) importOne(ctx context.Context, api mgsv1.GeolocationServiceClient, path string, format gnssdata.Format) (*mgsv1.ImportOrbitsResponse, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	t0 := time.Now()
	p, err := gnssdata.Parse(name, format, data, 0)
	if err != nil {
		return nil, err
	}
	n := p.Counts(lora.TimeToGPS(time.Now()))
	fmt.Fprintf(c.stderr, "mgsctl: %s: parsed %d GPS + %d BeiDou ephemerides, %d almanacs (%d records of other systems skipped) in %v\n",
		name, n.GPS, n.BeiDou, n.Almanacs, n.Skipped, time.Since(t0).Round(time.Millisecond))
	if len(data) > compressFrom && !(data[0] == 0x1f && data[1] == 0x8b) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		fmt.Fprintf(c.stderr, "mgsctl: %s: compressed %d → %d bytes\n", name, len(data), b.Len())
		data = b.Bytes()
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	stream, err := api.ImportOrbits(cctx)
	if err != nil {
		return nil, err
	}
	total, sent := len(data), 0
	for first := true; first || sent < total; first = false {
		k := min(importChunk, total-sent)
		m := &mgsv1.ImportOrbitsRequest{Data: data[sent : sent+k]}
		if first {
			m.Name, m.Format = name, string(format)
		}
		if err := stream.Send(m); err != nil {
			break // the server ended the call: CloseAndRecv returns why
		}
		sent += k
		if total > importChunk {
			fmt.Fprintf(c.stderr, "mgsctl: %s: sent %d/%d bytes (%.0f%%)\n", name, sent, total, 100*float64(sent)/float64(total))
		}
	}
	return stream.CloseAndRecv()
}

var importHeader = []string{"ID", "NAME", "FORMAT", "GPS", "BEIDOU", "ALMANACS", "SKIPPED", "DATA FROM", "DATA TO", "IMPORTED", "NOTE"}

func importRow(i *mgsv1.OrbitImport, duplicate bool) []string {
	note := ""
	if duplicate {
		note = "already imported"
	}
	if i.Iono {
		note = strings.TrimPrefix(note+", iono", ", ")
	}
	return []string{strconv.FormatUint(i.Id, 10), i.Name, i.Format, strconv.Itoa(int(i.GpsEphemerides)), strconv.Itoa(int(i.BeidouEphemerides)),
		strconv.Itoa(int(i.Almanacs)), strconv.Itoa(int(i.Skipped)), fmtGPS(i.FromGps), fmtGPS(i.ToGps), fmtTime(i.Imported), note}
}

// fmtGPS renders GPS seconds as UTC.
func fmtGPS(gps float64) string {
	if gps == 0 {
		return "-"
	}
	return fmtTime(lora.GPSToUnix(gps))
}

// fmtAge renders seconds as a rounded duration ("3d4h", "-2h").
func fmtAge(s float64) string {
	d := time.Duration(math.Round(s)) * time.Second
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%s%dd%dh", sign, d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return sign + d.Truncate(time.Minute).String()
	}
	return sign + d.String()
}

func gnssStatus(ctx context.Context, c *cli, f *flags) error {
	sats := f.Bool("sats", false, "list every satellite")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	api, err := c.geolocation()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	st, err := api.GetOrbitStatus(cctx, &mgsv1.GetOrbitStatusRequest{})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(st)
	}
	w := c.stdout
	age := "-"
	if st.NewestGps != 0 {
		age = fmtAge(st.AgeSeconds)
	}
	keyValues(w, [][2]string{
		{"imports", strconv.Itoa(len(st.Imports))},
		{"satellites", fmt.Sprintf("%d with ephemerides, %d with almanacs", st.EphemerisSatellites, st.AlmanacSatellites)},
		{"usable now", fmt.Sprintf("%d from ephemerides, %d from almanacs only (at %s)", st.ValidNow, st.AlmanacNow, fmtGPS(st.NowGps))},
		{"ephemerides valid", fmtGPS(st.ValidFromGps) + " … " + fmtGPS(st.ValidToGps)},
		{"newest data", fmtGPS(st.NewestGps) + " (age " + age + ")"},
		{"ionosphere", map[bool]string{true: "Klobuchar from the navigation data", false: "none (no ION ALPHA/BETA imported)"}[st.Iono]},
		{"retention", fmtRetention(st.RetentionSeconds, st.RetainFromGps)},
	})
	if len(st.Imports) > 0 {
		rows := make([][]string, len(st.Imports))
		for i, imp := range st.Imports {
			rows[i] = importRow(imp, false)
		}
		section(w, "Imports", importHeader, rows)
	}
	if *sats {
		rows := make([][]string, len(st.Satellites))
		for i, s := range st.Satellites {
			rows[i] = []string{s.Sat, strconv.Itoa(int(s.Ephemerides)), fmtGPS(s.EphemerisFromGps), fmtGPS(s.EphemerisToGps),
				strconv.Itoa(int(s.Almanacs)), fmtGPS(s.AlmanacRefGps)}
		}
		section(w, "Satellites", []string{"SAT", "EPHEMERIDES", "VALID FROM", "VALID TO", "ALMANACS", "ALMANAC TOA"}, rows)
	}
	return nil
}

// fmtRetention describes the server's retention of imports.
func fmtRetention(seconds, from float64) string {
	if seconds <= 0 {
		return "off (every import is kept)"
	}
	d := time.Duration(seconds * float64(time.Second))
	r := d.String()
	if d%(24*time.Hour) == 0 {
		r = strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	if from == 0 {
		return r
	}
	return r + " (imports whose data ends before " + fmtGPS(from) + " are pruned, except the newest navigation file and almanac)"
}

func gnssDelete(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return f.fail("at least one ID is required")
	}
	ids := make([]uint64, len(pos))
	for i, p := range pos {
		if ids[i], err = strconv.ParseUint(p, 10, 64); err != nil {
			return f.fail("%q is not an import ID (see gnss status)", p)
		}
	}
	api, err := c.geolocation()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.DeleteOrbitImports(cctx, &mgsv1.DeleteOrbitImportsRequest{Ids: ids})
	if err != nil {
		return err
	}
	for _, id := range resp.NotFound {
		c.itemError(strconv.FormatUint(id, 10), "no such orbit import")
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "deleted %d import(s)\n", resp.Deleted)
	return nil
}

// floatList is a comma-separated list of numbers.
type floatList []float64

func (l *floatList) String() string {
	parts := make([]string, len(*l))
	for i, v := range *l {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (l *floatList) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%q is not a non-negative number", p)
		}
		*l = append(*l, v)
	}
	return nil
}

func gnssEval(ctx context.Context, c *cli, f *flags) error {
	obsPath := f.String("obs", "", "RINEX 2.1x/3.x observation `file` (GPS or mixed; C1/C1C code)")
	navPath := f.String("nav", "", "matching RINEX navigation `file`")
	truthS := f.String("truth", "", "receiver ECEF position `X,Y,Z` in metres (default: the obs header's APPROX POSITION XYZ)")
	noise, apErr, tErr, maxSats, seeds := floatList{0}, floatList{0}, floatList{0}, floatList{0}, floatList{1}
	f.Var(&noise, "noise", "Gaussian pseudorange noise σ in `metres` (list)")
	f.Var(&apErr, "ap-error", "assistance-position error bound in `km` (list)")
	f.Var(&tErr, "time-error", "capture-time error bound in `seconds` (list)")
	f.Var(&maxSats, "max-sats", "satellites kept per snapshot, 0 for all (`list`)")
	f.Var(&seeds, "seed", "random `seed`s (list)")
	exact := f.Bool("exact", false, "errors exactly at their bounds (random sign/bearing) instead of uniform")
	noTI := f.Bool("no-time-indicator", false, "hide the NAV time indicator (estimate ± accuracy only)")
	doppler := f.Bool("doppler", false, "add Doppler to every satellite")
	noAP := f.Bool("no-ap", false, "no assistance position: Doppler-only seed (implies --doppler)")
	use2D := f.Bool("2d", false, "2D solve with the true altitude")
	frames := f.Int("frames", 1, "captures per multi-frame solve")
	maxEpochs := f.Int("max-epochs", 0, "use at most this many epochs (0: all)")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	if *obsPath == "" || *navPath == "" {
		return f.fail("--obs and --nav are required")
	}
	var truth *geo.ECEF
	if *truthS != "" {
		var p geo.ECEF
		parts := strings.Split(*truthS, ",")
		if len(parts) != 3 {
			return f.fail("--truth: want X,Y,Z in metres")
		}
		for i, s := range parts {
			if p[i], err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				return f.fail("--truth: %q is not a number", s)
			}
		}
		truth = &p
	}
	obs, nf, err := loadEvalFiles(*obsPath, *navPath)
	if err != nil {
		return err
	}
	var reports []eval.Report
	for _, seed := range seeds {
		for _, n := range noise {
			for _, ap := range apErr {
				for _, dt := range tErr {
					for _, ms := range maxSats {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						cfg := eval.Config{Seed: uint64(seed), NoiseM: n, APErrorKm: ap, TimeErrorS: dt, MaxSats: int(ms),
							ExactErrors: *exact, NoTimeIndicator: *noTI, Doppler: *doppler, NoAP: *noAP, Use2D: *use2D,
							Frames: *frames, MaxEpochs: *maxEpochs, Truth: truth}
						r, err := eval.Run(obs, nf, cfg)
						if err != nil {
							return err
						}
						reports = append(reports, r)
					}
				}
			}
		}
	}
	if c.jsonOut() {
		type row struct {
			eval.Report
			HErrors []float64 `json:"-"` // per-fix detail, not printed
		}
		out := make([]row, len(reports))
		for i, r := range reports {
			out[i] = row{Report: r}
		}
		b, err := json.MarshalIndent(map[string]any{"reports": out}, "", "  ")
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(append(b, '\n'))
		return err
	}
	fmt.Fprint(c.stdout, eval.Table(reports))
	return nil
}

func loadEvalFiles(obsPath, navPath string) (*rinex.ObsFile, *rinex.NavFile, error) {
	read := func(p string) (io.Reader, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if b, err = gnssdata.Decompress(b, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return bytes.NewReader(b), nil
	}
	or, err := read(obsPath)
	if err != nil {
		return nil, nil, err
	}
	obs, err := rinex.ParseObs(or)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", obsPath, err)
	}
	nr, err := read(navPath)
	if err != nil {
		return nil, nil, err
	}
	nf, err := rinex.ParseNav(nr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", navPath, err)
	}
	if len(obs.Epochs) == 0 {
		return nil, nil, errors.New(obsPath + ": no epochs")
	}
	return obs, nf, nil
}
