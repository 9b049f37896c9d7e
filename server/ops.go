package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store/boltstore"
)

// Backupper writes a consistent snapshot of the database while it stays
// online (*boltstore.DB implements it).
type Backupper interface {
	Backup(w io.Writer) (int64, error)
}

// BackupChunk is the data size of one BackupResponse.
const BackupChunk = 1 << 20

// OpsServer implements mgs.v1.OpsService.
type OpsServer struct {
	mgsv1.UnimplementedOpsServiceServer
	db       Backupper
	dir      string
	log      *slog.Logger
	onBackup func(int64, error)
}

// Backup snapshots the database into a temporary file first, so that the
// read transaction behind the snapshot lasts only as long as a local copy
// (a long read transaction would hold back the database file's growth
// while a slow client downloads), then streams the file.
func (o *OpsServer) Backup(_ *mgsv1.BackupRequest, stream mgsv1.OpsService_BackupServer) (err error) {
	ctx := stream.Context()
	var n int64
	defer func() {
		if o.onBackup != nil {
			o.onBackup(n, err)
		}
	}()
	f, err := os.CreateTemp(o.dir, "backup-*.tmp")
	if err != nil {
		o.log.ErrorContext(ctx, "backup: temporary file", "err", err)
		return status.Error(codes.Internal, "backup: cannot create the temporary file (see the server log)")
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	taken := time.Now()
	h := sha256.New()
	n, err = o.db.Backup(io.MultiWriter(f, h))
	if err != nil {
		o.log.ErrorContext(ctx, "backup: snapshot", "err", err)
		return Status(fmt.Errorf("backup: %w", err))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return status.Error(codes.Internal, "backup: "+err.Error())
	}
	info := &mgsv1.BackupInfo{Size: uint64(n), Sha256: hex.EncodeToString(h.Sum(nil)), Time: unixSeconds(taken),
		SchemaVersion: boltstore.SchemaVersion}
	if err := stream.Send(&mgsv1.BackupResponse{Info: info}); err != nil {
		return err
	}
	var sent int64
	for {
		// A fresh buffer per message: gRPC may still hold the last one.
		buf := make([]byte, min(BackupChunk, n-sent+1))
		k, rerr := io.ReadFull(f, buf)
		if k > 0 {
			if err := stream.Send(&mgsv1.BackupResponse{Data: buf[:k]}); err != nil {
				return err
			}
			sent += int64(k)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			o.log.ErrorContext(ctx, "backup: read temporary file", "err", rerr)
			return status.Error(codes.Internal, "backup: cannot read the snapshot (see the server log)")
		}
	}
	if sent != n {
		return status.Errorf(codes.Internal, "backup: sent %d of %d bytes", sent, n)
	}
	o.log.InfoContext(ctx, "backup sent", "bytes", n, "sha256", info.Sha256, "snapshot_duration", time.Since(taken))
	return nil
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
