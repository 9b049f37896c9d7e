// Package server exposes OpenMGS over gRPC: the ModemService, TokenService,
// OpsService (backups), GeolocationService (GNSS and Wi-Fi), and the
// DownstreamService and FleetService, with gRPC health and reflection. It
// converts between the API (mgs.v1) and the pipeline's types and is the
// only place that assigns gRPC status codes.
package server

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
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
	// AccessLog writes one line per call to Logger (method, code,
	// duration, peer, token id and name, request id; never the token).
	AccessLog bool
	// Observe, when set, is called after every call (for metrics).
	Observe func(method string, code codes.Code, d time.Duration)
	// RateLimit, when non-nil, limits the calls of each token (checked
	// after authentication; health and reflection are exempt).
	RateLimit *RateLimiter
	// MaxRecvMsgSize bounds a request (default 4 MiB).
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds concurrent calls per connection
	// (default 256).
	MaxConcurrentStreams uint32
	// Backup, when set, serves OpsService (backups) from it, writing each
	// snapshot to a temporary file in BackupDir first (default: the
	// system's temporary directory).
	Backup    Backupper
	BackupDir string
	// OnBackup, when set, is told the outcome of each backup (for metrics).
	OnBackup func(bytes int64, err error)
	// Extra gRPC server options (interceptors, metrics).
	ServerOptions []grpc.ServerOption
	// GNSS, when set, serves GeolocationService (geolocation.go) from it.
	GNSS *gnssdata.Service
	// Fleet and Outbox, when both set, serve DownstreamService and
	// FleetService (downstream.go); Registrations, when set, lists the
	// live LwM2M registrations for FleetService.ListRegistrations.
	Fleet         *fleet.Fleet
	Outbox        *outbox.Outbox
	Registrations func() []lwm2m.Registration
}

// GRPC is the assembled server.
type GRPC struct {
	Server *grpc.Server
	Health *health.Server
	Modem  *Modem
	// Geolocation is nil unless Options.GNSS is set.
	Geolocation *Geolocation
	// Downstream and Fleet are nil unless Options.Fleet and Outbox are set.
	Downstream *Downstream
	Fleet      *FleetServer
}

// NewGRPC builds the gRPC server for the pipeline.
func NewGRPC(p *uplink.Pipeline, o Options) *GRPC {
	if o.MaxRecvMsgSize == 0 {
		o.MaxRecvMsgSize = 4 << 20
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(o.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(o.MaxConcurrentStreams),
	}
	// Interceptors, outermost first: request id, metrics and access log;
	// authentication; rate limit (per token, so after authentication).
	obs := &observer{log: o.Logger, accessLog: o.AccessLog, observe: o.Observe}
	unary := []grpc.UnaryServerInterceptor{obs.unary()}
	stream := []grpc.StreamServerInterceptor{obs.stream()}
	if o.Auth != nil {
		unary, stream = append(unary, unaryAuth(o.Auth)), append(stream, streamAuth(o.Auth))
	}
	if o.RateLimit != nil {
		unary, stream = append(unary, unaryRateLimit(o.RateLimit)), append(stream, streamRateLimit(o.RateLimit))
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))
	opts = append(opts, o.ServerOptions...)
	s := grpc.NewServer(opts...)
	g := &GRPC{Server: s, Health: health.NewServer(), Modem: NewModem(p, o.Logger)}
	mgsv1.RegisterModemServiceServer(s, g.Modem)
	if o.Auth != nil {
		mgsv1.RegisterTokenServiceServer(s, NewTokenServer(o.Auth))
	}
	if o.Backup != nil {
		mgsv1.RegisterOpsServiceServer(s, &OpsServer{db: o.Backup, dir: o.BackupDir, log: o.Logger, onBackup: o.OnBackup})
	}
	if o.GNSS != nil {
		g.Geolocation = NewGeolocation(o.GNSS, o.Logger)
		mgsv1.RegisterGeolocationServiceServer(s, g.Geolocation)
	}
	if o.Fleet != nil && o.Outbox != nil {
		g.Downstream = NewDownstream(o.Fleet, o.Outbox, o.Logger)
		g.Fleet = NewFleetServer(o.Fleet, o.Registrations, o.Logger)
		mgsv1.RegisterDownstreamServiceServer(s, g.Downstream)
		mgsv1.RegisterFleetServiceServer(s, g.Fleet)
	}
	healthpb.RegisterHealthServer(s, g.Health)
	reflection.Register(s)
	g.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.Health.SetServingStatus(mgsv1.ModemService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return g
}
