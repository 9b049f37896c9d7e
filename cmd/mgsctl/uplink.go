package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runUplink(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "uplink", "Send device uplinks as a network server would", []subcommand{
		{"send", "--deveui EUI [--msgtype T] [--fcnt N] [--port N] [--payload HEX] [--json UPLINK_MSG | --file F.json] [...]",
			"process one uplink and print the UPLINK_RESPONSE", uplinkSend},
	}, args)
}

func uplinkSend(ctx context.Context, c *cli, f *flags) error {
	deveui := f.String("deveui", "", "device `EUI` (may also be given as the argument)")
	msgtype := f.String("msgtype", "", "message `type`: updf (default), modem, joining, gnss, gnssng or wifi")
	payload := f.String("payload", "", "payload as `hex` (spaces allowed)")
	fcnt := &optUint{max: 1<<32 - 1}
	port := &optUint{max: 255}
	dr := &optUint{max: 255}
	freq := &optUint{max: 1<<32 - 1}
	dnMTU := &optUint{max: 1<<32 - 1}
	ts := &optFloat{}
	f.Var(fcnt, "fcnt", "LoRaWAN frame `counter` (required for updf and modem)")
	f.Var(port, "port", "LoRaWAN `FPort` 1..223; absent for a metadata-only uplink")
	f.Var(dr, "dr", "data `rate` 0..15")
	f.Var(freq, "freq", "frequency in `Hz` (868100000 or 868.1e6)")
	f.Var(dnMTU, "dn-mtu", "maximum downlink size in `bytes`")
	f.Var(ts, "timestamp", "RX time, Unix `seconds` (default: now, which also marks the info fields this uplink updated)")
	jsonArg := f.String("json", "", "the `UPLINK_MSG` as JSON (LoRa Cloud form); flags override its fields")
	file := f.String("file", "", "`file` with the UPLINK_MSG JSON, - for stdin; flags override its fields")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	eui := *deveui
	switch {
	case len(pos) > 1 || (len(pos) == 1 && eui != ""):
		return f.fail("one device EUI is expected, got %q", append(pos, eui))
	case len(pos) == 1:
		eui = pos[0]
	case eui == "":
		return f.fail("--deveui is required")
	}
	if *jsonArg != "" && *file != "" {
		return f.fail("--json and --file exclude each other")
	}

	msg := &mgsv1.UplinkMsg{}
	var src []byte
	switch {
	case *jsonArg != "":
		src = []byte(*jsonArg)
	case *file == "-":
		if src, err = io.ReadAll(c.stdin); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	case *file != "":
		if src, err = os.ReadFile(*file); err != nil {
			return err
		}
	}
	if src != nil {
		if err := protojson.Unmarshal(src, msg); err != nil {
			return fmt.Errorf("uplink JSON: %w", err)
		}
	}
	if f.isSet("msgtype") {
		msg.Msgtype = *msgtype
	}
	if f.isSet("payload") {
		msg.Payload = strings.Join(strings.Fields(*payload), "")
	}
	for _, o := range []struct {
		v   *optUint
		dst **uint32
	}{{fcnt, &msg.Fcnt}, {port, &msg.Port}, {dr, &msg.Dr}, {freq, &msg.Freq}, {dnMTU, &msg.DnMtu}} {
		if o.v.set {
			*o.dst = o.v.u32()
		}
	}
	if ts.set {
		msg.Timestamp = &ts.v
	}
	if msg.Timestamp == nil {
		now := lora.UnixSeconds(time.Now())
		msg.Timestamp = &now
	}

	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.SendUplink(cctx, &mgsv1.SendUplinkRequest{Deveui: eui, Uplink: msg})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	printUplinkResponse(c.stdout, resp.Result, msg.GetTimestamp())
	return nil
}
