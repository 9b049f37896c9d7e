package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openmgs/openmgs/internal/tlsfile"
	"github.com/openmgs/openmgs/internal/tlsfile/tlstest"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// listDevices calls ModemService.ListDevices with the token over creds.
func listDevices(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), "authorization", "root"), 5*time.Second)
	defer cancel()
	_, err = mgsv1.NewModemServiceClient(cc).ListDevices(ctx, &mgsv1.ListDevicesRequest{})
	return err
}

func clientTLS(t *testing.T, o tlsfile.ClientOptions) *tls.Config {
	t.Helper()
	cfg, err := tlsfile.ClientConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// httpsDo GETs url with the token over cfg.
func httpsDo(cfg *tls.Config, url string) (int, []byte, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "root")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// httpsGet returns the status of a GET with the token, or the error.
func httpsGet(cfg *tls.Config, url string) (int, error) {
	code, _, err := httpsDo(cfg, url)
	return code, err
}

// httpsBody returns the body of a GET with the token that must succeed.
func httpsBody(t *testing.T, cfg *tls.Config, url string) string {
	t.Helper()
	code, b, err := httpsDo(cfg, url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, code, err, b)
	}
	return string(b)
}

// serial is the serial number of the certificate a new handshake gets.
func serial(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "server", "127.0.0.1")
	addrs, stop := startMgsd(t, t.TempDir(), "--tokens", "root", "--ops-addr", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile)
	defer stop()
	cli := clientTLS(t, tlsfile.ClientOptions{CAFile: ca.File})

	if err := listDevices(t, addrs["grpc"], credentials.NewTLS(cli)); err != nil {
		t.Errorf("gRPC over TLS: %v", err)
	}
	if err := listDevices(t, addrs["grpc"], insecure.NewCredentials()); err == nil {
		t.Error("plaintext gRPC accepted by a TLS listener")
	}
	if err := listDevices(t, addrs["grpc"], credentials.NewTLS(&tls.Config{})); err == nil {
		t.Error("gRPC client that does not trust the CA connected")
	}
	if code, err := httpsGet(cli, "https://"+addrs["http"]+"/api/v1/device/list"); err != nil || code != http.StatusOK {
		t.Errorf("HTTPS API: %d %v", code, err)
	}
	if code, err := httpsGet(nil, "http://"+addrs["http"]+"/api/v1/device/list"); err != nil || code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS API listener: %d %v, want 400", code, err)
	}
	if code, err := httpsGet(cli, "https://"+addrs["ops"]+"/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("ops /healthz over TLS: %d %v", code, err)
	}
	cert, err := tlsfile.LoadCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "mgs_tls_certificate_expiry_timestamp_seconds " + strconv.FormatFloat(float64(cert.Leaf().NotAfter.Unix()), 'g', -1, 64) + "\n"
	if body := httpsBody(t, cli, "https://"+addrs["ops"]+"/metrics"); !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q:\n%s", want, body)
	}

	// Renewal: the files are replaced; a handshake after the check interval
	// gets the new certificate, without a restart.
	before := serial(t, addrs["http"], cli)
	ca.Issue(t, dir, "server", "127.0.0.1")
	deadline := time.Now().Add(10 * time.Second)
	for serial(t, addrs["http"], cli) == before {
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate not served")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := listDevices(t, addrs["grpc"], credentials.NewTLS(cli)); err != nil {
		t.Errorf("gRPC after renewal: %v", err)
	}
}

func TestMutualTLSListeners(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "server", "127.0.0.1")
	clientCert, clientKey := ca.Issue(t, dir, "client")
	addrs, stop := startMgsd(t, t.TempDir(), "--tokens", "root", "--ops-addr", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", ca.File)
	defer stop()
	anon := clientTLS(t, tlsfile.ClientOptions{CAFile: ca.File})
	known := clientTLS(t, tlsfile.ClientOptions{CAFile: ca.File, CertFile: clientCert, KeyFile: clientKey})

	if err := listDevices(t, addrs["grpc"], credentials.NewTLS(anon)); err == nil {
		t.Error("gRPC without a client certificate accepted")
	}
	if err := listDevices(t, addrs["grpc"], credentials.NewTLS(known)); err != nil {
		t.Errorf("gRPC with a client certificate: %v", err)
	}
	if _, err := httpsGet(anon, "https://"+addrs["http"]+"/api/v1/device/list"); err == nil {
		t.Error("HTTPS API without a client certificate accepted")
	}
	if code, err := httpsGet(known, "https://"+addrs["http"]+"/api/v1/device/list"); err != nil || code != http.StatusOK {
		t.Errorf("HTTPS API with a client certificate: %d %v", code, err)
	}
	// Probes have no client identity: the ops listener does not ask.
	if code, err := httpsGet(anon, "https://"+addrs["ops"]+"/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("ops /healthz without a client certificate: %d %v", code, err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "server", "127.0.0.1")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", certFile}, "tls-key: needed with --tls-cert"},
		{"key without cert", []string{"--tls-key", keyFile}, "tls-cert: needed with --tls-key"},
		{"client CA without cert", []string{"--tls-client-ca", ca.File}, "tls-client-ca: needs --tls-cert"},
		{"key as certificate", []string{"--tls-cert", keyFile, "--tls-key", keyFile}, "tls-cert: "},
		{"absent key", []string{"--tls-cert", certFile, "--tls-key", dir + "/absent.pem"}, "absent.pem"},
		{"key as client CA", []string{"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", keyFile}, "tls-client-ca: "},
	} {
		args := append([]string{"--data", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "", "--coap-addr", "off"}, tc.args...)
		err := run(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}
