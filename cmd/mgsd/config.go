package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/openmgs/openmgs/connector/everynet"
	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/server"
)

// config is mgsd's configuration. Every option comes from, in order of
// precedence: a command-line flag, an environment variable, the
// configuration file (--config or MGS_CONFIG), the default.
type config struct {
	DataDir   string
	GRPCAddr  string
	HTTPAddr  string // "" disables the HTTP API
	OpsAddr   string // "" disables the ops listener
	Tokens    []string
	LogLevel  slog.Level
	LogFormat string
	AccessLog bool
	Drain     time.Duration
	NoSync    bool

	// TLS on the gRPC, HTTP and ops listeners when TLSCert is set;
	// TLSClientCA also requires client certificates (gRPC and HTTP API).
	TLSCert, TLSKey, TLSClientCA string

	// GNSSRetention bounds the stored orbit imports (0: keep all).
	GNSSRetention time.Duration

	MaxLogs, MaxFiles, MaxStreamRecords, MaxPositions, MaxPendingRequests int

	// Limits of the APIs.
	RateLimit         float64 // calls per second per token (0: none)
	RateBurst         int
	GRPCMaxRecvBytes  int
	GRPCMaxStreams    int
	HTTPMaxBodyBytes  int64
	HTTPMaxConcurrent int

	// Everynet holds one connector configuration per --everynet-url.
	Everynet []everynet.Config

	// Actions, command line only.
	ConfigFile  string
	PrintConfig bool
	Restore     string
	Force       bool

	// settings are the raw values and where each came from, for
	// --print-config and error messages.
	settings *settings
}

type option struct {
	flag, env, def, usage string
}

var options = []option{
	{"data", "MGS_DATA", "./mgs-data", "directory of the embedded database"},
	{"grpc-addr", "MGS_GRPC_ADDR", "127.0.0.1:7070", "gRPC listen address"},
	{"http-addr", "MGS_HTTP_ADDR", "127.0.0.1:7071", "LoRa Cloud-compatible HTTP API listen address, also serving /metrics (empty: no HTTP API)"},
	{"ops-addr", "MGS_OPS_ADDR", "", "operations listen address serving /metrics and /healthz (empty: none)"},
	{"tls-cert", "MGS_TLS_CERT", "", "PEM certificate (chain) for TLS on the gRPC, HTTP and ops listeners; reloaded when the file changes (empty: plaintext)"},
	{"tls-key", "MGS_TLS_KEY", "", "PEM private key of --tls-cert"},
	{"tls-client-ca", "MGS_TLS_CLIENT_CA", "", "PEM CA certificates: with TLS, the gRPC and HTTP API listeners require client certificates signed by them (mutual TLS)"},
	{"tokens", "MGS_TOKENS", "", "comma-separated static API tokens (admin); a token (static or stored) is required to listen on a non-loopback address"},
	{"token-file", "MGS_TOKEN_FILE", "", "file with one API token per line (added to --tokens)"},
	{"log-level", "MGS_LOG_LEVEL", "info", "log level: debug, info, warn, error"},
	{"log-format", "MGS_LOG_FORMAT", "text", "log format: text or json"},
	{"access-log", "MGS_ACCESS_LOG", "true", "log one line per gRPC call and HTTP request (info level)"},
	{"drain", "MGS_DRAIN", "10s", "how long shutdown waits for in-flight calls"},
	{"max-logs", "MGS_MAX_LOGS", "100", "log messages kept per device"},
	{"max-files", "MGS_MAX_FILES", "32", "uploaded files kept per device"},
	{"max-stream-records", "MGS_MAX_STREAM_RECORDS", "500", "stream records kept per device"},
	{"max-positions", "MGS_MAX_POSITIONS", "100", "position solutions kept per device"},
	{"max-pending-requests", "MGS_MAX_PENDING_REQUESTS", "32", "pending requests allowed per device"},
	{"rate-limit", "MGS_RATE_LIMIT", "0", "API calls allowed per token, shared by gRPC and HTTP: N/s, N/m or N/h (0: unlimited)"},
	{"rate-burst", "MGS_RATE_BURST", "0", "token-bucket size: calls a token may make in a burst (0: the per-second rate rounded up, at least 1)"},
	{"grpc-max-recv-bytes", "MGS_GRPC_MAX_RECV_BYTES", "4194304", "largest gRPC request message, in bytes"},
	{"grpc-max-streams", "MGS_GRPC_MAX_STREAMS", "256", "concurrent gRPC calls per client connection"},
	{"http-max-body-bytes", "MGS_HTTP_MAX_BODY_BYTES", "1048576", "largest HTTP request body, in bytes"},
	{"http-max-concurrent", "MGS_HTTP_MAX_CONCURRENT", "512", "HTTP requests served at once over all connections (more get 429)"},
	{"wifi-learn", "MGS_WIFI_LEARN", "off", "learn Wi-Fi access points from a device's scans and GNSS fixes: off, on (60 s window) or the window (e.g. 2m)"},
	{"gnss-retention", "MGS_GNSS_RETENTION", "14d", "how long GNSS orbit imports are kept, in data time: an import whose data ends more than this before the newest imported data is deleted (the newest navigation file and almanac always stay); e.g. 14d, 2w, 336h; 0 or off keeps every import"},
	{"wifi-single-ap", "MGS_WIFI_SINGLE_AP", "false", "allow a Wi-Fi fix from a single known access point (its own position)"},
	{"unsafe-no-sync", "MGS_UNSAFE_NO_SYNC", "false", "skip fsync on commit (benchmarks only: a crash loses acknowledged uplinks)"},
}

// secretOptions are redacted by --print-config.
var secretOptions = map[string]bool{"tokens": true, "everynet-token": true}

// allOptions is the option table with the connector options.
func allOptions() []option {
	return append(append(append([]option(nil), options...), everynetOptions...), nbiotOptions...)
}

// settings are the raw option values after precedence, with their source.
type settings struct {
	order []string
	val   map[string]string
	src   map[string]string // "flag", "env MGS_…", "file F:N", "default"
}

// errorf returns an error about option key, naming where its value came
// from unless it is the default.
func (s *settings) errorf(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if src := s.src[key]; src != "" && src != "default" {
		return fmt.Errorf("%s: %s (from %s)", key, msg, src)
	}
	return fmt.Errorf("%s: %s", key, msg)
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("mgsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := allOptions()
	vals := make(map[string]*string, len(all))
	for _, o := range all {
		v := new(string)
		*v = o.def
		usage := fmt.Sprintf("%s (env %s)", o.usage, o.env)
		if o.def == "true" || o.def == "false" {
			fs.Var(boolString{v}, o.flag, usage) // --flag alone means true
		} else {
			fs.StringVar(v, o.flag, o.def, usage)
		}
		vals[o.flag] = v
	}
	c := &config{}
	fs.StringVar(&c.ConfigFile, "config", "", "configuration file of 'key = value' lines, keys being the flag names (env MGS_CONFIG)")
	fs.BoolVar(&c.PrintConfig, "print-config", false, "print the effective configuration (secrets redacted) and exit")
	fs.StringVar(&c.Restore, "restore", "", "restore the database in --data from this backup file and exit")
	fs.BoolVar(&c.Force, "force", false, "with --restore: replace a database that holds data")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mgsd [flags]\n\nOpenMGS server. Precedence: flag, environment variable, configuration file, default.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mgsd: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		c.ConfigFile = getenv("MGS_CONFIG")
	}
	var file map[string]fileValue
	if c.ConfigFile != "" {
		var err error
		if file, err = readConfigFile(c.ConfigFile, all); err != nil {
			return nil, err
		}
	}
	st := &settings{val: map[string]string{}, src: map[string]string{}}
	for _, o := range all {
		st.order = append(st.order, o.flag)
		v, src := o.def, "default"
		if fv, ok := file[o.flag]; ok {
			v, src = fv.value, fmt.Sprintf("config file %s:%d", c.ConfigFile, fv.line)
		}
		if e := getenv(o.env); e != "" {
			v, src = e, "env "+o.env
		}
		if set[o.flag] {
			v, src = *vals[o.flag], "flag --"+o.flag
		}
		st.val[o.flag], st.src[o.flag] = v, src
	}
	c.settings = st
	if err := c.apply(st); err != nil {
		return nil, err
	}
	return c, nil
}

// apply validates the settings into c; every error names its key.
func (c *config) apply(st *settings) error {
	v := st.val
	c.DataDir, c.GRPCAddr, c.HTTPAddr, c.OpsAddr, c.LogFormat = v["data"], v["grpc-addr"], v["http-addr"], v["ops-addr"], v["log-format"]
	c.TLSCert, c.TLSKey, c.TLSClientCA = v["tls-cert"], v["tls-key"], v["tls-client-ca"]
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return st.errorf("tls-key", "needed with --tls-cert")
	case c.TLSKey != "" && c.TLSCert == "":
		return st.errorf("tls-cert", "needed with --tls-key")
	case c.TLSClientCA != "" && c.TLSCert == "":
		return st.errorf("tls-client-ca", "needs --tls-cert and --tls-key (mutual TLS is TLS)")
	}
	c.Tokens = splitList(v["tokens"])
	if f := v["token-file"]; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return st.errorf("token-file", "%v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				c.Tokens = append(c.Tokens, line)
			}
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(v["log-level"])); err != nil {
		return st.errorf("log-level", "%q is not debug, info, warn or error", v["log-level"])
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return st.errorf("log-format", "%q is not text or json", c.LogFormat)
	}
	d, err := time.ParseDuration(v["drain"])
	if err != nil || d < 0 {
		return st.errorf("drain", "%q is not a duration", v["drain"])
	}
	c.Drain = d
	if c.GNSSRetention, err = gnssdata.ParseRetention(v["gnss-retention"]); err != nil {
		return st.errorf("gnss-retention", "%v", err)
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"unsafe-no-sync", &c.NoSync}, {"access-log", &c.AccessLog}} {
		if *b.dst, err = parseBool(v[b.name]); err != nil {
			return st.errorf(b.name, "%q is not true or false", v[b.name])
		}
	}
	for _, n := range []struct {
		name string
		dst  *int
		min  int
	}{{"max-logs", &c.MaxLogs, 1}, {"max-files", &c.MaxFiles, 1}, {"max-stream-records", &c.MaxStreamRecords, 1},
		{"max-positions", &c.MaxPositions, 1}, {"max-pending-requests", &c.MaxPendingRequests, 1},
		{"rate-burst", &c.RateBurst, 0}, {"grpc-max-recv-bytes", &c.GRPCMaxRecvBytes, 1024},
		{"grpc-max-streams", &c.GRPCMaxStreams, 1}, {"http-max-concurrent", &c.HTTPMaxConcurrent, 1}} {
		i, err := strconv.Atoi(strings.TrimSpace(v[n.name]))
		if err != nil || i < n.min {
			if n.min == 0 {
				return st.errorf(n.name, "%q is not a number >= 0", v[n.name])
			}
			return st.errorf(n.name, "%q is not a number >= %d", v[n.name], n.min)
		}
		*n.dst = i
	}
	mb, err := strconv.ParseInt(strings.TrimSpace(v["http-max-body-bytes"]), 10, 64)
	if err != nil || mb < 1024 {
		return st.errorf("http-max-body-bytes", "%q is not a number >= 1024", v["http-max-body-bytes"])
	}
	c.HTTPMaxBodyBytes = mb
	if c.RateLimit, err = server.ParseRate(v["rate-limit"]); err != nil {
		return st.errorf("rate-limit", "%v", err)
	}
	if c.DataDir == "" {
		return st.errorf("data", "must not be empty")
	}
	if c.GRPCAddr == "" {
		return st.errorf("grpc-addr", "must not be empty")
	}
	for _, a := range c.listeners() {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return st.errorf(a.name, "%q is not host:port: %v", a.addr, err)
		}
	}
	if c.Everynet, err = everynetConfig(st); err != nil {
		return err
	}
	return nil
}

// fileValue is one value of the configuration file.
type fileValue struct {
	value string
	line  int
}

// readConfigFile reads a configuration file: lines "key = value" whose
// keys are the flag names; blank lines and lines starting with # are
// ignored; a value may be double-quoted (Go string syntax) to keep
// leading or trailing spaces or to contain escapes, and only a quoted value
// may be followed by a "# comment" (an unquoted value is the rest of the
// line, # included).
func readConfigFile(path string, opts []option) (map[string]fileValue, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	known := map[string]bool{}
	for _, o := range opts {
		known[o.flag] = true
	}
	out := map[string]fileValue{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s:%d: expected 'key = value'", path, n)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !known[key] {
			switch key {
			case "config", "print-config", "restore", "force":
				return nil, fmt.Errorf("config file %s:%d: %s: only allowed on the command line", path, n, key)
			}
			return nil, fmt.Errorf("config file %s:%d: unknown key %q (keys are the flag names, e.g. grpc-addr)", path, n, key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("config file %s:%d: %s: set twice (first on line %d)", path, n, key, out[key].line)
		}
		if strings.HasPrefix(val, `"`) {
			q, err := strconv.QuotedPrefix(val)
			if rest := strings.TrimSpace(val[len(q):]); err == nil && rest != "" && !strings.HasPrefix(rest, "#") {
				err = fmt.Errorf("unexpected %q after the closing quote", rest)
			}
			if err == nil {
				val, err = strconv.Unquote(q)
			}
			if err != nil {
				return nil, fmt.Errorf("config file %s:%d: %s: bad quoted value: %v", path, n, key, err)
			}
		}
		out[key] = fileValue{val, n}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return out, nil
}

// printConfig writes the effective configuration in the file format,
// secrets redacted, each value with its source.
func (c *config) printConfig(w io.Writer) error {
	st := c.settings
	var b strings.Builder
	b.WriteString("# mgsd effective configuration (precedence: flag, environment, config file, default)\n")
	width := 0
	lines := make([]string, len(st.order))
	for i, k := range st.order {
		lines[i] = k + " = " + strconv.Quote(redactValue(k, st.val[k]))
		width = max(width, len(lines[i]))
	}
	for i, k := range st.order {
		fmt.Fprintf(&b, "%-*s  # %s\n", width, lines[i], st.src[k])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// redactValue hides secrets: token lists show only their count, URLs
// lose passwords and access_token parameters.
func redactValue(key, v string) string {
	if secretOptions[key] {
		if n := len(splitList(v)); n > 0 {
			return fmt.Sprintf("REDACTED (%d)", n)
		}
		return ""
	}
	if key == "everynet-url" {
		var out []string
		for _, u := range splitList(v) {
			out = append(out, redactURL(u))
		}
		return strings.Join(out, ",")
	}
	return v
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "REDACTED (unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	q := u.Query()
	changed := false
	for k := range q {
		switch strings.ToLower(k) {
		case "access_token", "token", "key", "api_key", "apikey":
			q.Set(k, "REDACTED")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// boolString is a string option that is a boolean flag: "--flag" alone
// sets "true"; "--flag=false" is allowed too.
type boolString struct{ v *string }

func (b boolString) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}

func (b boolString) Set(s string) error { *b.v = s; return nil }

func (b boolString) IsBoolFlag() bool { return true }

type listener struct{ name, addr string }

// listeners are the configured listen addresses.
func (c *config) listeners() []listener {
	l := []listener{{"grpc-addr", c.GRPCAddr}}
	if c.HTTPAddr != "" {
		l = append(l, listener{"http-addr", c.HTTPAddr})
	}
	if c.OpsAddr != "" {
		l = append(l, listener{"ops-addr", c.OpsAddr})
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
