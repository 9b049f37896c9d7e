package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	coapOptions "github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// dtlsModule is a minimal Quectel-style LwM2M client over DTLS-PSK: it
// answers the observe of /19/0/0 and takes writes to /19/1/0.
type dtlsModule struct {
	cc       *udpClient.Conn
	token    chan []byte
	received chan []byte
}

func dialModule(t *testing.T, addr, identity string, key []byte) *dtlsModule {
	t.Helper()
	m := &dtlsModule{token: make(chan []byte, 4), received: make(chan []byte, 4)}
	cc, err := dtls.Dial(addr, dtls.NewDTLSClientOptions(
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(identity)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8),
	), coapOptions.WithHandlerFunc(udpClient.HandlerFunc(m.handle)), coapOptions.WithTransmission(1, 200*time.Millisecond, 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	m.cc = cc
	return m
}

func (m *dtlsModule) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	path, _ := r.Options().Path()
	switch strings.Trim(path, "/") {
	case "19/0/0":
		m.token <- append([]byte(nil), r.Token()...)
		_ = w.SetResponse(codes.Content, message.TextPlain, nil)
		w.Message().SetObserve(0)
	case "19/1/0":
		body, _ := r.ReadBody()
		m.received <- body
		_ = w.SetResponse(codes.Changed, message.TextPlain, nil)
	default:
		_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
	}
}

func (m *dtlsModule) register(t *testing.T, ep string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := m.cc.NewPostRequest(ctx, "/rd", message.AppLinkFormat, strings.NewReader(`</>;rt="oma.lwm2m",</3/0>,</19/0>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"lwm2m=1.0", "ep=" + ep, "b=U", "lt=3600"} {
		req.AddQuery(q)
	}
	resp, err := m.cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Code()
}

// send is a NON notification on the observe token (AT+QLWDATASEND).
func (m *dtlsModule) send(t *testing.T, token, data []byte) {
	t.Helper()
	msg := m.cc.AcquireMessage(context.Background())
	defer m.cc.ReleaseMessage(msg)
	msg.SetCode(codes.Content)
	msg.SetType(message.NonConfirmable)
	msg.SetToken(token)
	msg.SetContentFormat(message.AppOctets)
	msg.SetBody(bytes.NewReader(data))
	msg.SetMessageID(m.cc.GetMessageID())
	if err := m.cc.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
}

// TestDTLSEndToEnd: mgsd with --coaps-addr; an endpoint provisioned with a
// key over gRPC registers over DTLS, its uplink reaches the modem service,
// and a message queued over gRPC is written to it on the same session.
func TestDTLSEndToEnd(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir(), "--coaps-addr", "127.0.0.1:0")
	defer stop()
	if addrs["coaps"] == "" || addrs["coap"] == "" {
		t.Fatalf("listeners %v", addrs)
	}
	conn, err := grpc.NewClient(addrs["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fl, ds, modem := mgsv1.NewFleetServiceClient(conn), mgsv1.NewDownstreamServiceClient(conn), mgsv1.NewModemServiceClient(conn)
	ctx := context.Background()
	const imei, eui = "867723030005655", "0e-86-77-23-03-00-05-65"
	key := []byte("0123456789abcdef")
	if _, err := fl.ProvisionEndpoint(ctx, &mgsv1.ProvisionEndpointRequest{Endpoint: imei, Psk: "30313233343536373839616263646566"}); err != nil {
		t.Fatal(err)
	}

	m := dialModule(t, addrs["coaps"], imei, key)
	if code := m.register(t, imei); code != codes.Created {
		t.Fatalf("register: %v", code)
	}
	var token []byte
	select {
	case token = <-m.token:
	case <-time.After(5 * time.Second):
		t.Fatal("not observed")
	}
	regs, err := fl.ListRegistrations(ctx, &mgsv1.ListRegistrationsRequest{})
	if err != nil || len(regs.Registrations) != 1 || !regs.Registrations[0].Dtls || regs.Registrations[0].PskIdentity != imei {
		t.Fatalf("registrations %v %v", regs, err)
	}

	m.send(t, token, []byte{10, 0xaa}) // port 10: application data
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := modem.ListDevices(ctx, &mgsv1.ListDevicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Devices) == 1 && l.Devices[0].UplinkCount == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uplink not processed: %v", l)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := ds.SendMessage(ctx, &mgsv1.SendMessageRequest{DeviceId: eui, Port: 42, Payload: "68656c6c6f"}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-m.received:
		if !bytes.Equal(b, append([]byte{42}, "hello"...)) {
			t.Fatalf("downlink %x", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no downlink over DTLS")
	}

	// The keyed endpoint is refused over plain CoAP.
	plain, err := plainRegister(addrs["coap"], imei)
	if err != nil || plain != codes.Forbidden {
		t.Fatalf("plain registration of a keyed endpoint: %v %v", plain, err)
	}
}

// TestCoAPSOptions: a bad --coaps-addr or --coap-require-dtls names the
// option, and DTLS stays off by default.
func TestCoAPSOptions(t *testing.T) {
	getenv := func(string) string { return "" }
	for _, args := range [][]string{{"--coaps-addr", "nowhere:x"}, {"--coap-require-dtls=maybe"}} {
		err := run(context.Background(), append([]string{"--data", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "",
			"--coap-addr", "127.0.0.1:0"}, args...), getenv, io.Discard, io.Discard, nil)
		name, _, _ := strings.Cut(strings.TrimPrefix(args[0], "--"), "=")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: %v", args, err)
		}
	}
	// A taken coaps port aborts the start, naming the option.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	err = run(context.Background(), []string{"--data", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--coap-addr", "127.0.0.1:0", "--coaps-addr", pc.LocalAddr().String()}, getenv, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "coaps-addr") {
		t.Fatalf("run with a taken coaps port: %v", err)
	}
	addrs, stop := startMgsd(t, t.TempDir())
	if _, ok := addrs["coaps"]; ok {
		t.Errorf("DTLS listening by default: %v", addrs)
	}
	stop()
	// DTLS only, plain CoAP required off.
	addrs, stop = startMgsd(t, t.TempDir(), "--coap-addr", "off", "--coaps-addr", "127.0.0.1:0", "--coap-require-dtls")
	defer stop()
	if addrs["coaps"] == "" || addrs["coap"] != "" {
		t.Errorf("DTLS-only listeners %v", addrs)
	}
}

// plainRegister registers ep over plain CoAP and returns the code.
func plainRegister(addr, ep string) (codes.Code, error) {
	cc, err := udp.Dial(addr)
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := cc.NewPostRequest(ctx, "/rd", message.AppLinkFormat, strings.NewReader(`</>;rt="oma.lwm2m",</19/0>`))
	if err != nil {
		return 0, err
	}
	req.AddQuery("ep=" + ep)
	resp, err := cc.Do(req)
	if err != nil {
		return 0, err
	}
	return resp.Code(), nil
}
