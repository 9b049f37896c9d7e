package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openmgs/openmgs/connector/everynet"
	"github.com/openmgs/openmgs/store"
)

// tableEverynetCursor holds each Everynet connection's replay position,
// keyed by connection name.
const tableEverynetCursor = "everynet_cursor"

// cursorRecord is the stored value (JSON, a few KB at most: the keys of
// the messages of the last replay overlap).
type cursorRecord struct {
	V    int      `json:"v"`
	Time float64  `json:"time"` // Unix seconds (meta.time)
	Seen []string `json:"seen,omitempty"`
}

const cursorVersion = 1

// storeCursor implements everynet.CursorStore over a store table.
type storeCursor struct{ t store.Table }

func newStoreCursor(s store.Store) everynet.CursorStore {
	return storeCursor{s.Table(tableEverynetCursor)}
}

func (c storeCursor) Load(ctx context.Context, name string) (everynet.Checkpoint, bool, error) {
	b, _, err := c.t.Get(ctx, []byte(name))
	if errors.Is(err, store.ErrNotFound) {
		return everynet.Checkpoint{}, false, nil
	}
	if err != nil {
		return everynet.Checkpoint{}, false, err
	}
	var r cursorRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return everynet.Checkpoint{}, false, fmt.Errorf("everynet cursor %q: %w", name, err)
	}
	if r.V != cursorVersion {
		return everynet.Checkpoint{}, false, fmt.Errorf("everynet cursor %q: unknown version %d", name, r.V)
	}
	return everynet.Checkpoint{Time: r.Time, Seen: r.Seen}, true, nil
}

func (c storeCursor) Save(ctx context.Context, name string, cp everynet.Checkpoint) error {
	b, err := json.Marshal(cursorRecord{V: cursorVersion, Time: cp.Time, Seen: cp.Seen})
	if err != nil {
		return err
	}
	return c.t.Write(ctx, []store.Op{{Key: []byte(name), Value: b}})
}
