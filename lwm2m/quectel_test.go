package lwm2m_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/pkg/runner/periodic"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// quectel simulates a Quectel BC68/BC26 module's LwM2M client as the
// captures in nbiot.md show it:
//
//   - Register: CON POST /rd, CF 40, queries lwm2m=1.0, ep, b, lt and the
//     link list </>;rt="oma.lwm2m",</1/0>,</3/0>,</4/0>,</19/0>,</5/0>,</20/0>;
//   - the observe of /19/0/0 is answered with an empty ACK 2.05 (Observe 0,
//     zero-length Content-Format, no payload), reported as
//     "+QLWOBSERVE: 0,19,0,0";
//   - AT+QLWULDATA / AT+QLWDATASEND: NON (or CON) 2.05 on the observe token,
//     CF 42, no Observe option; before the observe the command fails with
//     ERROR (errNotObserved);
//   - PUT /19/1/0 is answered 2.04 and reported as "+QLWDATARECV";
//   - in power saving mode the radio is off: every datagram is lost
//     (Sleep/Wake), and after a wake-up the NAT may give it a new port
//     (Rebind).
type quectel struct {
	t      testing.TB
	ep     string
	server string
	psk    *pskCreds // DTLS-PSK (coaps) instead of plain CoAP

	mu        sync.Mutex
	cc        *udpClient.Conn
	stop      chan struct{}
	asleep    bool
	token     []byte
	location  string
	writeCode codes.Code
	urcs      []string
	observed  chan struct{}
	received  chan []byte
}

// radioOpt installs a request monitor on a client connection (go-coap has
// the option for servers only); the simulator uses it as its radio switch.
type radioOpt udpClient.RequestMonitorFunc

func (o radioOpt) UDPClientApply(cfg *udpClient.Config) {
	cfg.RequestMonitor = udpClient.RequestMonitorFunc(o)
}

var errNotObserved = errors.New("ERROR: /19/0/0 is not observed yet")

const quectelLinks = `</>;rt="oma.lwm2m",</1/0>,</3/0>,</4/0>,</19/0>,</5/0>,</20/0>`

func newQuectel(t testing.TB, server, ep string) *quectel {
	t.Helper()
	m := &quectel{t: t, ep: ep, server: server, writeCode: codes.Changed, observed: make(chan struct{}, 8), received: make(chan []byte, 32)}
	m.dial()
	t.Cleanup(m.close)
	return m
}

func (m *quectel) dial() {
	m.t.Helper()
	stop := make(chan struct{})
	opts := []udp.Option{
		options.WithHandlerFunc(udpClient.HandlerFunc(m.handle)),
		radioOpt(m.radio),
		options.WithTransmission(1, 100*time.Millisecond, 3),
		options.WithPeriodicRunner(periodic.New(stop, 10*time.Millisecond)),
		options.WithBlockwise(false, blockwise.SZX1024, time.Second),
		options.WithErrors(func(error) {}),
	}
	var cc *udpClient.Conn
	var err error
	if m.psk != nil {
		cc, err = dialDTLS(m.server, *m.psk, opts...)
	} else {
		cc, err = udp.Dial(m.server, opts...)
	}
	if err != nil {
		close(stop)
		m.t.Fatalf("dial %s: %v", m.server, err)
	}
	m.mu.Lock()
	m.cc, m.stop = cc, stop
	m.mu.Unlock()
}

func (m *quectel) close() {
	m.mu.Lock()
	cc, stop := m.cc, m.stop
	m.cc, m.stop = nil, nil
	m.mu.Unlock()
	if cc != nil {
		_ = cc.Close()
		close(stop)
	}
}

func (m *quectel) conn() *udpClient.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cc
}

// Rebind moves the module to a new source port (a NAT rebinding or a
// module restart that keeps its LwM2M context), optionally to another
// server address.
func (m *quectel) Rebind(server string) {
	m.close()
	if server != "" {
		m.server = server
	}
	m.dial()
}

// Sleep turns the radio off (PSM): nothing is received.
func (m *quectel) Sleep() { m.mu.Lock(); m.asleep = true; m.mu.Unlock() }

// Wake turns the radio on.
func (m *quectel) Wake() { m.mu.Lock(); m.asleep = false; m.mu.Unlock() }

// RefuseWrites makes PUT /19/1/0 answer code instead of 2.04.
func (m *quectel) RefuseWrites(code codes.Code) { m.mu.Lock(); m.writeCode = code; m.mu.Unlock() }

func (m *quectel) radio(*udpClient.Conn, *pool.Message) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.asleep, nil
}

func (m *quectel) urc(s string) {
	m.mu.Lock()
	m.urcs = append(m.urcs, s)
	m.mu.Unlock()
}

// URCs returns the unsolicited result codes the module printed.
func (m *quectel) URCs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.urcs...)
}

func (m *quectel) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	path, _ := r.Options().Path()
	path = strings.Trim(path, "/")
	switch {
	case r.Code() == codes.GET && path == "19/0/0":
		obs, err := r.Observe()
		if err != nil {
			_ = w.SetResponse(codes.BadRequest, message.TextPlain, nil)
			return
		}
		if obs == 1 {
			m.mu.Lock()
			m.token = nil
			m.mu.Unlock()
			m.urc("+QLWOBSERVE: 1,19,0,0")
			_ = w.SetResponse(codes.Content, message.TextPlain, nil)
			return
		}
		m.mu.Lock()
		m.token = append([]byte(nil), r.Token()...)
		m.mu.Unlock()
		// The quirk: ACK 2.05 with an empty Observe, a zero-length
		// Content-Format (text/plain) and no payload (64 45 mid tok 60 60).
		_ = w.SetResponse(codes.Content, message.TextPlain, nil)
		w.Message().SetObserve(0)
		w.Message().SetContentFormat(message.TextPlain)
		m.urc("+QLWOBSERVE: 0,19,0,0")
		m.observed <- struct{}{}
	case r.Code() == codes.PUT && path == "19/1/0":
		body, _ := r.ReadBody()
		m.mu.Lock()
		code := m.writeCode
		m.mu.Unlock()
		if code == codes.Changed {
			m.urc(fmt.Sprintf("+QLWDATARECV: 19,1,0,%d,%X", len(body), body))
			m.received <- append([]byte(nil), body...)
		}
		_ = w.SetResponse(code, message.TextPlain, nil)
	default:
		_ = w.SetResponse(codes.NotFound, message.TextPlain, nil)
	}
}

func (m *quectel) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 3*time.Second)
}

// Register is AT+QLWOPEN (BC26) / AT+QLWSREGIND=0 (BC68). It returns the
// response code; on 2.01 the Location-Path is kept for Update/Close.
func (m *quectel) Register(lt int, binding string) (codes.Code, error) {
	ctx, cancel := m.ctx()
	defer cancel()
	cc := m.conn()
	req, err := cc.NewPostRequest(ctx, "/rd", message.AppLinkFormat, strings.NewReader(quectelLinks))
	if err != nil {
		return 0, err
	}
	defer cc.ReleaseMessage(req)
	req.AddQuery("lwm2m=1.0")
	req.AddQuery("ep=" + m.ep)
	req.AddQuery("b=" + binding)
	req.AddQuery(fmt.Sprintf("lt=%d", lt))
	resp, err := cc.Do(req)
	if err != nil {
		return 0, err
	}
	defer cc.ReleaseMessage(resp)
	if resp.Code() == codes.Created {
		loc, err := resp.Options().LocationPath()
		if err != nil {
			return 0, fmt.Errorf("2.01 without Location-Path: %w", err)
		}
		m.mu.Lock()
		m.location = strings.Trim(loc, "/")
		m.token = nil
		m.mu.Unlock()
		m.urc("CONNECT OK")
	}
	return resp.Code(), nil
}

// Location is the Location-Path of the last registration.
func (m *quectel) Location() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.location
}

// Update is AT+QLWUPDATE.
func (m *quectel) Update() (codes.Code, error) {
	return m.rd(codes.POST)
}

// Close is AT+QLWCLOSE (De-register).
func (m *quectel) Close() (codes.Code, error) {
	return m.rd(codes.DELETE)
}

func (m *quectel) rd(method codes.Code) (codes.Code, error) {
	ctx, cancel := m.ctx()
	defer cancel()
	cc := m.conn()
	var req *pool.Message
	var err error
	if method == codes.DELETE {
		req, err = cc.NewDeleteRequest(ctx, "/"+m.Location())
	} else {
		req, err = cc.NewPostRequest(ctx, "/"+m.Location(), message.TextPlain, nil)
	}
	if err != nil {
		return 0, err
	}
	defer cc.ReleaseMessage(req)
	resp, err := cc.Do(req)
	if err != nil {
		return 0, err
	}
	defer cc.ReleaseMessage(resp)
	return resp.Code(), nil
}

// WaitObserved waits for "+QLWOBSERVE: 0,19,0,0".
func (m *quectel) WaitObserved() {
	m.t.Helper()
	select {
	case <-m.observed:
	case <-time.After(3 * time.Second):
		m.t.Fatal("the server did not observe /19/0/0")
	}
}

// Send is AT+QLWDATASEND=19,0,0,<len>,<data>,<mode>: a NON (or CON) 2.05
// on the observe token with CF 42 and no Observe option.
func (m *quectel) Send(data []byte, con bool) error {
	m.mu.Lock()
	tok := m.token
	m.mu.Unlock()
	if tok == nil {
		return errNotObserved
	}
	ctx, cancel := m.ctx()
	defer cancel()
	cc := m.conn()
	msg := cc.AcquireMessage(ctx)
	defer cc.ReleaseMessage(msg)
	msg.SetCode(codes.Content)
	msg.SetToken(tok)
	msg.SetContentFormat(message.AppOctets)
	msg.SetBody(bytes.NewReader(data))
	msg.SetMessageID(cc.GetMessageID())
	if con {
		msg.SetType(message.Confirmable)
	} else {
		msg.SetType(message.NonConfirmable)
	}
	return cc.WriteMessage(msg)
}

// Receive waits for a write to /19/1/0.
func (m *quectel) Receive(timeout time.Duration) ([]byte, bool) {
	select {
	case b := <-m.received:
		return b, true
	case <-time.After(timeout):
		return nil, false
	}
}
