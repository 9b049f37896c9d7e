package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/solver/wifi/wifisim"
	"github.com/openmgs/openmgs/wifidb"
)

func runWiFi(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "wifi", "Manage the Wi-Fi access-point database and evaluate the Wi-Fi solver", []subcommand{
		{"import", "[--format auto|wigle|csv|json] FILE", "upload access points: a WiGLE CSV export, or mac,lat,lon[,accuracy] " +
			"CSV or JSON (gzip allowed; - reads standard input)", wifiImport},
		{"get", "MAC...", "show stored access points (without MACs: the database size)", wifiGet},
		{"delete", "MAC...", "remove access points", wifiDelete},
		{"export", "[FILE]", "write the whole database as CSV (mac,lat,lon,accuracy,observations,first_seen,last_seen,sources; " +
			"-o json: one JSON object per line) to FILE or standard output", wifiExport},
		{"eval", "[--exponent 3] [--shadowing 6] [--moved 0.05] [--scans N] [--seed N]",
			"run the solver locally on a synthetic city against a weighted-centroid baseline and print the accuracy table", wifiEval},
	}, args)
}

// wifiAPI dials the server and returns its GeolocationService.
func (c *cli) wifiAPI() (mgsv1.GeolocationServiceClient, error) {
	if _, err := c.client(); err != nil {
		return nil, err
	}
	return mgsv1.NewGeolocationServiceClient(c.conn), nil
}

// longCtx is the context of a call that may run long (import, export): no
// deadline unless --timeout was given.
func (c *cli) longCtx(ctx context.Context, f *flags) (context.Context, context.CancelFunc) {
	if f.isSet("timeout") && c.timeout > 0 {
		return context.WithTimeout(c.authCtx(ctx), c.timeout)
	}
	return context.WithCancel(c.authCtx(ctx))
}

// wifiChunk is the size of one ImportAccessPoints message (at most 1 MiB).
const wifiChunk = 256 << 10

func wifiImport(ctx context.Context, c *cli, f *flags) error {
	format := f.String("format", "auto", "file `format`: auto, wigle, csv or json")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("exactly one FILE is required")
	}
	ff, err := wifidb.ParseFormat(*format)
	if err != nil {
		return f.fail("--format: %q is not auto, wigle, csv or json", *format)
	}
	var in io.Reader = c.stdin
	var size int64 = -1
	name := "standard input"
	if pos[0] != "-" {
		file, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer file.Close()
		if fi, err := file.Stat(); err == nil {
			size = fi.Size()
		}
		in, name = file, filepath.Base(pos[0])
	}
	api, err := c.wifiAPI()
	if err != nil {
		return err
	}
	cctx, cancel := c.longCtx(ctx, f)
	defer cancel()
	stream, err := api.ImportAccessPoints(cctx)
	if err != nil {
		return err
	}
	bar := newProgress(c.stderr, name, size)
	buf := make([]byte, wifiChunk)
	var sent int64
	for first := true; ; first = false {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 || first {
			m := &mgsv1.ImportAccessPointsRequest{Data: buf[:n]}
			if first {
				m.Format = string(ff)
			}
			if err := stream.Send(m); err != nil {
				break // the server ended the call: CloseAndRecv says why
			}
			sent += int64(n)
			bar.update(sent)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			cancel()
			bar.done()
			return fmt.Errorf("%s: %w", name, rerr)
		}
	}
	bar.update(sent)
	bar.done()
	fmt.Fprintf(c.stderr, "mgsctl: %s: sent %s, waiting for the server to finish the import\n", name, fmtBytes(sent))
	res, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(res)
	}
	kv := [][2]string{{"format", res.Format}, {"bytes", strconv.FormatInt(res.Bytes, 10)}, {"rows", strconv.FormatInt(res.Rows, 10)},
		{"accepted", strconv.FormatInt(res.Accepted, 10)}, {"rejected", strconv.FormatInt(res.Rows-res.Accepted, 10)}}
	reasons := make([]string, 0, len(res.Rejected))
	for r := range res.Rejected {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		kv = append(kv, [2]string{"  " + r, strconv.FormatInt(res.Rejected[r], 10)})
	}
	kv = append(kv, [2]string{"access points added", strconv.FormatInt(res.Created, 10)},
		[2]string{"access points updated", strconv.FormatInt(res.Updated, 10)})
	if res.Moved > 0 {
		kv = append(kv, [2]string{"access points moved", strconv.FormatInt(res.Moved, 10)})
	}
	kv = append(kv, [2]string{"database size", strconv.FormatUint(res.Total, 10)})
	keyValues(c.stdout, kv)
	return nil
}

// progress draws a progress bar on a terminal, or a line per 10 % on
// anything else (logs, pipes).
type progress struct {
	w       io.Writer
	name    string
	total   int64 // -1: unknown
	tty     bool
	last    time.Time
	lastPct int
	drawn   bool
}

func newProgress(w io.Writer, name string, total int64) *progress {
	p := &progress{w: w, name: name, total: total, lastPct: -1}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(n int64) {
	pct := -1
	if p.total > 0 {
		pct = int(min(100, n*100/p.total))
	}
	if p.tty {
		if time.Since(p.last) < 100*time.Millisecond && pct != 100 {
			return
		}
		p.last = time.Now()
		if pct < 0 {
			fmt.Fprintf(p.w, "\r%s: %s sent", p.name, fmtBytes(n))
		} else {
			const width = 30
			fill := pct * width / 100
			fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %s/%s", p.name, strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct,
				fmtBytes(n), fmtBytes(p.total))
		}
		p.drawn = true
		return
	}
	if pct >= 0 && pct/10 > p.lastPct/10 && p.total > wifiChunk {
		p.lastPct = pct
		fmt.Fprintf(p.w, "mgsctl: %s: %d%% (%s/%s)\n", p.name, pct, fmtBytes(n), fmtBytes(p.total))
	}
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// fmtUnix renders Unix seconds (0: "-").
func fmtUnix(s int64) string {
	if s == 0 {
		return "-"
	}
	return fmtTime(float64(s))
}

func apRow(a *mgsv1.AccessPoint) []string {
	acc := "-"
	if a.Accuracy > 0 {
		acc = strconv.FormatFloat(a.Accuracy, 'f', 1, 64)
	}
	return []string{a.Mac, strconv.FormatFloat(a.Latitude, 'f', 7, 64), strconv.FormatFloat(a.Longitude, 'f', 7, 64), acc,
		strconv.FormatUint(uint64(a.Observations), 10), fmtUnix(a.FirstSeen), fmtUnix(a.LastSeen), strings.Join(a.Sources, "+")}
}

func wifiGet(ctx context.Context, c *cli, f *flags) error {
	macs, err := f.parse()
	if err != nil {
		return err
	}
	api, err := c.wifiAPI()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.GetAccessPoints(cctx, &mgsv1.GetAccessPointsRequest{Macs: macs})
	if err != nil {
		return err
	}
	for _, m := range resp.NotFound {
		c.itemError(m, "not in the access-point database")
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	if len(macs) == 0 {
		fmt.Fprintf(c.stdout, "%d access points\n", resp.Total)
		return nil
	}
	if len(resp.AccessPoints) > 0 {
		rows := make([][]string, len(resp.AccessPoints))
		for i, a := range resp.AccessPoints {
			rows[i] = apRow(a)
		}
		table(c.stdout, []string{"MAC", "LATITUDE", "LONGITUDE", "ACCURACY M", "OBSERVATIONS", "FIRST SEEN", "LAST SEEN", "SOURCES"}, rows)
	}
	return nil
}

func wifiDelete(ctx context.Context, c *cli, f *flags) error {
	macs, err := f.parse()
	if err != nil {
		return err
	}
	if len(macs) == 0 {
		return f.fail("at least one MAC is required")
	}
	api, err := c.wifiAPI()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.DeleteAccessPoints(cctx, &mgsv1.DeleteAccessPointsRequest{Macs: macs})
	if err != nil {
		return err
	}
	for _, m := range resp.NotFound {
		c.itemError(m, "not in the access-point database")
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "deleted %d access point(s)\n", resp.Deleted)
	return nil
}

func wifiExport(ctx context.Context, c *cli, f *flags) error {
	force := f.Bool("force", false, "overwrite FILE if it exists")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return f.fail("at most one FILE")
	}
	api, err := c.wifiAPI()
	if err != nil {
		return err
	}
	cctx, cancel := c.longCtx(ctx, f)
	defer cancel()
	stream, err := api.ExportAccessPoints(cctx, &mgsv1.ExportAccessPointsRequest{})
	if err != nil {
		return err
	}
	out := c.stdout
	var tmp *os.File
	if len(pos) == 1 {
		path := pos[0]
		if _, err := os.Stat(path); err == nil && !*force {
			return fmt.Errorf("%s exists (use --force to overwrite it)", path)
		}
		// Written beside FILE, then renamed: FILE is complete or absent.
		if tmp, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*"); err != nil {
			return err
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name())
		}()
		out = tmp
	}
	w := bufio.NewWriterSize(out, 1<<16)
	if !c.jsonOut() {
		w.WriteString("mac,lat,lon,accuracy,observations,first_seen,last_seen,sources\n")
	}
	n := 0
	for {
		page, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		for _, a := range page.AccessPoints {
			if c.jsonOut() {
				b, err := json.Marshal(exportJSON{MAC: a.Mac, Lat: a.Latitude, Lon: a.Longitude, Accuracy: a.Accuracy, Observations: a.Observations,
					FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Sources: a.Sources})
				if err != nil {
					return err
				}
				w.Write(append(b, '\n'))
			} else {
				fmt.Fprintf(w, "%s,%s,%s,%s,%d,%d,%d,%s\n", a.Mac, strconv.FormatFloat(a.Latitude, 'f', -1, 64),
					strconv.FormatFloat(a.Longitude, 'f', -1, 64), strconv.FormatFloat(a.Accuracy, 'f', -1, 32), a.Observations,
					a.FirstSeen, a.LastSeen, strings.Join(a.Sources, "+"))
			}
			n++
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "mgsctl: wrote %d access points to %s\n", n, pos[0])
	}
	return nil
}

// exportJSON is one line of "wifi export -o json"; "wifi import" reads it.
type exportJSON struct {
	MAC          string   `json:"mac"`
	Lat          float64  `json:"lat"`
	Lon          float64  `json:"lon"`
	Accuracy     float64  `json:"accuracy"`
	Observations uint32   `json:"observations"`
	FirstSeen    int64    `json:"first_seen"`
	LastSeen     int64    `json:"last_seen"`
	Sources      []string `json:"sources"`
}

func wifiEval(ctx context.Context, c *cli, f *flags) error {
	def := wifisim.DefaultConfig()
	exponent := f.Float64("exponent", def.PathLossExponent, "path-loss `exponent` n of the city (the solver keeps its default 3 unless --solver-exponent)")
	solverExp := f.Float64("solver-exponent", def.Solver.PathLossExponent, "path-loss `exponent` the solver assumes")
	shadowing := f.Float64("shadowing", def.Shadowing, "log-normal shadowing σ in `dB`")
	moved := f.Float64("moved", def.MovedShare, "`share` of APs moved since the database was built")
	missing := f.Float64("missing", def.MissingShare, "`share` of APs unknown to the database")
	density := f.Float64("density", def.Density, "access points per `km²`")
	maxAPs := f.Int("aps", def.MaxResults, "access points per scan (`N` strongest; LBM 5–8, chip max 32)")
	macOnly := f.Bool("mac-only", false, "MAC-only payloads (format 0x00: no RSSI)")
	scans := f.Int("scans", def.Scans, "device positions to simulate")
	seed := f.Uint64("seed", def.Seed, "random `seed`")
	noAbsence := f.Bool("no-absence", false, "disable the absence evidence (APs in the database the scan did not report)")
	confidence := f.Float64("confidence", def.Solver.Confidence, "probability of the reported accuracy radius")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	cfg := def
	cfg.PathLossExponent, cfg.Shadowing, cfg.MovedShare, cfg.MissingShare, cfg.Density = *exponent, *shadowing, *moved, *missing, *density
	cfg.MaxResults, cfg.Scans, cfg.Seed = *maxAPs, *scans, *seed
	cfg.MinSend = min(cfg.MinSend, cfg.MaxResults)
	if *macOnly {
		cfg.Format = wifi.FormatMACOnly
	}
	cfg.Solver.PathLossExponent, cfg.Solver.Absence, cfg.Solver.Confidence = *solverExp, !*noAbsence, *confidence
	if err := cfg.Validate(); err != nil {
		return f.fail("%v", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t0 := time.Now()
	rep, err := wifisim.Run(cfg)
	if err != nil {
		return err
	}
	if c.jsonOut() {
		nan := func(v float64) *float64 {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil
			}
			return &v
		}
		stats := func(s wifisim.Stats) map[string]any {
			return map[string]any{"solved": s.Solved, "median_m": nan(s.Median), "p95_m": nan(s.P95), "mean_m": nan(s.Mean),
				"accuracy_median_m": nan(s.MedianAccuracy), "coverage": nan(s.Coverage), "over_100m": nan(s.Over100)}
		}
		return c.printJSONValue(map[string]any{"aps": rep.APs, "scans": rep.Scans, "sent": rep.Sent, "solver": stats(rep.Solver),
			"baseline": stats(rep.Baseline), "common_scans": rep.Both, "solver_median_common_m": nan(rep.SolverMedianBoth),
			"baseline_median_common_m": nan(rep.BaselineMedianBoth), "ratio": nan(rep.SolverMedianBoth / rep.BaselineMedianBoth),
			"pathloss": rep.PathLoss, "centroid": rep.Centroid, "single_ap": rep.SingleAP, "too_few_known": rep.TooFewKnown,
			"no_cluster": rep.NoCluster, "moved_heard": rep.MovedHeard, "rejected_moved": rep.RejectedMoved, "rejected_good": rep.RejectedGood})
	}
	fmt.Fprint(c.stdout, rep.String())
	fmt.Fprintf(c.stderr, "mgsctl: evaluated in %v\n", time.Since(t0).Round(time.Millisecond))
	return nil
}
