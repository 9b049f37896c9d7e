package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/openmgs/openmgs/fleet"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// Downstream messages (DownstreamService) and the fleet: collections and
// the NB-IoT provisioning table (FleetService). Device arguments are EUIs
// in any spelling, provisioned endpoint names or IMEIs.

// downstream dials the server and returns its DownstreamService.
func (c *cli) downstream() (mgsv1.DownstreamServiceClient, error) {
	if _, err := c.client(); err != nil {
		return nil, err
	}
	return mgsv1.NewDownstreamServiceClient(c.conn), nil
}

// fleet dials the server and returns its FleetService.
func (c *cli) fleet() (mgsv1.FleetServiceClient, error) {
	if _, err := c.client(); err != nil {
		return nil, err
	}
	return mgsv1.NewFleetServiceClient(c.conn), nil
}

// tagFlag is a repeatable key=value flag.
type tagFlag map[string]string

func (t tagFlag) String() string { return fmtTags(t) }

func (t tagFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	t[k] = v
	return nil
}

func fmtTags(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// payloadFlags defines --port, --hex and --text and returns a function
// that checks them after parsing.
func payloadFlags(f *flags) func() (uint32, string, error) {
	port := &optUint{max: 1<<32 - 1}
	f.Var(port, "port", "`port` 1..223 (LoRaWAN FPort, NB-IoT port byte); required")
	hexPayload := f.String("hex", "", "payload as `hex`")
	text := f.String("text", "", "payload as `text` (sent as its UTF-8 bytes)")
	return func() (uint32, string, error) {
		if !port.set {
			return 0, "", f.fail("--port is required")
		}
		switch {
		case f.isSet("hex") && f.isSet("text"):
			return 0, "", f.fail("give --hex or --text, not both")
		case f.isSet("hex"):
			if _, err := hex.DecodeString(*hexPayload); err != nil {
				return 0, "", f.fail("--hex: %v", err)
			}
			return uint32(port.v), *hexPayload, nil
		case f.isSet("text"):
			return uint32(port.v), hex.EncodeToString([]byte(*text)), nil
		}
		return 0, "", f.fail("the payload is required: --hex HEX or --text S (--hex '' for an empty message)")
	}
}

// wantArgs checks that exactly the named positional arguments were given.
func (f *flags) wantArgs(pos []string, names ...string) error {
	if len(pos) < len(names) {
		return f.fail("missing %s", names[len(pos)])
	}
	if len(pos) > len(names) {
		return f.fail("unexpected argument %q", pos[len(names)])
	}
	return nil
}

var messageHeader = []string{"ID", "DEVEUI", "COLLECTION", "STATE", "PORT", "PAYLOAD", "CREATED", "SENT", "TRANSPORT", "ATTEMPTS", "ERROR"}

func messageRow(m *mgsv1.DownstreamMessage) []string {
	state := strings.ToLower(strings.TrimPrefix(m.State.String(), "MESSAGE_STATE_"))
	payload := m.Payload
	if payload == "" {
		payload = "-"
	}
	return []string{strconv.FormatUint(m.MessageId, 10), m.Deveui, m.CollectionId, state, strconv.FormatUint(uint64(m.Port), 10),
		payload, fmtTime(m.CreatedTime), fmtTime(m.SentTime), dash(m.Transport), strconv.FormatUint(uint64(m.Attempts), 10), dash(m.Error)}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runSend is "mgsctl send DEVICE --port N (--hex HEX | --text S) [--collection C]".
func runSend(ctx context.Context, c *cli, args []string) error {
	f := c.newFlags("send", "DEVICE --port N (--hex HEX | --text S) [--collection C]",
		"queue a downstream message for a device (LoRaWAN or NB-IoT); DEVICE is an EUI, an endpoint name or an IMEI", args)
	collection := f.String("collection", "", "the device must be in this `collection`")
	payload := payloadFlags(f)
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "DEVICE"); err != nil {
		return err
	}
	port, hexPayload, err := payload()
	if err != nil {
		return err
	}
	api, err := c.downstream()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.SendMessage(cctx, &mgsv1.SendMessageRequest{CollectionId: *collection, DeviceId: pos[0], Port: port, Payload: hexPayload})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	table(c.stdout, messageHeader, [][]string{messageRow(resp.Message)})
	return nil
}

// runBroadcast is "mgsctl broadcast COLLECTION --port N --hex HEX".
func runBroadcast(ctx context.Context, c *cli, args []string) error {
	f := c.newFlags("broadcast", "COLLECTION --port N (--hex HEX | --text S)",
		"queue a downstream message for every device of a collection; devices it could not be queued for are listed and make the exit status 1", args)
	payload := payloadFlags(f)
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "COLLECTION"); err != nil {
		return err
	}
	port, hexPayload, err := payload()
	if err != nil {
		return err
	}
	api, err := c.downstream()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.BroadcastMessage(cctx, &mgsv1.BroadcastMessageRequest{CollectionId: pos[0], Port: port, Payload: hexPayload})
	if err != nil {
		return err
	}
	for _, e := range resp.Errors {
		c.itemError(e.Deveui, e.Message)
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	keyValues(c.stdout, [][2]string{{"sent", strconv.FormatUint(uint64(resp.Sent), 10)}, {"failed", strconv.FormatUint(uint64(resp.Failed), 10)}})
	if len(resp.Errors) > 0 {
		rows := make([][]string, 0, len(resp.Errors))
		for _, e := range resp.Errors {
			rows = append(rows, []string{e.Deveui, e.Message})
		}
		section(c.stdout, "Errors", []string{"DEVEUI", "ERROR"}, rows)
	}
	return nil
}

// runOutbox is "mgsctl outbox DEVICE [--state S]" (also "outbox list
// DEVICE") and "mgsctl outbox delete DEVICE ID".
func runOutbox(ctx context.Context, c *cli, args []string) error {
	subs := []subcommand{
		{"list", "DEVICE [--state pending|sent|failed] [--collection C]", "list a device's downstream messages (also 'mgsctl outbox DEVICE')", outboxList},
		{"delete", "DEVICE ID [--collection C]", "delete a pending message", outboxDelete},
	}
	if len(args) > 0 && !slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) &&
		!slices.ContainsFunc(subs, func(s subcommand) bool { return s.name == args[0] }) {
		args = append([]string{"list"}, args...)
	}
	return c.dispatch(ctx, "outbox", "List the downstream messages of a device, delete pending ones", subs, args)
}

var stateNames = map[string]mgsv1.MessageState{
	"":        mgsv1.MessageState_MESSAGE_STATE_UNSPECIFIED,
	"pending": mgsv1.MessageState_MESSAGE_STATE_PENDING,
	"sent":    mgsv1.MessageState_MESSAGE_STATE_SENT,
	"failed":  mgsv1.MessageState_MESSAGE_STATE_FAILED,
}

func outboxList(ctx context.Context, c *cli, f *flags) error {
	state := f.String("state", "", "only messages in this `state`: pending, sent or failed")
	collection := f.String("collection", "", "the device must be in this `collection`")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "DEVICE"); err != nil {
		return err
	}
	st, ok := stateNames[*state]
	if !ok {
		return f.fail("--state: %q is not pending, sent or failed", *state)
	}
	api, err := c.downstream()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListMessages(cctx, &mgsv1.ListMessagesRequest{CollectionId: *collection, DeviceId: pos[0], State: st})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	rows := make([][]string, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		rows = append(rows, messageRow(m))
	}
	table(c.stdout, messageHeader, rows)
	return nil
}

func outboxDelete(ctx context.Context, c *cli, f *flags) error {
	collection := f.String("collection", "", "the device must be in this `collection`")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "DEVICE", "ID"); err != nil {
		return err
	}
	id, err := strconv.ParseUint(pos[1], 10, 64)
	if err != nil || id == 0 {
		return f.fail("message ID %q is not a positive integer", pos[1])
	}
	api, err := c.downstream()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.DeleteMessage(cctx, &mgsv1.DeleteMessageRequest{CollectionId: *collection, DeviceId: pos[0], MessageId: id})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "deleted message %d of %s\n", id, pos[0])
	return nil
}

func runEndpoints(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "endpoints", "Manage the NB-IoT provisioning table (endpoint name → EUI) and show live LwM2M registrations", []subcommand{
		{"provision", "NAME [--eui EUI] [--opaque] [--collection C] [--tag K=V]... [--psk HEX [--psk-identity ID]]",
			"provision an endpoint; without --eui an IMEI name takes the default mapping; --psk makes it DTLS-only", endpointsProvision},
		{"list", "", "list the provisioned endpoints (keys are never shown)", endpointsList},
		{"set", "NAME [--opaque=true|false] [--psk HEX] [--psk-identity ID] [--clear-psk]",
			"change an endpoint's opaque flag (application data without port byte) or DTLS pre-shared key", endpointsSet},
		{"delete", "NAME", "remove an endpoint from the provisioning table (its device state stays)", endpointsDelete},
		{"registrations", "", "list the live LwM2M registrations of the CoAP server", endpointsRegistrations},
	}, args)
}

var endpointHeader = []string{"ENDPOINT", "DEVEUI", "OPAQUE", "CREATED", "PSK_IDENTITY"}

func endpointRow(e *mgsv1.Endpoint) []string {
	id := "-" // no key: plain CoAP allowed
	if e.PskSet {
		id = e.PskIdentity
	}
	return []string{e.Endpoint, e.Deveui, strconv.FormatBool(e.Opaque), fmtTime(e.CreatedTime), id}
}

// pskFlags defines --psk and --psk-identity and returns a function that
// checks them after parsing.
func pskFlags(f *flags) func() (*string, *string, error) {
	key := f.String("psk", "", "DTLS pre-shared `hex` key, 1..64 bytes (16 or 32 random bytes recommended, e.g. from 'openssl rand -hex 16')")
	id := f.String("psk-identity", "", "PSK `identity` the module presents (default: the endpoint name)")
	return func() (*string, *string, error) {
		var k, i *string
		if f.isSet("psk") {
			if _, err := fleet.ParsePSK(*key); err != nil {
				return nil, nil, f.fail("--psk: %s", reason(err, "psk"))
			}
			k = key
		}
		if f.isSet("psk-identity") {
			if *id != "" {
				if err := fleet.ValidatePSKIdentity(*id); err != nil {
					return nil, nil, f.fail("--psk-identity: %s", reason(err, "psk_identity"))
				}
			}
			i = id
		}
		return k, i, nil
	}
}

func (c *cli) printEndpoints(resp proto.Message, eps ...*mgsv1.Endpoint) error {
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	rows := make([][]string, 0, len(eps))
	for _, e := range eps {
		rows = append(rows, endpointRow(e))
	}
	table(c.stdout, endpointHeader, rows)
	return nil
}

// reason strips a fleet validation error down to what follows its field.
func reason(err error, field string) string {
	s := strings.TrimPrefix(err.Error(), fleet.ErrInvalid.Error()+": ")
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(s, field), ":"))
}

func endpointsProvision(ctx context.Context, c *cli, f *flags) error {
	eui := f.String("eui", "", "the device's `EUI` (default: the IMEI mapping 0E ‖ 14 IMEI digits)")
	opaque := f.Bool("opaque", false, "application data only: no port byte in either direction")
	collection := f.String("collection", "", "place the device in this `collection` (default: default)")
	tags := tagFlag{}
	f.Var(tags, "tag", "device tag `key=value`; repeatable")
	psk := pskFlags(f)
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "NAME"); err != nil {
		return err
	}
	key, id, err := psk()
	if err != nil {
		return err
	}
	if id != nil && key == nil {
		return f.fail("--psk-identity needs --psk")
	}
	req := &mgsv1.ProvisionEndpointRequest{Endpoint: pos[0], Eui: *eui, Opaque: *opaque, CollectionId: *collection, Tags: tags}
	if key != nil {
		req.Psk = *key
	}
	if id != nil {
		req.PskIdentity = *id
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ProvisionEndpoint(cctx, req)
	if err != nil {
		return err
	}
	return c.printEndpoints(resp, resp.Endpoint)
}

func endpointsList(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListEndpoints(cctx, &mgsv1.ListEndpointsRequest{})
	if err != nil {
		return err
	}
	return c.printEndpoints(resp, resp.Endpoints...)
}

func endpointsSet(ctx context.Context, c *cli, f *flags) error {
	opaque := f.Bool("opaque", false, "the new opaque flag (--opaque=true or --opaque=false)")
	psk := pskFlags(f)
	clearPSK := f.Bool("clear-psk", false, "remove the pre-shared key: the endpoint may use plain CoAP again")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "NAME"); err != nil {
		return err
	}
	key, id, err := psk()
	if err != nil {
		return err
	}
	req := &mgsv1.UpdateEndpointRequest{Endpoint: pos[0], Psk: key, PskIdentity: id, ClearPsk: *clearPSK}
	if f.isSet("opaque") {
		req.Opaque = opaque
	}
	switch {
	case req.Opaque == nil && key == nil && id == nil && !*clearPSK:
		return f.fail("give --opaque=true|false, --psk, --psk-identity or --clear-psk")
	case *clearPSK && (key != nil || id != nil):
		return f.fail("--clear-psk cannot be combined with --psk or --psk-identity")
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.UpdateEndpoint(cctx, req)
	if err != nil {
		return err
	}
	return c.printEndpoints(resp, resp.Endpoint)
}

func endpointsDelete(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "NAME"); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.DeleteEndpoint(cctx, &mgsv1.DeleteEndpointRequest{Endpoint: pos[0]})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "deleted endpoint %s\n", pos[0])
	return nil
}

func endpointsRegistrations(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListRegistrations(cctx, &mgsv1.ListRegistrationsRequest{})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	rows := make([][]string, 0, len(resp.Registrations))
	for _, r := range resp.Registrations {
		rows = append(rows, []string{r.Endpoint, r.Deveui, r.Address, dash(r.Binding), strconv.FormatBool(r.Observed),
			strconv.FormatBool(r.Opaque), strconv.FormatBool(r.Dtls), fmtTime(r.RegisteredTime), fmtTime(r.LastSeenTime), fmtTime(r.ExpiresTime)})
	}
	table(c.stdout, []string{"ENDPOINT", "DEVEUI", "ADDRESS", "BINDING", "OBSERVED", "OPAQUE", "DTLS", "REGISTERED", "LAST_SEEN", "EXPIRES"}, rows)
	return nil
}

func runCollections(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "collections", "Manage collections (broadcast targets) and place devices in them", []subcommand{
		{"create", "[ID] [--tag K=V]...", "create a collection (without ID: a generated one)", collectionsCreate},
		{"list", "", "list the collections, default first", collectionsList},
		{"delete", "ID", "delete a collection; its devices return to default", collectionsDelete},
		{"devices", "ID", "list the devices of a collection", collectionsDevices},
		{"place", "DEVICE COLLECTION [--tag K=V]... [--clear-tags]", "move a device (known or not yet seen) to a collection", collectionsPlace},
	}, args)
}

var collectionHeader = []string{"COLLECTION", "CREATED", "TAGS"}

func collectionRow(col *mgsv1.Collection) []string {
	return []string{col.CollectionId, fmtTime(col.CreatedTime), fmtTags(col.Tags)}
}

func collectionsCreate(ctx context.Context, c *cli, f *flags) error {
	tags := tagFlag{}
	f.Var(tags, "tag", "collection tag `key=value`; repeatable")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return f.fail("unexpected argument %q", pos[1])
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.CreateCollection(cctx, &mgsv1.CreateCollectionRequest{CollectionId: id, Tags: tags})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	table(c.stdout, collectionHeader, [][]string{collectionRow(resp.Collection)})
	return nil
}

func collectionsList(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListCollections(cctx, &mgsv1.ListCollectionsRequest{})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	rows := make([][]string, 0, len(resp.Collections))
	for _, col := range resp.Collections {
		rows = append(rows, collectionRow(col))
	}
	table(c.stdout, collectionHeader, rows)
	return nil
}

func collectionsDelete(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "ID"); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.DeleteCollection(cctx, &mgsv1.DeleteCollectionRequest{CollectionId: pos[0]})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "deleted collection %s\n", pos[0])
	return nil
}

var fleetDeviceHeader = []string{"DEVEUI", "COLLECTION", "ENDPOINT", "PROVISIONED", "OPAQUE", "STATE", "TAGS"}

func fleetDeviceRow(d *mgsv1.FleetDevice) []string {
	state := "-"
	if d.HasState {
		state = "yes"
	}
	return []string{d.Deveui, d.CollectionId, dash(d.Endpoint), strconv.FormatBool(d.Provisioned), strconv.FormatBool(d.Opaque), state, fmtTags(d.Tags)}
}

func collectionsDevices(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "ID"); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListCollectionDevices(cctx, &mgsv1.ListCollectionDevicesRequest{CollectionId: pos[0]})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	rows := make([][]string, 0, len(resp.Devices))
	for _, d := range resp.Devices {
		rows = append(rows, fleetDeviceRow(d))
	}
	table(c.stdout, fleetDeviceHeader, rows)
	return nil
}

func collectionsPlace(ctx context.Context, c *cli, f *flags) error {
	tags := tagFlag{}
	f.Var(tags, "tag", "device tag `key=value`, replacing the device's tags; repeatable")
	clearTags := f.Bool("clear-tags", false, "remove the device's tags (with --tag: replace them)")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if err := f.wantArgs(pos, "DEVICE", "COLLECTION"); err != nil {
		return err
	}
	api, err := c.fleet()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.PlaceDevice(cctx, &mgsv1.PlaceDeviceRequest{DeviceId: pos[0], CollectionId: pos[1], Tags: tags, ReplaceTags: *clearTags})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	table(c.stdout, fleetDeviceHeader, [][]string{fleetDeviceRow(resp.Device)})
	return nil
}
