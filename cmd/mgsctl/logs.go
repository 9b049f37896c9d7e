package main

import (
	"context"
	"fmt"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runLogs(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "logs", "Manage device logs (shown by 'mgsctl device info')", []subcommand{
		{"clear", "EUI...", "empty the log of devices", logsClear},
	}, args)
}

func logsClear(ctx context.Context, c *cli, f *flags) error {
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
	resp, err := api.ClearLogs(cctx, &mgsv1.ClearLogsRequest{Deveuis: euis})
	if err != nil {
		return err
	}
	for _, e := range resp.NotFound {
		c.itemError(e, "device not found")
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	for _, e := range resp.Cleared {
		fmt.Fprintf(c.stdout, "cleared the log of %s\n", e)
	}
	return nil
}
