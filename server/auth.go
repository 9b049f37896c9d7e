package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/auth"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// MethodCaps is the capability each gRPC method needs. Methods that are
// neither listed nor exempt need admin.
var MethodCaps = map[string]auth.Capability{
	mgsv1.ModemService_SendUplink_FullMethodName:      auth.CapUplink,
	mgsv1.ModemService_SendUplinks_FullMethodName:     auth.CapUplink,
	mgsv1.ModemService_GetDeviceInfo_FullMethodName:   auth.CapRead,
	mgsv1.ModemService_ListDevices_FullMethodName:     auth.CapRead,
	mgsv1.ModemService_GetDefaultPorts_FullMethodName: auth.CapRead,
	mgsv1.ModemService_ListRequests_FullMethodName:    auth.CapRead,
	mgsv1.ModemService_WatchEvents_FullMethodName:     auth.CapRead,
	mgsv1.ModemService_AddRequests_FullMethodName:     auth.CapRequests,
	mgsv1.ModemService_ClearRequests_FullMethodName:   auth.CapRequests,
	mgsv1.ModemService_DeleteDevices_FullMethodName:   auth.CapDevices,
	mgsv1.ModemService_SetPorts_FullMethodName:        auth.CapDevices,
	mgsv1.ModemService_ClearLogs_FullMethodName:       auth.CapDevices,
	mgsv1.ModemService_SetAppSKey_FullMethodName:      auth.CapDevices,
	mgsv1.TokenService_AddToken_FullMethodName:        auth.CapAdmin,
	mgsv1.TokenService_ListTokens_FullMethodName:      auth.CapAdmin,
	mgsv1.TokenService_RemoveToken_FullMethodName:     auth.CapAdmin,
	mgsv1.OpsService_Backup_FullMethodName:            auth.CapAdmin,

	// GeolocationService: orbit data is service-wide, managed like the
	// default ports ("devices"), not with the token-minting "admin".
	mgsv1.GeolocationService_SolveGnss_FullMethodName:          auth.CapUplink,
	mgsv1.GeolocationService_GetOrbitStatus_FullMethodName:     auth.CapRead,
	mgsv1.GeolocationService_ImportOrbits_FullMethodName:       auth.CapDevices,
	mgsv1.GeolocationService_DeleteOrbitImports_FullMethodName: auth.CapDevices,

	// Wi-Fi: the access-point database is service-wide data too.
	mgsv1.GeolocationService_SolveWifi_FullMethodName:          auth.CapUplink,
	mgsv1.GeolocationService_GetAccessPoints_FullMethodName:    auth.CapRead,
	mgsv1.GeolocationService_ExportAccessPoints_FullMethodName: auth.CapRead,
	mgsv1.GeolocationService_ImportAccessPoints_FullMethodName: auth.CapDevices,
	mgsv1.GeolocationService_DeleteAccessPoints_FullMethodName: auth.CapDevices,

	// Downstream messages: queueing and deleting are like modem requests.
	mgsv1.DownstreamService_SendMessage_FullMethodName:      auth.CapRequests,
	mgsv1.DownstreamService_BroadcastMessage_FullMethodName: auth.CapRequests,
	mgsv1.DownstreamService_DeleteMessage_FullMethodName:    auth.CapRequests,
	mgsv1.DownstreamService_ListMessages_FullMethodName:     auth.CapRead,
	// Fleet: provisioning and collections are device management.
	mgsv1.FleetService_ProvisionEndpoint_FullMethodName:     auth.CapDevices,
	mgsv1.FleetService_UpdateEndpoint_FullMethodName:        auth.CapDevices,
	mgsv1.FleetService_DeleteEndpoint_FullMethodName:        auth.CapDevices,
	mgsv1.FleetService_CreateCollection_FullMethodName:      auth.CapDevices,
	mgsv1.FleetService_DeleteCollection_FullMethodName:      auth.CapDevices,
	mgsv1.FleetService_PlaceDevice_FullMethodName:           auth.CapDevices,
	mgsv1.FleetService_ListEndpoints_FullMethodName:         auth.CapRead,
	mgsv1.FleetService_ListCollections_FullMethodName:       auth.CapRead,
	mgsv1.FleetService_ListCollectionDevices_FullMethodName: auth.CapRead,
	mgsv1.FleetService_ListRegistrations_FullMethodName:     auth.CapRead,
}

// tokenFrom reads the token from "authorization" metadata: the raw token
// (as LoRa Cloud clients send it) or "Bearer <token>".
func tokenFrom(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("authorization")
	if len(v) == 0 {
		return ""
	}
	tok := strings.TrimSpace(v[0])
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	return tok
}

// exempt methods need no token (health checks and reflection).
func exempt(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// authorize checks the call's token and capability and returns the context
// carrying the principal.
func authorize(ctx context.Context, a *auth.Authenticator, method string) (context.Context, error) {
	if exempt(method) {
		return ctx, nil
	}
	p, err := a.Check(tokenFrom(ctx))
	if err != nil {
		return nil, AuthStatus(err)
	}
	need, ok := MethodCaps[method]
	if !ok {
		need = auth.CapAdmin
	}
	setCallPrincipal(ctx, p)
	if err := p.Require(need); err != nil {
		return nil, AuthStatus(err)
	}
	return auth.NewContext(ctx, p), nil
}

// AuthStatus maps the errors of package auth to gRPC statuses.
func AuthStatus(err error) error {
	var ie *auth.InputError
	switch {
	case errors.Is(err, auth.ErrMissing):
		return status.Error(codes.Unauthenticated, "missing API token in the authorization metadata")
	case errors.Is(err, auth.ErrInvalid):
		return status.Error(codes.Unauthenticated, "invalid API token")
	case errors.Is(err, auth.ErrForbidden):
		return status.Error(codes.PermissionDenied, strings.TrimPrefix(err.Error(), "auth: "))
	case errors.As(err, &ie):
		return status.Error(codes.InvalidArgument, ie.Error())
	case errors.Is(err, auth.ErrNotFound):
		return status.Error(codes.NotFound, strings.TrimPrefix(err.Error(), "auth: "))
	case errors.Is(err, auth.ErrStatic), errors.Is(err, auth.ErrLastAdmin):
		return status.Error(codes.FailedPrecondition, strings.TrimPrefix(err.Error(), "auth: "))
	}
	return Status(err)
}

// unaryAuth checks the token of every unary call.
func unaryAuth(a *auth.Authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := authorize(ctx, a, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// streamAuth checks the token of every streaming call.
func streamAuth(a *auth.Authenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := authorize(ss.Context(), a, info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, &authStream{ServerStream: ss, ctx: ctx})
	}
}

type authStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authStream) Context() context.Context { return s.ctx }

// TokenServer implements mgs.v1.TokenService over an Authenticator; the
// HTTP API's token/* endpoints call the same Authenticator methods.
type TokenServer struct {
	mgsv1.UnimplementedTokenServiceServer
	a *auth.Authenticator
}

// NewTokenServer returns the token service.
func NewTokenServer(a *auth.Authenticator) *TokenServer { return &TokenServer{a: a} }

// TokenInfoToPB converts a token description.
func TokenInfoToPB(i auth.Info) *mgsv1.TokenInfo {
	return &mgsv1.TokenInfo{Id: i.ID, Name: i.Name, Capabilities: i.Capabilities, Token: i.Token, Created: i.Created, Static: i.Static}
}

func (s *TokenServer) AddToken(ctx context.Context, req *mgsv1.AddTokenRequest) (*mgsv1.AddTokenResponse, error) {
	i, err := s.a.Add(ctx, req.Name, req.Capabilities)
	if err != nil {
		return nil, AuthStatus(err)
	}
	return &mgsv1.AddTokenResponse{Token: TokenInfoToPB(i)}, nil
}

func (s *TokenServer) ListTokens(context.Context, *mgsv1.ListTokensRequest) (*mgsv1.ListTokensResponse, error) {
	resp := &mgsv1.ListTokensResponse{}
	for _, i := range s.a.List() {
		resp.Tokens = append(resp.Tokens, TokenInfoToPB(i))
	}
	return resp, nil
}

func (s *TokenServer) RemoveToken(ctx context.Context, req *mgsv1.RemoveTokenRequest) (*mgsv1.RemoveTokenResponse, error) {
	i, err := s.a.Remove(ctx, req.Token)
	if err != nil {
		return nil, AuthStatus(err)
	}
	return &mgsv1.RemoveTokenResponse{Token: TokenInfoToPB(i)}, nil
}
