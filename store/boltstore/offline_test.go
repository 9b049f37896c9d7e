package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

// fill writes n keys of size bytes to table t.
func fill(t *testing.T, db *boltstore.DB, table string, n, size int) {
	t.Helper()
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.Op{Key: fmt.Appendf(nil, "k%06d", i), Value: bytes.Repeat([]byte{byte(i)}, size)})
	}
	if err := db.Table(table).Write(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
}

func newDB(t *testing.T, path string) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true, LockTimeout: 100e6})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mgs.db")
	db := newDB(t, path)
	fill(t, db, "devices", 10, 100)
	// In use: the lock is held.
	if _, err := boltstore.Check(path); !errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("Check of an open database: %v", err)
	}
	db.Close()
	s, err := boltstore.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.SchemaVersion != boltstore.SchemaVersion || s.Keys["devices"] != 10 || s.Empty() || s.Size <= 0 {
		t.Fatalf("summary %+v", s)
	}

	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600)
	if _, err := boltstore.Check(garbage); err == nil || !strings.Contains(err.Error(), "not a readable database") {
		t.Fatalf("Check of garbage: %v", err)
	}
	if _, err := boltstore.Check(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check of a missing file: %v", err)
	}
	// A bbolt database that is not ours.
	foreign := filepath.Join(dir, "foreign.db")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	bdb.Close()
	if _, err := boltstore.Check(foreign); !errors.Is(err, boltstore.ErrNotOpenMGS) {
		t.Fatalf("Check of a foreign database: %v", err)
	}
	// A truncated copy fails the check.
	b, _ := os.ReadFile(path)
	trunc := filepath.Join(dir, "trunc.db")
	os.WriteFile(trunc, b[:len(b)/2], 0o600)
	if _, err := boltstore.Check(trunc); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Check of a truncated file: %v", err)
	}
	// Zeroed meta pages.
	zero := filepath.Join(dir, "zero.db")
	os.WriteFile(zero, append(make([]byte, 8192), b[8192:]...), 0o600)
	if _, err := boltstore.Check(zero); err == nil || !strings.Contains(err.Error(), "meta page") {
		t.Fatalf("Check of a file without meta pages: %v", err)
	}
}

// TestBackupUnderLoadAndRestore takes a backup while writers commit, then
// restores it: the restored database holds a consistent prefix of the
// writes, and the restore rules (empty target, in use, force) hold.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	dir := t.TempDir()
	db := newDB(t, filepath.Join(dir, "live.db"))
	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var done [4]atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				// Each writer updates a pair of keys in one write: a
				// consistent snapshot always has both equal.
				v := fmt.Appendf(nil, "%d", i)
				err := db.Table("pairs").Write(ctx, []store.Op{{Key: fmt.Appendf(nil, "a%d", w), Value: v}, {Key: fmt.Appendf(nil, "b%d", w), Value: v}})
				if err != nil {
					t.Error(err)
					return
				}
				done[w].Add(1)
			}
		}()
	}
	fill(t, db, "devices", 200, 500)
	for w := range done {
		for done[w].Load() < 5 {
			time.Sleep(time.Millisecond)
		}
	}
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	stop.Store(true)
	wg.Wait()
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d %v", n, err)
	}
	backup := filepath.Join(dir, "backup.db")
	os.WriteFile(backup, buf.Bytes(), 0o600)
	if _, err := boltstore.Check(backup); err != nil {
		t.Fatal(err)
	}

	target := filepath.Join(dir, "data", "mgs.db")
	if _, err := boltstore.Restore(backup, target, false); err != nil {
		t.Fatalf("restore into a new directory: %v", err)
	}
	rdb := newDB(t, target)
	for w := range 4 {
		a, _, errA := rdb.Table("pairs").Get(ctx, fmt.Appendf(nil, "a%d", w))
		b, _, errB := rdb.Table("pairs").Get(ctx, fmt.Appendf(nil, "b%d", w))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("writer %d: a=%s b=%s (%v %v): not one snapshot", w, a, b, errA, errB)
		}
	}
	if _, _, err := rdb.Table("devices").Get(ctx, []byte("k000199")); err != nil {
		t.Errorf("devices written before the backup: %v", err)
	}
	// In use: refused.
	if _, err := boltstore.Restore(backup, target, true); !errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("restore over an open database: %v", err)
	}
	fill(t, rdb, "extra", 1, 10)
	rdb.Close()
	// Not empty: refused unless forced; the data is untouched.
	if _, err := boltstore.Restore(backup, target, false); !errors.Is(err, boltstore.ErrNotEmpty) {
		t.Fatalf("restore over a non-empty database: %v", err)
	}
	if s, _ := boltstore.Check(target); s.Keys["extra"] != 1 {
		t.Fatal("refused restore changed the target")
	}
	if _, err := boltstore.Restore(backup, target, true); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	if s, _ := boltstore.Check(target); s.Keys["extra"] != 0 || s.Keys["devices"] != 200 {
		t.Fatalf("after forced restore: %+v", s)
	}
	// An empty database (created by a first start) may be replaced.
	empty := filepath.Join(dir, "empty", "mgs.db")
	os.MkdirAll(filepath.Dir(empty), 0o700)
	newDB(t, empty).Close()
	if _, err := boltstore.Restore(backup, empty, false); err != nil {
		t.Fatalf("restore over an empty database: %v", err)
	}
	// A bad backup is refused before anything is touched.
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, buf.Bytes()[:buf.Len()/3], 0o600)
	if _, err := boltstore.Restore(bad, target, true); err == nil {
		t.Fatal("truncated backup restored")
	}
	if _, err := boltstore.Check(target); err != nil {
		t.Fatalf("target damaged by a refused restore: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "data", "*.tmp")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mgs.db")
	db := newDB(t, path)
	fill(t, db, "devices", 2000, 1000)
	// Delete most keys: bbolt keeps the pages.
	var ops []store.Op
	for i := 100; i < 2000; i++ {
		ops = append(ops, store.Op{Key: fmt.Appendf(nil, "k%06d", i)})
	}
	if err := db.Table("devices").Write(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	if _, _, err := boltstore.Compact(path); !errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("Compact of an open database: %v", err)
	}
	db.Close()
	before, after, err := boltstore.Compact(path)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before || after > before/4 {
		t.Fatalf("compaction %d -> %d bytes", before, after)
	}
	s, err := boltstore.Check(path)
	if err != nil || s.Keys["devices"] != 100 {
		t.Fatalf("after compaction: %+v %v", s, err)
	}
	db = newDB(t, path)
	defer db.Close()
	v, _, err := db.Table("devices").Get(context.Background(), []byte("k000099"))
	if err != nil || len(v) != 1000 || v[0] != 99 {
		t.Fatalf("value after compaction: %d bytes, %v", len(v), err)
	}
}
