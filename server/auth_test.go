package server_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/openmgs/openmgs/auth"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

func TestEveryMethodHasACapability(t *testing.T) {
	for _, sd := range []grpc.ServiceDesc{mgsv1.ModemService_ServiceDesc, mgsv1.TokenService_ServiceDesc, mgsv1.OpsService_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range sd.Streams {
			names = append(names, s.StreamName)
		}
		for _, n := range names {
			if _, ok := server.MethodCaps["/"+sd.ServiceName+"/"+n]; !ok {
				t.Errorf("%s/%s has no entry in MethodCaps (it would need admin)", sd.ServiceName, n)
			}
		}
	}
}

// newGRPC serves the pipeline over bufconn with the given authenticator
// options and returns the two clients.
func newGRPC(t *testing.T, o auth.Options) (mgsv1.ModemServiceClient, mgsv1.TokenServiceClient, *grpc.ClientConn, *auth.Authenticator) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{Auth: a})
	lis := bufconn.Listen(1 << 20)
	go g.Server.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Server.Stop()
		db.Close()
	})
	return mgsv1.NewModemServiceClient(conn), mgsv1.NewTokenServiceClient(conn), conn, a
}

func with(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", tok)
}

func TestGRPCCapabilities(t *testing.T) {
	modem, tokens, conn, a := newGRPC(t, auth.Options{Static: []string{"root"}})
	ro, err := a.Add(context.Background(), "ro", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	fcnt := uint32(1)
	up := &mgsv1.SendUplinkRequest{Deveui: "0102030405060708", Uplink: &mgsv1.UplinkMsg{Fcnt: &fcnt}}
	info := &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"0102030405060708"}}

	if _, err := modem.SendUplink(context.Background(), up); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	if _, err := modem.SendUplink(with("nope"), up); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := modem.SendUplink(with(ro.Token), up); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("read token sends: %v", err)
	}
	if _, err := modem.AddRequests(with(ro.Token), &mgsv1.AddRequestsRequest{Deveuis: []string{"0102030405060708"},
		Requests: []*mgsv1.Request{{Type: "REJOIN"}}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("read token queues: %v", err)
	}
	if _, err := modem.SendUplink(with("Bearer root"), up); err != nil {
		t.Fatalf("static token: %v", err)
	}
	if _, err := modem.GetDeviceInfo(with(ro.Token), info); err != nil {
		t.Fatalf("read token reads: %v", err)
	}
	// WatchEvents (a stream) is checked too.
	st, err := modem.WatchEvents(context.Background(), &mgsv1.WatchEventsRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("watch without token: %v", err)
	}
	// Health needs no token.
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health: %v", err)
	}
	// TokenService: admin only; the same store as the HTTP API.
	if _, err := tokens.ListTokens(with(ro.Token), &mgsv1.ListTokensRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("list with read token: %v", err)
	}
	added, err := tokens.AddToken(with("root"), &mgsv1.AddTokenRequest{Name: "lns", Capabilities: []string{"uplink"}})
	if err != nil || added.Token.Token == "" || added.Token.Id == "" {
		t.Fatalf("AddToken: %v %v", added, err)
	}
	if _, err := modem.SendUplink(with(added.Token.Token), &mgsv1.SendUplinkRequest{Deveui: up.Deveui,
		Uplink: &mgsv1.UplinkMsg{Fcnt: proto32(2)}}); err != nil {
		t.Fatalf("new uplink token: %v", err)
	}
	if _, err := tokens.AddToken(with("root"), &mgsv1.AddTokenRequest{Name: "x", Capabilities: []string{"root"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad capability: %v", err)
	}
	l, err := tokens.ListTokens(with("root"), &mgsv1.ListTokensRequest{})
	if err != nil || len(l.Tokens) != 3 {
		t.Fatalf("ListTokens: %v %v", l, err)
	}
	for _, tk := range l.Tokens {
		if tk.Token != "" {
			t.Errorf("ListTokens shows a secret: %v", tk)
		}
	}
	if _, err := tokens.RemoveToken(with("root"), &mgsv1.RemoveTokenRequest{Token: added.Token.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := modem.GetDeviceInfo(with(added.Token.Token), info); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("removed token: %v", err)
	}
	if _, err := tokens.RemoveToken(with("root"), &mgsv1.RemoveTokenRequest{Token: "static-1"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("remove static: %v", err)
	}
	if _, err := tokens.RemoveToken(with("root"), &mgsv1.RemoveTokenRequest{Token: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("remove unknown: %v", err)
	}
}

func proto32(v uint32) *uint32 { return &v }

func TestGRPCOpenMode(t *testing.T) {
	modem, tokens, _, _ := newGRPC(t, auth.Options{AllowOpen: true})
	info := &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"0102030405060708"}}
	if _, err := modem.GetDeviceInfo(context.Background(), info); err != nil {
		t.Fatalf("open mode: %v", err)
	}
	if _, err := tokens.AddToken(context.Background(), &mgsv1.AddTokenRequest{Name: "ops", Capabilities: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := modem.GetDeviceInfo(context.Background(), info); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("after the first token: %v", err)
	}
}
