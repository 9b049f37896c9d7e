package main

import (
	"github.com/openmgs/openmgs/connector/everynet"

	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// config is mgsd's configuration: flags override environment variables,
// which override the defaults.
type config struct {
	DataDir   string
	GRPCAddr  string
	HTTPAddr  string // "" disables the HTTP API
	Tokens    []string
	LogLevel  slog.Level
	LogFormat string
	Drain     time.Duration
	NoSync    bool

	MaxLogs, MaxFiles, MaxStreamRecords, MaxPositions, MaxPendingRequests int

	// Everynet holds one connector configuration per --everynet-url.
	Everynet []everynet.Config
}

type option struct {
	flag, env, def, usage string
}

var options = []option{
	{"data", "MGS_DATA", "./mgs-data", "directory of the embedded database"},
	{"grpc-addr", "MGS_GRPC_ADDR", "127.0.0.1:7070", "gRPC listen address"},
	{"http-addr", "MGS_HTTP_ADDR", "127.0.0.1:7071", "LoRa Cloud-compatible HTTP API listen address (empty: no HTTP API)"},
	{"tokens", "MGS_TOKENS", "", "comma-separated static API tokens (admin); a token (static or stored) is required to listen on a non-loopback address"},
	{"token-file", "MGS_TOKEN_FILE", "", "file with one API token per line (added to --tokens)"},
	{"log-level", "MGS_LOG_LEVEL", "info", "log level: debug, info, warn, error"},
	{"log-format", "MGS_LOG_FORMAT", "text", "log format: text or json"},
	{"drain", "MGS_DRAIN", "10s", "how long shutdown waits for in-flight calls"},
	{"max-logs", "MGS_MAX_LOGS", "100", "log messages kept per device"},
	{"max-files", "MGS_MAX_FILES", "32", "uploaded files kept per device"},
	{"max-stream-records", "MGS_MAX_STREAM_RECORDS", "500", "stream records kept per device"},
	{"max-positions", "MGS_MAX_POSITIONS", "100", "position solutions kept per device"},
	{"max-pending-requests", "MGS_MAX_PENDING_REQUESTS", "32", "pending requests allowed per device"},
	{"unsafe-no-sync", "MGS_UNSAFE_NO_SYNC", "false", "skip fsync on commit (benchmarks only: a crash loses acknowledged uplinks)"},
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("mgsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := append(append([]option(nil), options...), everynetOptions...)
	vals := make(map[string]*string, len(all))
	for _, o := range all {
		def := o.def
		if v := getenv(o.env); v != "" {
			def = v
		}
		vals[o.flag] = fs.String(o.flag, def, fmt.Sprintf("%s (env %s)", o.usage, o.env))
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mgsd [flags]\n\nOpenMGS server. Flags override environment variables.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, errUsage
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mgsd: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	c := &config{DataDir: *vals["data"], GRPCAddr: *vals["grpc-addr"], HTTPAddr: *vals["http-addr"], LogFormat: *vals["log-format"]}
	for _, t := range strings.Split(*vals["tokens"], ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.Tokens = append(c.Tokens, t)
		}
	}
	if f := *vals["token-file"]; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("token-file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				c.Tokens = append(c.Tokens, line)
			}
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(*vals["log-level"])); err != nil {
		return nil, fmt.Errorf("log-level: %q is not debug, info, warn or error", *vals["log-level"])
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("log-format: %q is not text or json", c.LogFormat)
	}
	d, err := time.ParseDuration(*vals["drain"])
	if err != nil || d < 0 {
		return nil, fmt.Errorf("drain: %q is not a duration", *vals["drain"])
	}
	c.Drain = d
	switch *vals["unsafe-no-sync"] {
	case "true", "1":
		c.NoSync = true
	case "false", "0", "":
	default:
		return nil, fmt.Errorf("unsafe-no-sync: %q is not true or false", *vals["unsafe-no-sync"])
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"max-logs", &c.MaxLogs}, {"max-files", &c.MaxFiles}, {"max-stream-records", &c.MaxStreamRecords},
		{"max-positions", &c.MaxPositions}, {"max-pending-requests", &c.MaxPendingRequests}} {
		if _, err := fmt.Sscan(*vals[n.name], n.dst); err != nil || *n.dst < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive number", n.name, *vals[n.name])
		}
	}
	if c.DataDir == "" {
		return nil, fmt.Errorf("data: must not be empty")
	}
	for _, a := range c.listeners() {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return nil, fmt.Errorf("%s: %q is not host:port: %v", a.name, a.addr, err)
		}
	}
	if c.GRPCAddr == "" {
		return nil, fmt.Errorf("grpc-addr: must not be empty")
	}
	if c.Everynet, err = everynetConfig(vals); err != nil {
		return nil, err
	}
	return c, nil
}

type listener struct{ name, addr string }

// listeners are the configured listen addresses.
func (c *config) listeners() []listener {
	l := []listener{{"grpc-addr", c.GRPCAddr}}
	if c.HTTPAddr != "" {
		l = append(l, listener{"http-addr", c.HTTPAddr})
	}
	return l
}

// loopbackOnly reports whether every listener is on a loopback address:
// only then may the server run without tokens (accepting every request).
func (c *config) loopbackOnly() bool {
	for _, l := range c.listeners() {
		host, _, err := net.SplitHostPort(l.addr)
		if err != nil || !isLoopback(host) {
			return false
		}
	}
	return true
}

// checkListen refuses non-loopback listen addresses unless an API token
// (static or stored) exists.
func (c *config) checkListen(haveTokens bool) error {
	if haveTokens {
		return nil
	}
	for _, l := range c.listeners() {
		host, _, _ := net.SplitHostPort(l.addr)
		if !isLoopback(host) {
			return fmt.Errorf("%s: refusing to listen on %q without API tokens (set --tokens or MGS_TOKENS, or add a token with 'mgsctl token add' while mgsd listens on loopback only)", l.name, l.addr)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
