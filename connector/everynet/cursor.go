package everynet

import (
	"context"
	"slices"
	"sync"
	"time"
)

// CursorStore persists the replay position of connections across
// restarts. Load returns ok false when name has no saved cursor. Both are
// called from the connector's own goroutines, never from the message path:
// Load once before the first connection, Save at most once per
// CursorSaveInterval and when Run returns. After a crash (no final save)
// the messages processed since the last save are delivered again; the
// pipeline recognises the uplinks and joins among them by their dedup key
// (type/packet_hash), which it stores with each device's state.
type CursorStore interface {
	Load(ctx context.Context, name string) (cp Checkpoint, ok bool, err error)
	Save(ctx context.Context, name string, cp Checkpoint) error
}

// Checkpoint is a saved replay position.
type Checkpoint struct {
	// Time is a meta.time such that every message received before the
	// newest message with that time has been processed (a pipeline call
	// that failed does not hold it back). A restarted connector asks for
	// history from Time - ReplayOverlap.
	Time float64
	// Seen are the de-duplication keys ("type/packet_hash") of the
	// messages processed whose meta.time is at or after Time -
	// ReplayOverlap: the ones that history replay delivers again and the
	// restarted connector drops. At most DedupSize, newest kept.
	Seen []string
}

// tracker computes the checkpoint: messages are processed out of arrival
// order (one worker per device), so the cursor only advances over the
// prefix of received messages that are all finished.
type tracker struct {
	overlap float64 // ReplayOverlap in seconds
	max     int     // DedupSize

	mu      sync.Mutex
	head    uint64       // sequence number of pending[0]
	pending []trackedMsg // received, in arrival order, from the first unfinished one
	mark    float64      // newest meta.time of the finished prefix
	recent  []seenKey    // keys of processed messages, in completion order
	dirty   bool         // changed since the last snapshot
}

type trackedMsg struct {
	t    float64
	done bool
}

type seenKey struct {
	t   float64
	key string
}

func newTracker(overlap time.Duration, size int) *tracker {
	return &tracker{overlap: overlap.Seconds(), max: size}
}

// restore starts from a loaded checkpoint. Its keys carry no time of
// their own; each is older than cp.Time, so taking cp.Time keeps it as long
// as it may be needed.
func (k *tracker) restore(cp Checkpoint) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mark = max(k.mark, cp.Time)
	for _, key := range cp.Seen {
		k.recent = append(k.recent, seenKey{cp.Time, key})
	}
}

// begin registers a received message with meta.time t; end must follow
// once it is finished (or never, if it was dropped unprocessed). A nil
// tracker (no Cursor store) tracks nothing.
func (k *tracker) begin(t float64) uint64 {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	seq := k.head + uint64(len(k.pending))
	k.pending = append(k.pending, trackedMsg{t: t})
	return seq
}

// end marks message seq finished; key, unless empty, is remembered as
// processed (a replay of it must be dropped).
func (k *tracker) end(seq uint64, key string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	i := int(seq - k.head)
	k.pending[i].done = true
	if key != "" {
		k.recent = append(k.recent, seenKey{k.pending[i].t, key})
		k.dirty = true
		if len(k.recent) > 2*k.max {
			k.prune()
		}
	}
	n := 0
	for n < len(k.pending) && k.pending[n].done {
		if t := k.pending[n].t; t > k.mark {
			k.mark, k.dirty = t, true
		}
		n++
	}
	if n > 0 {
		k.head += uint64(n)
		k.pending = k.pending[n:]
		if len(k.pending) == 0 {
			k.pending = k.pending[:0:0] // release the consumed backing array
		}
	}
}

// prune drops the keys no restart replay can deliver again (meta.time
// before mark - overlap) and keeps at most max, newest last.
func (k *tracker) prune() {
	floor := k.mark - k.overlap
	k.recent = slices.DeleteFunc(k.recent, func(s seenKey) bool { return s.t < floor })
	if len(k.recent) > k.max {
		k.recent = slices.Delete(k.recent, 0, len(k.recent)-k.max)
	}
}

// snapshot returns the checkpoint if it changed since the last snapshot
// (and has a position at all).
func (k *tracker) snapshot() (Checkpoint, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.dirty || k.mark <= 0 {
		return Checkpoint{}, false
	}
	k.prune()
	cp := Checkpoint{Time: k.mark, Seen: make([]string, len(k.recent))}
	for i, s := range k.recent {
		cp.Seen[i] = s.key
	}
	k.dirty = false
	return cp, true
}

// unsaved marks the checkpoint dirty again after a failed save.
func (k *tracker) unsaved() {
	k.mu.Lock()
	k.dirty = true
	k.mu.Unlock()
}

// loadCursor restores the saved checkpoint, if any, before the first
// connection: the cursor, the keys already processed, and the tracker.
func (c *Connector) loadCursor(ctx context.Context) {
	if c.cfg.Cursor == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	cp, ok, err := c.cfg.Cursor.Load(lctx, c.cfg.Name)
	cancel()
	switch {
	case err != nil:
		c.log.Error("saved cursor not loaded: starting without history", "err", err)
		return
	case !ok || cp.Time <= 0:
		c.log.Info("no saved cursor: starting without history")
		return
	}
	for _, key := range cp.Seen {
		c.seen.add(key)
	}
	c.track.restore(cp)
	c.mu.Lock()
	if cp.Time > c.st.Cursor {
		c.st.Cursor = cp.Time
	}
	c.st.SavedCursor = cp.Time
	c.mu.Unlock()
	c.log.Info("saved cursor loaded", "cursor", cp.Time, "seen", len(cp.Seen))
}

// startSaving starts saving the checkpoint every CursorSaveInterval while
// it changes; the returned function stops that and waits for a save in
// progress.
func (c *Connector) startSaving() (stop func()) {
	if c.cfg.Cursor == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(c.cfg.CursorSaveInterval)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				c.saveCursor()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// saveCursor saves the checkpoint if it changed. Only the saving goroutine
// and, after it ended, shutdown call it, so saves never overlap.
func (c *Connector) saveCursor() {
	if c.cfg.Cursor == nil {
		return
	}
	cp, ok := c.track.snapshot()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.base, c.cfg.WriteTimeout)
	err := c.cfg.Cursor.Save(ctx, c.cfg.Name, cp)
	cancel()
	c.mu.Lock()
	failing := c.saveFailing
	c.saveFailing = err != nil
	if err == nil {
		c.st.SavedCursor = cp.Time
	}
	c.mu.Unlock()
	switch {
	case err != nil:
		c.track.unsaved()
		if !failing {
			c.log.Warn("cursor not saved (retrying)", "err", err)
		}
	case failing:
		c.log.Info("cursor saved again", "cursor", cp.Time)
	}
}
