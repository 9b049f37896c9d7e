package uplink

import (
	"bytes"
	"context"
	"errors"

	"github.com/openmgs/openmgs/filesvc"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
)

// sessionUploadDone marks the last completed upload (sid, sctr, cct), so
// that the redundant fragments a device keeps sending until FILEDONE
// arrives are recognised and ignored.
const sessionUploadDone = "upload_done"

func uploadKey(f filesvc.Fragment) []byte {
	return []byte{f.SID, f.Sctr, byte(f.ChunkCount >> 8), byte(f.ChunkCount)}
}

// upload feeds a DM file-upload fragment (tag 0x0E) to the device's upload
// session. A fragment of another (sid, sctr, size) starts a new session,
// replacing the old one. On completion the FILE is reported and kept in
// the history, and FILEDONE is queued for the device, as LoRa Cloud did.
func (p *Pipeline) upload(_ context.Context, s *State) error {
	if s.Protocol != ProtoDM || s.DM == nil || !s.DM.Present.Has(modemproto.TagUpload) {
		return nil
	}
	frag, err := filesvc.ParseFragment(s.DM.Upload)
	if err != nil {
		s.Log(store.LevelError, "file upload fragment: %v", err)
		return nil
	}
	d := s.Dev
	key := uploadKey(frag)
	if bytes.Equal(d.Sessions[sessionUploadDone], key) {
		// Completed already: the device has not seen FILEDONE yet.
		queueFileDone(s, frag.SID, frag.Sctr)
		return nil
	}
	var sess *filesvc.Session
	if b := d.Sessions[SessionUpload]; b != nil {
		if sess, err = filesvc.UnmarshalSession(b); err != nil {
			s.Log(store.LevelError, "stored upload session unreadable (%v): starting over", err)
			sess = nil
		}
	}
	if sess == nil || sess.SID() != frag.SID || sess.Sctr() != frag.Sctr || sess.ChunkCount() != frag.ChunkCount {
		if sess != nil {
			s.Log(store.LevelInfo, "file upload sctr %d replaces the unfinished upload sctr %d", frag.Sctr, sess.Sctr())
		}
		sess = filesvc.NewSession(frag.SID, frag.Sctr, frag.ChunkCount)
	}
	done, err := sess.Add(s.Msg.FCnt, frag)
	if err != nil {
		s.Log(store.LevelError, "file upload sctr %d: %v", frag.Sctr, err)
		return nil
	}
	if !done {
		b, err := sess.MarshalBinary()
		if err != nil {
			return err
		}
		setSession(d, SessionUpload, b)
		return nil
	}
	s.Result.File = p.completeFile(s, sess)
	delete(d.Sessions, SessionUpload)
	setSession(d, sessionUploadDone, key)
	queueFileDone(s, frag.SID, frag.Sctr)
	return nil
}

// completeFile builds the FILE object of a completed session: verified
// plain data; ciphertext when the file is encrypted and no AppSKey is
// configured; decrypted data when one is. A hash mismatch reports the file
// without data and an ERROR, never silently.
func (p *Pipeline) completeFile(s *State, sess *filesvc.Session) *store.File {
	out := &store.File{Sctr: sess.Sctr(), Time: s.Msg.Timestamp}
	f, err := sess.File()
	if err != nil {
		if errors.Is(err, filesvc.ErrHashMismatch) {
			out.Message = "file upload failed: the reassembled file does not match its SHA-256 hash"
		} else {
			out.Message = "file upload failed: " + err.Error()
		}
		s.Log(store.LevelError, "file upload sctr %d: %s", out.Sctr, out.Message)
		return out
	}
	out.OK, out.Port, out.Encrypted, out.Data, out.Hash = true, f.Port, f.Encrypted, f.Data, f.Hash
	if f.Encrypted {
		if len(s.Dev.AppSKey) != 16 {
			out.Message = "file is encrypted with the device's AppSKey; no key is configured, so data is the ciphertext"
			s.Log(store.LevelInfo, "file upload sctr %d: %s", out.Sctr, out.Message)
			return out
		}
		var k [16]byte
		copy(k[:], s.Dev.AppSKey)
		if err := filesvc.Decrypt(k, f); err != nil {
			out.OK, out.Data = false, nil
			out.Message = "file decryption with the configured AppSKey failed verification: " + err.Error()
			s.Log(store.LevelError, "file upload sctr %d: %s", out.Sctr, out.Message)
			return out
		}
		out.Data = f.Data
		out.Message = "decrypted with the device's AppSKey"
	}
	s.Log(store.LevelInfo, "file upload sctr %d complete: %d bytes for port %d", out.Sctr, len(out.Data), out.Port)
	return out
}

// queueFileDone adds a FILEDONE request unless one is already pending.
func queueFileDone(s *State, sid, sctr uint8) {
	for _, r := range s.Dev.Requests {
		if r.Request.Type == store.RequestFileDone && r.Request.SID == sid && r.Request.Sctr == sctr {
			return
		}
	}
	s.Dev.NextRequestID++
	s.Dev.Requests = append(s.Dev.Requests, store.PendingRequest{ID: s.Dev.NextRequestID, Time: s.Now,
		Request: store.Request{Type: store.RequestFileDone, SID: sid, Sctr: sctr}})
}

func setSession(d *store.Device, key string, b []byte) {
	if d.Sessions == nil {
		d.Sessions = make(map[string][]byte)
	}
	d.Sessions[key] = b
}
