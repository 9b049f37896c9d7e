package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server"
)

// DefaultMaxBodyBytes bounds a request body unless Options say otherwise.
const DefaultMaxBodyBytes = 1 << 20

// Options configure the API.
type Options struct {
	// Modem runs every modem operation (required).
	Modem *server.Modem
	// Auth checks tokens and serves token/*. Nil accepts every request and
	// answers token/* with 501.
	Auth *auth.Authenticator
	// Logger receives errors that are answered with 500 and, with
	// AccessLog, one line per request; nil discards.
	Logger *slog.Logger
	// AccessLog writes one line per request: method, route (the path
	// pattern, so that a token in the path is never logged), status,
	// bytes, duration, remote address, token id and name, request id.
	AccessLog bool
	// Observe, when set, is called after every request with the route
	// pattern (for metrics).
	Observe func(route string, status int, d time.Duration)
	// RateLimit, when non-nil, limits the requests of each token (shared
	// with the gRPC API); a refused request gets 429 with Retry-After.
	RateLimit *server.RateLimiter
	// MaxConcurrent bounds the requests being served at once, over all
	// connections (0: unlimited); one more gets 429. (An HTTP/1.1
	// connection carries one request at a time.)
	MaxConcurrent int
	// Metrics, when set, is served at GET /metrics to tokens with the
	// read capability.
	Metrics http.Handler
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Geolocation serves the GNSS and loraWifi solve endpoints (gnss.go,
	// wifi.go); nil, or without the solver in question: 501.
	Geolocation *server.Geolocation
}

// API is the http.Handler of the LoRa Cloud-compatible API.
type API struct {
	modem   *server.Modem
	auth    *auth.Authenticator
	log     *slog.Logger
	maxBody int64
	opts    Options
	sem     chan struct{}       // MaxConcurrent slots
	metrics http.Handler        // Metrics behind Protect
	static  map[string][]*route // exact paths
	pattern []*route            // paths with {parameters}
}

// New returns the API handler.
func New(o Options) (*API, error) {
	if o.Modem == nil {
		return nil, errors.New("httpapi: Options.Modem is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &API{modem: o.Modem, auth: o.Auth, log: o.Logger, maxBody: o.MaxBodyBytes, opts: o, static: map[string][]*route{}}
	if o.MaxConcurrent > 0 {
		a.sem = make(chan struct{}, o.MaxConcurrent)
	}
	if o.Metrics != nil {
		a.metrics = a.protect(metricsRoute, auth.CapRead, o.Metrics)
	}
	for _, r := range routes() {
		if strings.Contains(r.path, "{") {
			r.segs = strings.Split(r.path, "/")
			a.pattern = append(a.pattern, r)
		} else {
			a.static[r.path] = append(a.static[r.path], r)
		}
	}
	return a, nil
}

// request is what a handler gets.
type request struct {
	*http.Request
	body   []byte
	params map[string]string
}

// reply is what a handler returns on success.
type reply struct {
	status   int // 0 means 200
	result   any
	warnings []string
	infos    []string
	// raw, when set, is written as is (the OpenAPI document).
	raw []byte
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// envelope is LoRa Cloud's base response format: {"result", "errors",
// "warnings", "infos"}, plus "error" for device/send failures.
type envelope struct {
	Result   any
	Error    *string
	Errors   []string
	Warnings []string
	Infos    []string
}

// metricsRoute is the path of the Prometheus metrics.
const metricsRoute = "/metrics"

// ServeHTTP serves the API (and /metrics when Options.Metrics is set).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == metricsRoute && a.metrics != nil {
		a.metrics.ServeHTTP(w, r)
		return
	}
	a.instrument(w, r, a.serveAPI)
}

// Protect serves h behind the API's common handling: request id, access
// log, concurrency limit, token check for capability need, and rate
// limit. name labels the handler in logs and metrics. mgsd uses it for
// /metrics on the ops listener.
func (a *API) Protect(name string, need auth.Capability, h http.Handler) http.Handler {
	return a.protect(name, need, h)
}

func (a *API) protect(name string, need auth.Capability, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.instrument(w, r, func(w http.ResponseWriter, r *http.Request) (string, *auth.Principal) {
			p, err := a.admit(r, need)
			if err != nil {
				a.fail(w, r, err)
				return name, p
			}
			h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), *p)))
			return name, p
		})
	})
}

// instrument runs serve with a request id (the client's valid
// X-Request-Id or a new one, echoed in the response), within the
// concurrency limit, and reports the request to Observe and the access
// log. serve returns the route pattern and the principal, if known.
func (a *API) instrument(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request) (string, *auth.Principal)) {
	start := time.Now()
	id := r.Header.Get(server.RequestIDHeader)
	if !server.ValidRequestID(id) {
		id = server.NewRequestID()
	}
	w.Header().Set(server.RequestIDHeader, id)
	r = r.WithContext(server.WithRequestID(r.Context(), id))
	rec := &recorder{ResponseWriter: w}
	var route string
	var p *auth.Principal
	if a.sem != nil {
		select {
		case a.sem <- struct{}{}:
			defer func() { <-a.sem }()
		default:
			route = "limited"
			a.fail(rec, r, &apiError{http.StatusTooManyRequests,
				fmt.Sprintf("too many concurrent requests (the server serves at most %d at once); retry later", cap(a.sem))})
		}
	}
	if route == "" {
		route, p = serve(rec, r)
	}
	d := time.Since(start)
	code := rec.status
	if code == 0 {
		code = http.StatusOK
	}
	if a.opts.Observe != nil {
		a.opts.Observe(route, code, d)
	}
	if !a.opts.AccessLog {
		return
	}
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelWarn
	}
	ctx := r.Context()
	if !a.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String("method", r.Method), slog.String("route", route), slog.Int("status", code),
		slog.Int64("bytes", rec.bytes), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr))
	if p != nil {
		attrs = append(attrs, slog.String("token_id", p.ID), slog.String("token_name", p.Name))
	}
	a.log.LogAttrs(ctx, level, "http request", attrs...)
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// admit checks the token for capability need, then the token's rate limit.
func (a *API) admit(r *http.Request, need auth.Capability) (*auth.Principal, error) {
	p, err := a.authorize(r, need)
	if err != nil {
		if p.ID == "" && p.Name == "" {
			return nil, err
		}
		return &p, err
	}
	key, name := p.ID, p.Name
	if p.Anonymous || key == "" {
		key, name = "anonymous", "anonymous"
	}
	if err := a.opts.RateLimit.Check(key, name); err != nil {
		return &p, err
	}
	return &p, nil
}

// serveAPI serves one API request and returns its route pattern.
func (a *API) serveAPI(w http.ResponseWriter, r *http.Request) (string, *auth.Principal) {
	rt, params, allowed := a.match(r.Method, r.URL.Path)
	if rt == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			a.fail(w, r, &apiError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)",
				r.Method, r.URL.Path, strings.Join(allowed, ", "))})
			return "unmatched", nil
		}
		a.fail(w, r, &apiError{http.StatusNotFound, fmt.Sprintf("no endpoint %s %s (see /api/openapi.json)", r.Method, r.URL.Path)})
		return "unmatched", nil
	}
	fail := func(err error) {
		if rt.deviceError {
			err = &deviceSendError{err}
		}
		a.fail(w, r, err)
	}
	req := &request{Request: r, params: params}
	var principal *auth.Principal
	if rt.cap != 0 {
		p, err := a.admit(r, rt.cap)
		principal = p
		if err != nil {
			fail(err)
			return rt.path, principal
		}
		req.Request = r.WithContext(auth.NewContext(r.Context(), *p))
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fail(&apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: more than %d bytes", mbe.Limit)})
				return rt.path, principal
			}
			fail(badRequest("body: %v", err))
			return rt.path, principal
		}
		req.body = body
	}
	rep, err := rt.handle(a, req)
	if err != nil {
		fail(err)
		return rt.path, principal
	}
	if rep.raw != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(rep.raw)))
		w.Write(rep.raw)
		return rt.path, principal
	}
	a.write(w, rep.status, envelope{Result: rep.result, Errors: []string{}, Warnings: orEmpty(rep.warnings), Infos: orEmpty(rep.infos)})
	return rt.path, principal
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// match finds the route of a request. Exact paths take precedence over
// patterns ("token/list" is not the token "list"). allowed lists the
// methods of the path when the method does not match.
func (a *API) match(method, path string) (*route, map[string]string, []string) {
	var allowed []string
	pick := func(cands []*route, params map[string]string) (*route, map[string]string) {
		for _, r := range cands {
			if r.method == method {
				return r, params
			}
			if !slices.Contains(allowed, r.method) {
				allowed = append(allowed, r.method)
			}
		}
		return nil, nil
	}
	if cands, ok := a.static[path]; ok {
		r, p := pick(cands, nil)
		return r, p, allowed
	}
	segs := strings.Split(path, "/")
	for _, r := range a.pattern {
		params, ok := matchSegs(r.segs, segs)
		if !ok {
			continue
		}
		if rt, p := pick([]*route{r}, params); rt != nil {
			return rt, p, nil
		}
	}
	return nil, nil, allowed
}

func matchSegs(pat, segs []string) (map[string]string, bool) {
	if len(pat) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range pat {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// tokenOf reads the token as clients send it: raw in Authorization (TTN,
// ChirpStack v3, Node-RED), in Ocp-Apim-Subscription-Key (ChirpStack v4),
// or in X-API-Token (Telenor Horde/Span clients of the downstream API).
func tokenOf(r *http.Request) string {
	if t := strings.TrimSpace(r.Header.Get("Authorization")); t != "" {
		if len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
			t = strings.TrimSpace(t[7:])
		}
		return t
	}
	if t := strings.TrimSpace(r.Header.Get("Ocp-Apim-Subscription-Key")); t != "" {
		return t
	}
	return strings.TrimSpace(r.Header.Get("X-API-Token"))
}

func (a *API) authorize(r *http.Request, need auth.Capability) (auth.Principal, error) {
	if a.auth == nil {
		return auth.Principal{Name: "anonymous", Caps: auth.AllCaps, Anonymous: true}, nil
	}
	p, err := a.auth.Check(tokenOf(r))
	if err != nil {
		return p, err
	}
	return p, p.Require(need)
}

// statusOf maps an error to the HTTP status and the message of "errors".
func (a *API) statusOf(ctx context.Context, err error) (int, string) {
	var ae *apiError
	var ie *auth.InputError
	var rl *server.RateLimitError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.msg
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, rl.Error()
	case errors.Is(err, auth.ErrMissing):
		return http.StatusUnauthorized, "missing API token: send it in the Authorization, Ocp-Apim-Subscription-Key or X-API-Token header"
	case errors.Is(err, auth.ErrInvalid):
		return http.StatusUnauthorized, "invalid API token"
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, strings.TrimPrefix(err.Error(), "auth: ")
	case errors.As(err, &ie):
		return http.StatusBadRequest, ie.Error()
	case errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound, strings.TrimPrefix(err.Error(), "auth: ")
	case errors.Is(err, auth.ErrStatic), errors.Is(err, auth.ErrLastAdmin):
		return http.StatusConflict, strings.TrimPrefix(err.Error(), "auth: ")
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "request canceled"
	}
	st, ok := status.FromError(err)
	if !ok {
		a.log.ErrorContext(ctx, "http api request failed", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest, st.Message()
	case codes.ResourceExhausted:
		// Per-device bounds (pending requests), not rate limits: 429 is
		// for those (RateLimitError above) and the concurrency limit.
		return http.StatusBadRequest, st.Message()
	case codes.NotFound:
		return http.StatusNotFound, st.Message()
	case codes.Aborted, codes.AlreadyExists, codes.FailedPrecondition:
		return http.StatusConflict, st.Message()
	case codes.Unauthenticated:
		return http.StatusUnauthorized, st.Message()
	case codes.PermissionDenied:
		return http.StatusForbidden, st.Message()
	case codes.Unimplemented:
		return http.StatusNotImplemented, st.Message()
	case codes.Canceled, codes.Unavailable:
		return http.StatusServiceUnavailable, st.Message()
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout, st.Message()
	}
	return http.StatusInternalServerError, "internal error"
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := a.statusOf(r.Context(), err)
	var rl *server.RateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", rl.RetryAfterSeconds())
	}
	env := envelope{Errors: []string{msg}, Warnings: []string{}, Infos: []string{}}
	var dse *deviceSendError
	if errors.As(err, &dse) {
		env.Error = &msg
	}
	a.write(w, code, env)
}

// deviceSendError marks a failure of device/send, whose clients read a
// top-level "error" string (ChirpStack v4, Node-RED).
type deviceSendError struct{ err error }

func (e *deviceSendError) Error() string { return e.err.Error() }
func (e *deviceSendError) Unwrap() error { return e.err }

func (a *API) write(w http.ResponseWriter, code int, env envelope) {
	if code == 0 {
		code = http.StatusOK
	}
	var buf bytes.Buffer
	if err := env.appendTo(&buf); err != nil {
		a.log.Error("http api: render response", "err", err)
		buf.Reset()
		code = http.StatusInternalServerError
		buf.WriteString(`{"result":null,"errors":["internal error: the response could not be rendered"],"warnings":[],"infos":[]}`)
	}
	buf.WriteByte('\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// appendTo renders the envelope; the result, often a large per-EUI map,
// is written straight into the buffer.
func (e *envelope) appendTo(b *bytes.Buffer) error {
	b.WriteString(`{"result":`)
	if e.Result == nil {
		b.WriteString("null")
	} else if err := appendJSON(b, e.Result); err != nil {
		return err
	}
	if e.Error != nil {
		b.WriteString(`,"error":`)
		if err := appendJSON(b, *e.Error); err != nil {
			return err
		}
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"errors", e.Errors}, {"warnings", e.Warnings}, {"infos", e.Infos}} {
		b.WriteString(`,"` + l.name + `":`)
		if err := appendJSON(b, orEmpty(l.list)); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}
