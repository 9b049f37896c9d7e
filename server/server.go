// Package server exposes OpenMGS over gRPC: the ModemService, gRPC health
// and reflection. It converts between the API (mgs.v1) and the pipeline's
// types and is the only place that assigns gRPC status codes.
package server

import (
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/openmgs/openmgs/auth"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/uplink"
)

// Options configure the gRPC server.
type Options struct {
	// Auth, when non-nil, checks the token and capability of every call
	// but health and reflection (see MethodCaps) and serves TokenService.
	// Nil accepts every call (tests, embedded use).
	Auth   *auth.Authenticator
	Logger *slog.Logger
	// MaxRecvMsgSize bounds a request (default 4 MiB).
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds concurrent calls per connection
	// (default 256).
	MaxConcurrentStreams uint32
	// Extra gRPC server options (interceptors, metrics).
	ServerOptions []grpc.ServerOption
}

// GRPC is the assembled server.
type GRPC struct {
	Server *grpc.Server
	Health *health.Server
	Modem  *Modem
}

// NewGRPC builds the gRPC server for the pipeline.
func NewGRPC(p *uplink.Pipeline, o Options) *GRPC {
	if o.MaxRecvMsgSize == 0 {
		o.MaxRecvMsgSize = 4 << 20
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 256
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(o.MaxConcurrentStreams),
	}
	if o.Auth != nil {
		opts = append(opts, grpc.ChainUnaryInterceptor(unaryAuth(o.Auth)), grpc.ChainStreamInterceptor(streamAuth(o.Auth)))
	}
	opts = append(opts, o.ServerOptions...)
	s := grpc.NewServer(opts...)
	g := &GRPC{Server: s, Health: health.NewServer(), Modem: NewModem(p, o.Logger)}
	mgsv1.RegisterModemServiceServer(s, g.Modem)
	if o.Auth != nil {
		mgsv1.RegisterTokenServiceServer(s, NewTokenServer(o.Auth))
	}
	healthpb.RegisterHealthServer(s, g.Health)
	reflection.Register(s)
	g.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.Health.SetServingStatus(mgsv1.ModemService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return g
}
