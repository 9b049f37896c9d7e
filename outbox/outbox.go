package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
)

// TableName is the store table of the outbox.
const TableName = "outbox"

// Transports, as recorded in Message.Transport once a message is sent.
const (
	TransportLoRaWAN = "lorawan"
	TransportCoAP    = "coap"
)

var (
	// ErrNotFound is returned for an unknown message id.
	ErrNotFound = errors.New("outbox: message not found")
	// ErrQueueFull is returned when a device already has the maximum number
	// of pending messages.
	ErrQueueFull = errors.New("outbox: queue full")
	// ErrNotPending is returned when deleting or re-marking a message that
	// was already sent or failed.
	ErrNotPending = errors.New("outbox: message is not pending")
	// ErrInvalid is wrapped by every bad-argument error (port, payload).
	ErrInvalid = errors.New("outbox: invalid message")
)

// State is a message's delivery state.
type State uint8

// States.
const (
	Pending State = iota + 1
	Sent
	Failed
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Sent:
		return "sent"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// ParseState parses "pending", "sent" or "failed".
func ParseState(s string) (State, bool) {
	for _, st := range []State{Pending, Sent, Failed} {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Message is one downstream message.
type Message struct {
	EUI     lora.EUI64
	ID      uint64
	Port    uint8
	Payload []byte
	State   State
	Created time.Time
	// Updated is the time of the last change (state, attempt).
	Updated time.Time
	// SentTime is when it was sent (zero unless State is Sent).
	SentTime time.Time
	// Transport that sent it (TransportLoRaWAN, TransportCoAP).
	Transport string
	// Attempts counts failed delivery rounds (NB-IoT).
	Attempts int
	// Error is the last delivery error, or why the message failed.
	Error string
}

// Config bounds the queues. Zero fields take the defaults.
type Config struct {
	// MaxPending is the bound of each device's queue (default 16).
	MaxPending int
	// MaxHistory is how many sent/failed messages are kept per device
	// (default 16).
	MaxHistory int
	// MaxPayload bounds a payload in bytes (default 511: an NB-IoT object
	// 19 write is at most 512 bytes including the port byte).
	MaxPayload int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{MaxPending: 16, MaxHistory: 16, MaxPayload: 511} }

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{{"outbox max-pending", c.MaxPending}, {"outbox max-history", c.MaxHistory}, {"outbox max-payload", c.MaxPayload}} {
		if v.n < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", v.name, v.n)
		}
	}
	return nil
}

// Outbox is the message queue over a store.
type Outbox struct {
	cfg   Config
	t     store.Table
	locks [64]sync.Mutex

	wmu      sync.RWMutex
	watchers map[int]func(lora.EUI64)
	nextW    int
}

// New returns the outbox of s.
func New(s store.Store, cfg Config) *Outbox {
	def := DefaultConfig()
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = def.MaxPending
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = def.MaxHistory
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = def.MaxPayload
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Outbox{cfg: cfg, t: s.Table(TableName), watchers: make(map[int]func(lora.EUI64))}
}

// Config returns the effective configuration.
func (o *Outbox) Config() Config { return o.cfg }

// Watch registers fn to be called (synchronously, so it must not block)
// after each successful Enqueue, with the device's EUI. It returns a
// function that removes the watcher.
func (o *Outbox) Watch(fn func(lora.EUI64)) (stop func()) {
	o.wmu.Lock()
	id := o.nextW
	o.nextW++
	o.watchers[id] = fn
	o.wmu.Unlock()
	return func() {
		o.wmu.Lock()
		delete(o.watchers, id)
		o.wmu.Unlock()
	}
}

func (o *Outbox) lock(eui lora.EUI64) *sync.Mutex {
	v := eui.Uint64()
	v ^= v >> 33
	v *= 0xff51afd7ed558ccd
	v ^= v >> 33
	return &o.locks[v%uint64(len(o.locks))]
}

func key(eui lora.EUI64, id uint64) []byte {
	k := make([]byte, 16)
	copy(k, eui[:])
	binary.BigEndian.PutUint64(k[8:], id)
	return k
}

// record is the stored form of a message.
type record struct {
	Port      uint8  `json:"port"`
	Payload   []byte `json:"payload"`
	State     string `json:"state"`
	Created   int64  `json:"created"`
	Updated   int64  `json:"updated"`
	Sent      int64  `json:"sent,omitempty"`
	Transport string `json:"transport,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	Error     string `json:"error,omitempty"`
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func encode(m *Message) ([]byte, error) {
	return json.Marshal(record{Port: m.Port, Payload: m.Payload, State: m.State.String(), Created: unixNano(m.Created),
		Updated: unixNano(m.Updated), Sent: unixNano(m.SentTime), Transport: m.Transport, Attempts: m.Attempts, Error: m.Error})
}

func decode(eui lora.EUI64, id uint64, b []byte) (Message, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Message{}, fmt.Errorf("outbox: message %s/%d: %w", eui, id, err)
	}
	st, ok := ParseState(r.State)
	if !ok {
		return Message{}, fmt.Errorf("outbox: message %s/%d: unknown state %q", eui, id, r.State)
	}
	return Message{EUI: eui, ID: id, Port: r.Port, Payload: r.Payload, State: st, Created: unixTime(r.Created),
		Updated: unixTime(r.Updated), SentTime: unixTime(r.Sent), Transport: r.Transport, Attempts: r.Attempts, Error: r.Error}, nil
}

// meta is the per-device record under id 0.
type meta struct {
	Next uint64 `json:"next"`
}

// scan reads a device's meta record and messages in id order.
func (o *Outbox) scan(ctx context.Context, eui lora.EUI64) (meta, []Message, error) {
	var m meta
	var msgs []Message
	err := o.t.Range(ctx, key(eui, 0), func(k, v []byte, _ uint64) error {
		if len(k) != 16 || !bytes.Equal(k[:8], eui[:]) {
			return store.ErrStop
		}
		id := binary.BigEndian.Uint64(k[8:])
		if id == 0 {
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("outbox: meta of %s: %w", eui, err)
			}
			return nil
		}
		msg, err := decode(eui, id, v)
		if err != nil {
			return err
		}
		msgs = append(msgs, msg)
		return nil
	})
	return m, msgs, err
}

// ValidatePort reports whether port is usable: a LoRaWAN FPort for
// application data and the NB-IoT framing byte, 1..223.
func ValidatePort(port int) error {
	if port < 1 || port > 223 {
		return fmt.Errorf("%w: port %d is outside 1..223 (LoRaWAN FPort / NB-IoT port byte)", ErrInvalid, port)
	}
	return nil
}

// Enqueue queues a message for a device and returns it. It fails with
// ErrQueueFull when the device has Config.MaxPending pending messages, and
// with ErrInvalid for a bad port or an oversized payload.
func (o *Outbox) Enqueue(ctx context.Context, eui lora.EUI64, port int, payload []byte) (Message, error) {
	if err := ValidatePort(port); err != nil {
		return Message{}, err
	}
	if len(payload) > o.cfg.MaxPayload {
		return Message{}, fmt.Errorf("%w: payload of %d bytes is more than %d", ErrInvalid, len(payload), o.cfg.MaxPayload)
	}
	mu := o.lock(eui)
	mu.Lock()
	m, msgs, err := o.scan(ctx, eui)
	if err != nil {
		mu.Unlock()
		return Message{}, err
	}
	pending := 0
	for _, x := range msgs {
		if x.State == Pending {
			pending++
		}
	}
	if pending >= o.cfg.MaxPending {
		mu.Unlock()
		return Message{}, fmt.Errorf("%w: device %s has %d pending messages, the limit is %d", ErrQueueFull, eui, pending, o.cfg.MaxPending)
	}
	if m.Next == 0 {
		m.Next = 1
	}
	now := o.cfg.Now()
	msg := Message{EUI: eui, ID: m.Next, Port: uint8(port), Payload: bytes.Clone(payload), State: Pending, Created: now, Updated: now}
	m.Next++
	mb, err := json.Marshal(m)
	if err != nil {
		mu.Unlock()
		return Message{}, err
	}
	vb, err := encode(&msg)
	if err != nil {
		mu.Unlock()
		return Message{}, err
	}
	err = o.t.Write(ctx, []store.Op{{Key: key(eui, 0), Value: mb}, {Key: key(eui, msg.ID), Value: vb}})
	mu.Unlock()
	if err != nil {
		return Message{}, fmt.Errorf("outbox: enqueue for %s: %w", eui, err)
	}
	o.wmu.RLock()
	for _, fn := range o.watchers {
		fn(eui)
	}
	o.wmu.RUnlock()
	return msg, nil
}

// List returns all messages of a device (pending, sent and failed) in id
// order.
func (o *Outbox) List(ctx context.Context, eui lora.EUI64) ([]Message, error) {
	_, msgs, err := o.scan(ctx, eui)
	return msgs, err
}

// Get returns one message.
func (o *Outbox) Get(ctx context.Context, eui lora.EUI64, id uint64) (Message, error) {
	if id == 0 {
		return Message{}, fmt.Errorf("%w: %s/%d", ErrNotFound, eui, id)
	}
	b, _, err := o.t.Get(ctx, key(eui, id))
	if errors.Is(err, store.ErrNotFound) {
		return Message{}, fmt.Errorf("%w: %s/%d", ErrNotFound, eui, id)
	}
	if err != nil {
		return Message{}, err
	}
	return decode(eui, id, b)
}

// Pending returns a device's pending messages, oldest first.
func (o *Outbox) Pending(ctx context.Context, eui lora.EUI64) ([]Message, error) {
	msgs, err := o.List(ctx, eui)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(msgs, func(m Message) bool { return m.State != Pending }), nil
}

// Next returns the oldest pending message of a device; ok is false when
// there is none.
func (o *Outbox) Next(ctx context.Context, eui lora.EUI64) (msg Message, ok bool, err error) {
	err = o.t.Range(ctx, key(eui, 1), func(k, v []byte, _ uint64) error {
		if len(k) != 16 || !bytes.Equal(k[:8], eui[:]) {
			return store.ErrStop
		}
		m, err := decode(eui, binary.BigEndian.Uint64(k[8:]), v)
		if err != nil {
			return err
		}
		if m.State == Pending {
			msg, ok = m, true
			return store.ErrStop
		}
		return nil
	})
	return msg, ok, err
}

// Delete removes a pending message (ErrNotPending once sent or failed).
func (o *Outbox) Delete(ctx context.Context, eui lora.EUI64, id uint64) error {
	mu := o.lock(eui)
	mu.Lock()
	defer mu.Unlock()
	m, err := o.Get(ctx, eui, id)
	if err != nil {
		return err
	}
	if m.State != Pending {
		return fmt.Errorf("%w: message %d of %s is %s", ErrNotPending, id, eui, m.State)
	}
	return o.t.Write(ctx, []store.Op{{Key: key(eui, id)}})
}

// Purge removes every message of a device (when the device is deleted).
func (o *Outbox) Purge(ctx context.Context, eui lora.EUI64) error {
	mu := o.lock(eui)
	mu.Lock()
	defer mu.Unlock()
	_, msgs, err := o.scan(ctx, eui)
	if err != nil {
		return err
	}
	ops := []store.Op{{Key: key(eui, 0)}}
	for _, m := range msgs {
		ops = append(ops, store.Op{Key: key(eui, m.ID)})
	}
	return o.t.Write(ctx, ops)
}

// change applies fn to a pending message and stores it, dropping the
// oldest sent/failed messages beyond Config.MaxHistory.
func (o *Outbox) change(ctx context.Context, eui lora.EUI64, id uint64, fn func(m *Message)) (Message, error) {
	mu := o.lock(eui)
	mu.Lock()
	defer mu.Unlock()
	_, msgs, err := o.scan(ctx, eui)
	if err != nil {
		return Message{}, err
	}
	i := slices.IndexFunc(msgs, func(m Message) bool { return m.ID == id })
	if i < 0 {
		return Message{}, fmt.Errorf("%w: %s/%d", ErrNotFound, eui, id)
	}
	m := &msgs[i]
	if m.State != Pending {
		return Message{}, fmt.Errorf("%w: message %d of %s is %s", ErrNotPending, id, eui, m.State)
	}
	fn(m)
	m.Updated = o.cfg.Now()
	vb, err := encode(m)
	if err != nil {
		return Message{}, err
	}
	ops := []store.Op{{Key: key(eui, id), Value: vb}}
	done := 0
	for j := len(msgs) - 1; j >= 0; j-- {
		if msgs[j].State == Pending {
			continue
		}
		if done++; done > o.cfg.MaxHistory {
			ops = append(ops, store.Op{Key: key(eui, msgs[j].ID)})
		}
	}
	if err := o.t.Write(ctx, ops); err != nil {
		return Message{}, fmt.Errorf("outbox: update %s/%d: %w", eui, id, err)
	}
	return *m, nil
}

// MarkSent records that a transport delivered a pending message.
func (o *Outbox) MarkSent(ctx context.Context, eui lora.EUI64, id uint64, transport string) error {
	_, err := o.change(ctx, eui, id, func(m *Message) {
		m.State, m.SentTime, m.Transport, m.Error = Sent, o.cfg.Now(), transport, ""
	})
	return err
}

// MarkFailed gives up on a pending message, recording why.
func (o *Outbox) MarkFailed(ctx context.Context, eui lora.EUI64, id uint64, transport, reason string) error {
	_, err := o.change(ctx, eui, id, func(m *Message) {
		m.State, m.Transport, m.Error = Failed, transport, reason
	})
	return err
}

// MarkAttempt records a failed delivery round of a pending message (it
// stays pending) and returns the number of failed rounds so far.
func (o *Outbox) MarkAttempt(ctx context.Context, eui lora.EUI64, id uint64, reason string) (int, error) {
	m, err := o.change(ctx, eui, id, func(m *Message) {
		m.Attempts++
		m.Error = reason
	})
	return m.Attempts, err
}

// BroadcastError is one device a broadcast could not queue for.
type BroadcastError struct {
	EUI     lora.EUI64
	Message string
}

// BroadcastResult is the outcome of Broadcast: Sent counts the devices the
// message was queued for (the Horde/Span "sent"), Failed those it was not.
type BroadcastResult struct {
	Sent, Failed int
	Errors       []BroadcastError
}

// Broadcast queues the same message for every device. A bad port or
// payload fails the whole call; per-device problems (a full queue) are
// counted in the result.
func (o *Outbox) Broadcast(ctx context.Context, euis []lora.EUI64, port int, payload []byte) (BroadcastResult, error) {
	if err := ValidatePort(port); err != nil {
		return BroadcastResult{}, err
	}
	if len(payload) > o.cfg.MaxPayload {
		return BroadcastResult{}, fmt.Errorf("%w: payload of %d bytes is more than %d", ErrInvalid, len(payload), o.cfg.MaxPayload)
	}
	res := BroadcastResult{Errors: []BroadcastError{}}
	for _, eui := range euis {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if _, err := o.Enqueue(ctx, eui, port, payload); err != nil {
			res.Failed++
			res.Errors = append(res.Errors, BroadcastError{EUI: eui, Message: err.Error()})
			continue
		}
		res.Sent++
	}
	return res, nil
}

type ctxKey struct{}

// WithTransport marks ctx as an uplink that arrived over transport. A
// transport that delivers queued messages itself (NB-IoT over CoAP) marks
// the contexts of its pipeline calls so that the LoRaWAN delivery stage
// leaves its messages alone.
func WithTransport(ctx context.Context, transport string) context.Context {
	return context.WithValue(ctx, ctxKey{}, transport)
}

// TransportFrom returns the transport WithTransport set, or "" (LoRaWAN,
// the default of the modem API).
func TransportFrom(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}
