package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store/boltstore"
)

// runBackup is "mgsctl backup FILE": an online snapshot through the API.
func runBackup(ctx context.Context, c *cli, args []string) error {
	f := c.newFlags("backup", "[--force] FILE",
		"save a consistent snapshot of the server's database to FILE while it keeps running (needs an admin token)", args)
	force := f.Bool("force", false, "overwrite FILE if it exists")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("exactly one FILE is required")
	}
	path := pos[0]
	if _, err := os.Stat(path); err == nil && !*force {
		return fmt.Errorf("%s exists (use --force to overwrite it)", path)
	}
	if _, err := c.client(); err != nil {
		return err
	}
	ops := mgsv1.NewOpsServiceClient(c.conn)
	// A backup may take longer than a usual call: no deadline unless
	// --timeout is given.
	bctx, cancel := context.WithCancel(c.authCtx(ctx))
	if f.isSet("timeout") && c.timeout > 0 {
		bctx, cancel = context.WithTimeout(c.authCtx(ctx), c.timeout)
	}
	defer cancel()
	stream, err := ops.Backup(bctx, &mgsv1.BackupRequest{})
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	info := first.GetInfo()
	if info == nil {
		return errors.New("backup: the server sent no backup info")
	}
	// Written beside FILE, checked, synced, then renamed: FILE is complete
	// or absent.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	w := io.MultiWriter(tmp, h)
	var n uint64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(msg.Data); err != nil {
			return err
		}
		n += uint64(len(msg.Data))
	}
	if n != info.Size {
		return fmt.Errorf("backup: received %d of %d bytes", n, info.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != info.Sha256 {
		return fmt.Errorf("backup: SHA-256 mismatch: received %s, server sent %s", sum, info.Sha256)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	sum, err := boltstore.Check(tmp.Name())
	if err != nil {
		return fmt.Errorf("backup: the received snapshot fails its check: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	c.printSummary(path, sum, [][2]string{{"bytes", strconv.FormatUint(info.Size, 10)}, {"sha256", info.Sha256},
		{"taken", fmtTime(info.Time)}})
	return nil
}

// printSummary prints a database summary (or JSON with -o json).
func (c *cli) printSummary(path string, s *boltstore.Summary, extra [][2]string) {
	if c.jsonOut() {
		out := map[string]any{"file": path, "schema_version": s.SchemaVersion, "data_bytes": s.Size, "keys": s.Keys}
		for _, kv := range extra {
			out[strings.ReplaceAll(kv[0], " ", "_")] = kv[1]
		}
		c.printJSONValue(out)
		return
	}
	kv := [][2]string{{"file", path}, {"schema version", strconv.Itoa(int(s.SchemaVersion))}, {"data bytes", strconv.FormatInt(s.Size, 10)}}
	kv = append(kv, extra...)
	for _, t := range s.Tables() {
		kv = append(kv, [2]string{"table " + t, strconv.Itoa(s.Keys[t]) + " keys"})
	}
	keyValues(c.stdout, kv)
}

// printJSONValue prints v as indented JSON.
func (c *cli) printJSONValue(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(append(b, '\n'))
	return err
}

// runDB is "mgsctl db": offline tools that work on the database files
// directly, with mgsd stopped.
func runDB(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "db", "Offline database tools: they work on the files directly and refuse while mgsd runs", []subcommand{
		{"verify", "FILE", "check that FILE (a backup or a database) is a consistent OpenMGS database", dbVerify},
		{"restore", "[--data DIR] [--force] FILE", "replace the database in DIR with the backup FILE", dbRestore},
		{"compact", "[--data DIR]", "rewrite the database in DIR without its free pages", dbCompact},
	}, args)
}

// dataFlag is --data, as mgsd's (env MGS_DATA, default ./mgs-data).
func dataFlag(f *flags) *string {
	def := f.c.getenv("MGS_DATA")
	if def == "" {
		def = "./mgs-data"
	}
	return f.String("data", def, "mgsd's data `directory` (env MGS_DATA)")
}

func dbVerify(_ context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("exactly one FILE is required")
	}
	s, err := boltstore.Check(pos[0])
	if err != nil {
		return err
	}
	c.printSummary(pos[0], s, nil)
	return nil
}

func dbRestore(_ context.Context, c *cli, f *flags) error {
	data := dataFlag(f)
	force := f.Bool("force", false, "replace a database that holds data")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("exactly one backup FILE is required")
	}
	dst := filepath.Join(*data, "mgs.db")
	s, err := boltstore.Restore(pos[0], dst, *force)
	if err != nil {
		return err
	}
	c.printSummary(dst, s, [][2]string{{"restored from", pos[0]}})
	return nil
}

func dbCompact(_ context.Context, c *cli, f *flags) error {
	data := dataFlag(f)
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	path := filepath.Join(*data, "mgs.db")
	before, after, err := boltstore.Compact(path)
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSONValue(map[string]any{"file": path, "bytes_before": before, "bytes_after": after})
	}
	keyValues(c.stdout, [][2]string{{"file", path}, {"bytes before", strconv.FormatInt(before, 10)},
		{"bytes after", strconv.FormatInt(after, 10)}})
	return nil
}
