package main

import (
	"context"

	"google.golang.org/protobuf/proto"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runPorts(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "ports", "Set and show the protocol ports (FPORTS)", []subcommand{
		{"set", "[--deveui EUI...] [--dm N] [--gnss N] [--gnssng N] [--wifi N] [--stream N] [--reset-stream]",
			"set the ports of devices, or the service default when no EUI is given", portsSet},
		{"get", "[EUI...]", "show the ports of devices, or the service default when no EUI is given", portsGet},
	}, args)
}

func portsSet(ctx context.Context, c *cli, f *flags) error {
	var deveuis listFlag
	f.Var(&deveuis, "deveui", "device `EUI`; repeat or separate with commas (EUIs may also be arguments); none: the service default")
	dm, gnss, gnssng := &optUint{max: 255}, &optUint{max: 255}, &optUint{max: 255}
	wifi, stream := &optUint{max: 255}, &optUint{max: 255}
	f.Var(dm, "dm", "device management `port`")
	f.Var(gnss, "gnss", "GNSS (NAV) `port`")
	f.Var(gnssng, "gnssng", "GNSS-NG `port`")
	f.Var(wifi, "wifi", "Wi-Fi `port`")
	f.Var(stream, "stream", "stream `port`")
	reset := f.Bool("reset-stream", false, `make the stream port "same as the DM port" again`)
	pos, err := f.parse()
	if err != nil {
		return err
	}
	euis, _ := f.euis(deveuis, pos, true)
	if !dm.set && !gnss.set && !gnssng.set && !wifi.set && !stream.set && !*reset {
		return f.fail("nothing to set: give --dm, --gnss, --gnssng, --wifi, --stream or --reset-stream")
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.SetPorts(cctx, &mgsv1.SetPortsRequest{Deveuis: euis, ResetStreamport: *reset, Fports: &mgsv1.Fports{
		Dmport: uint32(dm.v), Gnssport: uint32(gnss.v), Gnssngport: uint32(gnssng.v), Wifiport: uint32(wifi.v), Streamport: uint32(stream.v)}})
	if err != nil {
		return err
	}
	for _, r := range resp.Results {
		if r.Error != "" {
			c.itemError(r.Deveui, r.Error)
		}
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	var rows [][]string
	if resp.DefaultFports != nil {
		rows = append(rows, portsRow("default", resp.DefaultFports))
	}
	for _, r := range resp.Results {
		if r.Error == "" {
			rows = append(rows, portsRow(r.Deveui, r.Fports))
		}
	}
	table(c.stdout, portsHeader, rows)
	return nil
}

func portsGet(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	if len(pos) == 0 {
		resp, err := api.GetDefaultPorts(cctx, &mgsv1.GetDefaultPortsRequest{})
		if err != nil {
			return err
		}
		if c.jsonOut() {
			return c.printJSON(resp)
		}
		table(c.stdout, portsHeader, [][]string{portsRow("default", resp.Fports)})
		return nil
	}
	info, err := api.GetDeviceInfo(cctx, &mgsv1.GetDeviceInfoRequest{Deveuis: pos})
	if err != nil {
		return err
	}
	// JSON: {"results": [DevicePorts...]}, as the results of ports set.
	var out []proto.Message
	var rows [][]string
	for _, r := range info.Results {
		if r.Error != "" {
			c.itemError(r.Deveui, r.Error)
			out = append(out, &mgsv1.DevicePorts{Deveui: r.Deveui, Error: r.Error})
			continue
		}
		out = append(out, &mgsv1.DevicePorts{Deveui: r.Deveui, Fports: r.Info.GetFports()})
		rows = append(rows, portsRow(r.Deveui, r.Info.GetFports()))
	}
	if c.jsonOut() {
		return c.printJSONList("results", out)
	}
	table(c.stdout, portsHeader, rows)
	return nil
}
