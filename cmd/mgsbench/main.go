// Command mgsbench drives a running mgsd with DM uplinks over loopback
// gRPC and reports throughput and latency:
//
//	mgsbench --mode unary --concurrency 32 --devices 1000 --duration 10s
//	mgsbench --mode batch --batch 128 --concurrency 4
//	mgsbench --mode http --batch 128 --concurrency 4   # LoRa Cloud uplink/send over HTTP
//	mgsbench --mode echo   # raw gRPC round trips (health Check): the transport limit
//	mgsbench crash --kills 100 --devices 1000   # SIGKILL mgsd under load, restart, verify (crash.go)
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/tlsfile"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mgsbench:", err)
		os.Exit(1)
	}
}

type options struct {
	addr        string
	httpAddr    string
	token       string
	mode        string
	devices     int
	concurrency int
	batch       int
	duration    time.Duration
	payload     string
	firstEUI    uint64
	// tls is nil for plaintext; it serves the gRPC and the HTTP mode.
	tls *tls.Config
}

// report is the outcome of one run.
type report struct {
	Mode     string
	Calls    int64
	Uplinks  int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	FirstErr error
}

func (r report) String() string {
	return fmt.Sprintf("mode=%s calls=%d uplinks=%d errors=%d elapsed=%.2fs uplinks/s=%.0f calls/s=%.0f p50=%s p99=%s",
		r.Mode, r.Calls, r.Uplinks, r.Errors, r.Elapsed.Seconds(), float64(r.Uplinks)/r.Elapsed.Seconds(),
		float64(r.Calls)/r.Elapsed.Seconds(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "crash" {
		return runCrash(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("mgsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.addr, "addr", envOr("MGS_ADDR", "127.0.0.1:7070"), "mgsd gRPC address (env MGS_ADDR)")
	fs.StringVar(&o.token, "token", os.Getenv("MGS_TOKEN"), "API token (env MGS_TOKEN)")
	fs.StringVar(&o.httpAddr, "http-addr", envOr("MGS_HTTP_ADDR", "127.0.0.1:7071"), "mgsd HTTP address for --mode http (env MGS_HTTP_ADDR)")
	fs.StringVar(&o.mode, "mode", "unary", "unary (SendUplink), batch (SendUplinks), http (LoRa Cloud uplink/send, --batch devices per request) or echo (health Check round trips)")
	fs.IntVar(&o.devices, "devices", 1000, "number of simulated devices")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients")
	fs.IntVar(&o.batch, "batch", 128, "uplinks per SendUplinks call (batch mode)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	fs.StringVar(&o.payload, "payload", "00080100000319040e1c0500000600000700000000000000000f0300120500", "DM payload (hex) sent on port 199")
	fs.Uint64Var(&o.firstEUI, "first-eui", 0x70b3d57ed0000000, "EUI of the first simulated device")
	useTLS := fs.Bool("tls", false, "connect with TLS (gRPC and https), trusting the system's CAs")
	var tlsOpts tlsfile.ClientOptions
	fs.StringVar(&tlsOpts.CAFile, "tls-ca", "", "PEM file of the CAs to trust instead; implies --tls")
	fs.StringVar(&tlsOpts.ServerName, "tls-server-name", "", "name the server certificate must have; implies --tls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *useTLS || tlsOpts != (tlsfile.ClientOptions{}) {
		cfg, err := tlsfile.ClientConfig(tlsOpts)
		if err != nil {
			return err
		}
		o.tls = cfg
	}
	if o.devices < 1 || o.concurrency < 1 || o.batch < 1 || o.batch > 128 || o.duration <= 0 {
		return errors.New("devices, concurrency and duration must be positive, batch 1..128")
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	cc, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer cc.Close()
	if o.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", o.token)
	}
	r, err := bench(ctx, cc, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r)
	if r.FirstErr != nil {
		fmt.Fprintln(stdout, "first error:", r.FirstErr)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// bench runs the load. Each worker owns the devices i ≡ worker (mod
// concurrency) so that workers never contend for one device, and sends
// each device's frame counters in order.
func bench(ctx context.Context, cc *grpc.ClientConn, o options) (report, error) {
	modem := mgsv1.NewModemServiceClient(cc)
	health := healthpb.NewHealthClient(cc)
	// Warm up the connection (and fail fast if mgsd is not there).
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := health.Check(wctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	cancel()
	if err != nil {
		return report{}, fmt.Errorf("mgsd at %s: %w", o.addr, err)
	}
	var (
		calls, uplinks, errs atomic.Int64
		firstErr             atomic.Pointer[error]
		mu                   sync.Mutex
		lat                  []time.Duration
		wg                   sync.WaitGroup
	)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency,
		TLSClientConfig: o.tls}}
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for d := w; d < o.devices; d += o.concurrency {
				mine = append(mine, d)
			}
			if len(mine) == 0 && o.mode != "echo" {
				return
			}
			fcnt := make([]uint32, len(mine))
			local := make([]time.Duration, 0, 4096)
			next := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				var n int
				var err error
				switch o.mode {
				case "echo":
					_, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
				case "unary":
					i := next % len(mine)
					next++
					fcnt[i]++
					n = 1
					_, err = modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: lora.EUI64FromUint64(o.firstEUI + uint64(mine[i])).String(),
						Uplink: uplinkMsg(fcnt[i], o.payload)})
				case "batch":
					req := &mgsv1.SendUplinksRequest{}
					for range min(o.batch, len(mine)) {
						i := next % len(mine)
						next++
						fcnt[i]++
						req.Uplinks = append(req.Uplinks, &mgsv1.DeviceUplink{Deveui: lora.EUI64FromUint64(o.firstEUI + uint64(mine[i])).String(),
							Uplink: uplinkMsg(fcnt[i], o.payload)})
					}
					var resp *mgsv1.SendUplinksResponse
					resp, err = modem.SendUplinks(ctx, req)
					if err == nil {
						for _, r := range resp.Results {
							if r.Error != "" {
								errs.Add(1)
								e := errors.New(r.Error)
								firstErr.CompareAndSwap(nil, &e)
							} else {
								n++
							}
						}
					}
				case "http":
					body := make(map[string]any, o.batch)
					for range min(o.batch, len(mine)) {
						i := next % len(mine)
						next++
						fcnt[i]++
						body[lora.EUI64FromUint64(o.firstEUI+uint64(mine[i])).String()] = map[string]any{
							"msgtype": "updf", "fcnt": fcnt[i], "port": 199, "payload": o.payload}
					}
					var ok, failed int
					ok, failed, err = postUplinks(ctx, hc, o, body)
					n = ok
					if failed > 0 {
						errs.Add(int64(failed))
					}
				default:
					err = fmt.Errorf("unknown mode %q", o.mode)
				}
				local = append(local, time.Since(t0))
				calls.Add(1)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				uplinks.Add(int64(n))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := report{Mode: o.mode, Calls: calls.Load(), Uplinks: uplinks.Load(), Errors: errs.Load(), Elapsed: time.Since(start)}
	if o.mode == "echo" {
		r.Uplinks = 0
	}
	if e := firstErr.Load(); e != nil {
		r.FirstErr = *e
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50 = lat[len(lat)*50/100]
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return r, nil
}

func uplinkMsg(fcnt uint32, payload string) *mgsv1.UplinkMsg {
	port := uint32(199)
	return &mgsv1.UplinkMsg{Msgtype: "updf", Fcnt: &fcnt, Port: &port, Payload: payload}
}

// postUplinks sends one LoRa Cloud uplink/send request (HTTP mode) and
// counts the per-device results.
func postUplinks(ctx context.Context, hc *http.Client, o options, body map[string]any) (ok, failed int, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpScheme(o)+o.httpAddr+"/api/v1/uplink/send", bytes.NewReader(b))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.token != "" {
		req.Header.Set("Authorization", o.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var env struct {
		Result map[string]struct {
			Result json.RawMessage `json:"result"`
			Error  string          `json:"error"`
		} `json:"result"`
		Errors []string `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return 0, 0, fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("HTTP %d: %v", resp.StatusCode, env.Errors)
	}
	for _, r := range env.Result {
		if r.Error != "" {
			failed++
		} else {
			ok++
		}
	}
	return ok, failed, nil
}

func httpScheme(o options) string {
	if o.tls != nil {
		return "https://"
	}
	return "http://"
}
