package lwm2m_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/openmgs/openmgs/lwm2m"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawDevice speaks CoAP byte by byte, as the captures in nbiot.md show.
type rawDevice struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawDevice(t *testing.T, server string) *rawDevice {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawDevice{t: t, conn: c}
}

func (d *rawDevice) send(b []byte) {
	d.t.Helper()
	if _, err := d.conn.Write(b); err != nil {
		d.t.Fatal(err)
	}
}

// recv reads one datagram and decodes it; ok is false on timeout.
func (d *rawDevice) recv(timeout time.Duration) (message.Message, []byte, bool) {
	d.t.Helper()
	buf := make([]byte, 2048)
	d.conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := d.conn.Read(buf)
	if err != nil {
		return message.Message{}, nil, false
	}
	m := message.Message{Options: make(message.Options, 0, 16)}
	if _, err := coder.DefaultCoder.Decode(buf[:n], &m); err != nil {
		d.t.Fatalf("undecodable datagram %x: %v", buf[:n], err)
	}
	return m, buf[:n], true
}

func (d *rawDevice) mustRecv() (message.Message, []byte) {
	d.t.Helper()
	m, b, ok := d.recv(2 * time.Second)
	if !ok {
		d.t.Fatal("no datagram from the server")
	}
	return m, b
}

// The Register datagram of the seed 002 capture (nbiot.md §2.1), rebuilt
// from its decoded fields: 119 bytes.
func captureRegister(t *testing.T) []byte {
	b := unhex(t, `44 02 2862 2862a813 b2 7264 11 28 39 6c776d326d3d312e30
		0d 05 65703d383637373233303330303035363535 03 623d55 08 6c743d3836343030 ff`)
	return append(b, `</>;rt="oma.lwm2m",</1/0>,</3/0>,</4/0>,</19/0>,</5/0>,</20/0>`...)
}

// TestCapture replays the BC68 capture: Register, the observe and its
// empty-ACK quirk, and the NON notification DEADBEEF.
func TestCapture(t *testing.T) {
	e := newEnv(t, envOpts{})
	d := newRawDevice(t, e.addr)
	reg := captureRegister(t)
	if len(reg) != 119 {
		t.Fatalf("register datagram is %d bytes, the capture has 119", len(reg))
	}
	d.send(reg)
	resp, raw := d.mustRecv()
	// Capture: 64 41 2862 2862a813 82 7264 01 30 (Location-Path rd/0).
	if !bytes.HasPrefix(raw, unhex(t, "64 41 2862 2862a813 82 7264")) || resp.Type != message.Acknowledgement || resp.Code != codes.Created {
		t.Fatalf("register response %x", raw)
	}
	loc, err := resp.Options.LocationPath()
	if err != nil || !strings.HasPrefix(strings.Trim(loc, "/"), "rd/") {
		t.Fatalf("Location-Path %q %v", loc, err)
	}

	// Capture: 44 01 f4a6 00000000 60 52 3139 01 30 01 30 62 2d16 — CON GET
	// Observe 0 /19/0/0 (the Accept TLV of that server is not sent).
	obs, raw := d.mustRecv()
	path, _ := obs.Options.Path()
	ov, oerr := obs.Options.Observe()
	if obs.Type != message.Confirmable || obs.Code != codes.GET || strings.Trim(path, "/") != "19/0/0" || oerr != nil || ov != 0 || len(obs.Token) == 0 {
		t.Fatalf("observe request %x (%v)", raw, obs.String())
	}
	// The module's answer: 64 45 <mid> <token> 60 60 — ACK 2.05, Observe
	// empty, Content-Format empty, no payload (the token length follows
	// the server's token).
	ack := []byte{0x60 | byte(len(obs.Token)), 0x45, byte(obs.MessageID >> 8), byte(obs.MessageID)}
	ack = append(append(ack, obs.Token...), 0x60, 0x60)
	d.send(ack)
	eui := mustEUI(t, "867723030005655")
	eventually(t, "observed", time.Second, func() bool { r, _ := e.srv.Registration(eui); return r.Observed })

	// Capture: 54 45 2866 00000000 c1 2a ff deadbeef — NON 2.05 on the
	// observe token, CF 42, no Observe option.
	note := []byte{0x50 | byte(len(obs.Token)), 0x45, 0x28, 0x66}
	note = append(append(note, obs.Token...), unhex(t, "c1 2a ff deadbeef")...)
	d.send(note)
	d.send(note) // a duplicate (same message ID) is dropped
	eventually(t, "uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 1 })
	time.Sleep(100 * time.Millisecond)
	dev := e.device(eui)
	// Framing: port byte 0xDE = 222, payload ADBEEF.
	if dev.UplinkCount != 1 || dev.LastUplink.Port != 0xde || !bytes.Equal(dev.LastUplink.Payload, unhex(t, "adbeef")) {
		t.Fatalf("uplink %+v (count %d)", dev.LastUplink, dev.UplinkCount)
	}
	if e.srv.Status().Duplicates != 1 {
		t.Fatalf("status %+v", e.srv.Status())
	}

	// A CON notification is acknowledged with an empty ACK of its ID.
	con := []byte{0x40 | byte(len(obs.Token)), 0x45, 0x28, 0x67}
	con = append(append(con, obs.Token...), unhex(t, "c1 2a ff 0a 01")...)
	d.send(con)
	ackm, raw := d.mustRecv()
	if ackm.Type != message.Acknowledgement || ackm.Code != codes.Empty || ackm.MessageID != 0x2867 || len(raw) != 4 {
		t.Fatalf("ACK to a CON notification: %x", raw)
	}
	eventually(t, "second uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 2 })

	// TLV content format: resource 0 (opaque) carries the framed bytes.
	tlv := lwm2m.AppendTLV(nil, []lwm2m.TLV{{Type: lwm2m.TLVResource, ID: 0, Value: []byte{0x0a, 0x02}}})
	tm := []byte{0x50 | byte(len(obs.Token)), 0x45, 0x28, 0x68}
	tm = append(append(tm, obs.Token...), 0xc2, 0x2d, 0x16, 0xff)
	d.send(append(tm, tlv...))
	eventually(t, "TLV uplink", 10*time.Second, func() bool { return e.uplinks(eui) == 3 })
	if dev := e.device(eui); dev.LastUplink.Port != 10 || !bytes.Equal(dev.LastUplink.Payload, []byte{2}) {
		t.Fatalf("TLV uplink %+v", dev.LastUplink)
	}

	// With the Observe option (RFC 7641 style, as other firmwares send).
	wo := []byte{0x50 | byte(len(obs.Token)), 0x45, 0x28, 0x69}
	wo = append(append(wo, obs.Token...), unhex(t, "61 05 61 2a ff 0b 03")...)
	d.send(wo)
	eventually(t, "uplink with Observe", 10*time.Second, func() bool { return e.uplinks(eui) == 4 })
	if dev := e.device(eui); dev.LastUplink.Port != 11 || !bytes.Equal(dev.LastUplink.Payload, []byte{3}) || dev.LastUplink.FCnt != 3 {
		t.Fatalf("uplink with Observe %+v", dev.LastUplink)
	}
}

// TestBadNotifications: unknown tokens, oversized payloads, bad port bytes
// and unknown content formats are refused with RST, logged, and nothing is
// stored.
func TestBadNotifications(t *testing.T) {
	e := newEnv(t, envOpts{})
	d := newRawDevice(t, e.addr)
	d.send(captureRegister(t))
	d.mustRecv()
	obs, _ := d.mustRecv()
	ack := []byte{0x60 | byte(len(obs.Token)), 0x45, byte(obs.MessageID >> 8), byte(obs.MessageID)}
	d.send(append(append(ack, obs.Token...), 0x60, 0x60))
	eui := mustEUI(t, "867723030005655")
	eventually(t, "observed", time.Second, func() bool { r, _ := e.srv.Registration(eui); return r.Observed })

	notify := func(typ byte, mid uint16, token []byte, opts []byte, payload []byte) []byte {
		b := []byte{0x40 | typ<<4 | byte(len(token)), 0x45, byte(mid >> 8), byte(mid)}
		b = append(append(b, token...), opts...)
		if len(payload) > 0 {
			b = append(append(b, 0xff), payload...)
		}
		return b
	}
	cf42 := []byte{0xc1, 0x2a}
	cases := []struct {
		name  string
		dgram []byte
		log   string
	}{
		{"unknown token NON", notify(1, 1, []byte{1, 2, 3, 4}, cf42, []byte{10, 1}), "unregistered endpoint"},
		{"unknown token CON", notify(0, 2, []byte{9, 9}, cf42, []byte{10, 1}), "unregistered endpoint"},
		{"oversized", notify(1, 3, obs.Token, cf42, bytes.Repeat([]byte{10}, 513)), "more than 512"},
		{"port byte 0", notify(1, 4, obs.Token, cf42, []byte{0, 1}), "bad port byte"},
		{"port byte 224", notify(0, 5, obs.Token, cf42, []byte{224}), "bad port byte"},
		{"JSON content", notify(1, 6, obs.Token, []byte{0xc1, 0x32}, []byte(`{"a":1}`)), "unsupported content format 50"},
		{"TLV without resource 0", notify(1, 7, obs.Token, []byte{0xc2, 0x2d, 0x16}, lwm2m.AppendTLV(nil, []lwm2m.TLV{{Type: lwm2m.TLVResource, ID: 5, Value: []byte{1}}})), "without resource 0"},
		{"broken TLV", notify(1, 8, obs.Token, []byte{0xc2, 0x2d, 0x16}, []byte{0xc8, 0x00, 0x05, 1}), "bad TLV"},
	}
	for _, tc := range cases {
		d.send(tc.dgram)
		m, raw, ok := d.recv(2 * time.Second)
		if !ok || m.Type != message.Reset || m.Code != codes.Empty || len(raw) != 4 || raw[2] != tc.dgram[2] || raw[3] != tc.dgram[3] {
			t.Errorf("%s: reply %x, want RST with the message ID", tc.name, raw)
		}
		if !e.logged(tc.log) {
			t.Errorf("%s: %q not logged", tc.name, tc.log)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if e.uplinks(eui) != 0 {
		t.Fatalf("bad notifications reached the pipeline: %d uplinks", e.uplinks(eui))
	}
	if n, _ := e.srv.FrameCounter(context.Background(), eui); n != 0 {
		t.Fatalf("frame counter moved to %d", n)
	}
	if st := e.srv.Status(); st.Rejected != uint64(len(cases)) || st.Notifications != 0 {
		t.Fatalf("status %+v", st)
	}
}
