package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/openmgs/openmgs/fleet"
)

// Content formats (RFC 7252, OMA LwM2M).
const (
	cfText       message.MediaType = 0
	cfLinkFormat message.MediaType = 40
	cfOctets     message.MediaType = 42
	cfTLV        message.MediaType = 11542
	cfTLVOld     message.MediaType = 1542 // pre-1.0 draft code
)

// supportedVersions are the lwm2m= values accepted at registration.
var supportedVersions = map[string]bool{"": true, "1.0": true, "1.1": true, "1.2": true}

// serve handles the requests that reach the router: the registration
// interface. Responses that the request monitor passed through (to our own
// requests) and anything else end here too.
func (s *Server) serve(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	code := r.Code()
	if code < codes.GET || code > codes.DELETE {
		return // a late response or an empty message: nothing to do
	}
	path, err := r.Options().Path()
	if err != nil && !errors.Is(err, message.ErrOptionNotFound) {
		s.reject(w, r, codes.BadOption, "bad Uri-Path: %v", err)
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "rd":
		if code != codes.POST {
			s.reject(w, r, codes.MethodNotAllowed, "%v /rd: only POST (Register) is allowed", code)
			return
		}
		s.register(w, r)
	case len(parts) == 2 && parts[0] == "rd" && parts[1] != "":
		switch code {
		case codes.POST:
			s.updateReg(w, r, parts[1])
		case codes.DELETE:
			s.deregister(w, r, parts[1])
		default:
			s.reject(w, r, codes.MethodNotAllowed, "%v /rd/%s: only POST (Update) and DELETE (De-register) are allowed", code, parts[1])
		}
	default:
		s.reject(w, r, codes.NotFound, "no resource /%s", strings.Join(parts, "/"))
	}
}

// reject answers a request with an error code and a diagnostic payload,
// and logs it.
func (s *Server) reject(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, code codes.Code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.stats.rejected.Add(1)
	s.log.Warn("coap request rejected", "remote", w.Conn().RemoteAddr().String(), "code", code.String(), "reason", msg)
	if err := w.SetResponse(code, cfText, strings.NewReader(msg)); err != nil {
		s.log.Debug("coap response", "err", err)
	}
}

// query holds the Uri-Query parameters of a registration request.
type query map[string]string

func parseQuery(r *pool.Message) (query, error) {
	qs, err := r.Options().Queries()
	if err != nil && !errors.Is(err, message.ErrOptionNotFound) {
		return nil, err
	}
	q := query{}
	for _, kv := range qs {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("empty query parameter name in %q", kv)
		}
		if _, dup := q[k]; dup {
			return nil, fmt.Errorf("query parameter %q given twice", k)
		}
		q[k] = v
	}
	return q, nil
}

// lifetime parses lt (seconds) and clamps it.
func (s *Server) lifetime(v string, present bool) (time.Duration, error) {
	if !present {
		return s.cfg.DefaultLifetime, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("lt=%q is not a positive number of seconds", v)
	}
	d := time.Duration(n) * time.Second
	return min(max(d, s.cfg.MinLifetime), s.cfg.MaxLifetime), nil
}

// binding validates b: UDP (U) is required; Q (queue mode), S and T are
// accepted and recorded.
func binding(v string, present bool) (string, error) {
	if !present || v == "" {
		return "U", nil
	}
	if len(v) > 4 || !strings.Contains(v, "U") {
		return "", fmt.Errorf("b=%q: this server speaks CoAP over UDP, the binding must include U", v)
	}
	for _, c := range v {
		if !strings.ContainsRune("UQST", c) {
			return "", fmt.Errorf("b=%q: unknown binding %q", v, c)
		}
	}
	return v, nil
}

// links reads and parses a link-format body (content format 40, or 0 as
// some clients send, or none).
func links(r *pool.Message, required bool) ([]Link, bool, codes.Code, error) {
	body, err := r.ReadBody()
	if err != nil {
		return nil, false, codes.BadRequest, fmt.Errorf("unreadable payload: %v", err)
	}
	if len(body) == 0 {
		if required {
			return nil, false, codes.BadRequest, errors.New("the registration has no object links")
		}
		return nil, false, 0, nil
	}
	if cf, err := r.ContentFormat(); err == nil && cf != cfLinkFormat && cf != cfText {
		return nil, false, codes.UnsupportedMediaType, fmt.Errorf("content format %d: object links must be link-format (40)", cf)
	}
	l, err := ParseLinks(body)
	if err != nil {
		return nil, false, codes.BadRequest, err
	}
	return l, true, 0, nil
}

func udpAddr(a net.Addr) *net.UDPAddr {
	if u, ok := a.(*net.UDPAddr); ok {
		return &net.UDPAddr{IP: append(net.IP(nil), u.IP...), Port: u.Port, Zone: u.Zone}
	}
	u, _ := net.ResolveUDPAddr("udp", a.String())
	return u
}

// register handles POST /rd?ep=&lt=&b=&lwm2m= (LwM2M Register).
func (s *Server) register(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	q, err := parseQuery(r)
	if err != nil {
		s.reject(w, r, codes.BadRequest, "register: %v", err)
		return
	}
	ep, ok := q["ep"]
	if !ok || ep == "" {
		s.reject(w, r, codes.BadRequest, "register: the endpoint name (ep=) is required")
		return
	}
	lt, ltOK := q["lt"]
	life, err := s.lifetime(lt, ltOK)
	if err != nil {
		s.reject(w, r, codes.BadRequest, "register %s: %v", ep, err)
		return
	}
	b, bOK := q["b"]
	bind, err := binding(b, bOK)
	if err != nil {
		s.reject(w, r, codes.BadRequest, "register %s: %v", ep, err)
		return
	}
	ver := q["lwm2m"]
	if !supportedVersions[ver] {
		s.reject(w, r, codes.PreconditionFailed, "register %s: LwM2M version %q is not supported (1.0, 1.1, 1.2)", ep, ver)
		return
	}
	lk, _, code, err := links(r, true)
	if err != nil {
		s.reject(w, r, code, "register %s: %v", ep, err)
		return
	}
	ctx := s.context()
	ident, err := s.id.Resolve(ctx, ep)
	switch {
	case errors.Is(err, fleet.ErrUnknownEndpoint):
		s.reject(w, r, codes.Forbidden, "register: %v", err)
		return
	case errors.Is(err, fleet.ErrInvalid):
		s.reject(w, r, codes.BadRequest, "register: %v", err)
		return
	case err != nil:
		s.log.Error("resolve endpoint", "endpoint", ep, "err", err)
		s.reject(w, r, codes.InternalServerError, "register %s: internal error", ep)
		return
	}
	p := peerOf(w.Conn())
	if err := s.admit(p, ident); err != nil {
		s.reject(w, r, codes.Forbidden, "register: %v", err)
		return
	}
	now := s.now()
	s.mu.Lock()
	id, tok := s.newIDs()
	s.mu.Unlock()
	rg := &reg{EUI: ident.EUI, Endpoint: ep, ID: id, Addr: udpAddr(w.Conn().RemoteAddr()), Binding: bind, Version: ver, Lifetime: life,
		Links: lk, Registered: now, Updated: now, LastSeen: now, Token: tok, Opaque: ident.Opaque, DTLS: p.dtls, PSKIdentity: p.identity}
	if p.dtls {
		rg.conn = w.Conn()
	}
	rr := toRecord(rg)
	if _, err := s.update(ctx, rg.EUI, func(rec *record) { rec.Endpoint, rec.Reg = ep, rr }); err != nil {
		s.log.Error("store registration", "endpoint", ep, "err", err)
		s.reject(w, r, codes.InternalServerError, "register %s: internal error", ep)
		return
	}
	s.mu.Lock()
	s.add(rg)
	s.mu.Unlock()
	s.stats.registrations.Add(1)
	s.log.Info("registered", "endpoint", ep, "dev_eui", rg.EUI, "reg_id", id, "remote", rg.Addr.String(), "lt", life, "b", bind,
		"lwm2m", ver, "provisioned", ident.Provisioned, "opaque", ident.Opaque, "dtls", p.dtls)
	if err := w.SetResponse(codes.Created, cfText, nil,
		message.Option{ID: message.LocationPath, Value: []byte("rd")},
		message.Option{ID: message.LocationPath, Value: []byte(id)}); err != nil {
		s.log.Debug("coap response", "err", err)
	}
	// The modem sends nothing until /19/0/0 is observed, and may drop
	// writes before that: observe first, then deliver what is queued.
	eui := rg.EUI
	s.submit(eui, func(ctx context.Context) {
		if !sleep(ctx, s.cfg.ObserveDelay) {
			return
		}
		s.observe(ctx, eui, id)
		s.deliver(ctx, eui, trigRegister)
	})
}

// updateReg handles POST /rd/<id> (LwM2M Update).
func (s *Server) updateReg(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, id string) {
	q, err := parseQuery(r)
	if err != nil {
		s.reject(w, r, codes.BadRequest, "update %s: %v", id, err)
		return
	}
	p := peerOf(w.Conn())
	s.mu.Lock()
	cur := s.byID[id]
	var ep string
	var owner peer
	if cur != nil {
		ep, owner = cur.Endpoint, cur.peer()
	}
	s.mu.Unlock()
	if cur == nil {
		s.reject(w, r, codes.NotFound, "update: no registration rd/%s (expired or de-registered: register again)", id)
		return
	}
	if owner != p {
		s.reject(w, r, codes.Forbidden, "update rd/%s: registered over %v, not %v", id, owner, p)
		return
	}
	lt, ltOK := q["lt"]
	var life time.Duration
	if ltOK {
		if life, err = s.lifetime(lt, true); err != nil {
			s.reject(w, r, codes.BadRequest, "update %s: %v", ep, err)
			return
		}
	}
	b, bOK := q["b"]
	var bind string
	if bOK {
		if bind, err = binding(b, true); err != nil {
			s.reject(w, r, codes.BadRequest, "update %s: %v", ep, err)
			return
		}
	}
	lk, hasLinks, code, err := links(r, false)
	if err != nil {
		s.reject(w, r, code, "update %s: %v", ep, err)
		return
	}
	ctx := s.context()
	ident, err := s.id.Resolve(ctx, ep)
	if err != nil || ident.EUI != cur.EUI {
		// The provisioning changed under the registration: make the device
		// register again so that the new identity (or refusal) applies.
		s.drop(ctx, cur)
		s.reject(w, r, codes.NotFound, "update %s: the endpoint's identity changed (%v); register again", ep, err)
		return
	}
	if err := s.admit(p, ident); err != nil {
		// A key was set (or changed) since the device registered.
		s.drop(ctx, cur)
		s.reject(w, r, codes.Forbidden, "update: %v", err)
		return
	}
	now := s.now()
	s.mu.Lock()
	if s.byID[id] != cur { // replaced or removed meanwhile
		s.mu.Unlock()
		s.reject(w, r, codes.NotFound, "update: no registration rd/%s", id)
		return
	}
	if ltOK {
		cur.Lifetime = life
	}
	if bOK {
		cur.Binding = bind
	}
	if hasLinks {
		cur.Links = lk
	}
	cur.Addr, cur.Updated, cur.LastSeen, cur.Opaque = udpAddr(w.Conn().RemoteAddr()), now, now, ident.Opaque
	if p.dtls {
		cur.conn = w.Conn() // the device may have handshaken again
	}
	rr := toRecord(cur)
	observed, eui := cur.Observed, cur.EUI
	s.mu.Unlock()
	if _, err := s.update(ctx, eui, func(rec *record) { rec.Endpoint, rec.Reg = ep, rr }); err != nil {
		s.log.Error("store registration update", "endpoint", ep, "err", err)
		s.reject(w, r, codes.InternalServerError, "update %s: internal error", ep)
		return
	}
	s.stats.updates.Add(1)
	s.log.Info("registration updated", "endpoint", ep, "dev_eui", eui, "reg_id", id, "remote", rr.Addr)
	if err := w.SetResponse(codes.Changed, cfText, nil); err != nil {
		s.log.Debug("coap response", "err", err)
	}
	if observed {
		s.submitDeliver(eui, trigUpdate)
		return
	}
	s.submit(eui, func(ctx context.Context) {
		if sleep(ctx, s.cfg.ObserveDelay) {
			s.observe(ctx, eui, id)
			s.deliver(ctx, eui, trigUpdate)
		}
	})
}

// deregister handles DELETE /rd/<id> (LwM2M De-register).
func (s *Server) deregister(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message, id string) {
	p := peerOf(w.Conn())
	s.mu.Lock()
	cur := s.byID[id]
	var owner peer
	if cur != nil {
		owner = cur.peer()
		if cur.accepts(p) {
			s.remove(cur)
		}
	}
	s.mu.Unlock()
	if cur == nil {
		s.reject(w, r, codes.NotFound, "de-register: no registration rd/%s", id)
		return
	}
	if owner != p {
		s.reject(w, r, codes.Forbidden, "de-register rd/%s: registered over %v, not %v", id, owner, p)
		return
	}
	if _, err := s.update(s.context(), cur.EUI, func(rec *record) {
		if rec.Reg != nil && rec.Reg.ID == id {
			rec.Reg = nil
		}
	}); err != nil {
		s.log.Error("store de-registration", "endpoint", cur.Endpoint, "err", err)
	}
	s.stats.deregistrations.Add(1)
	s.log.Info("de-registered", "endpoint", cur.Endpoint, "dev_eui", cur.EUI, "reg_id", id)
	if err := w.SetResponse(codes.Deleted, cfText, nil); err != nil {
		s.log.Debug("coap response", "err", err)
	}
}

// drop removes a registration and its stored record.
func (s *Server) drop(ctx context.Context, cur *reg) {
	s.mu.Lock()
	s.remove(cur)
	s.mu.Unlock()
	id := cur.ID
	if _, err := s.update(ctx, cur.EUI, func(rec *record) {
		if rec.Reg != nil && rec.Reg.ID == id {
			rec.Reg = nil
		}
	}); err != nil {
		s.log.Error("store de-registration", "endpoint", cur.Endpoint, "err", err)
	}
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
