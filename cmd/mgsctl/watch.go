package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runWatch(ctx context.Context, c *cli, args []string) error {
	f := c.newFlags("watch", "[--count N] [EUI...]",
		"stream one event per processed uplink (of the given devices, or all) until interrupted", args)
	count := f.Uint("count", 0, "exit after this `number` of events (0: until interrupted)")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	api, err := c.client()
	if err != nil {
		return err
	}
	// No deadline: the stream runs until Ctrl-C (ctx) or --count.
	wctx, cancel := context.WithCancel(c.authCtx(ctx))
	defer cancel()
	stream, err := api.WatchEvents(wctx, &mgsv1.WatchEventsRequest{Deveuis: pos})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for n := uint(0); *count == 0 || n < *count; n++ {
		ev, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil // interrupted or server closed the stream cleanly
			}
			return err
		}
		if c.jsonOut() {
			err = c.printJSONLine(ev)
		} else {
			_, err = fmt.Fprintln(c.stdout, eventLine(ev))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// eventLine renders one event on one line: time, device, uplink, then
// what the service did with it.
func eventLine(ev *mgsv1.WatchEventsResponse) string {
	r := ev.GetResponse()
	parts := []string{fmtTime(ev.Time), ev.Deveui, fmtUplink(ev.Uplink), "op=" + r.GetOperation()}
	if d := r.GetDnlink(); d != nil {
		parts = append(parts, fmt.Sprintf("dnlink=%d:%s", d.Port, d.Payload))
	}
	if names := infoNames(r.GetInfoFields(), ev.Uplink.GetTimestamp()); len(names) > 0 {
		parts = append(parts, "updated="+strings.Join(names, ","))
	}
	if n := len(r.GetFulfilledRequests()); n > 0 {
		ids := make([]string, n)
		for i, q := range r.GetFulfilledRequests() {
			ids[i] = fmt.Sprintf("%d:%s", q.Id, q.GetRequest().GetType())
		}
		parts = append(parts, "fulfilled="+strings.Join(ids, ","))
	}
	parts = append(parts, fmt.Sprintf("pending=%d", len(r.GetPendingRequests().GetRequests())))
	if r.GetPositionSolution() != nil {
		parts = append(parts, "position="+strings.ReplaceAll(fmtPosition(r.PositionSolution), " ", ","))
	}
	if r.GetFile() != nil {
		parts = append(parts, fmt.Sprintf("file=sctr:%d", r.File.Sctr))
	}
	if n := len(r.GetStreamRecords()); n > 0 {
		parts = append(parts, fmt.Sprintf("stream_records=%d", n))
	}
	for _, l := range r.GetLogMessages() {
		parts = append(parts, fmt.Sprintf("[%s %s]", l.Level, clean(l.Logmsg)))
	}
	return strings.Join(parts, "  ")
}
