package store

import (
	"context"
	"errors"
)

var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned by CompareAndSwap when the stored revision is
	// not the expected one.
	ErrConflict = errors.New("store: revision conflict")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrStop ends a Range early without an error.
	ErrStop = errors.New("store: stop")
)

// Store is a set of named tables.
type Store interface {
	// Table returns the table with that name, creating it if needed. Names
	// are short ASCII words ("devices", "settings", ...).
	Table(name string) Table
	// Close flushes and releases the store; later calls return ErrClosed.
	Close() error
}

// Op is one unconditional write of Table.Write.
type Op struct {
	Key   []byte
	Value []byte // nil deletes the key
}

// Table is an ordered key-value table with per-key revisions.
//
// Revisions are opaque, never zero for an existing key, and change on every
// write of that key (a deleted and re-created key never reuses an old
// revision). Returned slices belong to the caller.
type Table interface {
	// Get returns the value and revision of key, or ErrNotFound.
	Get(ctx context.Context, key []byte) (value []byte, rev uint64, err error)
	// CompareAndSwap writes value (nil deletes) if the key's revision is
	// rev, where rev 0 means "must not exist". It returns the new revision
	// (0 after a delete) or ErrConflict. The write is durable on return.
	CompareAndSwap(ctx context.Context, key []byte, rev uint64, value []byte) (uint64, error)
	// Write applies unconditional puts and deletes atomically and durably.
	Write(ctx context.Context, ops []Op) error
	// Range calls fn for each key >= from in ascending key order. fn must
	// not retain key or value. Returning ErrStop ends the walk cleanly.
	Range(ctx context.Context, from []byte, fn func(key, value []byte, rev uint64) error) error
}
