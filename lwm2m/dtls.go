package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	dtlsServer "github.com/plgd-dev/go-coap/v3/dtls/server"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/pkg/runner/periodic"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/openmgs/openmgs/fleet"
)

// PSKCipherSuites are the DTLS 1.2 cipher suites offered: the one LwM2M
// 1.0 mandates for the Pre-Shared Key mode (AES-128-CCM-8), and the
// AES-128-GCM and AES-128-CBC-SHA256 PSK suites that LwM2M and CoAP
// clients (RFC 7925) also use.
var PSKCipherSuites = []piondtls.CipherSuiteID{
	piondtls.TLS_PSK_WITH_AES_128_CCM_8,
	piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
	piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256,
}

// errNoSession is returned for a request to a DTLS device whose session
// is gone: the server cannot open one, the device must handshake again.
var errNoSession = errors.New("lwm2m: the device has no DTLS session (it must handshake again)")

// peer is where a message came from: plain CoAP, or a DTLS session
// authenticated with a PSK identity.
type peer struct {
	dtls     bool
	identity string
}

func (p peer) String() string {
	if p.dtls {
		return fmt.Sprintf("DTLS identity %q", p.identity)
	}
	return "plain CoAP"
}

// peerOf tells how a connection is secured.
func peerOf(cc *udpClient.Conn) peer {
	if c, ok := cc.NetConn().(*pskConn); ok {
		return peer{dtls: true, identity: c.identity}
	}
	return peer{}
}

// admit decides whether p may register (or update) the endpoint ident:
// over DTLS only with the endpoint's own PSK identity; over plain CoAP
// only when the endpoint has no key and plain registrations are allowed.
func (s *Server) admit(p peer, ident fleet.Identity) error {
	switch {
	case p.dtls && ident.PSKIdentity != p.identity:
		return fmt.Errorf("DTLS identity %q does not belong to endpoint %q", p.identity, ident.Endpoint)
	case p.dtls:
		return nil
	case s.cfg.RequireDTLS:
		return fmt.Errorf("endpoint %q: registrations over plain CoAP are refused (DTLS is required): use coaps", ident.Endpoint)
	case ident.PSKIdentity != "":
		return fmt.Errorf("endpoint %q has a pre-shared key: it must register over DTLS (coaps), not plain CoAP", ident.Endpoint)
	}
	return nil
}

// accepts reports whether a message from p may act on registration r:
// only over the transport and with the identity it registered with.
func (r *reg) accepts(p peer) bool { return r.DTLS == p.dtls && r.PSKIdentity == p.identity }

func (r *reg) peer() peer { return peer{dtls: r.DTLS, identity: r.PSKIdentity} }

// connFor returns the connection on which to reach a registered device:
// its DTLS session, or the plain UDP server's connection to its address.
func (s *Server) connFor(r reg) (*udpClient.Conn, error) {
	if r.DTLS {
		if r.conn == nil || r.conn.Context().Err() != nil {
			return nil, errNoSession
		}
		return r.conn, nil
	}
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil, errors.New("lwm2m: plain CoAP is not running")
	}
	return srv.NewConn(r.Addr)
}

// pskFor is the handshake's key lookup; an unknown identity fails the
// handshake.
func (s *Server) pskFor(hint []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.context(), 5*time.Second)
	defer cancel()
	cred, err := s.cfg.Keys.PSK(ctx, string(hint))
	if err != nil {
		s.log.Warn("DTLS handshake refused: no key for the PSK identity", "psk_identity", string(hint), "err", err)
		return nil, err
	}
	return cred.Key, nil
}

// listenDTLS binds the coaps listener.
func (s *Server) listenDTLS() (*dtlsListener, error) {
	l, err := coapNet.NewDTLSListener("udp", s.cfg.DTLSAddr, coapNet.NewDTLSServerOptions(
		piondtls.WithPSK(s.pskFor),
		piondtls.WithCipherSuites(PSKCipherSuites...),
		piondtls.WithExtendedMasterSecret(piondtls.RequestExtendedMasterSecret),
	))
	if err != nil {
		return nil, fmt.Errorf("coaps-addr: %w", err)
	}
	return &dtlsListener{DTLSListener: l, timeout: s.cfg.HandshakeTimeout, failed: s.handshakeFailed,
		open: map[*pskConn]struct{}{}}, nil
}

// newDTLSServer is the coaps server: the same handler and monitor as the
// plain one, on per-device DTLS sessions.
func (s *Server) newDTLSServer(ctx context.Context, tick time.Duration) *dtlsServer.Server {
	return dtls.NewServer(
		options.WithContext(ctx),
		options.WithHandlerFunc(s.serve),
		options.WithRequestMonitor(udpClient.RequestMonitorFunc(s.monitor)),
		options.WithTransmission(1, s.cfg.AckTimeout, s.cfg.MaxRetransmit),
		options.WithPeriodicRunner(periodic.New(ctx.Done(), tick)),
		options.WithInactivityMonitor(s.cfg.SessionIdleTimeout, func(cc *udpClient.Conn) { _ = cc.Close() }),
		options.WithBlockwise(false, blockwise.SZX1024, time.Second),
		options.WithMaxMessageSize(uint32(s.cfg.MaxPayload+1024)),
		options.WithErrors(func(err error) { s.log.Debug("coaps", "err", err) }),
	)
}

func (s *Server) handshakeFailed(remote net.Addr, err error) {
	s.stats.handshakeFailures.Add(1)
	if errors.Is(err, context.DeadlineExceeded) {
		// Records that do not decrypt are dropped silently (RFC 6347), so a
		// client with the wrong key just never finishes.
		s.log.Warn("DTLS handshake failed: timed out (a wrong pre-shared key looks like this)", "remote", remote.String(), "err", err)
		return
	}
	s.log.Warn("DTLS handshake failed", "remote", remote.String(), "err", err)
}

// dtlsListener hands go-coap sessions whose handshake is bounded in time
// and whose PSK identity is known once it completes. It keeps the open
// sessions so that a stop closes every one: go-coap closes only the
// sessions its Serve loop has registered, and a session accepted just
// before the stop would otherwise block its Read (and Serve) forever.
type dtlsListener struct {
	*coapNet.DTLSListener
	timeout time.Duration
	failed  func(net.Addr, error)

	mu     sync.Mutex
	open   map[*pskConn]struct{}
	closed bool
}

func (l *dtlsListener) AcceptWithContext(ctx context.Context) (net.Conn, error) {
	c, err := l.DTLSListener.AcceptWithContext(ctx)
	if err != nil || c == nil {
		return c, err
	}
	dc, ok := c.(*piondtls.Conn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("coaps: unexpected connection type %T", c)
	}
	pc := &pskConn{Conn: dc, timeout: l.timeout, failed: l.failed, release: l.release}
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.open[pc] = struct{}{}
	}
	l.mu.Unlock()
	if closed {
		_ = dc.Close()
		return nil, coapNet.ErrListenerIsClosed
	}
	return pc, nil
}

func (l *dtlsListener) release(c *pskConn) {
	l.mu.Lock()
	delete(l.open, c)
	l.mu.Unlock()
}

// closeSessions closes every open session and refuses new ones; the
// server calls it when it stops.
func (l *dtlsListener) closeSessions() {
	l.mu.Lock()
	l.closed = true
	open := make([]*pskConn, 0, len(l.open))
	for c := range l.open {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// pskConn is a server-side DTLS session. pion runs the handshake on the
// first Read without a deadline; this one runs it once, bounded, and keeps
// the client's PSK identity.
type pskConn struct {
	*piondtls.Conn
	timeout time.Duration
	failed  func(net.Addr, error)
	release func(*pskConn)

	once     sync.Once
	err      error
	identity string // set once the handshake succeeded
}

func (c *pskConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if c.err = c.Conn.HandshakeContext(ctx); c.err != nil {
			c.failed(c.RemoteAddr(), c.err)
			return
		}
		if st, ok := c.ConnectionState(); ok {
			c.identity = string(st.IdentityHint)
		}
	})
	return c.err
}

// HandshakeContext is what go-coap calls before a write.
func (c *pskConn) HandshakeContext(context.Context) error { return c.handshake() }

func (c *pskConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *pskConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// Close closes the session and forgets it.
func (c *pskConn) Close() error {
	c.release(c)
	return c.Conn.Close()
}
