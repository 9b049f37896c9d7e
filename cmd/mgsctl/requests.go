package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runRequests(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "requests", "Queue, list and clear modem requests", []subcommand{
		{"add", "--deveui EUI[,EUI...] (--type TYPE [--param JSON] | --json '[REQUEST...]') [--upcount N] [--updelay N]",
			"queue modem requests for devices", requestsAdd},
		{"list", "EUI...", "list the pending requests of devices", requestsList},
		{"clear", "EUI... [--id N ...]", "remove pending requests (all, or the given ids)", requestsClear},
	}, args)
}

func requestsAdd(ctx context.Context, c *cli, f *flags) error {
	var deveuis listFlag
	f.Var(&deveuis, "deveui", "device `EUI`; repeat or separate with commas (EUIs may also be arguments)")
	typ := f.String("type", "", "request `type`: RESET, REJOIN, MUTE, GETINFO, SETCONF, FILEDONE, FUOTA, SETDMINFO, STREAM, ALCSYNC")
	param := f.String("param", "", "request parameter as `JSON` (e.g. '[\"temp\",\"signal\"]', 3, '{\"interval\":130}'); text that is not JSON is a string")
	jsonArg := f.String("json", "", "several requests as a JSON `array` of REQUEST objects: '[{\"type\":\"GETINFO\",\"param\":[\"temp\"]}]'")
	upcount := &optUint{max: 255}
	updelay := &optUint{max: 255}
	f.Var(upcount, "upcount", "`number` of further uplinks the device should send to open downlink windows (0..255)")
	f.Var(updelay, "updelay", "delay before the first of them, `seconds` (0..255)")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	euis, err := f.euis(deveuis, pos, false)
	if err != nil {
		return err
	}
	var reqs []*mgsv1.Request
	switch {
	case *typ != "" && *jsonArg != "":
		return f.fail("--type and --json exclude each other")
	case *typ != "":
		r := &mgsv1.Request{Type: strings.ToUpper(*typ)}
		if f.isSet("param") {
			if r.Param, err = paramValue(*param); err != nil {
				return f.fail("--param: %v", err)
			}
		}
		reqs = append(reqs, r)
	case *jsonArg != "":
		if f.isSet("param") {
			return f.fail("--param goes with --type; put the parameters into the --json requests")
		}
		if reqs, err = parseRequests([]byte(*jsonArg)); err != nil {
			return f.fail("--json: %v", err)
		}
	default:
		return f.fail("--type or --json is required")
	}

	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.AddRequests(cctx, &mgsv1.AddRequestsRequest{Deveuis: euis, Requests: reqs,
		Upcount: uint32(upcount.v), Updelay: uint32(updelay.v)})
	if err != nil {
		return err
	}
	return c.printDeviceRequests(resp, resp.Results)
}

// paramValue reads a --param: JSON, or else the text as a JSON string.
func paramValue(s string) (*structpb.Value, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return structpb.NewStringValue(s), nil
	}
	return structpb.NewValue(v)
}

// parseRequests reads a JSON array of REQUEST objects (or one object).
func parseRequests(b []byte) ([]*mgsv1.Request, error) {
	var raws []json.RawMessage
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		raws = []json.RawMessage{t}
	} else if err := json.Unmarshal(b, &raws); err != nil {
		return nil, fmt.Errorf("not a JSON array of requests: %v", err)
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("no requests")
	}
	out := make([]*mgsv1.Request, len(raws))
	for i, raw := range raws {
		r := &mgsv1.Request{}
		if err := protojson.Unmarshal(raw, r); err != nil {
			return nil, fmt.Errorf("request %d: %v", i, err)
		}
		out[i] = r
	}
	return out, nil
}

func requestsList(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	euis, err := f.euis(nil, pos, false)
	if err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListRequests(cctx, &mgsv1.ListRequestsRequest{Deveuis: euis})
	if err != nil {
		return err
	}
	return c.printDeviceRequests(resp, resp.Results)
}

func requestsClear(ctx context.Context, c *cli, f *flags) error {
	var ids listFlag
	f.Var(&ids, "id", "request `id` to remove; repeat or separate with commas (default: all)")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	euis, err := f.euis(nil, pos, false)
	if err != nil {
		return err
	}
	req := &mgsv1.ClearRequestsRequest{Deveuis: euis}
	for _, s := range ids {
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return f.fail("--id: %q is not a request id", s)
		}
		req.Ids = append(req.Ids, uint32(id))
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ClearRequests(cctx, req)
	if err != nil {
		return err
	}
	return c.printDeviceRequests(resp, resp.Results)
}

// printDeviceRequests prints the per-device pending requests of an add,
// list or clear response (the whole response with -o json).
func (c *cli) printDeviceRequests(resp proto.Message, results []*mgsv1.DeviceRequests) error {
	for _, r := range results {
		if r.Error != "" {
			c.itemError(r.Deveui, r.Error)
		}
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	first := true
	for _, r := range results {
		if r.Error != "" {
			continue
		}
		if !first {
			fmt.Fprintln(c.stdout)
		}
		first = false
		p := r.PendingRequests
		fmt.Fprintf(c.stdout, "%s: %d pending, upcount %d, updelay %d\n", r.Deveui, len(p.GetRequests()), p.GetUpcount(), p.GetUpdelay())
		if len(p.GetRequests()) > 0 {
			table(c.stdout, requestHeader, requestRows(p.GetRequests()))
		}
	}
	return nil
}
