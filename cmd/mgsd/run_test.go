package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store/boltstore"
)

// startMgsd runs mgsd on loopback ports and returns its addresses and a
// stop function that waits for a clean exit.
func startMgsd(t *testing.T, dir string, extra ...string) (map[string]string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan map[string]string, 1)
	errc := make(chan error, 1)
	args := append([]string{"--data", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--coap-addr", "127.0.0.1:0", "--log-level", "error"}, extra...)
	go func() {
		errc <- run(ctx, args, func(string) string { return "" }, io.Discard, io.Discard, func(a map[string]string) { ready <- a })
	}()
	select {
	case a := <-ready:
		return a, func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("mgsd did not stop")
			}
		}
	case err := <-errc:
		cancel()
		t.Fatalf("mgsd did not start: %v", err)
	}
	return nil, nil
}

func httpDo(t *testing.T, method, url, token, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
	return resp.StatusCode, m
}

func TestRunServesHTTPAndGRPCWithSharedTokens(t *testing.T) {
	dir := t.TempDir()
	addrs, stop := startMgsd(t, dir)
	base := "http://" + addrs["http"] + "/api/v1/"

	// Open mode (no token, loopback only): the HTTP API accepts the uplink.
	code, _ := httpDo(t, "POST", base+"uplink/send", "", `{"0102030405060708":{"fcnt":1,"port":199,"payload":"0304"}}`)
	if code != 200 {
		t.Fatalf("uplink/send: %d", code)
	}
	conn, err := grpc.NewClient(addrs["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	modem, tokens := mgsv1.NewModemServiceClient(conn), mgsv1.NewTokenServiceClient(conn)
	ctx := context.Background()
	// The gRPC API sees what the HTTP API stored.
	info, err := modem.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"01-02-03-04-05-06-07-08"}})
	if err != nil || info.Results[0].Info.GetInfoFields().GetTemp().GetValue() != 4 {
		t.Fatalf("GetDeviceInfo: %v %v", info, err)
	}

	// The first token (over gRPC) ends open mode for both APIs.
	adm, err := tokens.AddToken(ctx, &mgsv1.AddTokenRequest{Name: "ops", Capabilities: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := httpDo(t, "POST", base+"device/info", "", `{"deveuis":["0102030405060708"]}`); code != 401 {
		t.Fatalf("HTTP without token after the first token: %d", code)
	}
	if _, err := modem.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"0102030405060708"}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC without token: %v", err)
	}
	admCtx := metadata.AppendToOutgoingContext(ctx, "authorization", adm.Token.Token)
	// A read-only token added over HTTP works on gRPC, with the same rights.
	code, m := httpDo(t, "POST", base+"token/add", adm.Token.Token, `{"name":"ro","capabilities":["read"]}`)
	if code != 200 {
		t.Fatalf("token/add: %d", code)
	}
	var ro struct{ Token string }
	json.Unmarshal(m["result"], &ro)
	roCtx := metadata.AppendToOutgoingContext(ctx, "authorization", ro.Token)
	if _, err := modem.GetDeviceInfo(roCtx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"0102030405060708"}}); err != nil {
		t.Fatalf("gRPC read with the read token: %v", err)
	}
	f := uint32(2)
	_, err = modem.SendUplink(roCtx, &mgsv1.SendUplinkRequest{Deveui: "0102030405060708", Uplink: &mgsv1.UplinkMsg{Fcnt: &f}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("gRPC uplink with the read token: %v", err)
	}
	if _, err := tokens.ListTokens(roCtx, &mgsv1.ListTokensRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ListTokens with the read token: %v", err)
	}
	list, err := tokens.ListTokens(admCtx, &mgsv1.ListTokensRequest{})
	if err != nil || len(list.Tokens) != 2 || list.Tokens[0].Token != "" {
		t.Fatalf("ListTokens: %v %v", list, err)
	}
	// Health needs no token.
	stop()

	// The database was closed (its lock released) and keeps the tokens,
	// stored hashed.
	db, err := boltstore.Open(filepath.Join(dir, "mgs.db"), &boltstore.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("database still locked after shutdown: %v", err)
	}
	n := 0
	db.Table("tokens").Range(ctx, nil, func(k, v []byte, _ uint64) error {
		n++
		if bytes.Contains(v, []byte(ro.Token)) || bytes.Contains(v, []byte(adm.Token.Token)) {
			t.Error("a secret is stored")
		}
		return nil
	})
	db.Close()
	if n != 2 {
		t.Fatalf("%d stored tokens", n)
	}

	// After a restart the stored tokens are required at once.
	addrs, stop = startMgsd(t, dir)
	defer stop()
	if code, _ := httpDo(t, "GET", "http://"+addrs["http"]+"/api/v1/token/list", "", ""); code != 401 {
		t.Fatalf("after restart without token: %d", code)
	}
	if code, _ := httpDo(t, "GET", "http://"+addrs["http"]+"/api/v1/token/list", adm.Token.Token, ""); code != 200 {
		t.Fatalf("after restart with the admin token: %d", code)
	}
}

func TestStaticTokensAndHTTPDisabled(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir(), "--tokens", "s3cret", "--http-addr", "")
	defer stop()
	if _, ok := addrs["http"]; ok {
		t.Fatal("HTTP API started with --http-addr ''")
	}
	conn, err := grpc.NewClient(addrs["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "s3cret")
	l, err := mgsv1.NewTokenServiceClient(conn).ListTokens(ctx, &mgsv1.ListTokensRequest{})
	if err != nil || len(l.Tokens) != 1 || !l.Tokens[0].Static {
		t.Fatalf("static token as admin: %v %v", l, err)
	}
}

func TestListenRule(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--http-addr", "0.0.0.0:7071"}, "http-addr: refusing"},
		{[]string{"--grpc-addr", ":7070"}, "grpc-addr: refusing"},
		{[]string{"--http-addr", "nohostport"}, "http-addr"},
	} {
		args := append([]string{"--data", t.TempDir(), "--log-level", "error"}, tc.args...)
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.wantErr)
		}
	}
	c, err := parseConfig([]string{"--http-addr", "[::1]:1"}, func(string) string { return "" }, io.Discard)
	if err != nil || !c.loopbackOnly() || c.checkListen(false) != nil {
		t.Fatalf("loopback config: %v", err)
	}
	c, _ = parseConfig([]string{"--http-addr", "192.0.2.1:7071"}, func(string) string { return "" }, io.Discard)
	if c.loopbackOnly() || c.checkListen(false) == nil || c.checkListen(true) != nil {
		t.Fatal("non-loopback: needs a token, accepts one")
	}
	if c, _ := parseConfig(nil, func(k string) string {
		if k == "MGS_HTTP_ADDR" {
			return "127.0.0.1:9999"
		}
		return ""
	}, io.Discard); c.HTTPAddr != "127.0.0.1:9999" {
		t.Fatalf("MGS_HTTP_ADDR: %q", c.HTTPAddr)
	}
	if c, _ := parseConfig(nil, func(string) string { return "" }, io.Discard); c.HTTPAddr != "127.0.0.1:7071" {
		t.Fatalf("default http-addr %q", c.HTTPAddr)
	}
}
