package uplink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
)

// Config tunes the pipeline; DefaultConfig gives the documented defaults.
type Config struct {
	// History bounds per device; the oldest entries are dropped first.
	MaxLogs          int // default 100
	MaxFiles         int // default 32
	MaxStreamRecords int // default 500
	MaxPositions     int // default 100
	// MaxPendingRequests bounds queued requests per device (default 32).
	MaxPendingRequests int
	// MaxAttempts bounds the read-compute-commit attempts of one uplink
	// under conflicting concurrent writes (default 16).
	MaxAttempts int
	// Logger receives one Info line per uplink (dev_eui, msgtype, fcnt, …)
	// and Debug lines on commit conflicts; nil discards. Lines are logged
	// with the call's context, so a handler can add context values such as
	// a request id.
	Logger *slog.Logger
	// Observer, when set, is told the duration of every stage and the
	// outcome of every uplink (for metrics).
	Observer Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ALCPort is the port of bare ALCSync messages (default 202; it is
	// ignored when a device protocol port uses it).
	ALCPort int
	// ALCThreshold is the clock error, in seconds, from which an AppTimeReq
	// is answered even when the device did not ask for an answer (default 2).
	ALCThreshold int
	// GNSS solves GNSS/GNSS-NG uplinks (gnss.go); nil: not available.
	GNSS GNSSSolver
	// WiFi solves Wi-Fi scans (wifi.go); nil: not available.
	WiFi WiFiSolver
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxLogs: 100, MaxFiles: 32, MaxStreamRecords: 500, MaxPositions: 100, MaxPendingRequests: 32, MaxAttempts: 16,
		ALCPort: 202, ALCThreshold: 2}
}

// Validate reports the first invalid setting, naming it.
func (c Config) Validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{{"max-logs", c.MaxLogs}, {"max-files", c.MaxFiles}, {"max-stream-records", c.MaxStreamRecords},
		{"max-positions", c.MaxPositions}, {"max-pending-requests", c.MaxPendingRequests}, {"max-attempts", c.MaxAttempts}} {
		if v.n < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", v.name, v.n)
		}
	}
	return nil
}

// Result is what one uplink produced (UPLINK_RESPONSE).
type Result struct {
	Operation     string
	File          *store.File
	StreamRecords []store.StreamRecord
	Position      *store.Position
	Fulfilled     []store.PendingRequest
	Dnlink        *store.Dnlink
	Ports         store.Ports
	Info          store.InfoFields
	Pending       []store.PendingRequest
	Upcount       uint8
	Updelay       uint8
	Logs          []store.LogMessage
}

// Operations of UPLINK_RESPONSE.
const (
	OpModem = "modem"
	OpGNSS  = "gnss"
	OpWiFi  = "wifi"
	OpOther = "other"
)

// Protocol is what an uplink carries, after routing.
type Protocol uint8

// Protocols.
const (
	ProtoNone   Protocol = iota // metadata only: a downlink opportunity
	ProtoOther                  // application data on a non-protocol port
	ProtoJoin                   // session reset
	ProtoDM                     // device management frame
	ProtoStream                 // ROSE frame on a dedicated stream port
	ProtoGNSS                   // legacy GNSS NAV
	ProtoGNSSNG                 // GNSS-NG group NAV
	ProtoWiFi                   // Wi-Fi scan
	ProtoALC                    // ALCSync commands on their own port
)

// State is what the stages of one uplink share.
type State struct {
	EUI lora.EUI64
	Msg *Message
	// Dev is a private copy of the device (Rev 0 when new); stages change it.
	Dev   *store.Device
	Ports store.Ports
	// Now is the server time of processing, Unix seconds.
	Now float64
	// Protocol is set by the route stage.
	Protocol Protocol
	// DM is the decoded DM frame (ProtoDM), possibly partial.
	DM *modemproto.Uplink
	// Received are the info fields this uplink reported.
	Received modemproto.TagSet
	// Duplicate marks a repeat of the last uplink or a replay of a recent
	// one (Message.DedupKey): nothing is committed.
	Duplicate bool
	Result    *Result
}

// Log adds a log message to the response (and to the device log).
func (s *State) Log(level store.Level, format string, args ...any) {
	s.Result.Logs = append(s.Result.Logs, store.LogMessage{Msg: fmt.Sprintf(format, args...), Level: level, Time: s.Now})
}

// Stage is one named step of the pipeline.
type Stage struct {
	Name string
	Run  func(ctx context.Context, s *State) error
}

// Observer receives timings from the pipeline. Its methods are called
// synchronously on the uplink's goroutine, so they must be cheap and safe
// for concurrent use.
type Observer interface {
	// StageDone reports one run of a stage. Besides the stages of
	// DefaultStages, "load" (reading the device) and "commit" (the durable
	// compare-and-swap) are reported; a conflicting commit runs the stages
	// again, and each run is reported.
	StageDone(stage string, d time.Duration)
	// UplinkDone reports the outcome of one Handle call.
	UplinkDone(o Outcome)
}

// Outcome is the result of one Handle call, for metrics.
type Outcome struct {
	// MsgType is the uplink's msgtype ("unknown" when it failed validation).
	MsgType string
	// Operation is the response's operation ("" when no response).
	Operation string
	// Result is one of the Result… constants.
	Result string
	// Attempts is the number of read-compute-commit runs (0 when the
	// uplink was rejected before the first one).
	Attempts int
	Duration time.Duration
}

// Outcome results.
const (
	ResultOK        = "ok"        // committed
	ResultDuplicate = "duplicate" // a repeat of the last uplink or a replay of a recent one: answered, nothing stored
	ResultInvalid   = "invalid"   // rejected by validation
	ResultError     = "error"     // failed (store error, conflict retries exhausted, canceled)
)

// ErrStop ends the stage list early without an error.
var ErrStop = errors.New("uplink: stop")

// ErrLimit is returned when a per-device bound would be exceeded.
var ErrLimit = errors.New("limit exceeded")

// Pipeline processes uplinks and owns the device operations.
type Pipeline struct {
	cfg      Config
	devices  store.Devices
	settings store.Settings
	events   *Broker
	stages   []Stage
	log      *slog.Logger
	now      func() time.Time

	defaultPorts atomic.Pointer[store.Ports]
	inFlight     atomic.Int64
	devLocks     deviceLocks
	afterCommit  []func(context.Context, *State)
	afterDelete  []func(context.Context, lora.EUI64)
}

// New returns a pipeline over s. cfg zero fields take their defaults.
func New(s store.Store, cfg Config) *Pipeline {
	def := DefaultConfig()
	for _, f := range []struct{ dst, d *int }{{&cfg.MaxLogs, &def.MaxLogs}, {&cfg.MaxFiles, &def.MaxFiles},
		{&cfg.MaxStreamRecords, &def.MaxStreamRecords}, {&cfg.MaxPositions, &def.MaxPositions},
		{&cfg.MaxPendingRequests, &def.MaxPendingRequests}, {&cfg.MaxAttempts, &def.MaxAttempts},
		{&cfg.ALCPort, &def.ALCPort}, {&cfg.ALCThreshold, &def.ALCThreshold}} {
		if *f.dst <= 0 {
			*f.dst = *f.d
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{cfg: cfg, devices: store.NewDevices(s), settings: store.NewSettings(s), events: NewBroker(),
		log: cfg.Logger, now: cfg.Now}
	p.stages = p.DefaultStages()
	return p
}

// InsertStage inserts st right after the stage named after. Call it
// before the pipeline serves.
func (p *Pipeline) InsertStage(after string, st Stage) error {
	for i, s := range p.stages {
		if s.Name == after {
			p.stages = append(p.stages[:i+1], append([]Stage{st}, p.stages[i+1:]...)...)
			return nil
		}
	}
	return fmt.Errorf("uplink: no stage %q", after)
}

// OnCommit registers fn to run after each committed (non-duplicate)
// uplink, before Handle returns (side effects such as marking an outbox
// message sent belong here, not in stages). Call it before the pipeline
// serves.
func (p *Pipeline) OnCommit(fn func(context.Context, *State)) {
	p.afterCommit = append(p.afterCommit, fn)
}

// OnDelete registers fn to run after a device was deleted (state kept
// outside the device record, such as queued downstream messages, goes with
// it). Call it before the pipeline serves.
func (p *Pipeline) OnDelete(fn func(context.Context, lora.EUI64)) {
	p.afterDelete = append(p.afterDelete, fn)
}

// Events returns the broker that publishes one event per committed uplink.
func (p *Pipeline) Events() *Broker { return p.events }

// InFlight returns the number of uplinks being processed right now.
func (p *Pipeline) InFlight() int64 { return p.inFlight.Load() }

// Config returns the effective configuration.
func (p *Pipeline) Config() Config { return p.cfg }

// DefaultStages is the standard stage list.
func (p *Pipeline) DefaultStages() []Stage {
	return []Stage{
		{"route", p.route},
		{"duplicate", p.duplicate},
		{"session", p.session},
		{"decode_dm", p.decodeDM},
		{"upload", p.upload},
		{"stream", p.streamStage},
		{"alc_sync", p.alcSync},
		{"protocols", p.protocols},
		{"gnss", p.gnssStage},
		{"wifi", p.wifiScan},
		{"fulfil", p.fulfil},
		{"plan_downlink", p.planDownlink},
		{"record", p.record},
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Handle processes one uplink of device eui and returns its response once
// the device state it produced is durably committed.
func (p *Pipeline) Handle(ctx context.Context, eui lora.EUI64, msg Message) (*Result, error) {
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	obs := p.cfg.Observer
	var t0 time.Time
	if obs != nil {
		t0 = time.Now()
	}
	if err := Validate(&msg); err != nil {
		if obs != nil {
			obs.UplinkDone(Outcome{MsgType: "unknown", Result: ResultInvalid, Duration: time.Since(t0)})
		}
		return nil, err
	}
	start := p.now()
	now := unixSeconds(start)
	if msg.Timestamp == 0 {
		msg.Timestamp = now
	}
	msg.Payload = bytes.Clone(msg.Payload)
	fail := func(attempts int, err error) (*Result, error) {
		if obs != nil {
			obs.UplinkDone(Outcome{MsgType: msg.Type.String(), Result: ResultError, Attempts: attempts, Duration: time.Since(t0)})
		}
		p.log.DebugContext(ctx, "uplink failed", "dev_eui", eui, "msgtype", msg.Type.String(), "fcnt", msg.FCnt, "attempts", attempts,
			"err", err)
		return nil, err
	}
	defPorts, err := p.DefaultPorts(ctx)
	if err != nil {
		return fail(0, err)
	}
	unlock := p.devLocks.lock(eui)
	defer unlock()
	for attempt := 1; ; attempt++ {
		s, err := p.run(ctx, eui, &msg, defPorts, now)
		if err != nil {
			return fail(attempt, err)
		}
		if !s.Duplicate {
			var tc time.Time
			if obs != nil {
				tc = time.Now()
			}
			err = p.devices.Commit(ctx, s.Dev)
			if obs != nil {
				obs.StageDone("commit", time.Since(tc))
			}
			if errors.Is(err, store.ErrConflict) && attempt < p.cfg.MaxAttempts {
				p.log.DebugContext(ctx, "commit conflict, retrying", "dev_eui", eui, "msgtype", msg.Type.String(), "fcnt", msg.FCnt,
					"attempt", attempt)
				continue
			}
			if err != nil {
				return fail(attempt, fmt.Errorf("commit device %s: %w", eui, err))
			}
			for _, fn := range p.afterCommit {
				fn(context.WithoutCancel(ctx), s)
			}
		}
		finish(s)
		p.log.InfoContext(ctx, "uplink", "dev_eui", eui, "msgtype", msg.Type.String(), "fcnt", msg.FCnt, "port", msg.Port,
			"operation", s.Result.Operation, "dnlink", s.Result.Dnlink != nil, "duplicate", s.Duplicate, "duration", p.now().Sub(start))
		if obs != nil {
			res := ResultOK
			if s.Duplicate {
				res = ResultDuplicate
			}
			obs.UplinkDone(Outcome{MsgType: msg.Type.String(), Operation: s.Result.Operation, Result: res, Attempts: attempt,
				Duration: time.Since(t0)})
		}
		if !s.Duplicate {
			p.events.Publish(Event{EUI: eui, Uplink: msg, Result: s.Result, Time: now})
		}
		return s.Result, nil
	}
}

// run loads the device and runs the stages on a fresh State.
func (p *Pipeline) run(ctx context.Context, eui lora.EUI64, msg *Message, defPorts store.Ports, now float64) (*State, error) {
	obs := p.cfg.Observer
	var t time.Time
	if obs != nil {
		t = time.Now()
	}
	dev, err := p.devices.Get(ctx, eui)
	if errors.Is(err, store.ErrNotFound) {
		dev, err = &store.Device{EUI: eui, Created: now}, nil
	}
	if obs != nil {
		obs.StageDone("load", time.Since(t))
	}
	if err != nil {
		return nil, fmt.Errorf("load device %s: %w", eui, err)
	}
	s := &State{EUI: eui, Msg: msg, Dev: dev, Ports: defPorts, Now: now, Result: &Result{}}
	if dev.Ports != nil {
		s.Ports = *dev.Ports
	}
	for _, st := range p.stages {
		if obs != nil {
			t = time.Now()
		}
		err := st.Run(ctx, s)
		if obs != nil {
			obs.StageDone(st.Name, time.Since(t))
		}
		if err != nil {
			if errors.Is(err, ErrStop) {
				break
			}
			return nil, fmt.Errorf("stage %s: %w", st.Name, err)
		}
	}
	return s, nil
}

// finish fills the device-state part of the response.
func finish(s *State) {
	r, d := s.Result, s.Dev
	r.Ports = s.Ports
	r.Info = d.Info
	r.Pending = append([]store.PendingRequest(nil), d.Requests...)
	r.Upcount, r.Updelay = d.Upcount, d.Updelay
}

// route decides the protocol and the operation from msgtype and port.
func (p *Pipeline) route(_ context.Context, s *State) error {
	m, r := s.Msg, s.Result
	switch m.Type {
	case store.MsgJoining:
		s.Protocol, r.Operation = ProtoJoin, OpModem
	case store.MsgModem:
		s.Protocol, r.Operation = ProtoDM, OpModem
	case store.MsgGNSS:
		s.Protocol, r.Operation = ProtoGNSS, OpGNSS
	case store.MsgGNSSNG:
		s.Protocol, r.Operation = ProtoGNSSNG, OpGNSS
	case store.MsgWiFi:
		s.Protocol, r.Operation = ProtoWiFi, OpWiFi
	default:
		port := s.Ports
		switch {
		case !m.HasPort:
			s.Protocol, r.Operation = ProtoNone, OpOther
		case m.Port == port.DM:
			s.Protocol, r.Operation = ProtoDM, OpModem
		case port.Stream != 0 && m.Port == port.Stream:
			s.Protocol, r.Operation = ProtoStream, OpModem
		case m.Port == port.GNSS:
			s.Protocol, r.Operation = ProtoGNSS, OpGNSS
		case m.Port == port.GNSSNG:
			s.Protocol, r.Operation = ProtoGNSSNG, OpGNSS
		case m.Port == port.WiFi:
			s.Protocol, r.Operation = ProtoWiFi, OpWiFi
		case int(m.Port) == p.cfg.ALCPort:
			s.Protocol, r.Operation = ProtoALC, OpModem
		default:
			s.Protocol, r.Operation = ProtoOther, OpOther
		}
		if s.Protocol > ProtoJoin && len(m.Payload) == 0 {
			s.Log(store.LevelWarning, "empty payload on protocol port %d: treated as a downlink opportunity", m.Port)
			s.Protocol = ProtoNone
		}
	}
	return nil
}

// RecentUplinkKeys is how many dedup keys of a device's last keyed uplinks
// are kept with its state (Device.RecentUplinkKeys): a transport replays
// the uplinks of a few seconds after a crash, which this covers even for a
// chatty device, while the list stays small (128 bytes).
const RecentUplinkKeys = 16

// duplicate recognises an uplink already processed: a replay of one of the
// device's recent keyed uplinks (same DedupKey), which a transport delivers
// again after a crash, or a repeat of the last uplink (same msgtype, fcnt,
// port and payload), which network servers send when they retry. Nothing is
// stored again; the response repeats the last downlink only for the last
// uplink (an older uplink's downlink moment has passed).
func (p *Pipeline) duplicate(ctx context.Context, s *State) error {
	last, m := s.Dev.LastUplink, s.Msg
	if m.DedupKey != "" && slices.Contains(s.Dev.RecentUplinkKeys, store.UplinkKeyHash(m.DedupKey)) {
		s.Duplicate = true
		if last != nil && last.DedupKey == m.DedupKey {
			s.Result.Dnlink = cloneDnlink(s.Dev.LastDnlink)
		}
		s.Log(store.LevelInfo, "replay of an uplink already processed (key %s): not processed again", m.DedupKey)
		p.log.InfoContext(ctx, "replay of an uplink already processed: not processed again", "dev_eui", s.EUI,
			"msgtype", m.Type.String(), "fcnt", m.FCnt, "key", m.DedupKey)
		return ErrStop
	}
	if last == nil || !m.HasFCnt || !last.HasFCnt || last.FCnt != m.FCnt || last.Type != m.Type ||
		last.HasPort != m.HasPort || last.Port != m.Port || !bytes.Equal(last.Payload, m.Payload) {
		return nil
	}
	s.Duplicate = true
	s.Result.Dnlink = cloneDnlink(s.Dev.LastDnlink)
	s.Log(store.LevelInfo, "duplicate of the last uplink (fcnt %d): not processed again", m.FCnt)
	return ErrStop
}

func cloneDnlink(dn *store.Dnlink) *store.Dnlink {
	if dn == nil {
		return nil
	}
	return &store.Dnlink{Port: dn.Port, Payload: bytes.Clone(dn.Payload)}
}

// Session keys: opaque per-protocol session state in Device.Sessions that
// a session reset drops.
var sessionBound = []string{SessionUpload, sessionUploadDone, SessionStream}

// Keys of Device.Sessions.
const (
	SessionUpload = "upload"
	SessionStream = "stream"
)

// session handles a joining message: the modem's session restarted, so
// stream and upload sessions end and REJOIN requests are fulfilled.
func (p *Pipeline) session(_ context.Context, s *State) error {
	if s.Protocol != ProtoJoin {
		return nil
	}
	dropped := 0
	for _, k := range sessionBound {
		if _, ok := s.Dev.Sessions[k]; ok {
			delete(s.Dev.Sessions, k)
			dropped++
		}
	}
	// The join changes the DevNonce and the stream offset restarts, so the
	// old session counter no longer describes the device.
	s.Dev.Info.Session = store.Info[uint16]{}
	if dropped > 0 {
		s.Log(store.LevelInfo, "session reset (joining): %d open upload/stream session(s) closed", dropped)
	} else {
		s.Log(store.LevelInfo, "session reset (joining)")
	}
	return nil
}

// decodeDM decodes a DM frame and records its info fields. A frame that is
// truncated or has an unknown tag is used as far as it decodes.
func (p *Pipeline) decodeDM(_ context.Context, s *State) error {
	if s.Protocol != ProtoDM {
		return nil
	}
	u, err := modemproto.DecodeUplink(s.Msg.Payload)
	if err != nil {
		s.Log(store.LevelError, "DM frame: %v (fields before it were used)", err)
	}
	if u == nil {
		return nil
	}
	s.DM = u
	s.Received = s.Dev.Info.Apply(u, s.Msg.Timestamp)
	if u.Present.Has(modemproto.TagStatus) && u.Fields.Status.Crash && !u.Present.Has(modemproto.TagCrashLog) {
		s.Log(store.LevelWarning, "the modem reports a crash; request GETINFO crashlog to read it")
	}
	if u.Present.Has(modemproto.TagStatus) && u.Fields.Status.Brownout {
		s.Log(store.LevelWarning, "the modem reports a brownout reset")
	}
	return nil
}

// protocols reports the payloads whose solver the pipeline was not given
// (Config.GNSS, Config.WiFi) and the DM messages whose format is not
// published: they are kept in last_uplink and reported explicitly.
func (p *Pipeline) protocols(_ context.Context, s *State) error {
	unavailable := func(what string) {
		s.Log(store.LevelWarning, "%s received: %s is not available on this server (no solver configured); the payload is kept in last_uplink", what, what)
	}
	switch s.Protocol {
	case ProtoDM:
		u := s.DM
		if u == nil {
			return nil
		}
		switch {
		case u.Present.Has(modemproto.TagDebugResponse), u.Present.Has(modemproto.TagGNSSLoc), u.Present.Has(modemproto.TagWiFiLoc):
			tag, _, _ := u.VariableField()
			s.Log(store.LevelWarning, "DM %s message: its content format is not published; ignored", tag)
		}
	case ProtoGNSS, ProtoGNSSNG:
		if p.cfg.GNSS == nil { // else the gnss stage handles it
			unavailable("GNSS scan")
		}
	case ProtoWiFi:
		if p.cfg.WiFi == nil { // else the wifi stage solves it
			unavailable("Wi-Fi scan")
		}
	}
	return nil
}

// record keeps the books: last uplink, its dedup key, counters, bounded
// histories. They are committed together, so a replay is recognised exactly
// when the uplink's effects are stored.
func (p *Pipeline) record(_ context.Context, s *State) error {
	d := s.Dev
	msg := *s.Msg
	d.LastUplink = &msg
	if msg.DedupKey != "" {
		d.RecentUplinkKeys = pushKey(d.RecentUplinkKeys, store.UplinkKeyHash(msg.DedupKey))
	}
	d.UplinkCount++
	d.LastDnlink = s.Result.Dnlink
	d.Logs = appendBounded(d.Logs, s.Result.Logs, p.cfg.MaxLogs)
	if f := s.Result.File; f != nil {
		d.Files = appendBounded(d.Files, []store.File{*f}, p.cfg.MaxFiles)
	}
	d.StreamRecords = appendBounded(d.StreamRecords, s.Result.StreamRecords, p.cfg.MaxStreamRecords)
	if pos := s.Result.Position; pos != nil {
		d.Positions = appendBounded(d.Positions, []store.Position{*pos}, p.cfg.MaxPositions)
	}
	return nil
}

// pushKey appends h to keys and keeps the newest RecentUplinkKeys, in
// place once full (no allocation per uplink).
func pushKey(keys []uint64, h uint64) []uint64 {
	if len(keys) < RecentUplinkKeys {
		return append(keys, h)
	}
	n := copy(keys, keys[len(keys)-RecentUplinkKeys+1:])
	keys[n] = h
	return keys[:n+1]
}

// appendBounded appends add to list and keeps only the newest max entries.
func appendBounded[T any](list, add []T, max int) []T {
	list = append(list, add...)
	if n := len(list) - max; n > 0 {
		list = append(list[:0:0], list[n:]...)
	}
	return list
}
