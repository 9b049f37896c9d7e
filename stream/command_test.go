package stream

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var commandRows = []struct {
	name string
	hex  string
	cmd  Command
	err  error
}{
	// §3.3 "STREAM: request SINFO" = DM 00 00 08 | 03 00 00 00.
	{name: "sinfo request", hex: "03000000", cmd: Command{SInfoRequest: true}},
	{name: "ack wl 512", hex: "055e0000", cmd: Command{AckWL: true, WL: 512}},
	{name: "update wl 16", hex: "09000000", cmd: Command{UpdateWL: true, WL: 16}},
	{name: "update rr", hex: "11007800", cmd: Command{UpdateRR: true, RR: 120}},
	{name: "update pci", hex: "21000004", cmd: Command{UpdatePCTXInterval: true, PCTXInterval: 4}},
	{name: "all but ack", hex: "3bbf6e08", cmd: Command{SInfoRequest: true, UpdateWL: true, UpdateRR: true, UpdatePCTXInterval: true, WL: 1792, RR: 110, PCTXInterval: 8}},
	{name: "plain", hex: "01000000", cmd: Command{}},
	{name: "short", hex: "030000", err: ErrShort},
	{name: "long", hex: "0300000000", err: ErrLength},
	{name: "no scmd bit", hex: "02000000", err: ErrReserved},
	{name: "rfu bit", hex: "41000000", err: ErrReserved},
	{name: "ack and update", hex: "0d5e0000", err: ErrReserved},
	{name: "wl rfu", hex: "09c00000", err: ErrReserved},
}

func TestCommandTable(t *testing.T) {
	for _, tc := range commandRows {
		t.Run(tc.name, func(t *testing.T) {
			b := mustHex(t, tc.hex)
			got, err := DecodeCommand(b)
			if tc.err != nil {
				var de *DecodeError
				if !errors.Is(err, tc.err) || !errors.As(err, &de) || de.Field == "" {
					t.Fatalf("err = %v, want %v with a field", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.cmd, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			enc, err := tc.cmd.AppendBinary(nil)
			if err != nil || string(enc) != string(b) {
				t.Errorf("AppendBinary = %x, %v; want %x", enc, err, b)
			}
		})
	}
	// The DM downlink of §3.3: upcount 0, updelay 0, opcode 0x08, then the SCMD.
	dm, _ := Command{SInfoRequest: true}.AppendBinary([]byte{0x00, 0x00, 0x08})
	if string(dm) != string(mustHex(t, "00000803000000")) {
		t.Errorf("DM STREAM request SINFO = %x", dm)
	}
	// The WL byte is ignored without ACKWL/UPDWL.
	if c, err := DecodeCommand(mustHex(t, "035e0000")); err != nil || c.WL != 0 {
		t.Errorf("ignored WL: %+v %v", c, err)
	}
	for _, c := range []Command{{AckWL: true, UpdateWL: true, WL: 16}, {UpdateWL: true, WL: 17}} {
		if _, err := c.AppendBinary(nil); err == nil {
			t.Errorf("AppendBinary(%+v) accepted", c)
		}
	}
}

// SCMD/SINFO exchange between the decoder, the encoder and back: WL change with acknowledgement.
func TestWLChangeHandshake(t *testing.T) {
	e := NewEncoder(512, 110, 8)
	d := NewDecoder()
	var sent, got []Record
	fcnt := uint32(100)
	step := func() {
		f, ok, err := e.NextFrame(fcnt, 51)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if fcnt%5 != 3 || f[0] == 0xFF { // lose every fifth frame, never an SINFO
			recs, _, err := d.Add(fcnt, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, recs...)
		}
		fcnt++
	}
	add := func(n int) {
		for i := range n {
			r := []byte{byte(i), 0xA0, byte(n)}
			sent = append(sent, Record{Offset: e.Offset(), Data: r})
			if err := e.AddRecord(r); err != nil {
				t.Fatal(err)
			}
			step()
		}
	}
	add(40)
	// Server shrinks WL to 64 and raises RR: the device answers with SINFO RQAWL until acked.
	for _, c := range []Command{{UpdateWL: true, WL: 64}, {UpdateRR: true, RR: 200}} {
		b, _ := c.AppendBinary(nil)
		c2, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.HandleCommand(c2); err != nil {
			t.Fatal(err)
		}
	}
	step()
	ack, ok := d.AckCommand()
	if !ok || ack.WL != 64 || d.Status().WL != 64 {
		t.Fatalf("ack %+v %v status %+v", ack, ok, d.Status())
	}
	step() // still SINFO: not acknowledged yet
	if err := e.HandleCommand(ack); err != nil {
		t.Fatal(err)
	}
	add(40)
	// Grow WL back to 512: the device sends systematic octets only until its window is full
	// again (448 more octets), then redundancy over the whole new window resumes.
	_ = e.HandleCommand(Command{UpdateWL: true, WL: 512})
	step()
	ack, _ = d.AckCommand()
	_ = e.HandleCommand(ack)
	add(200)
	e.SetLowLatency(true)
	for e.Busy() {
		step()
	}
	recs, lost := d.Flush()
	got = append(got, recs...)
	checkSubset(t, sent, got)
	if len(got) != len(sent) || lost != 0 {
		t.Errorf("got %d/%d records, lost %d; status %+v", len(got), len(sent), lost, d.Status())
	}
	if _, ok := d.AckCommand(); ok {
		t.Errorf("ack still pending after SDATA")
	}
}
