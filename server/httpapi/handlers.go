package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/uplink"
)

// MaxAddDevices bounds device/add (LoRa Cloud's DEVICE_ADD_LIMIT).
const MaxAddDevices = 256

// protoErr turns a protojson error about doc into a 400 naming the field
// (prefix + its JSON path; whole if the position is unknown). protojson
// marks its messages with a randomly chosen space character.
func protoErr(prefix, whole string, doc []byte, err error) error {
	msg := strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\u00a0", " "), "proto: ")
	field := fieldOfProtoErr(doc, msg)
	if field == "" {
		return badRequest("%s: %s", whole, msg)
	}
	return badRequest("%s%s: %s", prefix, field, msg)
}

// decodePB decodes a JSON body into an mgs.v1 request message; unknown
// fields are rejected. An empty body is an empty object when emptyOK.
func decodePB(body []byte, m proto.Message, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("body: empty; a JSON object is expected")
	}
	if err := protojson.Unmarshal(body, m); err != nil {
		return protoErr("", "body", body, err)
	}
	return nil
}

// decodeJSON decodes a JSON body into a Go struct, rejecting unknown
// fields and trailing data.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("body: empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("%s: %s is not a valid %s", te.Field, te.Value, te.Type)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if f, ok := strings.CutPrefix(msg, `unknown field "`); ok {
			return badRequest("%s: unknown field", strings.TrimSuffix(f, `"`))
		}
		return badRequest("body: %v", msg)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("body: unexpected data after the JSON object")
	}
	return nil
}

// checkUplink validates an UPLINK_MSG with the functions the modem service
// itself uses, so that a bad item fails the whole request with its field
// named (prefix + field) before anything is processed. LoRaWAN FPort 0
// only carries MAC commands, never a protocol: clients that always send
// the port send 0 for "no port", so it is read as absent.
func checkUplink(prefix string, pb *mgsv1.UplinkMsg) error {
	if pb.Port != nil && *pb.Port == 0 {
		pb.Port = nil
	}
	m, err := server.UplinkFromPB(pb)
	if err == nil {
		err = uplink.Validate(&m)
	}
	var fe *uplink.FieldError
	if errors.As(err, &fe) {
		return badRequest("%s%s: %s", prefix, fe.Field, fe.Reason)
	}
	return err
}

// pipelineErr converts an error of the uplink pipeline (device/add) into
// the status the modem service would give it, logging internal ones.
func (a *API) pipelineErr(ctx context.Context, err error) error {
	st := server.Status(err)
	if status.Code(st) == codes.Internal {
		a.log.ErrorContext(ctx, "http api request failed", "err", err)
	}
	return st
}

// uplinkSend is POST /api/v1/uplink/send: {"<EUI>": UPLINK_MSG, …} with at
// most 128 devices, answered per EUI with {"result": UPLINK_RESPONSE} or
// {"error": "…"}. The object is read in order (several keys may name the
// same device in different spellings; its uplinks run in that order).
func (a *API) uplinkSend(r *request) (*reply, error) {
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		if err != nil && err != io.EOF {
			return nil, badRequest("body: %v", err)
		}
		return nil, badRequest("body: a JSON object mapping device EUIs to UPLINK_MSG objects is expected")
	}
	req := &mgsv1.SendUplinksRequest{}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, badRequest("body: %v", err)
		}
		key := t.(string) // object keys are strings
		if seen[key] {
			return nil, badRequest("%s: the device appears twice in the object", key)
		}
		seen[key] = true
		if len(keys) == server.MaxBatch {
			return nil, badRequest("body: more than %d devices in one request; split it", server.MaxBatch)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest("%s: %v", key, err)
		}
		if _, err := server.ParseEUI(key, key); err != nil {
			return nil, badRequest("%s: not an EUI-64 (16 hex digits, optionally dash-separated)", key)
		}
		pb := &mgsv1.UplinkMsg{}
		if bytes.Equal(raw, []byte("null")) {
			return nil, badRequest("%s: an UPLINK_MSG object is required", key)
		}
		if err := protojson.Unmarshal(raw, pb); err != nil {
			return nil, protoErr(key+".", key, raw, err)
		}
		if err := checkUplink(key+".", pb); err != nil {
			return nil, err
		}
		keys = append(keys, key)
		req.Uplinks = append(req.Uplinks, &mgsv1.DeviceUplink{Deveui: key, Uplink: pb})
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("body: unexpected data after the JSON object")
	}
	if len(keys) == 0 {
		return nil, badRequest("body: at least one device uplink is required")
	}
	resp, err := a.modem.SendUplinks(r.Context(), req)
	if err != nil {
		return nil, err
	}
	out := &orderedMap{}
	for i, res := range resp.Results {
		if res.Error != "" {
			out.add(keys[i], item{Error: res.Error})
		} else {
			out.add(keys[i], item{Result: renderUplinkResponse(res.Result)})
		}
	}
	return &reply{result: out}, nil
}

// deviceSend is POST /api/v1/device/send: {"deveui", "uplink"} answered
// with {"result": UPLINK_RESPONSE}. On failure the envelope also carries a
// top-level "error" string; on success it has none (Node-RED treats any
// "error" key as a failure).
func (a *API) deviceSend(r *request) (*reply, error) {
	req := &mgsv1.SendUplinkRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	if _, err := server.ParseEUI("deveui", req.Deveui); err != nil {
		return nil, badRequest("%v", err)
	}
	if req.Uplink == nil {
		return nil, badRequest("uplink: an UPLINK_MSG object is required")
	}
	if err := checkUplink("uplink.", req.Uplink); err != nil {
		return nil, err
	}
	resp, err := a.modem.SendUplink(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: renderUplinkResponse(resp.Result)}, nil
}

// deviceInfo is POST /api/v1/device/info: {"deveuis": [...]} answered per
// EUI with {"result": DEVICEINFO} or {"error": "…"}.
func (a *API) deviceInfo(r *request) (*reply, error) {
	req := &mgsv1.GetDeviceInfoRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	resp, err := a.modem.GetDeviceInfo(r.Context(), req)
	if err != nil {
		return nil, err
	}
	out := &orderedMap{}
	for i, res := range resp.Results {
		if res.Error != "" {
			out.add(req.Deveuis[i], item{Error: res.Error})
		} else {
			out.add(req.Deveuis[i], item{Result: renderDeviceInfo(res.Info)})
		}
	}
	return &reply{result: out}, nil
}

type deviceSummary struct {
	Deveui          string  `json:"deveui"`
	UplinkCount     uint64  `json:"uplink_count"`
	LastUplinkTime  float64 `json:"last_uplink_time"`
	PendingRequests uint32  `json:"pending_requests"`
}

type deviceListResult struct {
	Devices       []deviceSummary `json:"devices"`
	NextPageToken string          `json:"next_page_token"`
}

// deviceList is GET /api/v1/device/list?page_size=&page_token= or POST
// with the same fields in a JSON body.
func (a *API) deviceList(r *request) (*reply, error) {
	req := &mgsv1.ListDevicesRequest{}
	if r.Method == http.MethodPost {
		if err := decodePB(r.body, req, true); err != nil {
			return nil, err
		}
	} else {
		q := r.URL.Query()
		if v := q.Get("page_size"); v != "" {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, badRequest("page_size: %q is not a number", v)
			}
			req.PageSize = uint32(n)
		}
		req.PageToken = q.Get("page_token")
	}
	resp, err := a.modem.ListDevices(r.Context(), req)
	if err != nil {
		return nil, err
	}
	out := deviceListResult{Devices: make([]deviceSummary, len(resp.Devices)), NextPageToken: resp.NextPageToken}
	for i, d := range resp.Devices {
		out.Devices[i] = deviceSummary{d.Deveui, d.UplinkCount, d.LastUplinkTime, d.PendingRequests}
	}
	return &reply{result: out}, nil
}

type deveuisBody struct {
	Deveuis []string `json:"deveuis"`
}

type addResult struct {
	Created bool `json:"created"`
}

// deviceAdd is POST /api/v1/device/add: {"deveuis": [...]} (at most 256).
// Devices are also created implicitly by their first uplink; adding an
// existing device changes nothing ("created": false).
func (a *API) deviceAdd(r *request) (*reply, error) {
	var body deveuisBody
	if err := decodeJSON(r.body, &body); err != nil {
		return nil, err
	}
	if len(body.Deveuis) == 0 {
		return nil, badRequest("deveuis: at least one EUI is required")
	}
	if len(body.Deveuis) > MaxAddDevices {
		return nil, badRequest("deveuis: %d EUIs is more than %d", len(body.Deveuis), MaxAddDevices)
	}
	euis := make([]lora.EUI64, len(body.Deveuis))
	for i, s := range body.Deveuis {
		e, err := server.ParseEUI(fmt.Sprintf("deveuis[%d]", i), s)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		euis[i] = e
	}
	p := a.modem.Pipeline()
	out := &orderedMap{}
	for i, e := range euis {
		_, err := p.Device(r.Context(), e)
		created := false
		if uplink.IsNotFound(err) {
			// The pipeline creates missing devices when requests are queued;
			// an empty request list creates the device and queues nothing.
			// (A dedicated Pipeline.AddDevice would avoid resetting
			// upcount/updelay of a device created concurrently by an
			// uplink between these two calls.)
			_, err = p.AddRequests(r.Context(), e, nil, 0, 0)
			created = err == nil
		}
		if err != nil {
			return nil, a.pipelineErr(r.Context(), err)
		}
		out.add(body.Deveuis[i], item{Result: addResult{created}})
	}
	return &reply{result: out}, nil
}

type removeResult struct {
	Removed bool `json:"removed"`
}

// deviceRemove is POST /api/v1/device/remove: {"deveuis": [...]}.
func (a *API) deviceRemove(r *request) (*reply, error) {
	req := &mgsv1.DeleteDevicesRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	resp, err := a.modem.DeleteDevices(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: perEUIDone(req.Deveuis, resp.Deleted, removeResult{true})}, nil
}

// perEUIDone renders the outcome of an operation that reports the EUIs it
// handled (canonical form, in request order) and treats the others as not
// found.
func perEUIDone(requested, done []string, ok any) *orderedMap {
	left := map[string]int{}
	for _, d := range done {
		left[d]++
	}
	out := &orderedMap{}
	for _, s := range requested {
		e, _ := lora.ParseEUI64(s) // the modem service validated them
		if left[e.String()] > 0 {
			left[e.String()]--
			out.add(s, item{Result: ok})
		} else {
			out.add(s, item{Error: "device " + e.String() + " not found"})
		}
	}
	return out
}

type clearedResult struct {
	Cleared bool `json:"cleared"`
}

// deviceLogsClear is POST /api/v1/device/logs/clear: {"deveuis": [...]}.
func (a *API) deviceLogsClear(r *request) (*reply, error) {
	req := &mgsv1.ClearLogsRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	resp, err := a.modem.ClearLogs(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: perEUIDone(req.Deveuis, resp.Cleared, clearedResult{true})}, nil
}

// devicePortsSet is POST /api/v1/device/ports/set: {"deveuis": [...],
// "fports": FPORTS, "reset_streamport": bool}; zero ports keep their value.
// Answered per EUI with {"result": FPORTS} or {"error": "…"}.
func (a *API) devicePortsSet(r *request) (*reply, error) {
	req := &mgsv1.SetPortsRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	if len(req.Deveuis) == 0 {
		return nil, badRequest("deveuis: at least one EUI is required (account/ports/set changes the default ports)")
	}
	resp, err := a.modem.SetPorts(r.Context(), req)
	if err != nil {
		return nil, err
	}
	out := &orderedMap{}
	for i, res := range resp.Results {
		if res.Error != "" {
			out.add(req.Deveuis[i], item{Error: res.Error})
		} else {
			out.add(req.Deveuis[i], item{Result: renderPorts(res.Fports)})
		}
	}
	return &reply{result: out}, nil
}

// accountPorts is GET /api/v1/account/ports: the default FPORTS of devices
// without their own.
func (a *API) accountPorts(r *request) (*reply, error) {
	resp, err := a.modem.GetDefaultPorts(r.Context(), &mgsv1.GetDefaultPortsRequest{})
	if err != nil {
		return nil, err
	}
	return &reply{result: renderPorts(resp.Fports)}, nil
}

// accountPortsSet is POST /api/v1/account/ports/set: {"fports": FPORTS,
// "reset_streamport": bool}.
func (a *API) accountPortsSet(r *request) (*reply, error) {
	req := &mgsv1.SetPortsRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	if len(req.Deveuis) > 0 {
		return nil, badRequest("deveuis: not allowed here (device/ports/set sets the ports of devices)")
	}
	resp, err := a.modem.SetPorts(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: renderPorts(resp.DefaultFports)}, nil
}

// perEUIRequests renders per-device pending-request results.
func perEUIRequests(requested []string, results []*mgsv1.DeviceRequests) *orderedMap {
	out := &orderedMap{}
	for i, res := range results {
		if res.Error != "" {
			out.add(requested[i], item{Error: res.Error})
		} else {
			pr := renderPendingRequests(res.PendingRequests)
			out.add(requested[i], item{Result: &pr})
		}
	}
	return out
}

// requestsSet is POST /api/v1/requests/set: {"deveuis", "requests",
// "upcount", "updelay"} answered per EUI with the pending_requests object.
func (a *API) requestsSet(r *request) (*reply, error) {
	req := &mgsv1.AddRequestsRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	resp, err := a.modem.AddRequests(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: perEUIRequests(req.Deveuis, resp.Results)}, nil
}

// requestsClear is POST /api/v1/requests/clear: {"deveuis", "ids"?}; no
// ids clears all.
func (a *API) requestsClear(r *request) (*reply, error) {
	req := &mgsv1.ClearRequestsRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	resp, err := a.modem.ClearRequests(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: perEUIRequests(req.Deveuis, resp.Results)}, nil
}

// requestsList is POST /api/v1/requests/list: {"deveuis": [...]}.
func (a *API) requestsList(r *request) (*reply, error) {
	req := &mgsv1.ListRequestsRequest{}
	if err := decodePB(r.body, req, false); err != nil {
		return nil, err
	}
	resp, err := a.modem.ListRequests(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return &reply{result: perEUIRequests(req.Deveuis, resp.Results)}, nil
}

// notAvailable answers a solve endpoint whose solver the server was not
// given (Options.Geolocation without it).
func notAvailable(what string) func(*API, *request) (*reply, error) {
	return func(*API, *request) (*reply, error) {
		return nil, &apiError{http.StatusNotImplemented,
			fmt.Sprintf("the %s position solver is not available on this server (not configured)", what)}
	}
}

// almanacFull is GET /api/v1/almanac/full: LoRa Cloud returns a base64
// LR11xx almanac image, whose format Semtech has not published.
func (a *API) almanacFull(*request) (*reply, error) {
	return nil, &apiError{http.StatusNotImplemented,
		"almanac/full: the LR11xx full almanac image format is not published, so OpenMGS cannot build it"}
}

// tokens returns the authenticator or the 501 of a server without one.
func (a *API) tokensOK() error {
	if a.auth == nil {
		return &apiError{http.StatusNotImplemented, "token management is not configured on this server"}
	}
	return nil
}

func tokenReply(i *mgsv1.TokenInfo) *reply {
	t := renderToken(i)
	return &reply{result: &t}
}

// tokenList is GET /api/v1/token/list: {"tokens": [TOKEN_INFO, …]}.
func (a *API) tokenList(*request) (*reply, error) {
	if err := a.tokensOK(); err != nil {
		return nil, err
	}
	out := struct {
		Tokens []tokenInfo `json:"tokens"`
	}{Tokens: []tokenInfo{}}
	for _, i := range a.auth.List() {
		out.Tokens = append(out.Tokens, renderToken(server.TokenInfoToPB(i)))
	}
	return &reply{result: out}, nil
}

// tokenAdd is POST /api/v1/token/add: {"name", "capabilities"}.
func (a *API) tokenAdd(r *request) (*reply, error) {
	if err := a.tokensOK(); err != nil {
		return nil, err
	}
	var body struct {
		Name         string   `json:"name"`
		Capabilities []string `json:"capabilities"`
	}
	if err := decodeJSON(r.body, &body); err != nil {
		return nil, err
	}
	i, err := a.auth.Add(r.Context(), body.Name, body.Capabilities)
	if err != nil {
		return nil, err
	}
	return tokenReply(server.TokenInfoToPB(i)), nil
}

// tokenGet is GET /api/v1/token/{token} (the token or its id).
func (a *API) tokenGet(r *request) (*reply, error) {
	if err := a.tokensOK(); err != nil {
		return nil, err
	}
	i, err := a.auth.Get(r.params["token"])
	if err != nil {
		return nil, err
	}
	return tokenReply(server.TokenInfoToPB(i)), nil
}

// tokenDelete is DELETE /api/v1/token/{token}.
func (a *API) tokenDelete(r *request) (*reply, error) {
	if err := a.tokensOK(); err != nil {
		return nil, err
	}
	i, err := a.auth.Remove(r.Context(), r.params["token"])
	if err != nil {
		return nil, err
	}
	return tokenReply(server.TokenInfoToPB(i)), nil
}

// tokenUpdate is PUT /api/v1/token/{token}/update?name=N&renew: rename
// and/or replace the secret ("renew" present, with any value but false/0).
func (a *API) tokenUpdate(r *request) (*reply, error) {
	if err := a.tokensOK(); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	renew := q.Has("renew") && q.Get("renew") != "false" && q.Get("renew") != "0"
	if q.Has("name") && strings.TrimSpace(q.Get("name")) == "" {
		return nil, badRequest("name: must not be empty")
	}
	if !renew && q.Get("name") == "" {
		return nil, badRequest("name: give a new name and/or renew")
	}
	i, err := a.auth.Update(r.Context(), r.params["token"], q.Get("name"), renew)
	if err != nil {
		return nil, err
	}
	return tokenReply(server.TokenInfoToPB(i)), nil
}
