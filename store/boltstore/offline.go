package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Offline tools: checking a database file, restoring a backup, compacting.
// They take the file lock, so they refuse to work on a database that a
// running mgsd has open.

var (
	// ErrInUse: another process (a running mgsd) holds the database lock.
	ErrInUse = errors.New("boltstore: database is in use by another process (stop mgsd first)")
	// ErrNotEmpty: a restore would overwrite a database holding data.
	ErrNotEmpty = errors.New("boltstore: the target database is not empty")
	// ErrNotOpenMGS: the file is a bbolt database but not one of ours.
	ErrNotOpenMGS = errors.New("boltstore: not an OpenMGS database (no schema version)")
)

// offlineLockTimeout is how long the offline tools wait for the lock.
const offlineLockTimeout = 500 * time.Millisecond

// Summary describes a database file.
type Summary struct {
	SchemaVersion uint32
	Size          int64          // bytes of the data (the file may be larger)
	Keys          map[string]int // keys per table (bucket), meta excluded
}

// Empty reports whether no table holds a key.
func (s *Summary) Empty() bool {
	for _, n := range s.Keys {
		if n > 0 {
			return false
		}
	}
	return true
}

// Tables returns the table names in order.
func (s *Summary) Tables() []string {
	names := make([]string, 0, len(s.Keys))
	for n := range s.Keys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check opens the database file at path read-only and verifies that it is
// a consistent bbolt database (every page reachable once, no corruption)
// with an OpenMGS schema this program reads. A backup should be checked
// before it is restored.
func Check(path string) (*Summary, error) {
	if err := preflight(path); err != nil {
		return nil, err
	}
	db, err := openOffline(path, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return summarize(db, true)
}

func openOffline(path string, readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: offlineLockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable database: %w", path, err)
	}
	return db, nil
}

// summarize reads the schema and counts keys; check runs bbolt's
// consistency check too.
func summarize(db *bolt.DB, check bool) (*Summary, error) {
	s := &Summary{Keys: map[string]int{}}
	err := db.View(func(tx *bolt.Tx) error {
		if check {
			for err := range tx.Check() {
				return fmt.Errorf("%s: consistency check: %w", db.Path(), err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%s: %w", db.Path(), ErrNotOpenMGS)
		}
		v := meta.Get(keySchema)
		if len(v) != 4 {
			return fmt.Errorf("%s: %w", db.Path(), ErrNotOpenMGS)
		}
		s.SchemaVersion = binary.BigEndian.Uint32(v)
		if s.SchemaVersion > SchemaVersion {
			return fmt.Errorf("%s: schema version %d is newer than this program's (%d)", db.Path(), s.SchemaVersion, SchemaVersion)
		}
		s.Size = tx.Size()
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) == string(bucketMeta) {
				return nil
			}
			s.Keys[string(name)] = b.Stats().KeyN
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Restore replaces the database at dst with the backup file src. src is
// checked first (Check). An existing dst must not be in use and, unless
// force, must hold no data. The copy is written beside dst, synced and
// renamed over it, so dst is either the old or the new database.
func Restore(src, dst string, force bool) (*Summary, error) {
	sum, err := Check(src)
	if err != nil {
		return nil, fmt.Errorf("backup %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(dst); err == nil {
		// Hold the lock of the old database until it is replaced.
		old, err := openOffline(dst, false)
		switch {
		case errors.Is(err, ErrInUse):
			return nil, err
		case err != nil && !force:
			return nil, fmt.Errorf("%w (use force to overwrite it)", err)
		case err == nil:
			defer old.Close()
			if keys := countKeys(old); !keys.Empty() && !force {
				return nil, fmt.Errorf("%s: %w (%s); use force to overwrite it", dst, ErrNotEmpty, describeKeys(keys))
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	tmp := dst + ".restore.tmp"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if _, err := Check(tmp); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("copy of the backup: %w", err)
	}
	if err := replace(tmp, dst); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return sum, nil
}

// countKeys counts the keys of every table but meta, whatever the schema.
func countKeys(db *bolt.DB) *Summary {
	s := &Summary{Keys: map[string]int{}}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) != string(bucketMeta) {
				s.Keys[string(name)] = b.Stats().KeyN
			}
			return nil
		})
	})
	return s
}

func describeKeys(s *Summary) string {
	out := ""
	for _, n := range s.Tables() {
		if s.Keys[n] == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%d %s", s.Keys[n], n)
	}
	return out
}

// Compact rewrites the database at path without its free pages (bbolt
// keeps a file's size after deletions) and returns the file sizes before
// and after. It refuses while the database is in use. The compacted copy
// is checked, synced and renamed over the original.
func Compact(path string) (before, after int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	src, err := openOffline(path, true)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	if _, err := summarize(src, true); err != nil {
		return 0, 0, err
	}
	tmp := path + ".compact.tmp"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, Timeout: offlineLockTimeout})
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", tmp, err)
	}
	err = bolt.Compact(dst, src, 64<<20)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		_, err = Check(tmp)
	}
	if err == nil {
		err = replace(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact %s: %w", path, err)
	}
	fa, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), fa.Size(), nil
}

// bbolt's file header: two meta pages. Each page starts with a 16-byte
// header; the meta fields follow (native byte order, little-endian on the
// platforms mgsd runs on): magic, version, page size, flags (u32 each),
// root bucket page and sequence, freelist page, high-water page id,
// transaction id, FNV-64a checksum of the preceding 56 bytes (u64 each).
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	noFreelist     = ^uint64(0)
)

type metaPage struct {
	pageSize             uint32
	root, freelist, pgid uint64
	txid                 uint64
}

func parseMeta(b []byte) (metaPage, bool) {
	if len(b) < pageHeaderSize+metaSize {
		return metaPage{}, false
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(m[:56])
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion || le.Uint64(m[56:]) != h.Sum64() {
		return metaPage{}, false
	}
	return metaPage{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]),
		txid: le.Uint64(m[48:])}, true
}

// preflight checks the meta pages before bbolt maps the file: bbolt
// trusts them (a truncated file would fault or abort in its checks), and
// a truncated download or a file of another kind is the likely damage of
// a backup.
func preflight(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	m0, ok0 := parseMeta(head)
	var m1 metaPage
	ok1 := false
	for _, ps := range []uint32{m0.pageSize, uint32(os.Getpagesize()), 4096, 16384, 65536} {
		if ps < 512 || ps > 1<<20 || (ok0 && ps != m0.pageSize) {
			continue
		}
		b := make([]byte, pageHeaderSize+metaSize)
		if k, _ := f.ReadAt(b, int64(ps)); k == len(b) {
			if m1, ok1 = parseMeta(b); ok1 && m1.pageSize == ps {
				break
			}
			ok1 = false
		}
	}
	var m metaPage
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		return fmt.Errorf("%s: not a readable database: no valid bbolt meta page (wrong file type or damaged header)", path)
	}
	if m.pageSize < 512 || m.pgid < 2 || m.root >= m.pgid || (m.freelist != noFreelist && m.freelist >= m.pgid) {
		return fmt.Errorf("%s: not a readable database: inconsistent meta page", path)
	}
	if need := int64(m.pgid) * int64(m.pageSize); need > fi.Size() {
		return fmt.Errorf("%s: not a readable database: truncated (%d bytes, the data needs %d)", path, fi.Size(), need)
	}
	return nil
}

// copyFile copies src to a new file dst and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// replace renames tmp over dst (tmp is synced) and syncs the directory,
// so that the rename itself is durable.
func replace(tmp, dst string) error {
	if f, err := os.OpenFile(tmp, os.O_RDWR, 0); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	} else {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Size returns the size of the database's data in bytes.
func (d *DB) Size() (int64, error) {
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	var n int64
	err := d.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}
