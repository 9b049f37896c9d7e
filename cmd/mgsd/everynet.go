package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openmgs/openmgs/connector/everynet"
	"github.com/openmgs/openmgs/uplink"
)

// everynetOptions are the Everynet connector settings; URLs and tokens are
// comma-separated lists (URL i pairs with token i; one token serves all).
var everynetOptions = []option{
	{"everynet-url", "MGS_EVERYNET_URL", "", "comma-separated Everynet Data API WebSocket URLs (one connection each)"},
	{"everynet-token", "MGS_EVERYNET_TOKEN", "", "comma-separated Data API access tokens, in URL order (one token serves every URL)"},
	{"everynet-downlink-claim", "MGS_EVERYNET_DOWNLINK_CLAIM", "false", "send downlink_claim when a modem downlink is still untransmitted 10 s after its uplink"},
	{"everynet-dr-plan", "MGS_EVERYNET_DR_PLAN", "eu868", "how SF/bandwidth map to dr: eu868, us915, au915, none"},
}

// everynetConfig builds one connector configuration per URL.
func everynetConfig(vals map[string]*string) ([]everynet.Config, error) {
	urls := splitList(*vals["everynet-url"])
	tokens := splitList(*vals["everynet-token"])
	if len(urls) == 0 {
		if len(tokens) > 0 {
			return nil, fmt.Errorf("everynet-token: given without everynet-url")
		}
		return nil, nil
	}
	if len(tokens) > 1 && len(tokens) != len(urls) {
		return nil, fmt.Errorf("everynet-token: %d tokens for %d URLs (give one, or one per URL)", len(tokens), len(urls))
	}
	claim, err := parseBool("everynet-downlink-claim", *vals["everynet-downlink-claim"])
	if err != nil {
		return nil, err
	}
	names := map[string]int{}
	var out []everynet.Config
	for i, u := range urls {
		c := everynet.DefaultConfig()
		c.URL = u
		switch len(tokens) {
		case 1:
			c.Token = tokens[0]
		case len(urls):
			c.Token = tokens[i]
		}
		c.DownlinkClaim = claim
		c.DataRatePlan = *vals["everynet-dr-plan"]
		if pu, err := url.Parse(u); err == nil && pu.Host != "" {
			c.Name = pu.Host
		} else {
			c.Name = u
		}
		if names[c.Name]++; names[c.Name] > 1 {
			c.Name = fmt.Sprintf("%s#%d", c.Name, names[c.Name])
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("everynet connection %d: %w", i+1, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// startEverynet starts one connector per configuration; each connection's
// state is a gRPC health entry "everynet/<name>". The returned wait blocks
// until every connector has processed what it received after ctx ended.
func startEverynet(ctx context.Context, cfgs []everynet.Config, pipe *uplink.Pipeline, health interface {
	SetServingStatus(string, healthpb.HealthCheckResponse_ServingStatus)
}, log *slog.Logger) (wait func(), err error) {
	var conns []*everynet.Connector
	for i, c := range cfgs {
		c.Logger = log.With("component", "everynet", "connection", c.Name)
		c.OnStateChange = func(s everynet.Status) {
			st := healthpb.HealthCheckResponse_NOT_SERVING
			if s.Healthy() {
				st = healthpb.HealthCheckResponse_SERVING
			}
			health.SetServingStatus("everynet/"+s.Name, st)
		}
		conn, err := everynet.New(c, pipe)
		if err != nil {
			return nil, fmt.Errorf("everynet connection %d: %w", i+1, err)
		}
		health.SetServingStatus("everynet/"+c.Name, healthpb.HealthCheckResponse_NOT_SERVING)
		conns = append(conns, conn)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				log.Error("everynet connector stopped", "err", err)
			}
		}()
	}
	return wg.Wait, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q is not true or false", name, v)
}
