package uplink_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/filesvc"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// The §4.6 vector: "Hello, LoRa Cloud!" in 27-byte fragments; fcnt 7 and 8
// together have full rank.
func TestUploadVectorCompletesAndQueuesFileDone(t *testing.T) {
	p, _ := newPipeline(t)
	r := handle(t, p, dm(7, "0e03046e2c324ce9a054006f2c204c6f526120436c6f7564210000"))
	if r.File != nil || r.Dnlink != nil {
		t.Fatalf("incomplete upload produced %+v %+v", r.File, r.Dnlink)
	}
	r = handle(t, p, dm(8, "0e03040100120086f235200905186648656c6c4b696513aab6594c"))
	f := r.File
	if f == nil || !f.OK || string(f.Data) != "Hello, LoRa Cloud!" || f.Port != 1 || f.Sctr != 1 ||
		hex.EncodeToString(f.Hash) != "86f2352009051866" || f.Encrypted {
		t.Fatalf("file %+v", f)
	}
	if got := dnlinkHex(r); got != "00000201" {
		t.Fatalf("dnlink %q, want FILEDONE sctr 1", got)
	}
	if len(r.Fulfilled) != 1 || r.Fulfilled[0].Request.Type != "FILEDONE" {
		t.Fatalf("fulfilled %+v", r.Fulfilled)
	}
	// A redundant fragment after completion: no second file, FILEDONE again
	// (the first one did not reach the device).
	r = handle(t, p, dm(9, "0e03046f2c204c6f5261206f2c204c6f5261202d405d398d815400"))
	if r.File != nil || dnlinkHex(r) != "00000201" {
		t.Fatalf("redundant fragment: file %+v dnlink %q", r.File, dnlinkHex(r))
	}
	d, _ := p.Device(context.Background(), dev)
	if len(d.Files) != 1 || string(d.Files[0].Data) != "Hello, LoRa Cloud!" {
		t.Fatalf("history %+v", d.Files)
	}
}

func TestUploadLossyLargeFile(t *testing.T) {
	p, _ := newPipeline(t)
	data := make([]byte, 4000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	src, err := filesvc.EncodeFile(7, false, data)
	if err != nil {
		t.Fatal(err)
	}
	var file *store.File
	sent := 0
	for fcnt := uint32(100); file == nil && fcnt < 2000; fcnt++ {
		frame, err := src.Fragment(0, 3, fcnt, 51)
		if err != nil {
			t.Fatal(err)
		}
		if rng.Float64() < 0.3 { // 30% of uplinks lost
			continue
		}
		sent++
		r := handle(t, p, dm(fcnt, hex.EncodeToString(frame)))
		file = r.File
	}
	if file == nil || !bytes.Equal(file.Data, data) || file.Port != 7 {
		t.Fatalf("file not rebuilt after %d fragments: %+v", sent, file)
	}
}

func TestUploadEncryptedWithAndWithoutKey(t *testing.T) {
	key := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	plain := []byte("secret position log")
	src, err := filesvc.EncodeEncryptedFile(2, key, plain)
	if err != nil {
		t.Fatal(err)
	}
	run := func(p *uplink.Pipeline) *store.File {
		for fcnt := uint32(1); fcnt < 50; fcnt++ {
			frame, _ := src.Fragment(0, 1, fcnt, 51)
			if r := handle(t, p, dm(fcnt, hex.EncodeToString(frame))); r.File != nil {
				return r.File
			}
		}
		return nil
	}
	p, _ := newPipeline(t)
	f := run(p)
	if f == nil || !f.OK || !f.Encrypted || bytes.Equal(f.Data, plain) || len(f.Hash) != 4 || !strings.Contains(f.Message, "no key") {
		t.Fatalf("without key: %+v", f)
	}
	p, _ = newPipeline(t)
	if err := p.SetAppSKey(context.Background(), dev, key[:]); err != nil {
		t.Fatal(err)
	}
	if f = run(p); f == nil || !f.OK || !bytes.Equal(f.Data, plain) {
		t.Fatalf("with key: %+v", f)
	}
	p, _ = newPipeline(t)
	wrong := key
	wrong[0] ^= 1
	_ = p.SetAppSKey(context.Background(), dev, wrong[:])
	if f = run(p); f == nil || f.OK || f.Data != nil {
		t.Fatalf("wrong key: %+v", f)
	}
}

func TestUploadNewSctrReplacesAndJoiningDrops(t *testing.T) {
	p, _ := newPipeline(t)
	handle(t, p, dm(7, "0e03046e2c324ce9a054006f2c204c6f526120436c6f7564210000"))
	handle(t, p, uplink.Message{Type: store.MsgJoining})
	d, _ := p.Device(context.Background(), dev)
	if _, ok := d.Sessions[uplink.SessionUpload]; ok {
		t.Fatal("joining kept the upload session")
	}
	// fcnt 8 alone has rank < 4: nothing completes after the reset.
	if r := handle(t, p, dm(8, "0e03040100120086f235200905186648656c6c4b696513aab6594c")); r.File != nil {
		t.Fatalf("file from a dropped session: %+v", r.File)
	}
}

// modem-protocol.md §7: AppTimeReq DeviceTime 0x512C87B2 (2023-03-03T10:00:00Z),
// token 2, AnsRequired; received 5 s later → AppTimeAns +5, token 2
// (§3.3 vector 00 00 09 01 05000000 02).
func TestALCSyncOverDMAndPort202(t *testing.T) {
	p, _ := newPipeline(t)
	rx := float64(time.Date(2023, 3, 3, 10, 0, 5, 0, time.UTC).Unix())
	m := dm(1, "17 01b2872c5112")
	m.Timestamp = rx
	r := handle(t, p, m)
	if got := dnlinkHex(r); got != "000009010500000002" {
		t.Fatalf("DM dnlink %q", got)
	}
	if a := r.Info.ALCSync; !a.Set || a.Value.Token != 2 || a.Value.Time != 0x512C87B2 {
		t.Fatalf("alcsync field %+v", a)
	}
	m = dm(2, "01b2872c5112")
	m.Port, m.Timestamp = 202, rx
	r = handle(t, p, m)
	if r.Operation != uplink.OpModem || r.Dnlink == nil || r.Dnlink.Port != 202 || hex.EncodeToString(r.Dnlink.Payload) != "010500000002" {
		t.Fatalf("port 202: op %q dnlink %+v", r.Operation, r.Dnlink)
	}
	// No answer required and in sync: no downlink.
	m = dm(3, "17 01b2872c5102")
	m.Timestamp = float64(time.Date(2023, 3, 3, 10, 0, 0, 0, time.UTC).Unix())
	if r = handle(t, p, m); r.Dnlink != nil {
		t.Fatalf("in-sync clock answered: %x", r.Dnlink.Payload)
	}
	// ALCSYNC requests: package version and force resync.
	addRequest(t, p, "ALCSYNC", map[string]any{"package_version": true, "force_resync": 3.0})
	if r = handle(t, p, dm(4, "0308")); dnlinkHex(r) != "000009000303" {
		t.Fatalf("ALCSYNC request dnlink %q", dnlinkHex(r))
	}
}
