package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := server.NewRateLimiter(2, 3) // 2/s, burst 3
	l.SetClock(func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("call %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th call: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refilled unit refused")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("more than the rate")
	}
	now = now.Add(time.Hour) // refill caps at the burst
	for i := range 4 {
		if ok, _ := l.Allow("a"); ok != (i < 3) {
			t.Fatalf("after an hour, call %d: %v", i, ok)
		}
	}
	err := l.Check("a", "ttn")
	var rl *server.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, server.ErrRateLimited) || rl.RetryAfterSeconds() != "1" ||
		!strings.Contains(err.Error(), `rate limit exceeded for token "ttn" (2 calls/s, burst 3); retry in 500ms`) {
		t.Fatalf("Check: %v", err)
	}
	var nilLimiter *server.RateLimiter
	if ok, _ := nilLimiter.Allow("x"); !ok || nilLimiter.Check("x", "x") != nil || server.NewRateLimiter(0, 5) != nil {
		t.Fatal("a nil limiter limits")
	}
	// Many keys: idle full buckets are pruned, the map stays bounded.
	for i := range 10000 {
		now = now.Add(time.Second)
		l.Allow(string(rune(i)))
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "0": 0, "10": 10, "10/s": 10, "90/m": 1.5, "3600/h": 1, " 5 / s ": 5, "0.5/s": 0.5} {
		got, err := server.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "-1/s", "10/d", "NaN", "1/s/s"} {
		if _, err := server.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve runs the gRPC server with o over bufconn.
func serve(t *testing.T, o server.Options, static ...string) (*grpc.ClientConn, *boltstore.DB) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(static) > 0 {
		if o.Auth, err = auth.New(context.Background(), db, auth.Options{Static: static}); err != nil {
			t.Fatal(err)
		}
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{Logger: o.Logger}), o)
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
	return conn, db
}

func TestGRPCRateLimit(t *testing.T) {
	conn, _ := serve(t, server.Options{RateLimit: server.NewRateLimiter(0.001, 2)}, "tok-a", "tok-b")
	modem := mgsv1.NewModemServiceClient(conn)
	req := &mgsv1.GetDefaultPortsRequest{}
	for range 2 {
		if _, err := modem.GetDefaultPorts(with("tok-a"), req); err != nil {
			t.Fatal(err)
		}
	}
	_, err := modem.GetDefaultPorts(with("tok-a"), req)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), `rate limit exceeded for token "static token 1"`) {
		t.Fatalf("3rd call: %v", err)
	}
	// Streams are limited too.
	st, err := modem.WatchEvents(with("tok-a"), &mgsv1.WatchEventsRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("stream over the limit: %v", err)
	}
	if _, err := modem.GetDefaultPorts(with("tok-b"), req); err != nil {
		t.Fatalf("another token: %v", err)
	}
	// Health is exempt; a bad token is refused as unauthenticated, not limited.
	for range 5 {
		if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := modem.GetDefaultPorts(with("nope"), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad token: %v", err)
	}
}

// TestGRPCAccessLogAndRequestID checks the access log line, the request
// id (taken from the client or generated, returned in the header) and the
// metrics callback.
func TestGRPCAccessLogAndRequestID(t *testing.T) {
	var logs syncBuf
	log := slog.New(server.LogHandler(slog.NewTextHandler(&logs, nil)))
	var mu sync.Mutex
	seen := map[string]codes.Code{}
	conn, _ := serve(t, server.Options{Logger: log, AccessLog: true, Observe: func(m string, c codes.Code, d time.Duration) {
		mu.Lock()
		seen[m] = c
		mu.Unlock()
	}}, "secret-token-1")
	modem := mgsv1.NewModemServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(with("secret-token-1"), "x-request-id", "abc-123")
	var hdr metadata.MD
	fcnt, port := uint32(1), uint32(199)
	if _, err := modem.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: "0102030405060708", Uplink: &mgsv1.UplinkMsg{Fcnt: &fcnt,
		Port: &port, Payload: "0319"}}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if v := hdr.Get("x-request-id"); len(v) != 1 || v[0] != "abc-123" {
		t.Fatalf("x-request-id %v", v)
	}
	hdr = nil
	_, err := modem.GetDefaultPorts(with("secret-token-2"), &mgsv1.GetDefaultPortsRequest{}, grpc.Header(&hdr))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	generated := hdr.Get("x-request-id")
	if len(generated) != 1 || len(generated[0]) != 16 {
		t.Fatalf("generated x-request-id %v", generated)
	}
	out := logs.String()
	for _, want := range []string{
		`msg="grpc call" method=/mgs.v1.ModemService/SendUplink code=OK`,
		`token_id=static-1 token_name="static token 1" request_id=abc-123`,
		`msg=uplink dev_eui=0102030405060708 msgtype=updf fcnt=1`,
		`method=/mgs.v1.ModemService/GetDefaultPorts code=Unauthenticated`,
		"request_id=" + generated[0],
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-token") {
		t.Errorf("a token is logged:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["/mgs.v1.ModemService/SendUplink"] != codes.OK || seen["/mgs.v1.ModemService/GetDefaultPorts"] != codes.Unauthenticated {
		t.Fatalf("observed %v", seen)
	}
}

func TestBackupStream(t *testing.T) {
	dir := t.TempDir()
	db, err := boltstore.Open(filepath.Join(dir, "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(context.Background(), db, auth.Options{Static: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := a.Add(context.Background(), "ro", []string{"read"})
	var got []int64
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{Auth: a, Backup: db, BackupDir: dir,
		OnBackup: func(n int64, err error) { got = append(got, n) }})
	lis := bufconn.Listen(1 << 20)
	go g.Server.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		conn.Close()
		g.Server.Stop()
		db.Close()
	}()
	ops := mgsv1.NewOpsServiceClient(conn)
	st, err := ops.Backup(with(ro.Token), &mgsv1.BackupRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("backup with a read token: %v", err)
	}
	st, err = ops.Backup(with("root"), &mgsv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.Info == nil || first.Info.Size == 0 || len(first.Info.Sha256) != 64 || first.Info.SchemaVersion != boltstore.SchemaVersion {
		t.Fatalf("first message %v %v", first, err)
	}
	var data []byte
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Info != nil || len(m.Data) > server.BackupChunk {
			t.Fatalf("data message %d bytes, info %v", len(m.Data), m.Info)
		}
		data = append(data, m.Data...)
	}
	if uint64(len(data)) != first.Info.Size || len(got) != 1 || got[0] != int64(len(data)) {
		t.Fatalf("received %d bytes of %d; observed %v", len(data), first.Info.Size, got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "backup-*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}
