// Command mgsctl is the OpenMGS command-line client of mgsd's gRPC API.
// Through ModemService it sends uplinks as a network server would, inspects
// and deletes devices, queues modem requests, sets protocol ports, clears
// logs and watches processed uplinks. It also imports GNSS orbits and Wi-Fi
// access points (GeolocationService), queues downstream messages and
// manages NB-IoT endpoints and collections (DownstreamService,
// FleetService), manages tokens (TokenService) and takes online backups
// (OpsService); its "db" commands verify, restore and compact database
// files offline.
//
// Usage:
//
//	mgsctl [global flags] <command> <subcommand> [flags] [args]
//
// Global flags (also accepted after the command): --addr (env MGS_ADDR,
// default 127.0.0.1:7070), --token (env MGS_TOKEN), -o table|json,
// --timeout, and TLS: --tls, --tls-ca, --tls-server-name,
// --tls-client-cert, --tls-client-key (env MGS_TLS, MGS_TLS_CA, …). Exit status: 0 ok, 1 error (gRPC or per-device), 2 usage.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/openmgs/openmgs/internal/tlsfile"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// command is a top-level command group of mgsctl.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

// commands lists the command groups. A new group is its own file with a
// run function plus one line here.
func commands() []command {
	return []command{
		{"uplink", "send a device uplink and print the UPLINK_RESPONSE", runUplink},
		{"device", "show, list and delete devices", runDevice},
		{"requests", "queue, list and clear modem requests", runRequests},
		{"ports", "set and show protocol ports", runPorts},
		{"logs", "clear device logs", runLogs},
		{"watch", "stream processed uplinks until interrupted", runWatch},
		{"token", "add, list and remove API tokens", runToken},
		{"backup", "save an online snapshot of the database to a file", runBackup},
		{"db", "offline database tools: verify, restore, compact", runDB},
		{"gnss", "import GNSS orbit data, show its status, evaluate the solver", runGNSS},
		{"wifi", "manage the Wi-Fi access-point database, evaluate the Wi-Fi solver", runWiFi},
		{"send", "queue a downstream message for a device (LoRaWAN or NB-IoT)", runSend},
		{"broadcast", "queue a downstream message for every device of a collection", runBroadcast},
		{"outbox", "list a device's downstream messages, delete pending ones", runOutbox},
		{"endpoints", "NB-IoT provisioning table and live LwM2M registrations", runEndpoints},
		{"collections", "create, list and delete collections, place devices", runCollections},
	}
}

// Defaults of the global flags.
const (
	defaultAddr    = "127.0.0.1:7070" // mgsd's default --grpc-addr
	defaultTimeout = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one mgsctl invocation and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, os.Getenv, os.Stdin, stdout, stderr)
}

func runEnv(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, addr: defaultAddr, token: getenv("MGS_TOKEN"),
		output: "table", timeout: defaultTimeout, getenv: getenv}
	if v := getenv("MGS_ADDR"); v != "" {
		c.addr = v
	}
	c.tls, _ = strconv.ParseBool(getenv("MGS_TLS"))
	c.tlsOpts = tlsfile.ClientOptions{CAFile: getenv("MGS_TLS_CA"), ServerName: getenv("MGS_TLS_SERVER_NAME"),
		CertFile: getenv("MGS_TLS_CLIENT_CERT"), KeyFile: getenv("MGS_TLS_CLIENT_KEY")}
	defer c.close()
	return c.exit(c.main(ctx, args))
}

// cli is the state of one invocation: global options, the lazily dialled
// connection and the output streams.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	addr, token, output string
	timeout             time.Duration
	// TLS: on with --tls or any of the TLS files/names.
	tls     bool
	tlsOpts tlsfile.ClientOptions

	conn *grpc.ClientConn
	api  mgsv1.ModemServiceClient
	// failed is set when a per-device error was reported: the command
	// goes on with the other devices and exits 1 at the end.
	failed bool
}

func (c *cli) main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mgsctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &helpError{c.usage}
		}
		return &usageError{msg: err.Error(), usage: c.usage}
	}
	if err := c.checkGlobals(c.usage); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return &usageError{msg: "missing command", usage: c.usage}
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 0 {
			return &helpError{c.usage}
		}
		name, rest = rest[0], []string{"-h"}
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(ctx, c, rest)
		}
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", name), usage: c.usage}
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `usage: mgsctl [global flags] <command> [flags] [args]

mgsctl calls the gRPC API of mgsd (OpenMGS): modem, geolocation, downstream, fleet, token and ops services.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cmd := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(tw, "  help\tshow the help of a command\n")
	tw.Flush()
	fmt.Fprintln(w, "\nGlobal flags (also accepted after the command):")
	printGlobals(w)
	fmt.Fprintln(w, "\nRun 'mgsctl <command> -h' for the subcommands and their flags.")
}

// globalFlags defines the global flags on fs, bound to c with c's current
// values as defaults, so that they may be given before or after the command.
func (c *cli) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", c.addr, "server `address` host:port (env MGS_ADDR)")
	fs.StringVar(&c.token, "token", c.token, "API `token`, sent as the authorization metadata (env MGS_TOKEN)")
	fs.StringVar(&c.output, "o", c.output, "output `format`: table or json")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "deadline of the command's calls; 0 for none (watch has none)")
	fs.BoolVar(&c.tls, "tls", c.tls, "connect with TLS, trusting the system's CAs (env MGS_TLS)")
	fs.StringVar(&c.tlsOpts.CAFile, "tls-ca", c.tlsOpts.CAFile, "PEM `file` of the CAs to trust instead; implies --tls (env MGS_TLS_CA)")
	fs.StringVar(&c.tlsOpts.ServerName, "tls-server-name", c.tlsOpts.ServerName, "`name` the server certificate must have, when not the --addr host; implies --tls (env MGS_TLS_SERVER_NAME)")
	fs.StringVar(&c.tlsOpts.CertFile, "tls-client-cert", c.tlsOpts.CertFile, "PEM client certificate `file` for mutual TLS; implies --tls (env MGS_TLS_CLIENT_CERT)")
	fs.StringVar(&c.tlsOpts.KeyFile, "tls-client-key", c.tlsOpts.KeyFile, "PEM `file` of the client certificate's key (env MGS_TLS_CLIENT_KEY)")
}

// printGlobals prints the global flags with their built-in defaults (never
// the token taken from the environment).
func printGlobals(w io.Writer) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	d := &cli{addr: defaultAddr, output: "table", timeout: defaultTimeout}
	d.globalFlags(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func (c *cli) checkGlobals(usage func(io.Writer)) error {
	switch c.output {
	case "table", "json":
	default:
		return &usageError{msg: fmt.Sprintf("-o: %q is not table or json", c.output), usage: usage}
	}
	if c.addr == "" {
		return &usageError{msg: "--addr must not be empty", usage: usage}
	}
	if c.timeout < 0 {
		return &usageError{msg: "--timeout must not be negative", usage: usage}
	}
	return nil
}

func (c *cli) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// client dials the server on first use. Connection errors show up on the
// first call as Unavailable.
func (c *cli) client() (mgsv1.ModemServiceClient, error) {
	if c.api != nil {
		return c.api, nil
	}
	creds := insecure.NewCredentials()
	if c.tls || c.tlsOpts != (tlsfile.ClientOptions{}) {
		cfg, err := tlsfile.ClientConfig(c.tlsOpts)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("addr %q: %w", c.addr, err)
	}
	c.conn, c.api = conn, mgsv1.NewModemServiceClient(conn)
	return c.api, nil
}

// authCtx adds the API token, raw, as LoRa Cloud clients send it.
func (c *cli) authCtx(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", c.token)
}

// callCtx is the context of a command's unary calls: token and deadline.
func (c *cli) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = c.authCtx(ctx)
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// itemError reports the failure of one device of a multi-device command.
func (c *cli) itemError(eui, msg string) {
	c.failed = true
	if strings.Contains(msg, eui) {
		fmt.Fprintf(c.stderr, "mgsctl: %s\n", msg)
		return
	}
	fmt.Fprintf(c.stderr, "mgsctl: %s: %s\n", eui, msg)
}

// helpError asks for the usage on stdout and exit status 0.
type helpError struct{ usage func(io.Writer) }

func (*helpError) Error() string { return "help requested" }

// usageError is a wrong invocation: exit status 2 with the usage.
type usageError struct {
	msg   string
	usage func(io.Writer)
}

func (e *usageError) Error() string { return e.msg }

func (c *cli) exit(err error) int {
	var he *helpError
	var ue *usageError
	switch {
	case err == nil:
		if c.failed {
			return 1
		}
		return 0
	case errors.As(err, &he):
		he.usage(c.stdout)
		return 0
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(c.stderr, "mgsctl: %s\n", ue.msg)
		}
		if ue.usage != nil {
			ue.usage(c.stderr)
		}
		return 2
	}
	if s, ok := status.FromError(err); ok {
		fmt.Fprintf(c.stderr, "mgsctl: %s: %s\n", s.Code(), s.Message())
	} else {
		fmt.Fprintf(c.stderr, "mgsctl: %v\n", err)
	}
	return 1
}

// subcommand is one command of a group (e.g. "device list").
type subcommand struct {
	name     string
	synopsis string // positional arguments and main flags, for the usage line
	summary  string
	run      func(ctx context.Context, c *cli, f *flags) error
}

// dispatch runs the subcommand named by args[0].
func (c *cli) dispatch(ctx context.Context, group, summary string, subs []subcommand, args []string) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: mgsctl %s <command> [flags] [args]\n\n%s.\n\nCommands:\n", group, summary)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.summary)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nRun 'mgsctl %s <command> -h' for its flags, 'mgsctl -h' for the global flags.\n", group)
	}
	if len(args) == 0 {
		return &usageError{msg: "missing " + group + " command", usage: usage}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return &helpError{usage}
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, c, c.newFlags(group+" "+s.name, s.synopsis, s.summary, args[1:]))
		}
	}
	return &usageError{msg: fmt.Sprintf("unknown %s command %q", group, args[0]), usage: usage}
}

// flags is the flag set of one (sub)command: its own flags are defined on
// the embedded FlagSet; parse adds the global flags and accepts flags
// before and after positional arguments.
type flags struct {
	*flag.FlagSet
	c                       *cli
	path, synopsis, summary string
	args                    []string
	set                     map[string]bool
}

func (c *cli) newFlags(path, synopsis, summary string, args []string) *flags {
	fs := flag.NewFlagSet("mgsctl "+path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, c: c, path: path, synopsis: synopsis, summary: summary, args: args, set: map[string]bool{}}
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: mgsctl %s %s\n\n%s.\n", f.path, f.synopsis, upperFirst(f.summary))
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
	}
	fmt.Fprintf(w, "\nGlobal flags: %s (see 'mgsctl -h').\n", "--addr, --token, -o table|json, --timeout")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parse parses the arguments and returns the positional ones. Everything
// after "--" is positional.
func (f *flags) parse() ([]string, error) {
	all := flag.NewFlagSet(f.Name(), flag.ContinueOnError)
	all.SetOutput(io.Discard)
	f.VisitAll(func(fl *flag.Flag) { all.Var(fl.Value, fl.Name, fl.Usage) })
	f.c.globalFlags(all)
	args, tail := f.args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := all.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpError{f.usage}
			}
			return nil, &usageError{msg: err.Error(), usage: f.usage}
		}
		args = all.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	all.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if err := f.c.checkGlobals(f.usage); err != nil {
		return nil, err
	}
	return append(pos, tail...), nil
}

// isSet reports whether the flag was given on the command line.
func (f *flags) isSet(name string) bool { return f.set[name] }

// fail returns a usage error of this command.
func (f *flags) fail(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: f.usage}
}

// euis joins EUIs from a list flag and positional arguments; at least one
// is required unless optional.
func (f *flags) euis(fromFlag []string, pos []string, optional bool) ([]string, error) {
	out := append(slices.Clone(fromFlag), pos...)
	if len(out) == 0 && !optional {
		return nil, f.fail("at least one device EUI is required")
	}
	return out, nil
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// optUint is an unsigned flag that remembers whether it was given. It
// accepts integral float notation too (--freq 868.1e6).
type optUint struct {
	v   uint64
	max uint64
	set bool
}

func (o *optUint) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatUint(o.v, 10)
}

func (o *optUint) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f < 0 || f != math.Trunc(f) || f > math.MaxUint64 {
			return fmt.Errorf("%q is not a non-negative integer", s)
		}
		v = uint64(f)
	}
	if o.max != 0 && v > o.max {
		return fmt.Errorf("%d is more than %d", v, o.max)
	}
	o.v, o.set = v, true
	return nil
}

func (o *optUint) u32() *uint32 {
	if !o.set {
		return nil
	}
	v := uint32(o.v)
	return &v
}

// optFloat is a float flag that remembers whether it was given.
type optFloat struct {
	v   float64
	set bool
}

func (o *optFloat) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatFloat(o.v, 'f', -1, 64)
}

func (o *optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%q is not a number", s)
	}
	o.v, o.set = v, true
	return nil
}

// --- output helpers ---

var jsonOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// printJSON prints m as indented protojson (stable formatting, unlike
// protojson's own multi-line output).
func (c *cli) printJSON(m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = c.stdout.Write(buf.Bytes())
	return err
}

// printJSONList prints {"key": [msgs...]} for results that have no
// response message of their own.
func (c *cli) printJSONList(key string, msgs []proto.Message) error {
	list := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		b, err := jsonOptions.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
		}
		list[i] = b
	}
	b, err := json.MarshalIndent(map[string][]json.RawMessage{key: list}, "", "  ")
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(append(b, '\n'))
	return err
}

// printJSONLine prints m as one line of JSON.
func (c *cli) printJSONLine(m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = c.stdout.Write(buf.Bytes())
	return err
}

func (c *cli) jsonOut() bool { return c.output == "json" }

// table prints rows under a header, aligned.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = clean(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// section prints a titled table after a blank line, or "title: none".
func section(w io.Writer, title string, header []string, rows [][]string) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "\n%s: none\n", title)
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	table(w, header, rows)
}

// keyValues prints "key: value" lines with aligned values.
func keyValues(w io.Writer, kv [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", p[0], clean(p[1]))
	}
	tw.Flush()
}

// clean keeps a cell on one line and out of tabwriter's way.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return ' '
		}
		return r
	}, s)
}

// fmtTime renders Unix seconds as UTC RFC 3339 with milliseconds.
func fmtTime(sec float64) string {
	if sec == 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return "-"
	}
	s, frac := math.Modf(sec)
	return time.Unix(int64(s), int64(math.Round(frac*1e3))*1e6).UTC().Format("2006-01-02T15:04:05.000Z")
}

// fmtValue renders a JSON value compactly ("-" when absent).
func fmtValue(v *structpb.Value) string {
	if v == nil {
		return "-"
	}
	b, err := json.Marshal(v.AsInterface())
	if err != nil {
		return v.String()
	}
	return string(b)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
