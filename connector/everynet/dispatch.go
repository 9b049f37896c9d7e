package everynet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// receive handles one message read from the connection. It runs on the
// reader goroutine: parsing, de-duplication and logging happen here; work
// that touches a device (pipeline calls, downlink answers) is queued on
// that device's worker, so one device's messages are handled in order and
// a slow device does not delay the others.
func (c *Connector) receive(ctx context.Context, s *session, data []byte, recv time.Time) {
	m, err := parseMessage(data)
	lg := c.msgLogger(m)
	if err != nil {
		c.reject(lg, "malformed message", err)
		return
	}
	c.mu.Lock()
	c.st.LastMessage = recv
	if m.Time > c.st.Cursor {
		c.st.Cursor = m.Time
	}
	c.mu.Unlock()
	// The checkpoint passes this message once it is finished: here, or by
	// the device worker it is queued on (queued).
	seq := c.track.begin(m.Time)
	queued, remember := false, ""
	defer func() {
		if !queued {
			c.track.end(seq, remember)
		}
	}()

	switch m.Type {
	case typeUplink:
		if !c.require(lg, m, true) {
			return
		}
		u, notes, err := mapUplink(m, c.cfg.DataRatePlan)
		switch {
		case errors.Is(err, errDuplicateCopy):
			lg.Debug("gateway duplicate ignored")
			return
		case errors.Is(err, errEncrypted):
			lg.Warn("uplink skipped", "port", u.Port, "fcnt", u.FCnt, "reason", err.Error())
			c.count(func(st *Status) { st.Rejected++ })
			return
		case err != nil:
			c.reject(lg, "uplink not usable", err)
			return
		}
		for _, n := range notes {
			lg.Debug("uplink mapping", "note", n)
		}
		queued = c.handleOnce(ctx, lg, m, seq, func(key string) bool { return c.runUplink(lg, m, u, key) })

	case typeJoinRequest:
		if !c.require(lg, m, true) {
			return
		}
		u, _ := joiningUplink(m, c.cfg.DataRatePlan)
		queued = c.handleOnce(ctx, lg, m, seq, func(key string) bool {
			lg.Info("join request: session reset sent to the pipeline as joining (the join itself is answered by the network or another application server)")
			return c.runUplink(lg, m, u, key)
		})

	case typeDownlinkRequest:
		if !c.require(lg, m, true) {
			return
		}
		req, err := parseDownlinkRequest(m)
		if err != nil {
			c.reject(lg, "downlink_request not usable", err)
			return
		}
		if req.CounterDown == nil {
			lg.Warn("downlink_request without counter_down: the response leaves it to the network")
		}
		queued = c.handleOnce(ctx, lg, m, seq, func(string) bool {
			c.answer(lg, s, m, req, recv)
			return true
		})

	case typeDownlink:
		if !c.require(lg, m, false) {
			return
		}
		n, err := parseDownlink(m)
		if err != nil {
			c.reject(lg, "downlink notification not usable", err)
			return
		}
		if n.Duplicate {
			lg.Debug("duplicate downlink notification ignored")
			return
		}
		queued = c.handleOnce(ctx, lg, m, seq, func(string) bool {
			c.transmitted(lg, m, n)
			return true
		})

	case typeStatusResponse, typeStatus:
		var p statusParams
		if err := decodeParams(m, &p); err != nil {
			c.reject(lg, "status_response not usable", err)
			return
		}
		if c.seenBefore(m) {
			return
		}
		remember = dedupKey(m)
		attrs := []any{}
		if p.Battery != nil {
			attrs = append(attrs, "battery", batteryText(*p.Battery))
		}
		if p.SNR != nil {
			attrs = append(attrs, "snr", *p.SNR)
		}
		if p.RxTime != nil {
			attrs = append(attrs, "rx_time", *p.RxTime)
		}
		lg.Info("device status (DevStatusAns)", attrs...)

	case typeLocation:
		var p locationParams
		if err := decodeParams(m, &p); err != nil {
			c.reject(lg, "location not usable", err)
			return
		}
		if c.seenBefore(m) {
			return
		}
		remember = dedupKey(m)
		for _, s := range p.Solutions {
			lg.Info("network location solution", "lat", s.Lat, "lng", s.Lng, "precision_m", s.Precision,
				"quality", s.Quality, "method", s.Method)
		}
		if len(p.Solutions) == 0 {
			lg.Info("network location message without solutions")
		}

	case typeError, typeWarning, typeInfo:
		var p logParams
		if err := decodeParams(m, &p); err != nil {
			c.reject(lg, m.Type+" message not usable", err)
			return
		}
		if c.seenBefore(m) {
			return
		}
		remember = dedupKey(m)
		attrs := []any{"message", p.Message}
		if len(p.Code) > 0 && !isNull(p.Code) {
			attrs = append(attrs, "code", strings.Trim(string(p.Code), `"`))
		}
		level := map[string]slog.Level{typeError: slog.LevelError, typeWarning: slog.LevelWarn, typeInfo: slog.LevelInfo}[m.Type]
		lg.Log(context.Background(), level, "network "+m.Type, attrs...)
		if m.Type == typeInfo && m.HasDevice && isJoinAccepted(p.Message) {
			// The network completed an OTAA join it handled itself: the
			// modem's session restarted.
			u := store.Uplink{Type: store.MsgJoining, Timestamp: m.Time}
			key := remember
			remember, queued = "", true
			c.enqueue(ctx, m.Device, seq, func() string {
				if c.runUplink(lg, m, u, key) {
					return key
				}
				return ""
			})
		}

	case typeDownlinkResponse, typeJoinResponse, typeStatusRequest, typeDownlinkClaim:
		lg.Debug("application-to-network message ignored")

	default:
		lg.Warn("unknown message type ignored")
		c.count(func(st *Status) { st.Rejected++ })
	}
}

// msgLogger is the logger of one message: its type, packet hash and device.
func (c *Connector) msgLogger(m *message) *slog.Logger {
	attrs := make([]any, 0, 6)
	if m.Type != "" {
		attrs = append(attrs, "type", m.Type)
	}
	if m.PacketHash != "" {
		attrs = append(attrs, "packet_hash", m.PacketHash)
	}
	if m.HasDevice {
		attrs = append(attrs, "dev_eui", m.Device)
	}
	return c.log.With(attrs...)
}

func (c *Connector) reject(lg *slog.Logger, what string, err error) {
	lg.Warn(what, "err", err)
	c.count(func(st *Status) { st.Rejected++ })
}

func (c *Connector) count(f func(*Status)) {
	c.mu.Lock()
	f(&c.st)
	c.mu.Unlock()
}

// require checks the meta fields a device message needs.
func (c *Connector) require(lg *slog.Logger, m *message, needHash bool) bool {
	switch {
	case !m.HasDevice:
		c.reject(lg, m.Type+" not usable", fieldErr("meta.device", ErrMissing, ""))
		return false
	case needHash && m.PacketHash == "":
		c.reject(lg, m.Type+" not usable", fieldErr("meta.packet_hash", ErrMissing, ""))
		return false
	}
	return true
}

// dedupKey is a message's de-duplication key, "" without a packet_hash.
func dedupKey(m *message) string {
	if m.PacketHash == "" {
		return ""
	}
	return m.Type + "/" + m.PacketHash
}

// seenBefore records a message's (type, packet_hash) and reports whether
// it was received before (a replay after reconnect or restart).
func (c *Connector) seenBefore(m *message) bool {
	key := dedupKey(m)
	if key == "" {
		return false
	}
	if c.seen.add(key) {
		return false
	}
	c.msgLogger(m).Debug("already received: ignored")
	c.count(func(st *Status) { st.Replayed++ })
	return true
}

// handleOnce queues job on the device's worker unless the message was
// received before, and reports whether it did (the worker then finishes
// the message seq). job gets the de-duplication key ("" without a hash)
// and reports whether the message is processed: only then is its key kept
// in the checkpoint.
func (c *Connector) handleOnce(ctx context.Context, lg *slog.Logger, m *message, seq uint64, job func(key string) bool) bool {
	if c.seenBefore(m) {
		return false
	}
	key := dedupKey(m)
	c.enqueue(ctx, m.Device, seq, func() string {
		if job(key) {
			return key
		}
		return ""
	})
	return true
}

// enqueue appends job to the device's queue, starting its worker if idle;
// once job has run, the message seq is finished and the key it returns
// remembered. It waits while MaxQueued messages are queued. If ctx ends
// first, the message is dropped and seq stays unfinished, so the saved
// cursor never passes it.
func (c *Connector) enqueue(ctx context.Context, eui lora.EUI64, seq uint64, job func() (key string)) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	c.mu.Lock()
	d := c.device(eui)
	d.queue = append(d.queue, func() { c.track.end(seq, job()) })
	if !d.running {
		d.running = true
		c.wg.Add(1)
		go c.work(d)
	}
	c.mu.Unlock()
}

// work runs a device's jobs in order until its queue is empty.
func (c *Connector) work(d *device) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if len(d.queue) == 0 {
			d.running = false
			d.queue = nil
			c.mu.Unlock()
			return
		}
		job := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		c.mu.Unlock()
		job()
		<-c.slots
	}
}

// device returns the state of eui, creating it. c.mu must be held.
func (c *Connector) device(eui lora.EUI64) *device {
	d := c.devices[eui]
	if d == nil {
		d = &device{}
		c.devices[eui] = d
	}
	return d
}

// runUplink hands an uplink (or joining) to the pipeline and keeps its
// downlink for the next downlink_request. key, the message's dedup key,
// goes with it: the pipeline stores it with the device's state, so a
// replay after a crash (messages processed since the last cursor save) is
// recognised there. It reports false when the pipeline failed and a replay
// may deliver the uplink again.
func (c *Connector) runUplink(lg *slog.Logger, m *message, u store.Uplink, key string) bool {
	u.DedupKey = key
	c.mu.Lock()
	d := c.device(m.Device)
	if m.Network != "" {
		d.network = m.Network
	}
	if u.Type == store.MsgUpdf && d.maxSize > 0 {
		u.DnMTU = uint32(d.maxSize)
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(c.base, c.cfg.HandleTimeout)
	start := time.Now()
	res, err := c.h.Handle(ctx, m.Device, u)
	cancel()
	if err != nil {
		if errors.Is(err, uplink.ErrInvalid) {
			c.reject(lg, "uplink rejected by the pipeline", err)
			return true // a replay would be rejected again
		}
		// Not processed: a replay after a reconnect may deliver it again.
		if key != "" {
			c.seen.forget(key)
		}
		lg.Error("uplink not processed", "err", err)
		return false
	}
	c.count(func(st *Status) { st.Uplinks++ })
	var dn *store.Dnlink
	if res != nil {
		dn = res.Dnlink
	}
	lg.Debug("uplink processed", "msgtype", u.Type.String(), "fcnt", u.FCnt, "port", u.Port,
		"dnlink", dn != nil, "duration", time.Since(start))
	c.setModemDownlink(m, dn)
	return true
}

// setModemDownlink records the newest UPLINK_RESPONSE dnlink of a device;
// nil clears the previous one, which that response superseded.
func (c *Connector) setModemDownlink(m *message, dn *store.Dnlink) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.device(m.Device)
	if old := d.modem; old != nil && old.timer != nil {
		old.timer.Stop()
	}
	d.modem = nil
	if dn == nil {
		return
	}
	p := &pendingDownlink{dn: store.Dnlink{Port: dn.Port, Payload: bytes.Clone(dn.Payload)}, source: "modem",
		uplinkHash: m.PacketHash, since: c.now()}
	d.modem = p
	if c.cfg.DownlinkClaim && !c.closed {
		eui := m.Device
		p.timer = time.AfterFunc(c.cfg.ClaimDelay, func() { c.autoClaim(eui, p) })
	}
}

// autoClaim claims a slot once for a modem downlink still untransmitted
// after ClaimDelay.
func (c *Connector) autoClaim(eui lora.EUI64, p *pendingDownlink) {
	c.mu.Lock()
	d := c.devices[eui]
	if c.closed || d == nil || d.modem != p || p.claimed {
		c.mu.Unlock()
		return
	}
	p.claimed = true
	network := d.network
	c.mu.Unlock()
	if err := c.claim(c.base, eui, network); err != nil {
		c.log.Warn("downlink_claim not sent", "dev_eui", eui, "err", err)
	}
}

// fits reports whether a downlink fits max_size (-1: unknown).
func fits(p *pendingDownlink, maxSize int) bool {
	return p != nil && (maxSize < 0 || len(p.dn.Payload) <= maxSize)
}

// answer responds to a downlink_request with the pending modem downlink,
// else the pending or next application downlink, else not at all.
func (c *Connector) answer(lg *slog.Logger, s *session, m *message, req downlinkRequestParams, recv time.Time) {
	if req.TxTime != nil && *req.TxTime > 0 {
		if late := lora.UnixSeconds(c.now()) - *req.TxTime; late > c.cfg.StaleAfter.Seconds() {
			lg.Info("downlink_request not answered: its transmit time has passed", "tx_time", *req.TxTime,
				"late_s", late)
			return
		}
	}
	maxSize := -1
	if req.MaxSize != nil {
		maxSize = int(*req.MaxSize)
	}
	c.mu.Lock()
	d := c.device(m.Device)
	if m.Network != "" {
		d.network = m.Network
	}
	if maxSize > 0 {
		d.maxSize = maxSize
	}
	var pick, other *pendingDownlink
	switch {
	case fits(d.modem, maxSize):
		pick, other = d.modem, d.app
	case fits(d.app, maxSize):
		pick, other = d.app, d.modem
	}
	for _, p := range []*pendingDownlink{d.modem, d.app} {
		if p != nil && p != pick {
			lg.Warn("pending downlink does not fit max_size: kept for a later slot", "source", p.source,
				"bytes", len(p.dn.Payload), "max_size", maxSize)
		}
	}
	askSource := pick == nil && d.app == nil && c.cfg.Downlinks != nil
	c.mu.Unlock()

	if askSource {
		ctx, cancel := context.WithTimeout(c.base, sourceTimeout)
		dn, ok := c.cfg.Downlinks.NextDownlink(ctx, m.Device)
		cancel()
		switch {
		case !ok || dn == nil:
		case dn.Port == 0 || dn.Port > 223:
			lg.Warn("application downlink dropped: port outside 1..223", "port", dn.Port)
		default:
			p := &pendingDownlink{dn: store.Dnlink{Port: dn.Port, Payload: bytes.Clone(dn.Payload)},
				source: "application", since: c.now()}
			c.mu.Lock()
			d.app = p
			other = d.modem
			c.mu.Unlock()
			if fits(p, maxSize) {
				pick = p
			} else {
				lg.Warn("application downlink does not fit max_size: kept for a later slot",
					"bytes", len(p.dn.Payload), "max_size", maxSize)
			}
		}
	}
	if pick == nil {
		lg.Debug("downlink_request: nothing to send")
		return
	}
	b, err := downlinkResponse(m, req, &pick.dn, other != nil, c.cfg.QueueIfLate)
	if err != nil {
		lg.Error("downlink_response not built", "err", err)
		return
	}
	// Recorded before the write: the network server may answer with its
	// downlink notification (matched by packet_hash) before this goroutine
	// runs again, and Status must already count the response.
	c.mu.Lock()
	pick.sent = append(pick.sent, m.PacketHash)
	if len(pick.sent) > maxSentHashes {
		pick.sent = pick.sent[len(pick.sent)-maxSentHashes:]
	}
	c.st.DownlinkResponses++
	c.mu.Unlock()
	if err := s.send(b); err != nil {
		c.mu.Lock()
		c.st.DownlinkResponses--
		c.mu.Unlock()
		lg.Warn("downlink_response not sent: the connection closed", "source", pick.source)
		return
	}
	attrs := []any{"source", pick.source, "port", pick.dn.Port, "bytes", len(pick.dn.Payload),
		"latency", c.now().Sub(recv)}
	if req.CounterDown != nil {
		attrs = append(attrs, "counter_down", *req.CounterDown)
	}
	lg.Info("downlink_response sent", attrs...)
}

// transmitted handles a downlink notification: a pending downlink it
// matches (same port, and the same payload or the packet_hash of a request
// it answered) has been sent and is cleared.
func (c *Connector) transmitted(lg *slog.Logger, m *message, n notification) {
	c.mu.Lock()
	d := c.device(m.Device)
	var match *pendingDownlink
	for _, p := range []*pendingDownlink{d.modem, d.app} {
		if p == nil || n.Port != int64(p.dn.Port) {
			continue
		}
		if n.HasPayload && bytes.Equal(n.Payload, p.dn.Payload) ||
			!n.HasPayload && m.PacketHash != "" && containsString(p.sent, m.PacketHash) {
			match = p
			break
		}
	}
	switch {
	case match == nil:
	case match == d.modem:
		if match.timer != nil {
			match.timer.Stop()
		}
		d.modem = nil
	default:
		d.app = nil
	}
	c.mu.Unlock()
	if match == nil {
		lg.Info("network downlink transmitted (not a pending OpenMGS downlink)", "port", n.Port,
			"counter_down", n.CounterDown)
		return
	}
	lg.Info("downlink transmitted", "source", match.source, "port", n.Port, "counter_down", n.CounterDown,
		"after", c.now().Sub(match.since))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// isJoinAccepted recognises the info message of a join the network
// accepted ("Join request accepted").
func isJoinAccepted(msg string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(msg)), "join request accepted")
}

func batteryText(b float64) string {
	switch {
	case b == 0:
		return "external power"
	case b == 255:
		return "unknown"
	case b >= 1 && b <= 254:
		return fmt.Sprintf("%.0f%% (%g/254)", b/254*100, b)
	}
	return "invalid"
}
