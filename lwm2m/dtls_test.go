package lwm2m_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
)

// pskCreds is what a module is configured with for the LwM2M
// "Pre-Shared Key" security mode (BC26 AT+QLWCONFIG, BC68 AT+QSETPSK).
type pskCreds struct {
	identity string
	key      []byte
	suite    piondtls.CipherSuiteID // 0: TLS_PSK_WITH_AES_128_CCM_8, the LwM2M mandatory one
}

// dialDTLS opens a coaps session as a module does and completes the
// handshake, bounded, before go-coap gets the connection: go-coap's own
// reader would otherwise start the handshake without a deadline and hold
// it forever when the key is wrong.
func dialDTLS(addr string, c pskCreds, opts ...udp.Option) (*udpClient.Conn, error) {
	suite := c.suite
	if suite == 0 {
		suite = piondtls.TLS_PSK_WITH_AES_128_CCM_8
	}
	raw, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := piondtls.ClientWithOptions(dtlsnet.PacketConnFromConn(raw), raw.RemoteAddr(),
		piondtls.WithPSK(func([]byte) ([]byte, error) { return c.key, nil }),
		piondtls.WithPSKIdentityHint([]byte(c.identity)),
		piondtls.WithCipherSuites(suite),
	)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		_ = raw.Close()
		return nil, err
	}
	return dtls.Client(conn, append(opts, options.WithCloseSocket())...), nil
}

// newQuectelDTLS is the simulated module in DTLS-PSK mode (coaps).
func newQuectelDTLS(t testing.TB, server, ep string, c pskCreds) *quectel {
	t.Helper()
	m := &quectel{t: t, ep: ep, server: server, psk: &c, writeCode: codes.Changed, observed: make(chan struct{}, 8),
		received: make(chan []byte, 32)}
	m.dial()
	t.Cleanup(m.close)
	return m
}

var (
	keyA = mustHex("000102030405060708090a0b0c0d0e0f")
	keyB = mustHex("f0e0d0c0b0a090807060504030201000f0e0d0c0b0a090807060504030201000")
)

const (
	imeiB = "866971030001361" // BC26 manual AT+QLWCONF example (seed 004)
	imeiC = "867724030023557" // BC26 manual section 5 examples
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func (e *env) provisionPSK(name string, key []byte) {
	e.t.Helper()
	if _, err := e.fleet.Provision(context.Background(), fleet.Endpoint{Name: name, PSK: key}, "", nil); err != nil {
		e.t.Fatal(err)
	}
}

// TestDTLSQuectel runs the module over coaps: register, uplink, queued
// downlinks after a PSM wake-up, a new session without re-registering, and
// de-registration — everything the plain CoAP tests do, on the session.
func TestDTLSQuectel(t *testing.T) {
	e := newEnv(t, envOpts{dtls: true})
	e.provisionPSK(imei, keyA)
	eui := mustEUI(t, imei)
	m := newQuectelDTLS(t, e.daddr, imei, pskCreds{identity: imei, key: keyA})
	register(t, m, 3600, "UQ")
	reg, ok := e.srv.Registration(eui)
	if !ok || !reg.DTLS || reg.PSKIdentity != imei || reg.Binding != "UQ" {
		t.Fatalf("registration %+v", reg)
	}
	if err := m.Send([]byte{10, 1}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	if d := e.device(eui); d.LastUplink.Port != 10 || !bytes.Equal(d.LastUplink.Payload, []byte{1}) {
		t.Fatalf("uplink %+v", d.LastUplink)
	}

	// PSM: queued messages wait for the wake-up, then go out in order on
	// the same session.
	m.Sleep()
	time.Sleep(450 * time.Millisecond)
	e.enqueue(eui, 5, "one")
	e.enqueue(eui, 6, "two")
	if b, ok := m.Receive(300 * time.Millisecond); ok {
		t.Fatalf("a sleeping queue-mode device got %x", b)
	}
	m.Wake()
	if err := m.Send([]byte{10, 2}, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		b, ok := m.Receive(2 * time.Second)
		if !ok {
			t.Fatalf("after wake-up got only %q", got)
		}
		got = append(got, hex.EncodeToString(b))
	}
	if diff := cmp.Diff([]string{"056f6e65", "0674776f"}, got); diff != "" {
		t.Fatalf("downlinks after wake-up (-want +got):\n%s", diff)
	}
	eventually(t, "both sent", time.Second, func() bool {
		ms := e.messages(eui)
		return len(ms) == 2 && ms[0].State == outbox.Sent && ms[1].State == outbox.Sent
	})

	// A new handshake (new port, new session) without re-registering: the
	// notification is accepted on the token and identity, and writes
	// follow the new session.
	m.Rebind("")
	if err := m.Send([]byte{10, 3}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uplink on a new session", 10*time.Second, func() bool { return e.uplinks(eui) == 3 })
	e.enqueue(eui, 3, "n")
	if b, ok := m.Receive(2 * time.Second); !ok || !bytes.Equal(b, []byte{3, 'n'}) {
		t.Fatalf("write on the new session: %x %v", b, ok)
	}
	if code, err := m.Update(); err != nil || code != codes.Changed {
		t.Fatalf("update: %v %v", code, err)
	}
	if code, err := m.Close(); err != nil || code != codes.Deleted {
		t.Fatalf("close: %v %v", code, err)
	}
	if st := e.srv.Status(); st.Registrations != 0 || st.HandshakeFailures != 0 || st.DTLSAddr != e.daddr {
		t.Fatalf("status %+v", st)
	}
}

// TestDTLSCipherSuites: each offered PSK suite completes a handshake.
func TestDTLSCipherSuites(t *testing.T) {
	e := newEnv(t, envOpts{dtls: true})
	e.provisionPSK(imei, keyA)
	for _, suite := range lwm2m.PSKCipherSuites {
		cc, err := dialDTLS(e.daddr, pskCreds{identity: imei, key: keyA, suite: suite})
		if err != nil {
			t.Errorf("%v: %v", suite, err)
			continue
		}
		if got, _ := cc.NetConn().(*piondtls.Conn).ConnectionState(); got.CipherSuiteID != suite {
			t.Errorf("negotiated %v, want %v", got.CipherSuiteID, suite)
		}
		_ = cc.Close()
	}
}

// TestDTLSRefusals: a wrong key or an unknown identity fails the
// handshake; a session may only register its own endpoint; a keyed
// endpoint is refused over plain CoAP.
func TestDTLSRefusals(t *testing.T) {
	e := newEnv(t, envOpts{dtls: true})
	e.provisionPSK(imei, keyA)
	e.provisionPSK(imeiB, keyB)
	if _, err := e.fleet.Provision(context.Background(), fleet.Endpoint{Name: imeiC}, "", nil); err != nil {
		t.Fatal(err)
	}

	if _, err := dialDTLS(e.daddr, pskCreds{identity: imei, key: keyB}); err == nil {
		t.Fatal("handshake with a wrong key succeeded")
	}
	eventually(t, "handshake failure logged", 3*time.Second, func() bool {
		return e.logged("DTLS handshake failed") && e.srv.Status().HandshakeFailures >= 1
	})
	if _, err := dialDTLS(e.daddr, pskCreds{identity: "nobody", key: keyA}); err == nil {
		t.Fatal("handshake with an unknown identity succeeded")
	}
	eventually(t, "unknown identity logged", 3*time.Second, func() bool { return e.logged("psk_identity=nobody") })

	// Endpoint A's identity registering as B, or as an unkeyed IMEI.
	for _, ep := range []string{imeiB, imeiC} {
		m := newQuectelDTLS(t, e.daddr, ep, pskCreds{identity: imei, key: keyA})
		if code, err := m.Register(3600, "U"); err != nil || code != codes.Forbidden {
			t.Fatalf("identity %s registering %s: %v %v, want 4.03", imei, ep, code, err)
		}
		if _, ok := e.srv.Registration(mustEUI(t, ep)); ok {
			t.Fatalf("%s registered with another endpoint's identity", ep)
		}
	}
	if !e.logged(fmt.Sprintf(`DTLS identity \"%s\" does not belong to endpoint \"%s\"`, imei, imeiB)) {
		t.Fatal("the refusal is not logged")
	}

	// A keyed endpoint over plain CoAP.
	plain := newQuectel(t, e.addr, imei)
	if code, err := plain.Register(3600, "U"); err != nil || code != codes.Forbidden {
		t.Fatalf("keyed endpoint over plain CoAP: %v %v, want 4.03", code, err)
	}
	if !e.logged("must register over DTLS") {
		t.Fatal("plain refusal not logged")
	}

	// An unkeyed endpoint still registers over plain CoAP.
	c := newQuectel(t, e.addr, imeiC)
	register(t, c, 3600, "U")

	// A plain client cannot update or de-register a DTLS registration, nor
	// a DTLS session a plain one.
	a := newQuectelDTLS(t, e.daddr, imei, pskCreds{identity: imei, key: keyA})
	register(t, a, 3600, "U")
	for _, tc := range []struct {
		name       string
		from, whom *quectel
	}{{"plain → DTLS", c, a}, {"DTLS → plain", a, c}} {
		saved := tc.from.Location()
		tc.from.mu.Lock()
		tc.from.location = tc.whom.Location()
		tc.from.mu.Unlock()
		if code, _ := tc.from.Update(); code != codes.Forbidden {
			t.Errorf("%s update: %v, want 4.03", tc.name, code)
		}
		if code, _ := tc.from.Close(); code != codes.Forbidden {
			t.Errorf("%s de-register: %v, want 4.03", tc.name, code)
		}
		tc.from.mu.Lock()
		tc.from.location = saved
		tc.from.mu.Unlock()
	}
	if n := e.srv.Status().Registrations; n != 2 {
		t.Fatalf("%d registrations, want 2", n)
	}

	// Setting a key protects a device registered over plain CoAP: its next
	// update is refused and the registration dropped.
	if _, err := e.fleet.UpdateEndpoint(context.Background(), imeiC, fleet.EndpointChange{PSK: keyB[:16]}); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.Update(); code != codes.Forbidden {
		t.Fatalf("plain update after a key was set: %v, want 4.03", code)
	}
	if _, ok := e.srv.Registration(mustEUI(t, imeiC)); ok {
		t.Fatal("still registered over plain CoAP after a key was set")
	}
}

// TestRequireDTLS: with RequireDTLS every plain registration is refused;
// DTLS ones work.
func TestRequireDTLS(t *testing.T) {
	e := newEnv(t, envOpts{dtls: true, cfg: func(c *lwm2m.Config) { c.RequireDTLS = true }})
	plain := newQuectel(t, e.addr, imeiC)
	if code, err := plain.Register(3600, "U"); err != nil || code != codes.Forbidden {
		t.Fatalf("plain registration: %v %v, want 4.03", code, err)
	}
	if !e.logged("DTLS is required") {
		t.Fatal("refusal not logged")
	}
	e.provisionPSK(imei, keyA)
	m := newQuectelDTLS(t, e.daddr, imei, pskCreds{identity: imei, key: keyA})
	register(t, m, 3600, "U")
}

// TestDTLSOnly: plain CoAP can be off.
func TestDTLSOnly(t *testing.T) {
	e := newEnv(t, envOpts{dtls: true, cfg: func(c *lwm2m.Config) { c.DisableUDP = true }})
	if e.addr != "" || e.srv.Status().Addr != "" {
		t.Fatalf("plain CoAP listening on %q", e.addr)
	}
	e.provisionPSK(imei, keyA)
	m := newQuectelDTLS(t, e.daddr, imei, pskCreds{identity: imei, key: keyA})
	register(t, m, 3600, "U")
	if _, err := lwm2m.New(lwm2m.Config{DisableUDP: true}, e.db, e.pipe, e.fleet, e.ob); err == nil {
		t.Fatal("New accepted a config that serves nothing")
	}
	if _, err := lwm2m.New(lwm2m.Config{DTLSAddr: "127.0.0.1:0"}, e.db, e.pipe, e.fleet, e.ob); err == nil {
		t.Fatal("New accepted DTLS without a key lookup")
	}
}

// BenchmarkDTLSRegister is a module's wake-up from scratch: DTLS-PSK
// handshake, Register, and the server's observe.
func BenchmarkDTLSRegister(b *testing.B) {
	e := newEnv(b, envOpts{dtls: true})
	e.provisionPSK(imei, keyA)
	for b.Loop() {
		m := newQuectelDTLS(b, e.daddr, imei, pskCreds{identity: imei, key: keyA})
		if code, err := m.Register(3600, "U"); err != nil || code != codes.Created {
			b.Fatalf("register: %v %v", code, err)
		}
		m.WaitObserved()
		m.close()
	}
}
