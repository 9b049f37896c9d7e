package lwm2m

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
)

// isResponse reports whether a code is a response code (classes 2–5).
func isResponse(c codes.Code) bool { return c >= 64 && c < 192 }

// monitor sees every datagram before go-coap processes it. It takes the
// CON and NON responses that are not answers to our own requests: these
// are notifications, matched to a registration by token alone, because the
// Quectel modems send them as NON 2.05 without the Observe option, and
// possibly from a new source port after a NAT rebinding or a restart of
// this server. Everything else goes on to go-coap.
//
// It runs on the server's read loop, so it does no I/O but the ACK/RST:
// the uplink itself is processed on the device's worker.
func (s *Server) monitor(cc *udpClient.Conn, m *pool.Message) (bool, error) {
	if !isResponse(m.Code()) {
		return false, nil
	}
	tok := m.Token() // map lookups by string(tok) do not allocate
	now := s.now()
	p := peerOf(cc)
	s.mu.Lock()
	r := s.byToken[string(tok)]
	if r != nil && !r.accepts(p) && s.inflight[string(tok)] == 0 {
		// The token of a registration made over another transport or
		// identity: never let one device speak for another.
		owner, ep := r.peer(), r.Endpoint
		s.mu.Unlock()
		s.refuse(cc, m, "notification for %s over %v, but it registered over %v", ep, p, owner)
		return true, nil
	}
	if r != nil && r.observeWait != nil {
		// The answer to our observe, piggybacked in the ACK or separate.
		ch := r.observeWait
		r.observeWait = nil
		s.mu.Unlock()
		ch <- m.Code()
		if m.Type() == message.Acknowledgement {
			return false, nil // go-coap completes the exchange
		}
		// A separate response is the observation's first notification:
		// Quectel modems answer the observe with an empty ACK and then send
		// their data as NON 2.05 on the observe's token, so a separate
		// response that carries data is an uplink, not just a handshake.
		if size, _ := m.BodySize(); size == 0 || (m.Code() != codes.Content && m.Code() != codes.Changed) {
			s.ack(cc, m)
			return true, nil
		}
		s.mu.Lock()
		r = s.byToken[string(tok)]
	}
	if m.Type() != message.Confirmable && m.Type() != message.NonConfirmable {
		s.mu.Unlock()
		return false, nil
	}
	if s.inflight[string(tok)] > 0 {
		s.mu.Unlock()
		return false, nil // a separate response to our own request
	}
	if r == nil {
		s.mu.Unlock()
		s.refuse(cc, m, "notification from an unregistered endpoint (unknown token %x)", m.Token())
		return true, nil
	}
	eui, ep, opaque := r.EUI, r.Endpoint, r.Opaque
	s.mu.Unlock()

	if m.Code() != codes.Content && m.Code() != codes.Changed {
		// The device ended the observation (e.g. 4.04): it must be observed
		// again, which happens at its next registration update.
		s.mu.Lock()
		if s.byToken[string(tok)] == r {
			r.Observed = false
		}
		s.mu.Unlock()
		s.ack(cc, m)
		s.log.Warn("observation ended by the device", "endpoint", ep, "dev_eui", eui, "code", codeString(m.Code()))
		return true, nil
	}
	raw, err := notificationPayload(m)
	if err == nil && len(raw) > s.cfg.MaxPayload {
		err = fmt.Errorf("payload of %d bytes is more than %d", len(raw), s.cfg.MaxPayload)
	}
	if err == nil && !opaque {
		_, _, _, err = Unframe(raw)
	}
	if err != nil {
		s.refuse(cc, m, "notification from %s (%s): %v", ep, eui, err)
		return true, nil
	}

	s.mu.Lock()
	if s.byToken[string(tok)] != r { // de-registered meanwhile
		s.mu.Unlock()
		s.refuse(cc, m, "notification from an unregistered endpoint (unknown token %x)", m.Token())
		return true, nil
	}
	dup := r.mids.seen(uint16(m.MessageID()), now)
	if !dup {
		r.Addr, r.LastSeen = udpAddr(cc.RemoteAddr()), now
		if p.dtls {
			r.conn = cc // a new session after the device handshook again
		}
	}
	s.mu.Unlock()
	s.ack(cc, m) // also re-acknowledges a retransmitted CON
	if dup {
		s.stats.duplicates.Add(1)
		s.log.Debug("duplicate notification dropped", "endpoint", ep, "mid", m.MessageID())
		return true, nil
	}
	s.stats.notifications.Add(1)
	s.submit(eui, func(ctx context.Context) { s.uplink(ctx, eui, raw, now) })
	return true, nil
}

// notificationPayload returns the object 19 bytes of a notification:
// opaque (42), text/none (as the Quectel modems label them), or the value
// of resource 0 in LwM2M TLV.
func notificationPayload(m *pool.Message) ([]byte, error) {
	body, err := m.ReadBody()
	if err != nil {
		return nil, fmt.Errorf("unreadable payload: %v", err)
	}
	cf, err := m.ContentFormat()
	if errors.Is(err, message.ErrOptionNotFound) {
		return body, nil
	}
	switch cf {
	case cfOctets, cfText:
		return body, nil
	case cfTLV, cfTLVOld:
		tlv, err := DecodeTLV(body)
		if err != nil {
			return nil, err
		}
		v, ok := ResourceValue(tlv, 0)
		if !ok {
			return nil, errors.New("TLV payload without resource 0 (Data)")
		}
		return append([]byte(nil), v...), nil
	}
	return nil, fmt.Errorf("unsupported content format %d (want 42 opaque or 11542 TLV)", cf)
}

// ack acknowledges a CON message (nothing for NON).
func (s *Server) ack(cc *udpClient.Conn, m *pool.Message) {
	if m.Type() == message.Confirmable {
		s.writeEmpty(cc, m, message.Acknowledgement)
	}
}

// refuse logs a rejected notification and answers it with RST, which tells
// the modem that the server does not know the observation (it then
// registers again).
func (s *Server) refuse(cc *udpClient.Conn, m *pool.Message, format string, args ...any) {
	s.stats.rejected.Add(1)
	s.log.Warn("notification rejected", "remote", cc.RemoteAddr().String(), "reason", fmt.Sprintf(format, args...))
	s.writeEmpty(cc, m, message.Reset)
}

func (s *Server) writeEmpty(cc *udpClient.Conn, m *pool.Message, typ message.Type) {
	out := cc.AcquireMessage(cc.Context())
	defer cc.ReleaseMessage(out)
	out.SetType(typ)
	out.SetCode(codes.Empty)
	out.SetMessageID(m.MessageID())
	if err := cc.Session().WriteMessage(out); err != nil {
		s.log.Debug("coap write", "err", err)
	}
}

// uplink turns a notification into an uplink of the pipeline, then sends
// what the device should receive while it is awake: the pipeline's own
// downlink (modem requests), then the queued messages.
func (s *Server) uplink(ctx context.Context, eui lora.EUI64, raw []byte, at time.Time) {
	s.mu.Lock()
	var opaque bool
	var ep string
	if r := s.byEUI[eui]; r != nil {
		opaque, ep = r.Opaque, r.Endpoint
	}
	s.mu.Unlock()
	rec, err := s.update(ctx, eui, func(rec *record) {
		rec.FCnt++
		if rec.Reg != nil {
			s.mu.Lock()
			if r := s.byEUI[eui]; r != nil && r.ID == rec.Reg.ID {
				rec.Reg.Addr, rec.Reg.LastSeen = r.Addr.String(), r.LastSeen.UnixNano()
			}
			s.mu.Unlock()
		}
	})
	if err != nil {
		s.log.Error("store frame counter", "dev_eui", eui, "err", err)
		return
	}
	msg := store.Uplink{Type: store.MsgUpdf, FCnt: rec.FCnt - 1, HasFCnt: true, Timestamp: float64(at.UnixNano()) / 1e9}
	if opaque {
		msg.Port, msg.HasPort, msg.Payload, msg.DnMTU = s.cfg.OpaquePort, true, raw, uint32(s.cfg.MaxPayload)
	} else {
		port, payload, ok, _ := Unframe(raw) // checked by the monitor
		msg.Port, msg.HasPort, msg.Payload, msg.DnMTU = port, ok, payload, uint32(s.cfg.MaxPayload-1)
	}
	res, err := s.h.Handle(outbox.WithTransport(ctx, outbox.TransportCoAP), eui, msg)
	if err != nil {
		s.log.Warn("uplink not processed", "endpoint", ep, "dev_eui", eui, "fcnt", msg.FCnt, "err", err)
	} else if dn := res.Dnlink; dn != nil {
		switch {
		case opaque:
			s.log.Warn("modem downlink not sent: the device is opaque (no port framing)", "dev_eui", eui, "port", dn.Port)
		case len(dn.Payload)+1 > s.cfg.MaxPayload:
			s.log.Warn("modem downlink not sent: too large", "dev_eui", eui, "bytes", len(dn.Payload)+1)
		default:
			code, err := s.write(ctx, eui, Frame(dn.Port, dn.Payload))
			if err == nil && !success(code) {
				err = fmt.Errorf("device answered %v", codeString(code))
			}
			if err != nil {
				s.stats.deliveryErrors.Add(1)
				s.log.Warn("modem downlink not delivered (the request is repeated on a later uplink)", "dev_eui", eui, "err", err)
			} else {
				s.log.Debug("modem downlink delivered", "dev_eui", eui, "port", dn.Port)
			}
		}
	}
	s.deliver(ctx, eui, trigUplink)
}
