package tlsfile

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/internal/tlsfile/tlstest"
)

// serve accepts TLS connections on loopback and answers each with one
// byte, until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte{1})
			}()
		}
	}()
	return lis.Addr().String()
}

// dial completes a handshake and returns the server's certificate serial.
func dial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// loadTestCert issues a server certificate (serial 2) in dir and loads
// it with a test clock.
func loadTestCert(t *testing.T, dir string) (ca *tlstest.CA, certFile string, c *Cert, clock *time.Time) {
	t.Helper()
	ca = tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "server", "127.0.0.1")
	c, err := LoadCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clock = new(time.Time)
	*clock = time.Unix(1000, 0)
	c.now = func() time.Time { return *clock }
	return ca, certFile, c, clock
}

func TestReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	ca, certFile, c, clock := loadTestCert(t, dir)
	var reloads []error
	c.OnReload = func(err error) { reloads = append(reloads, err) }
	srv, err := ServerConfig(c, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	cli, err := ClientConfig(ClientOptions{CAFile: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dial(addr, cli); err != nil || got != "2" {
		t.Fatalf("first certificate: serial %s, %v", got, err)
	}

	// A renewal: new files; seen at the next check, not before.
	ca.Issue(t, dir, "server", "127.0.0.1")
	*clock = clock.Add(checkEvery / 2)
	if got, _ := dial(addr, cli); got != "2" {
		t.Errorf("within the check interval: serial %s, want the old 2", got)
	}
	*clock = clock.Add(checkEvery)
	if got, err := dial(addr, cli); err != nil || got != "3" {
		t.Errorf("after renewal: serial %s, %v; want 3", got, err)
	}
	if len(reloads) != 1 || reloads[0] != nil {
		t.Errorf("reloads = %v", reloads)
	}

	// A half-written renewal keeps the previous certificate.
	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\ntrunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	*clock = clock.Add(2 * checkEvery)
	if got, err := dial(addr, cli); err != nil || got != "3" {
		t.Errorf("bad renewal: serial %s, %v; want the previous 3", got, err)
	}
	if len(reloads) != 2 || reloads[1] == nil {
		t.Errorf("reloads = %v, want an error reported", reloads)
	}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	other := tlstest.NewCA(t, t.TempDir(), "other")
	certFile, keyFile := ca.Issue(t, dir, "server", "localhost")
	c, err := LoadCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ServerConfig(c, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	_, port, _ := net.SplitHostPort(addr)
	addr = "localhost:" + port

	good, goodKey := ca.Issue(t, dir, "client")
	bad, badKey := other.Issue(t, t.TempDir(), "client")
	for _, tc := range []struct {
		name string
		o    ClientOptions
		ok   bool
	}{
		{"no client certificate", ClientOptions{CAFile: ca.File}, false},
		{"certificate of another CA", ClientOptions{CAFile: ca.File, CertFile: bad, KeyFile: badKey}, false},
		{"certificate of the CA", ClientOptions{CAFile: ca.File, CertFile: good, KeyFile: goodKey}, true},
		{"server not trusted", ClientOptions{CertFile: good, KeyFile: goodKey}, false},
	} {
		cli, err := ClientConfig(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dial(addr, cli)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "server", "localhost")
	otherCert, _ := ca.Issue(t, t.TempDir(), "server2", "localhost")
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing key", certFile, "", "both"},
		{"absent file", certFile, dir + "/nope.pem", "nope.pem"},
		{"key of another certificate", otherCert, keyFile, "private key does not match"},
		{"key as certificate", keyFile, keyFile, "server-key.pem"},
	} {
		if _, err := LoadCert(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	c, _ := LoadCert(certFile, keyFile)
	if _, err := ServerConfig(c, keyFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("client CA of a key file: %v", err)
	}
	if _, err := ClientConfig(ClientOptions{CertFile: certFile}); err == nil {
		t.Error("client certificate without key accepted")
	}
	if _, err := ClientConfig(ClientOptions{CAFile: dir + "/absent"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent CA file: %v", err)
	}
}

// OnReload may look at the new certificate (mgsd logs its subject).
func TestOnReloadMayCallLeaf(t *testing.T) {
	dir := t.TempDir()
	ca, _, c, clock := loadTestCert(t, dir)
	var serials []string
	c.OnReload = func(err error) {
		if err == nil {
			serials = append(serials, c.Leaf().SerialNumber.String())
		}
	}
	ca.Issue(t, dir, "server", "127.0.0.1")
	*clock = clock.Add(2 * checkEvery)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.GetCertificate(nil)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("GetCertificate deadlocked in OnReload")
	}
	if len(serials) != 1 || serials[0] != "3" {
		t.Errorf("reloaded serials %v, want [3]", serials)
	}
}
