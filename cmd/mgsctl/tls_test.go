package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/openmgs/openmgs/internal/tlsfile"
	"github.com/openmgs/openmgs/internal/tlsfile/tlstest"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// startTLSServer serves ModemService over TLS with a certificate for
// localhost, requiring client certificates of the CA when mutual.
func startTLSServer(t *testing.T, ca *tlstest.CA, dir string, mutual bool) string {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	certFile, keyFile := ca.Issue(t, dir, "server", "localhost")
	cert, err := tlsfile.LoadCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCA := ""
	if mutual {
		clientCA = ca.File
	}
	cfg, err := tlsfile.ServerConfig(cert, clientCA)
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{
		ServerOptions: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	t.Cleanup(g.Server.Stop)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return "localhost:" + port
}

func mgsctlEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runEnv(t.Context(), append(args, "--timeout", "5s"), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errb)
	return result{out.String(), errb.String(), code}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	addr := startTLSServer(t, ca, dir, false)
	clientCert, _ := ca.Issue(t, dir, "client")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		ok   bool
	}{
		{"plaintext", nil, nil, false},
		{"system roots only", nil, []string{"--tls"}, false},
		{"--tls-ca", nil, []string{"--tls-ca", ca.File}, true},
		{"MGS_TLS_CA", map[string]string{"MGS_TLS_CA": ca.File}, nil, true},
		{"wrong server name", nil, []string{"--tls-ca", ca.File, "--tls-server-name", "mgs.example"}, false},
		{"client cert without key", nil, []string{"--tls-ca", ca.File, "--tls-client-cert", clientCert}, false},
	} {
		r := mgsctlEnv(t, tc.env, append([]string{"--addr", addr}, append(tc.args, "device", "list")...)...)
		if (r.code == 0) != tc.ok {
			t.Errorf("%s: exit %d\n%s%s", tc.name, r.code, r.stdout, r.stderr)
		}
	}
	r := mgsctlEnv(t, nil, "--addr", addr, "--tls-ca", ca.File, "--tls-client-cert", clientCert, "device", "list")
	if !strings.Contains(r.stderr, "both its certificate and key") {
		t.Errorf("client certificate without key: %q", r.stderr)
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	addr := startTLSServer(t, ca, dir, true)
	cert, key := ca.Issue(t, dir, "client")
	if r := mgsctlEnv(t, nil, "--addr", addr, "--tls-ca", ca.File, "device", "list"); r.code == 0 {
		t.Errorf("no client certificate: accepted\n%s", r.stdout)
	}
	if r := mgsctlEnv(t, map[string]string{"MGS_TLS_CA": ca.File, "MGS_TLS_CLIENT_CERT": cert, "MGS_TLS_CLIENT_KEY": key},
		"--addr", addr, "device", "list"); r.code != 0 {
		t.Errorf("client certificate: exit %d %s", r.code, r.stderr)
	}
}
