package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/openmgs/openmgs/filesvc"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/stream"
)

// TestFileAndStreamEndToEnd uploads a multi-fragment file and streams
// records over real gRPC with lost uplinks, and checks the FILE, the
// stream records, FILEDONE in the next dnlink, and the device history.
func TestFileAndStreamEndToEnd(t *testing.T) {
	addr, stop := startServer(t, "--data", t.TempDir())
	defer stop()
	c := dial(t, addr)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	send := func(fcnt uint32, payload []byte) *mgsv1.UplinkResponse {
		t.Helper()
		r, err := c.SendUplink(ctx, &mgsv1.SendUplinkRequest{Deveui: devEUI, Uplink: &mgsv1.UplinkMsg{
			Fcnt: u32(fcnt), Port: u32(199), Payload: hex.EncodeToString(payload)}})
		if err != nil {
			t.Fatalf("fcnt %d: %v", fcnt, err)
		}
		return r.Result
	}

	// File upload: 1000 bytes in 51-byte fragments, every third uplink lost.
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	src, err := filesvc.EncodeFile(5, false, data)
	if err != nil {
		t.Fatal(err)
	}
	var file *mgsv1.File
	var fcnt uint32
	for fcnt = 1; file == nil && fcnt < 500; fcnt++ {
		frame, err := src.Fragment(0, 2, fcnt, 51)
		if err != nil {
			t.Fatal(err)
		}
		if fcnt%3 == 0 {
			continue // lost on the air
		}
		r := send(fcnt, frame)
		if r.File != nil {
			file = r.File
			if dn := r.Dnlink; dn == nil || dn.Payload != "00000202" {
				t.Fatalf("FILEDONE dnlink %v", dn)
			}
			if r.Operation != "modem" || len(r.FulfilledRequests) != 1 {
				t.Fatalf("completing response %v", r)
			}
		}
	}
	if file == nil || file.GetData() != hex.EncodeToString(data) || file.GetPort() != 5 || file.Sctr != 2 || file.GetEncmode() {
		t.Fatalf("file %v", file)
	}

	// Stream: 40 records through ROSE on the DM port (tag 0x14), 20% of
	// frames lost; redundancy recovers them.
	enc := stream.NewEncoder(64, 150, 8)
	var want []string
	for i := range 40 {
		rec := []byte(fmt.Sprintf("record %02d %x", i, rng.Uint64()))
		if err := enc.AddRecord(rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, hex.EncodeToString(rec))
	}
	// Octets lost near the end of what was sent are recovered by the
	// redundancy of later frames, so the device keeps streaming (filler
	// records) as a real tracker would.
	got := map[string]bool{}
	missing := func() int {
		n := 0
		for _, w := range want {
			if !got[w] {
				n++
			}
		}
		return n
	}
	for n := 0; n < 600 && missing() > 0; n++ {
		fcnt++
		frame, ok, err := enc.NextFrame(fcnt, 50)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if err := enc.AddRecord([]byte(fmt.Sprintf("filler %d", n))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if rng.Float64() < 0.2 {
			continue
		}
		r := send(fcnt, append([]byte{0x14}, frame...))
		for _, s := range r.StreamRecords {
			got[s.Data] = true
		}
	}
	if m := missing(); m > 0 {
		t.Fatalf("%d of %d stream records never recovered", m, len(want))
	}

	// History in GetDeviceInfo.
	info, err := c.GetDeviceInfo(ctx, &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
	if err != nil {
		t.Fatal(err)
	}
	di := info.Results[0].Info
	if len(di.UploadedFiles) != 1 || di.UploadedFiles[0].GetData() != hex.EncodeToString(data) {
		t.Fatalf("uploaded_files %v", di.UploadedFiles)
	}
	if len(di.UploadedStreamRecords) < len(want) {
		t.Fatalf("uploaded_stream_records: %d", len(di.UploadedStreamRecords))
	}
	seen := map[string]bool{}
	for _, s := range di.UploadedStreamRecords {
		seen[s.Data] = true
		if s.Port != 199 {
			t.Fatalf("stream record port %d", s.Port)
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Fatalf("record %s missing from history", w)
		}
	}
}
