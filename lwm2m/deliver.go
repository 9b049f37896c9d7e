package lwm2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
)

// trigger is what started a delivery round.
type trigger uint8

const (
	trigRegister trigger = iota
	trigUpdate
	trigUplink
	trigEnqueue
)

func (t trigger) String() string {
	return [...]string{"register", "update", "uplink", "enqueue"}[t]
}

// errNotRegistered is returned when a device has no registration.
var errNotRegistered = errors.New("lwm2m: device is not registered")

// snapshot returns a copy of a device's registration.
func (s *Server) snapshot(eui lora.EUI64) (reg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byEUI[eui]
	if r == nil {
		return reg{}, false
	}
	return r.snapshot(), true
}

func success(c codes.Code) bool { return c >= 64 && c < 96 }

// request sends one CON request to the device's latest address (over
// DTLS: on its session) and returns the response code. build prepares the request on the connection.
func (s *Server) request(ctx context.Context, r reg, build func(ctx context.Context, cc *udpClient.Conn) (*pool.Message, error)) (codes.Code, error) {
	cc, err := s.connFor(r)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	req, err := build(ctx, cc)
	if err != nil {
		return 0, err
	}
	defer cc.ReleaseMessage(req)
	tok := string(req.Token())
	s.mu.Lock()
	s.inflight[tok]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.inflight[tok]--; s.inflight[tok] <= 0 {
			delete(s.inflight, tok)
		}
		s.mu.Unlock()
	}()
	resp, err := cc.Do(req)
	if err != nil {
		return 0, err
	}
	defer cc.ReleaseMessage(resp)
	return resp.Code(), nil
}

// observe sends GET /19/0/0 with Observe 0 on the registration's token.
// The Quectel modems answer with an empty 2.05 (Observe 0, content format
// 0, no payload) and only then start sending. The answer is picked up by
// the monitor (by token), so that a notification sent right after it can
// never be taken for it, nor it for a notification.
func (s *Server) observe(ctx context.Context, eui lora.EUI64, regID string) {
	s.mu.Lock()
	cur := s.byEUI[eui]
	if cur == nil || cur.ID != regID {
		s.mu.Unlock()
		return
	}
	r := cur.snapshot()
	ch := make(chan codes.Code, 1)
	cur.observeWait = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if cur.observeWait == ch {
			cur.observeWait = nil
		}
		s.mu.Unlock()
	}()
	err := func() error {
		cc, err := s.connFor(r)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		req, err := cc.NewGetRequest(ctx, "/19/0/0")
		if err != nil {
			return err
		}
		defer cc.ReleaseMessage(req)
		req.SetToken(r.Token)
		req.SetObserve(0)
		if err := cc.WriteMessage(req); err != nil { // returns once acknowledged
			return err
		}
		select {
		case code := <-ch:
			if !success(code) {
				return fmt.Errorf("device answered %v", codeString(code))
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("observe /19/0/0 failed: the device cannot send until it registers or updates again", "endpoint", r.Endpoint,
				"dev_eui", eui, "err", err)
		}
		return
	}
	s.mu.Lock()
	ok := s.byEUI[eui] == cur
	if ok {
		cur.Observed = true
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	if _, err := s.update(ctx, eui, func(rec *record) {
		if rec.Reg != nil && rec.Reg.ID == regID {
			rec.Reg.Observed = true
		}
	}); err != nil {
		s.log.Error("store observe state", "dev_eui", eui, "err", err)
	}
	s.log.Info("observing /19/0/0", "endpoint", r.Endpoint, "dev_eui", eui)
}

// codeString writes a CoAP code as class.detail (4.05 MethodNotAllowed).
func codeString(c codes.Code) string { return fmt.Sprintf("%d.%02d %v", c>>5, c&31, c) }

// write sends PUT /19/1/0 (opaque) to the device.
func (s *Server) write(ctx context.Context, eui lora.EUI64, payload []byte) (codes.Code, error) {
	r, ok := s.snapshot(eui)
	if !ok {
		return 0, errNotRegistered
	}
	return s.request(ctx, r, func(ctx context.Context, cc *udpClient.Conn) (*pool.Message, error) {
		return cc.NewPutRequest(ctx, "/19/1/0", cfOctets, bytes.NewReader(payload))
	})
}

// deliver sends the device's queued messages, oldest first, while it
// answers. Each message is written up to DeliveryTries times with a
// doubling backoff; a 4.xx answer fails it for good. When a round fails
// while the device was awake the message's attempt count grows, and after
// MaxAttempts rounds it fails. A round that reaches a device that is not
// awake (binding U, sleeping) is a single try that does not count: the
// next uplink or update delivers.
func (s *Server) deliver(ctx context.Context, eui lora.EUI64, trig trigger) {
	for ctx.Err() == nil {
		r, ok := s.snapshot(eui)
		if !ok {
			return
		}
		awake := s.now().Sub(r.LastSeen) < s.cfg.AwakeWindow
		if !awake && trig == trigEnqueue && r.queueMode() {
			return // queue mode: wait for the device to wake up
		}
		m, ok, err := s.ob.Next(ctx, eui)
		if err != nil {
			s.log.Error("outbox", "dev_eui", eui, "err", err)
			return
		}
		if !ok {
			return
		}
		payload := m.Payload
		if !r.Opaque {
			payload = Frame(m.Port, m.Payload)
		}
		if len(payload) > s.cfg.MaxPayload {
			if !s.finish(ctx, m, false, fmt.Sprintf("%d bytes is more than the %d an object 19 write carries", len(payload), s.cfg.MaxPayload)) {
				return
			}
			continue
		}
		tries := s.cfg.DeliveryTries
		if !awake {
			tries = 1
		}
		var lastErr error
		permanent := ""
		delivered := false
	try:
		for i := range tries {
			if i > 0 && !sleep(ctx, s.cfg.RetryBackoff<<(i-1)) {
				return
			}
			code, err := s.write(ctx, eui, payload)
			switch {
			case err != nil:
				lastErr = err
			case success(code):
				delivered = true
				break try
			case code >= 160: // 5.xx: the device may recover
				lastErr = fmt.Errorf("device answered %v", codeString(code))
			default:
				permanent = fmt.Sprintf("device answered %v", codeString(code))
				break try
			}
			s.stats.deliveryErrors.Add(1)
			if ctx.Err() != nil {
				return
			}
		}
		switch {
		case delivered:
			if !s.finish(ctx, m, true, "") {
				return
			}
			s.log.Info("downlink delivered", "endpoint", r.Endpoint, "dev_eui", eui, "message_id", m.ID, "port", m.Port,
				"bytes", len(m.Payload), "trigger", trig.String())
		case permanent != "":
			if !s.finish(ctx, m, false, permanent) {
				return
			}
		default:
			if !awake {
				s.log.Debug("device not reachable; delivery waits for its next uplink or update", "dev_eui", eui, "err", lastErr)
				return
			}
			n, err := s.ob.MarkAttempt(ctx, eui, m.ID, lastErr.Error())
			if err != nil {
				s.log.Debug("outbox attempt", "dev_eui", eui, "message_id", m.ID, "err", err)
				return
			}
			if n >= s.cfg.MaxAttempts {
				s.finish(ctx, m, false, fmt.Sprintf("no answer after %d delivery rounds: %v", n, lastErr))
			} else {
				s.log.Warn("downlink delivery failed; retried at the next wake-up", "dev_eui", eui, "message_id", m.ID, "round", n,
					"err", lastErr)
			}
			return
		}
	}
}

// finish marks a message sent or failed. It reports false when the outbox
// could not be updated (the round must stop, or it would repeat).
func (s *Server) finish(ctx context.Context, m outbox.Message, sent bool, reason string) bool {
	var err error
	if sent {
		s.stats.delivered.Add(1)
		err = s.ob.MarkSent(ctx, m.EUI, m.ID, outbox.TransportCoAP)
	} else {
		s.stats.failed.Add(1)
		s.log.Warn("downlink failed", "dev_eui", m.EUI, "message_id", m.ID, "reason", reason)
		err = s.ob.MarkFailed(ctx, m.EUI, m.ID, outbox.TransportCoAP, reason)
	}
	switch {
	case err == nil:
	case errors.Is(err, outbox.ErrNotFound), errors.Is(err, outbox.ErrNotPending):
		// Deleted through the API while it was being written.
		s.log.Debug("outbox update", "dev_eui", m.EUI, "message_id", m.ID, "err", err)
	default:
		s.log.Error("outbox update", "dev_eui", m.EUI, "message_id", m.ID, "err", err)
		return false
	}
	return true
}
