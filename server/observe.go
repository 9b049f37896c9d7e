package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/auth"
)

// callInfo is what the inner interceptors learn about a call (the
// principal), for the access log written by the outer one.
type callInfo struct {
	principal *auth.Principal
}

type callInfoKey struct{}

func setCallPrincipal(ctx context.Context, p auth.Principal) {
	if ci, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		ci.principal = &p
	}
}

// incomingRequestID returns the client's valid x-request-id or a new one.
func incomingRequestID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(requestIDKey); len(v) > 0 && ValidRequestID(v[0]) {
		return v[0]
	}
	return NewRequestID()
}

// observer is the outermost interceptor: it gives every call a request id
// (in the context and the response header), measures it, reports it to
// Options.Observe and writes the access log line.
type observer struct {
	log       *slog.Logger
	accessLog bool
	observe   func(method string, code codes.Code, d time.Duration)
}

func (o *observer) begin(ctx context.Context) (context.Context, *callInfo, string) {
	id := incomingRequestID(ctx)
	ci := &callInfo{}
	ctx = context.WithValue(WithRequestID(ctx, id), callInfoKey{}, ci)
	return ctx, ci, id
}

func (o *observer) end(ctx context.Context, ci *callInfo, method string, start time.Time, err error) {
	d := time.Since(start)
	code := status.Code(err)
	if o.observe != nil {
		o.observe(method, code, d)
	}
	if !o.accessLog {
		return
	}
	level := slog.LevelInfo
	switch {
	case exempt(method):
		level = slog.LevelDebug // health checks and reflection poll often
	case code == codes.Internal || code == codes.Unknown || code == codes.DataLoss:
		level = slog.LevelWarn
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("method", method), slog.String("code", code.String()), slog.Duration("duration", d))
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	if ci.principal != nil {
		attrs = append(attrs, slog.String("token_id", ci.principal.ID), slog.String("token_name", ci.principal.Name))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	o.log.LogAttrs(ctx, level, "grpc call", attrs...)
}

func (o *observer) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		ctx, ci, id := o.begin(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(requestIDKey, id))
		resp, err := h(ctx, req)
		o.end(ctx, ci, info.FullMethod, start, err)
		return resp, err
	}
}

func (o *observer) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		ctx, ci, id := o.begin(ss.Context())
		_ = ss.SetHeader(metadata.Pairs(requestIDKey, id))
		err := h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		o.end(ctx, ci, info.FullMethod, start, err)
		return err
	}
}

// ctxStream replaces a server stream's context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// limitKey is the rate-limit bucket and display name of a principal.
func limitKey(ctx context.Context) (id, name string) {
	p, ok := auth.FromContext(ctx)
	if !ok || p.Anonymous || p.ID == "" {
		return "anonymous", "anonymous"
	}
	return p.ID, p.Name
}

// rateLimitStatus is the gRPC status of a refused call.
func rateLimitStatus(err error) error {
	return status.Error(codes.ResourceExhausted, strings.TrimSpace(err.Error()))
}

func unaryRateLimit(l *RateLimiter) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !exempt(info.FullMethod) {
			if err := l.Check(limitKey(ctx)); err != nil {
				return nil, rateLimitStatus(err)
			}
		}
		return h(ctx, req)
	}
}

func streamRateLimit(l *RateLimiter) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !exempt(info.FullMethod) {
			if err := l.Check(limitKey(ss.Context())); err != nil {
				return rateLimitStatus(err)
			}
		}
		return h(srv, ss)
	}
}
