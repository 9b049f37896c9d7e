package main

import (
	"context"
	"fmt"
	"strconv"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runDevice(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "device", "Show, list and delete devices", []subcommand{
		{"info", "EUI...", "show the DEVICEINFO of devices", deviceInfo},
		{"list", "[--page-size N] [--page-token T] [--all]", "list the known devices in EUI order", deviceList},
		{"delete", "EUI...", "delete devices and all their state", deviceDelete},
	}, args)
}

func deviceInfo(ctx context.Context, c *cli, f *flags) error {
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
	resp, err := api.GetDeviceInfo(cctx, &mgsv1.GetDeviceInfoRequest{Deveuis: euis})
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
	first := true
	for _, r := range resp.Results {
		if r.Info == nil {
			continue
		}
		if !first {
			fmt.Fprintln(c.stdout, "\n---")
		}
		first = false
		printDeviceInfo(c, r.Info)
	}
	return nil
}

func printDeviceInfo(c *cli, d *mgsv1.DeviceInfo) {
	w := c.stdout
	last := "-"
	if d.LastUplink != nil {
		last = fmtTime(d.LastUplink.GetTimestamp()) + " " + fmtUplink(d.LastUplink)
	}
	p := d.PendingRequests
	keyValues(w, [][2]string{
		{"deveui", d.Deveui},
		{"uplinks", strconv.FormatUint(d.UplinkCount, 10)},
		{"last uplink", last},
		{"fports", fmtPorts(d.Fports)},
		{"upcount/updelay", fmt.Sprintf("%d/%d", p.GetUpcount(), p.GetUpdelay())},
	})
	section(w, "Info fields", []string{"FIELD", "VALUE", "TIMESTAMP"}, infoRows(d.InfoFields, nil))
	section(w, "Pending requests", requestHeader, requestRows(p.GetRequests()))
	if len(d.UploadedFiles) > 0 {
		rows := make([][]string, 0, len(d.UploadedFiles))
		for _, f := range d.UploadedFiles {
			rows = append(rows, fileRow(f))
		}
		section(w, "Uploaded files", fileHeader, rows)
	}
	if len(d.UploadedStreamRecords) > 0 {
		rows := make([][]string, 0, len(d.UploadedStreamRecords))
		for _, s := range d.UploadedStreamRecords {
			rows = append(rows, []string{fmtTime(s.Timestamp), strconv.FormatUint(uint64(s.Port), 10),
				strconv.FormatUint(uint64(s.Off), 10), s.Data})
		}
		section(w, "Stream records", []string{"TIME", "PORT", "OFFSET", "DATA"}, rows)
	}
	if len(d.Positions) > 0 {
		rows := make([][]string, 0, len(d.Positions))
		for _, p := range d.Positions {
			rows = append(rows, []string{fmtTime(p.Timestamp), fmtPosition(p)})
		}
		section(w, "Positions", []string{"TIME", "SOLUTION"}, rows)
	}
	section(w, "Log messages", logHeader, logRows(d.LogMessages))
}

func deviceList(ctx context.Context, c *cli, f *flags) error {
	size := &optUint{max: 1000}
	f.Var(size, "page-size", "`number` of devices per page (server default 100, at most 1000)")
	token := f.String("page-token", "", "continue from a previous page's next_page_token (`token`)")
	all := f.Bool("all", false, "fetch every page")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	out := &mgsv1.ListDevicesResponse{}
	req := &mgsv1.ListDevicesRequest{PageSize: uint32(size.v), PageToken: *token}
	for {
		resp, err := api.ListDevices(cctx, req)
		if err != nil {
			return err
		}
		out.Devices = append(out.Devices, resp.Devices...)
		out.NextPageToken = resp.NextPageToken
		if !*all || resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if c.jsonOut() {
		return c.printJSON(out)
	}
	rows := make([][]string, 0, len(out.Devices))
	for _, d := range out.Devices {
		rows = append(rows, []string{d.Deveui, strconv.FormatUint(d.UplinkCount, 10), fmtTime(d.LastUplinkTime),
			strconv.FormatUint(uint64(d.PendingRequests), 10)})
	}
	table(c.stdout, []string{"DEVEUI", "UPLINKS", "LAST UPLINK", "PENDING"}, rows)
	if out.NextPageToken != "" {
		fmt.Fprintf(c.stderr, "mgsctl: more devices: use --all or --page-token %s\n", out.NextPageToken)
	}
	return nil
}

func deviceDelete(ctx context.Context, c *cli, f *flags) error {
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
	resp, err := api.DeleteDevices(cctx, &mgsv1.DeleteDevicesRequest{Deveuis: euis})
	if err != nil {
		return err
	}
	for _, e := range resp.NotFound {
		c.itemError(e, "device not found")
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	for _, e := range resp.Deleted {
		fmt.Fprintf(c.stdout, "deleted %s\n", e)
	}
	return nil
}
