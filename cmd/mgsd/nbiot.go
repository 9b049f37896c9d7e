package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/server/horde"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// nbiotOptions configure NB-IoT (LwM2M/CoAP) and downstream messaging.
var nbiotOptions = []option{
	{"coap-addr", "MGS_COAP_ADDR", "127.0.0.1:5683", "CoAP/LwM2M UDP listen address for NB-IoT modems; off disables it"},
	{"coaps-addr", "MGS_COAPS_ADDR", "off", "CoAP-over-DTLS (DTLS-PSK) listen address for NB-IoT modems, usually 0.0.0.0:5684; off disables it"},
	{"coap-require-dtls", "MGS_COAP_REQUIRE_DTLS", "false", "refuse every LwM2M registration over plain CoAP (endpoints with a pre-shared key are always refused there)"},
	{"nbiot-unprovisioned", "MGS_NBIOT_UNPROVISIONED", "map", "unprovisioned NB-IoT endpoints: map (default IMEI → EUI mapping) or reject"},
	{"outbox-max-pending", "MGS_OUTBOX_MAX_PENDING", "16", "pending downstream messages per device"},
	{"coap-awake-window", "MGS_COAP_AWAKE_WINDOW", "20s", "how long after its last message an NB-IoT device counts as reachable"},
}

// nbiotService is NB-IoT and downstream messaging in mgsd: endpoint
// identity and collections (fleet), the per-device outbox, the CoAP/LwM2M
// server, and the LoRaWAN delivery of queued messages.
type nbiotService struct {
	fleet  *fleet.Fleet
	outbox *outbox.Outbox
	coap   *lwm2m.Server // nil when --coap-addr and --coaps-addr are off
	log    *slog.Logger
	stop   func()
}

func openNBIoT(st store.Store, cfg *config, pipe *uplink.Pipeline, log *slog.Logger) (*nbiotService, error) {
	v := cfg.settings.val
	policy, err := fleet.ParsePolicy(strings.TrimSpace(v["nbiot-unprovisioned"]))
	if err != nil {
		return nil, cfg.settings.errorf("nbiot-unprovisioned", "%v", err)
	}
	maxPending, err := strconv.Atoi(strings.TrimSpace(v["outbox-max-pending"]))
	if err != nil || maxPending < 1 || maxPending > 1024 {
		return nil, cfg.settings.errorf("outbox-max-pending", "%q is not a number in 1..1024", v["outbox-max-pending"])
	}
	awake, err := time.ParseDuration(strings.TrimSpace(v["coap-awake-window"]))
	if err != nil || awake <= 0 {
		return nil, cfg.settings.errorf("coap-awake-window", "%q is not a positive duration", v["coap-awake-window"])
	}
	n := &nbiotService{log: log, stop: func() {}}
	n.fleet = fleet.New(st, fleet.Config{Unprovisioned: policy})
	ocfg := outbox.DefaultConfig()
	ocfg.MaxPending = maxPending
	if err := ocfg.Validate(); err != nil {
		return nil, cfg.settings.errorf("outbox-max-pending", "%v", err)
	}
	n.outbox = outbox.New(st, ocfg)

	// LoRaWAN delivery: a queued message is the dnlink of the next uplink
	// when no modem request needs the slot; marked sent after the commit.
	stage, sent := uplink.AppDownlinkStage(n.outbox, log.With("component", "outbox"))
	if err := pipe.InsertStage("plan_downlink", stage); err != nil {
		return nil, err
	}
	pipe.OnCommit(sent)
	// A deleted device's queued messages go with it.
	pipe.OnDelete(func(ctx context.Context, eui lora.EUI64) {
		if err := n.outbox.Purge(ctx, eui); err != nil {
			log.Error("purge outbox of deleted device", "dev_eui", eui, "err", err)
		}
	})
	// Everynet connections deliver queued messages on downlink_request.
	for i := range cfg.Everynet {
		cfg.Everynet[i].Downlinks = outboxDownlinks{n.outbox}
	}

	if n.coap, err = openLwM2M(cfg, st, pipe, n, awake, policy, log); err != nil {
		return nil, err
	}
	return n, nil
}

// openLwM2M configures the CoAP/LwM2M server: plain CoAP on --coap-addr,
// DTLS-PSK on --coaps-addr (keys from the fleet), the same registry and
// handlers behind both. It returns nil when both are off.
func openLwM2M(cfg *config, st store.Store, pipe *uplink.Pipeline, n *nbiotService, awake time.Duration, policy fleet.Policy,
	log *slog.Logger) (*lwm2m.Server, error) {
	v := cfg.settings.val
	addr, daddr := strings.TrimSpace(v["coap-addr"]), strings.TrimSpace(v["coaps-addr"])
	plainOff, dtlsOff := addr == "off" || addr == "", daddr == "off" || daddr == ""
	requireDTLS, err := parseBool(v["coap-require-dtls"])
	if err != nil {
		return nil, cfg.settings.errorf("coap-require-dtls", "%v", err)
	}
	if plainOff && dtlsOff {
		return nil, nil
	}
	lc := lwm2m.DefaultConfig()
	lc.Addr, lc.DisableUDP, lc.AwakeWindow, lc.Logger = addr, plainOff, awake, log.With("component", "coap")
	lc.RequireDTLS = requireDTLS
	if plainOff {
		lc.Addr = ""
	}
	if !dtlsOff {
		lc.DTLSAddr, lc.Keys = daddr, n.fleet
	}
	if err := lc.Validate(); err != nil {
		return nil, optionErr(cfg, err)
	}
	srv, err := lwm2m.New(lc, st, pipe, n.fleet, n.outbox)
	if err != nil {
		return nil, fmt.Errorf("coap: %w", err)
	}
	if !plainOff && policy == fleet.PolicyMap && !requireDTLS && !isLoopbackAddr(addr) {
		log.Warn("the CoAP server accepts unprovisioned IMEI endpoints on a public address; consider --nbiot-unprovisioned=reject")
	}
	return srv, nil
}

// optionErr attributes an lwm2m.Config error ("coap-addr: …" or
// "coaps-addr: …") to the option and where its value came from.
func optionErr(cfg *config, err error) error {
	for _, key := range []string{"coaps-addr", "coap-addr"} {
		if rest, ok := strings.CutPrefix(err.Error(), key+": "); ok {
			return cfg.settings.errorf(key, "%s", rest)
		}
	}
	return err
}

// start runs the CoAP server until the returned stop is called (after the
// other servers drained, before the database closes). It adds the listen
// addresses to addrs ("coap", "coaps").
func (n *nbiotService) start(addrs map[string]string) (stop func(), err error) {
	if n.coap == nil {
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.coap.Run(ctx) }()
	select {
	case <-n.coap.Ready():
	case err := <-errc:
		cancel()
		return nil, err // names coap-addr or coaps-addr
	}
	if a := n.coap.Addr(); a != nil {
		addrs["coap"] = a.String()
	}
	if a := n.coap.DTLSAddr(); a != nil {
		addrs["coaps"] = a.String()
	}
	return func() {
		cancel()
		if err := <-errc; err != nil {
			n.log.Warn("coap server", "err", err)
		}
	}, nil
}

// registrations lists the live LwM2M registrations for the gRPC
// FleetService; nil when the CoAP server is disabled.
func (n *nbiotService) registrations() func() []lwm2m.Registration {
	if n.coap == nil {
		return nil
	}
	return n.coap.Registrations
}

// mount serves the Telenor Horde-compatible downstream and provisioning API
// beside the LoRa Cloud API, behind the same tokens: reads need read,
// sending and deleting messages need requests (as DownstreamService),
// everything else devices.
func (n *nbiotService) mount(api *httpapi.API, next http.Handler) (http.Handler, error) {
	h, err := horde.New(horde.Options{Fleet: n.fleet, Outbox: n.outbox, Logger: n.log.With("component", "horde")})
	if err != nil {
		return nil, err
	}
	read := api.Protect("horde", auth.CapRead, h)
	send := api.Protect("horde", auth.CapRequests, h)
	manage := api.Protect("horde", auth.CapDevices, h)
	protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet:
			read.ServeHTTP(w, r)
		case r.Method == http.MethodPost && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/to"),
			r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/outbox/"):
			send.ServeHTTP(w, r)
		default:
			manage.ServeHTTP(w, r)
		}
	})
	mux := http.NewServeMux()
	for _, p := range []string{"/collections", "/collections/", "/collection/", "/endpoints", "/endpoints/"} {
		mux.Handle(p, protected)
	}
	mux.Handle("/", next)
	return mux, nil
}

// outboxDownlinks hands queued messages to a connector that has a
// downlink slot (Everynet downlink_request); a message handed over counts
// as sent.
type outboxDownlinks struct{ o *outbox.Outbox }

func (d outboxDownlinks) NextDownlink(ctx context.Context, eui lora.EUI64) (*store.Dnlink, bool) {
	m, ok, err := d.o.Next(ctx, eui)
	if err != nil || !ok {
		return nil, false
	}
	if err := d.o.MarkSent(ctx, eui, m.ID, "everynet"); err != nil {
		return nil, false
	}
	return &store.Dnlink{Port: m.Port, Payload: m.Payload}, true
}

func isLoopbackAddr(addr string) bool {
	host := addr
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		host = strings.Trim(addr[:i], "[]")
	}
	return isLoopback(host)
}
