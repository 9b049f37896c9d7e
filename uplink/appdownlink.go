package uplink

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
)

// StageAppDownlink is the name of the stage AppDownlinkStage returns; it
// belongs right after "plan_downlink".
const StageAppDownlink = "app_downlink"

// AppDownlinkStage returns the LoRaWAN delivery of the downstream queue:
// a stage that, when the uplink is a downlink opportunity (not a joining
// message, not a duplicate) and no modem request took the slot, makes the
// oldest queued message that fits the downlink MTU (dn_mtu, when known)
// the dnlink of the response, on its own port; and an after-commit hook
// that marks that message sent once the device state is durably
// committed. The hook must run after every successful commit of
// Pipeline.Handle (it ignores uplinks the stage did not serve).
//
// Uplinks whose context carries another transport (outbox.WithTransport,
// as the NB-IoT server sets it) are left alone: that transport delivers
// the queue itself.
//
// A message is sent at least once: if the commit fails, or the process
// stops before the hook, it stays pending and rides a later uplink.
func AppDownlinkStage(o *outbox.Outbox, log *slog.Logger) (Stage, func(ctx context.Context, s *State)) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &appTracker{m: map[*Message]appPick{}}
	stage := Stage{Name: StageAppDownlink, Run: func(ctx context.Context, s *State) error {
		if s.Protocol == ProtoJoin || s.Duplicate || s.Result.Dnlink != nil {
			return nil
		}
		if tr := outbox.TransportFrom(ctx); tr != "" && tr != outbox.TransportLoRaWAN {
			return nil
		}
		pending, err := o.Pending(ctx, s.EUI)
		if err != nil {
			// The modem service must not fail because of the queue.
			log.Error("outbox read", "dev_eui", s.EUI, "err", err)
			return nil
		}
		for _, m := range pending {
			if mtu := s.Msg.DnMTU; mtu != 0 && uint32(len(m.Payload)) > mtu {
				continue
			}
			s.Result.Dnlink = &store.Dnlink{Port: m.Port, Payload: bytes.Clone(m.Payload)}
			t.put(s, m.ID)
			return nil
		}
		if len(pending) > 0 {
			s.Log(store.LevelInfo, "%d queued downstream message(s) wait for a downlink with room (dn_mtu %d)", len(pending), s.Msg.DnMTU)
		}
		return nil
	}}
	hook := func(ctx context.Context, s *State) {
		id, ok := t.take(s)
		if !ok {
			return
		}
		if err := o.MarkSent(ctx, s.EUI, id, outbox.TransportLoRaWAN); err != nil {
			// Deleted through the API meanwhile, or a store error: it was
			// sent all the same.
			log.Warn("outbox mark sent", "dev_eui", s.EUI, "message_id", id, "err", err)
			return
		}
		log.Debug("downstream message sent as dnlink", "dev_eui", s.EUI, "message_id", id)
	}
	return stage, hook
}

// appTracker remembers which message an uplink's stage picked, until the
// after-commit hook takes it. It is keyed by the uplink's *Message, which
// stays the same across the conflict retries of one Handle call (each
// retry overwrites the pick); the *State identifies the committed run.
// Picks of calls that never commit are dropped after a while.
type appTracker struct {
	mu sync.Mutex
	m  map[*Message]appPick
}

type appPick struct {
	state *State
	eui   lora.EUI64
	id    uint64
	at    time.Time
}

const appPickTTL = 2 * time.Minute

func (t *appTracker) put(s *State, id uint64) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= 64 {
		for k, p := range t.m {
			if now.Sub(p.at) > appPickTTL {
				delete(t.m, k)
			}
		}
	}
	t.m[s.Msg] = appPick{state: s, eui: s.EUI, id: id, at: now}
}

func (t *appTracker) take(s *State) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.m[s.Msg]
	if !ok || p.state != s {
		return 0, false
	}
	delete(t.m, s.Msg)
	return p.id, true
}
