package server

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
)

// RequestIDHeader is the HTTP header, and (lowercase) the gRPC metadata
// key, that carries a request id. A valid id sent by the client is used
// (so that a network server's own id follows the request); otherwise one
// is generated. The id is returned in the response header either way.
const RequestIDHeader = "X-Request-Id"

// requestIDKey is the gRPC metadata key.
const requestIDKey = "x-request-id"

type requestIDCtx struct{}

// NewRequestID returns a fresh request id: 16 hex digits.
func NewRequestID() string {
	var b [16]byte
	s := strconv.AppendUint(b[:0], rand.Uint64()|1<<63, 16)
	return string(s[:16])
}

// ValidRequestID reports whether a client-supplied id is usable: 1 to 64
// characters of [A-Za-z0-9._:-], so that it cannot inject anything into a
// log line.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDCtx{}, id)
}

// RequestID returns the request id of ctx ("" when none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtx{}).(string)
	return id
}

// LogHandler wraps h so that every record logged with a context carrying
// a request id gets a "request_id" attribute. The pipeline logs with the
// call's context, so its per-uplink lines carry the id of the API call.
func LogHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := RequestID(ctx); id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(attrs)}
}

func (h ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{h.Handler.WithGroup(name)} }
