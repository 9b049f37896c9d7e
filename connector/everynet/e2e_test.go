package everynet

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

var _ Handler = (*uplink.Pipeline)(nil)

func newPipeline(t *testing.T) *uplink.Pipeline {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return uplink.New(db, uplink.Config{})
}

// A DM uplink of a device with a pending GETINFO request: the network's
// downlink_request is answered with the GETINFO downlink on the DM port;
// once the network reports it sent, a repeat of the request gets nothing
// until the next uplink plans it again; the device's answer fulfils it.
func TestEndToEndPipelineGetInfo(t *testing.T) {
	pipe := newPipeline(t)
	ctx := context.Background()
	eui := lora.MustParseEUI64(devA)
	var tags []modemproto.Tag
	for _, n := range []string{"temp", "signal", "rstcount"} {
		tag, ok := modemproto.ParseTagName(n)
		if !ok {
			t.Fatalf("tag %s", n)
		}
		tags = append(tags, tag)
	}
	if _, err := pipe.AddRequests(ctx, eui, []store.Request{{Type: store.RequestGetInfo, Tags: tags}}, 0, 0); err != nil {
		t.Fatal(err)
	}

	ns := newFakeNS(t)
	logs := newLogSink(t)
	c, stop := start(t, testConfig(ns, logs), pipe)
	fc := ns.next(t)

	// DM uplink on port 199 reporting only the status field (0x00 = 0x08).
	const hash = "79f664df2c2073af798fa87497305d8d"
	tm := now()
	ns.emit(uplinkMsg(devA, hash, tm, 120, 199, []byte{0x00, 0x08}))
	req := downlinkRequestMsg(devA, hash, now(), 71, 51)
	sent := fc.send(t, req)
	got := fc.expect(t, 2*time.Second)
	lat := time.Since(sent)
	// GETINFO temp, signal, rstcount (modem-protocol.md vector: 00 00 03 03 04 0f).
	want, _ := hex.DecodeString("000003" + "03040f")
	checkResponse(t, got, roundTrip(t, req), 199, want, nil)
	t.Logf("uplink + downlink_request → downlink_response through bbolt pipeline: %v after the request", lat)

	dev, err := pipe.Device(ctx, eui)
	if err != nil {
		t.Fatal(err)
	}
	if dev.LastUplink == nil || dev.LastUplink.FCnt != 120 || dev.LastUplink.Freq != 868100000 || !dev.LastUplink.HasDR ||
		dev.LastUplink.Timestamp != tm-0.007 || dev.LastUplink.DedupKey != "uplink/"+hash || len(dev.Requests) != 1 ||
		dev.Requests[0].Sent != 1 {
		t.Errorf("stored device: last uplink %+v, requests %+v", dev.LastUplink, dev.Requests)
	}

	// The network transmitted it.
	fc.send(t, downlinkMsg(devA, hash, now(), 71, 199, want))
	logs.wait(t, "transmitted", msgIs("downlink transmitted", "packet_hash", hash, "source", "modem"))
	fc.send(t, downlinkRequestMsg(devA, "repeat", now(), 72, 51))
	logs.wait(t, "nothing", msgIs("downlink_request: nothing to send", "packet_hash", "repeat"))

	// The modem answers with temp, signal and rstcount: the request is
	// fulfilled and nothing more is sent.
	answer, _ := hex.DecodeString("0008" + "03e7" + "040e1c" + "0f0002")
	ns.emit(uplinkMsg(devA, "answer", now(), 121, 199, answer))
	fc.send(t, downlinkRequestMsg(devA, "answer", now(), 73, 51))
	logs.wait(t, "nothing after fulfil", msgIs("downlink_request: nothing to send", "packet_hash", "answer"))
	dev, err = pipe.Device(ctx, eui)
	if err != nil {
		t.Fatal(err)
	}
	if len(dev.Requests) != 0 || !dev.Info.Temp.Set || !dev.Info.RstCount.Set {
		t.Errorf("after the answer: requests %+v, info temp %+v rstcount %+v", dev.Requests, dev.Info.Temp, dev.Info.RstCount)
	}

	// A join resets the session in the store.
	fc.send(t, `{"type":"join_request","meta":{"packet_hash":"j1","device":"`+devA+`","time":`+
		formatTime(now())+`},"params":{"dev_eui":"`+devA+`","dev_nonce":"f9e7"}}`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		dev, err = pipe.Device(ctx, eui)
		if err != nil {
			t.Fatal(err)
		}
		if dev.LastUplink.Type == store.MsgJoining {
			if dev.LastUplink.DedupKey != "join_request/j1" {
				t.Errorf("joining key %q, want join_request/j1", dev.LastUplink.DedupKey)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("joining not processed: last uplink %+v", dev.LastUplink)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if st := c.Status(); st.Uplinks != 3 || st.DownlinkResponses != 1 {
		t.Errorf("status = %+v", st)
	}
	if bad := logs.find(func(r logRec) bool { return r.Level > 0 }); len(bad) > 0 {
		t.Errorf("warnings or errors logged: %+v", bad)
	}
}

func formatTime(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }
