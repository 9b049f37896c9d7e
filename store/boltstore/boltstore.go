// Package boltstore is the default OpenMGS store backend, on bbolt.
//
// Each table is a bucket; each value is stored as an 8-byte big-endian
// revision (the bucket's sequence at the time of the write) followed by the
// value. Writes from concurrent callers are grouped into one transaction and
// one fsync by a single committer goroutine: a write waits at most for the
// commit in progress, never for a timer.
package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openmgs/openmgs/store"
)

// SchemaVersion is written to the meta bucket of a new database.
const SchemaVersion = 1

var (
	bucketMeta = []byte("meta")
	keySchema  = []byte("schema_version")
)

// Options tune the backend; the zero value is the durable default.
type Options struct {
	// NoSync skips fsync on commit. For tests and benchmarks only: a crash
	// may lose acknowledged writes.
	NoSync bool
	// LockTimeout is how long Open waits for the file lock (default 2 s).
	LockTimeout time.Duration
	// MaxBatch bounds the writes grouped into one commit (default 1024).
	MaxBatch int
	// OnCommit, when set, is called after each commit with the number of
	// writes it carried and its duration (for metrics).
	OnCommit func(writes int, d time.Duration)
}

// DB is a bbolt-backed store.Store.
type DB struct {
	db   *bolt.DB
	opts Options

	writes chan *write
	mu     sync.RWMutex // guards closed against concurrent submit/Close
	closed bool
	done   chan struct{}
}

var _ store.Store = (*DB)(nil)

type write struct {
	// apply runs inside the group transaction. A returned *softError is the
	// write's own outcome (nothing was written); any other error aborts the
	// whole transaction.
	apply  func(tx *bolt.Tx) error
	result error
	done   chan struct{}
}

// softError is an outcome of one write that does not abort the group.
type softError struct{ err error }

func (e *softError) Error() string { return e.err.Error() }

// Open opens or creates the database file at path.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, NoSync: o.NoSync, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		v := b.Get(keySchema)
		switch {
		case v == nil:
			return b.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
		case len(v) != 4 || binary.BigEndian.Uint32(v) > SchemaVersion:
			return fmt.Errorf("database schema version %x is newer than this program's (%d)", v, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &DB{db: bdb, opts: o, writes: make(chan *write, o.MaxBatch), done: make(chan struct{})}
	go d.commitLoop()
	return d, nil
}

// Bolt returns the underlying database, for offline tools (compaction).
func (d *DB) Bolt() *bolt.DB { return d.db }

// Close stops accepting writes, finishes the queued ones and closes the file.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return store.ErrClosed
	}
	d.closed = true
	close(d.writes)
	d.mu.Unlock()
	<-d.done
	return d.db.Close()
}

// Backup writes a consistent snapshot of the whole database file to w
// while the database stays online.
func (d *DB) Backup(w io.Writer) (int64, error) {
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	var n int64
	err := d.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

func (d *DB) checkOpen() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return store.ErrClosed
	}
	return nil
}

// submit queues a write and waits for its commit. Once queued the write is
// carried out even if ctx ends, so the caller learns its real outcome.
func (d *DB) submit(ctx context.Context, apply func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &write{apply: apply, done: make(chan struct{})}
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		return store.ErrClosed
	}
	d.writes <- w
	d.mu.RUnlock()
	<-w.done
	return w.result
}

func (d *DB) commitLoop() {
	defer close(d.done)
	batch := make([]*write, 0, d.opts.MaxBatch)
	for w := range d.writes {
		batch = append(batch[:0], w)
	drain:
		for len(batch) < d.opts.MaxBatch {
			select {
			case w, ok := <-d.writes:
				if !ok {
					break drain
				}
				batch = append(batch, w)
			default:
				break drain
			}
		}
		d.commit(batch)
	}
}

// commit applies a group in one transaction. If the transaction fails as a
// whole, each write is retried alone so that one bad write cannot fail the
// others.
func (d *DB) commit(batch []*write) {
	start := time.Now()
	err := d.db.Update(func(tx *bolt.Tx) error {
		for _, w := range batch {
			w.result = nil
			if err := w.apply(tx); err != nil {
				var soft *softError
				if !errors.As(err, &soft) {
					return err
				}
				w.result = soft.err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, w := range batch {
			d.commit([]*write{w})
		}
		return
	}
	if d.opts.OnCommit != nil {
		d.opts.OnCommit(len(batch), time.Since(start))
	}
	for _, w := range batch {
		if err != nil {
			w.result = err
		}
		close(w.done)
	}
}

// Table implements store.Store.
func (d *DB) Table(name string) store.Table { return &table{db: d, name: []byte(name)} }

type table struct {
	db   *DB
	name []byte
}

func decodeValue(raw []byte) ([]byte, uint64) {
	return append([]byte(nil), raw[8:]...), binary.BigEndian.Uint64(raw[:8])
}

func (t *table) Get(ctx context.Context, key []byte) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if err := t.db.checkOpen(); err != nil {
		return nil, 0, err
	}
	var (
		val []byte
		rev uint64
	)
	err := t.db.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(t.name)
		if b == nil {
			return store.ErrNotFound
		}
		raw := b.Get(key)
		if raw == nil {
			return store.ErrNotFound
		}
		val, rev = decodeValue(raw)
		return nil
	})
	return val, rev, err
}

func (t *table) CompareAndSwap(ctx context.Context, key []byte, rev uint64, value []byte) (uint64, error) {
	if len(key) == 0 {
		return 0, errors.New("boltstore: empty key")
	}
	var newRev uint64
	err := t.db.submit(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(t.name)
		if err != nil {
			return err
		}
		var cur uint64
		if raw := b.Get(key); raw != nil {
			cur = binary.BigEndian.Uint64(raw[:8])
		}
		if cur != rev {
			return &softError{store.ErrConflict}
		}
		if value == nil {
			newRev = 0
			return b.Delete(key)
		}
		newRev, err = b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(key, encodeValue(newRev, value))
	})
	return newRev, err
}

func encodeValue(rev uint64, value []byte) []byte {
	buf := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(buf, rev)
	copy(buf[8:], value)
	return buf
}

func (t *table) Write(ctx context.Context, ops []store.Op) error {
	for _, op := range ops {
		if len(op.Key) == 0 {
			return errors.New("boltstore: empty key")
		}
	}
	return t.db.submit(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(t.name)
		if err != nil {
			return err
		}
		for _, op := range ops {
			if op.Value == nil {
				if err := b.Delete(op.Key); err != nil {
					return err
				}
				continue
			}
			rev, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(op.Key, encodeValue(rev, op.Value)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *table) Range(ctx context.Context, from []byte, fn func(key, value []byte, rev uint64) error) error {
	if err := t.db.checkOpen(); err != nil {
		return err
	}
	err := t.db.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(t.name)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(from); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(k, v[8:], binary.BigEndian.Uint64(v[:8])); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrStop) {
		return nil
	}
	return err
}
