package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store/boltstore"
)

// The crash test: mgsd runs as a real subprocess on one data directory;
// clients send uplinks for many devices while mgsd is killed with SIGKILL
// at random moments and restarted. After every restart the stored state
// of every device must reflect every uplink whose response was received.
//
// Each device sends frame counters 1, 2, 3, … one at a time. An uplink
// whose call failed (the kill) is "unconfirmed": after the restart it is
// sent again, unchanged, as a network server retries; mgsd either
// processes it or recognises it as a duplicate of what it had committed.
// Uplink k carries a DM frame with charge = k (mod 65536), uptime = k>>16
// and an unknown tag (one ERROR log message per uplink), and timestamp
// base+k, so the stored info fields, last uplink, uplink count and log
// history all tell which uplinks were committed.

type crashOptions struct {
	mgsd        string // mgsd binary
	data        string // data directory
	kills       int
	devices     int
	concurrency int
	minRun      time.Duration // load between a start and the kill, random in [minRun, maxRun]
	maxRun      time.Duration
	seed        uint64
	mgsdArgs    []string
	progress    io.Writer // one line per cycle (nil: none)
}

type crashReport struct {
	Kills       int
	Acked       int64 // distinct uplinks acknowledged
	Lost        int64 // acknowledged uplinks missing after a restart (must be 0)
	Unconfirmed int64 // uplinks in flight at a kill
	Committed   int64 // … of which mgsd had committed (found stored after the restart)
	Duplicates  int64 // resent uplinks answered as duplicates
	Checks      int64 // device states verified
	Elapsed     time.Duration
	Problems    []string
}

func (r *crashReport) String() string {
	return fmt.Sprintf("crash: kills=%d acknowledged=%d lost=%d unconfirmed=%d committed_before_kill=%d resent_duplicates=%d device_checks=%d elapsed=%.1fs",
		r.Kills, r.Acked, r.Lost, r.Unconfirmed, r.Committed, r.Duplicates, r.Checks, r.Elapsed.Seconds())
}

// crashDevice is one simulated device, owned by one worker at a time.
type crashDevice struct {
	eui     string
	acked   uint32 // uplinks 1..acked are acknowledged
	pending bool   // uplink acked+1 was sent, its outcome is unknown; it is sent again
	fresh   bool   // pending since the last kill (for the statistics)
}

const crashBaseTime = 1.7e9

func crashPayload(k uint32) string {
	b := []byte{0x01, 0, 0, 0x05, 0, 0, 0x7f}
	binary.LittleEndian.PutUint16(b[1:], uint16(k))
	binary.LittleEndian.PutUint16(b[4:], uint16(k>>16))
	return hex.EncodeToString(b)
}

func crashUplink(k uint32) *mgsv1.UplinkMsg {
	port := uint32(199)
	ts := crashTime(k)
	return &mgsv1.UplinkMsg{Msgtype: "updf", Fcnt: &k, Port: &port, Payload: crashPayload(k), Timestamp: &ts}
}

func crashTime(k uint32) float64 { return crashBaseTime + float64(k) }

// runCrash is "mgsbench crash".
func runCrash(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mgsbench crash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := crashOptions{progress: stderr}
	fs.StringVar(&o.mgsd, "mgsd", "", "mgsd binary (default: mgsd on PATH, else built with 'go build' from this module)")
	fs.StringVar(&o.data, "data", "", "data directory (default: a new temporary directory, removed afterwards)")
	fs.IntVar(&o.kills, "kills", 20, "SIGKILLs")
	fs.IntVar(&o.devices, "devices", 500, "simulated devices")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients")
	fs.DurationVar(&o.minRun, "min-run", 300*time.Millisecond, "shortest load before a kill")
	fs.DurationVar(&o.maxRun, "max-run", 2*time.Second, "longest load before a kill")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock); printed for reruns")
	quiet := fs.Bool("q", false, "no per-cycle progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		o.mgsdArgs = fs.Args() // after "--": extra mgsd flags
	}
	if *quiet {
		o.progress = nil
	}
	if o.kills < 1 || o.devices < 1 || o.concurrency < 1 || o.minRun <= 0 || o.maxRun < o.minRun {
		return errors.New("crash: kills, devices and concurrency must be positive, 0 < min-run <= max-run")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if o.mgsd == "" {
		var err error
		if o.mgsd, err = findMgsd(ctx); err != nil {
			return err
		}
	}
	if o.data == "" {
		dir, err := os.MkdirTemp("", "mgsbench-crash-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.data = dir
	}
	fmt.Fprintf(stdout, "crash: mgsd=%s data=%s seed=%d devices=%d concurrency=%d\n", o.mgsd, o.data, o.seed, o.devices, o.concurrency)
	r, err := crash(ctx, o)
	if r != nil {
		fmt.Fprintln(stdout, r)
		for _, p := range r.Problems {
			fmt.Fprintln(stdout, "problem:", p)
		}
	}
	if err != nil {
		return err
	}
	if r.Lost != 0 || len(r.Problems) > 0 {
		return fmt.Errorf("crash: %d acknowledged uplinks lost, %d problems", r.Lost, len(r.Problems))
	}
	return nil
}

// findMgsd returns mgsd from PATH or builds it from the module.
func findMgsd(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("mgsd"); err == nil {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "mgsbench-mgsd-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mgsd")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/openmgs/openmgs/cmd/mgsd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build mgsd (give --mgsd): %v\n%s", err, out)
	}
	return bin, nil
}

// mgsdProc is one running mgsd.
type mgsdProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited
	err  error         // Wait's error, after done

	mu   sync.Mutex
	tail []string // last lines of its log, for diagnostics
}

func (p *mgsdProc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// startMgsd starts mgsd on the data directory and waits until it serves.
func startMgsd(ctx context.Context, o crashOptions) (*mgsdProc, error) {
	args := append([]string{"--data", o.data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "", "--coap-addr", "off", "--log-format", "json",
		"--log-level", "info", "--access-log=false"}, o.mgsdArgs...)
	cmd := exec.Command(o.mgsd, args...)
	cmd.Env = append(os.Environ(), "MGS_CONFIG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &mgsdProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.tail = append(p.tail, line); len(p.tail) > 20 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
			var m struct {
				Msg      string `json:"msg"`
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "mgsd started" {
				select {
				case ready <- m.GRPCAddr:
				default:
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("mgsd exited at start: %v\n%s", p.err, p.logTail())
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("mgsd did not start within 30 s\n%s", p.logTail())
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *mgsdProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *mgsdProc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		return errors.New("mgsd did not stop within 30 s of SIGTERM")
	}
	if p.err != nil {
		return fmt.Errorf("mgsd exit: %v\n%s", p.err, p.logTail())
	}
	return nil
}

// crash runs the kill/restart cycles and verifies the state after each.
func crash(ctx context.Context, o crashOptions) (*crashReport, error) {
	start := time.Now()
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	devs := make([]*crashDevice, o.devices)
	for i := range devs {
		devs[i] = &crashDevice{eui: lora.EUI64FromUint64(0x0016c00100000000 + uint64(i)).String()}
	}
	r := &crashReport{}
	var acked, dups atomic.Int64
	dbPath := filepath.Join(o.data, "mgs.db")
	maxLogs := 100 // mgsd's default, unless given to it
	for i, a := range o.mgsdArgs {
		if v, ok := strings.CutPrefix(a, "--max-logs="); ok {
			maxLogs, _ = strconv.Atoi(v)
		} else if (a == "--max-logs" || a == "-max-logs") && i+1 < len(o.mgsdArgs) {
			maxLogs, _ = strconv.Atoi(o.mgsdArgs[i+1])
		}
	}
	for cycle := 0; cycle <= o.kills; cycle++ {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		if cycle > 0 {
			// The database must open cleanly after every kill.
			if _, err := boltstore.Check(dbPath); err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("after kill %d: %v", cycle, err))
				return r, nil
			}
		}
		p, err := startMgsd(ctx, o)
		if err != nil {
			return r, fmt.Errorf("start %d: %w", cycle+1, err)
		}
		cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			p.kill()
			return r, err
		}
		modem := mgsv1.NewModemServiceClient(cc)
		if err := verifyDevices(ctx, modem, devs, maxLogs, r); err != nil {
			cc.Close()
			p.kill()
			return r, fmt.Errorf("verify after start %d: %w", cycle+1, err)
		}
		if cycle == o.kills {
			// Last round: load, then a clean stop and a final check.
			load(ctx, modem, devs, o.concurrency, o.minRun, &acked, &dups)
			err := verifyDevices(ctx, modem, devs, maxLogs, r)
			cc.Close()
			if serr := p.stop(); err == nil {
				err = serr
			}
			if err != nil {
				return r, err
			}
			if _, err := boltstore.Check(dbPath); err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("after the clean stop: %v", err))
			}
			break
		}
		run := o.minRun + time.Duration(rng.Int64N(int64(o.maxRun-o.minRun)+1))
		loadCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			load(loadCtx, modem, devs, o.concurrency, 0, &acked, &dups)
		}()
		time.Sleep(run)
		p.kill() // SIGKILL while uplinks are in flight
		r.Kills++
		cancel()
		wg.Wait()
		cc.Close()
		if o.progress != nil {
			fmt.Fprintf(o.progress, "kill %d after %v: %d uplinks acknowledged so far\n", r.Kills, run.Round(time.Millisecond), acked.Load())
		}
	}
	for _, d := range devs {
		r.Acked += int64(d.acked)
	}
	r.Duplicates = dups.Load()
	r.Elapsed = time.Since(start)
	return r, nil
}

// load sends uplinks until ctx ends or, when dur > 0, for that long. Worker w owns devices w, w+n, …; each
// device has at most one uplink in flight.
func load(ctx context.Context, modem mgsv1.ModemServiceClient, devs []*crashDevice, n int, dur time.Duration, acked, dups *atomic.Int64) {
	if dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dur)
		defer cancel()
	}
	var wg sync.WaitGroup
	for w := range min(n, len(devs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += n {
				if i >= len(devs) {
					i = w
				}
				d := devs[i]
				k := d.acked + 1
				d.pending = true
				// The call is not bound to ctx: a clean end of the load
				// lets calls in flight finish; the kill fails them.
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := modem.SendUplink(cctx, &mgsv1.SendUplinkRequest{Deveui: d.eui, Uplink: crashUplink(k)})
				cancel()
				if err != nil {
					d.fresh = true
					return // the server is gone: d stays pending
				}
				d.acked, d.pending = k, false
				acked.Add(1)
				for _, l := range resp.GetResult().GetLogMessages() {
					if strings.Contains(l.GetLogmsg(), "duplicate") {
						dups.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// verifyDevices reads every device and checks it against what was
// acknowledged; a pending uplink found stored becomes acknowledged.
func verifyDevices(ctx context.Context, modem mgsv1.ModemServiceClient, devs []*crashDevice, maxLogs int, r *crashReport) error {
	const batch = 100 // a device with 100 log messages is about 10 KB of DEVICEINFO
	for i := 0; i < len(devs); i += batch {
		part := devs[i:min(i+batch, len(devs))]
		req := &mgsv1.GetDeviceInfoRequest{}
		for _, d := range part {
			req.Deveuis = append(req.Deveuis, d.eui)
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := modem.GetDeviceInfo(cctx, req, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			return err
		}
		if len(resp.Results) != len(part) {
			return fmt.Errorf("GetDeviceInfo: %d results for %d devices", len(resp.Results), len(part))
		}
		for j, d := range part {
			r.Checks++
			if p := checkDevice(d, resp.Results[j], maxLogs, r); p != "" {
				r.Problems = append(r.Problems, d.eui+": "+p)
			}
		}
	}
	return nil
}

func checkDevice(d *crashDevice, res *mgsv1.DeviceInfoResult, maxLogs int, r *crashReport) string {
	var stored, count uint32
	info := res.GetInfo()
	if res.GetError() != "" {
		if !strings.Contains(res.GetError(), "not found") {
			return res.GetError()
		}
	} else {
		lu := info.GetLastUplink()
		stored, count = lu.GetFcnt(), uint32(info.GetUplinkCount())
		if d.fresh {
			d.fresh = false
			r.Unconfirmed++
			if stored == d.acked+1 {
				r.Committed++
			}
		}
		// One commit wrote all of these: they agree with each other.
		want := crashUplink(stored)
		if lu.GetPayload() != want.Payload && !strings.EqualFold(lu.GetPayload(), want.Payload) {
			return fmt.Sprintf("last uplink %d payload %s, want %s", stored, lu.GetPayload(), want.Payload)
		}
		ch := info.GetInfoFields().GetCharge()
		if uint32(ch.GetValue()) != stored&0xffff || ch.GetTimestamp() != crashTime(stored) || lu.GetTimestamp() != crashTime(stored) {
			return fmt.Sprintf("charge %v at %v, last uplink at %v: not uplink %d's", ch.GetValue(), ch.GetTimestamp(), lu.GetTimestamp(), stored)
		}
		if count != stored {
			return fmt.Sprintf("uplink_count %d but last fcnt %d (an uplink counted twice or lost)", count, stored)
		}
		if n, want := len(info.GetLogMessages()), min(int(count), maxLogs); n != want {
			return fmt.Sprintf("%d log messages, want %d (one per uplink, at most --max-logs %d)", n, want, maxLogs)
		}
	}
	switch {
	case stored < d.acked:
		r.Lost += int64(d.acked - stored)
		return fmt.Sprintf("LOST: uplinks %d..%d were acknowledged, the state has %d", stored+1, d.acked, stored)
	case stored == d.acked, stored == d.acked+1 && d.pending:
		// The pending uplink, committed or not, is sent again unchanged:
		// mgsd processes it or answers it as a duplicate.
	default:
		return fmt.Sprintf("stored fcnt %d, acknowledged %d (pending %v): more than was sent", stored, d.acked, d.pending)
	}
	return ""
}
