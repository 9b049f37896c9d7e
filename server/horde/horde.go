package horde

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
)

// Options configure the handler.
type Options struct {
	Fleet  *fleet.Fleet
	Outbox *outbox.Outbox
	// Wrap, when set, wraps the whole handler (token authentication).
	Wrap func(http.Handler) http.Handler
	// MaxBody bounds a request body (default 64 KiB).
	MaxBody int64
	// Logger receives server-side errors; nil discards.
	Logger *slog.Logger
}

type api struct {
	f       *fleet.Fleet
	ob      *outbox.Outbox
	maxBody int64
	log     *slog.Logger
}

// New returns the API handler.
func New(o Options) (http.Handler, error) {
	if o.Fleet == nil || o.Outbox == nil {
		return nil, errors.New("horde: a fleet and an outbox are required")
	}
	a := &api{f: o.Fleet, ob: o.Outbox, maxBody: o.MaxBody, log: o.Logger}
	if a.maxBody <= 0 {
		a.maxBody = 64 << 10
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"POST /collections/{cid}/devices/{did}/to", a.sendDevice},
		{"POST /collections/{cid}/to", a.broadcast},
		{"POST /collection/{cid}/to", a.broadcast},
		{"GET /collections/{cid}/devices/{did}/outbox", a.listOutbox},
		{"GET /collections/{cid}/devices/{did}/outbox/{mid}", a.getMessage},
		{"DELETE /collections/{cid}/devices/{did}/outbox/{mid}", a.deleteMessage},
		{"GET /collections", a.listCollections},
		{"POST /collections", a.createCollection},
		{"GET /collections/{cid}", a.getCollection},
		{"PATCH /collections/{cid}", a.patchCollection},
		{"DELETE /collections/{cid}", a.deleteCollection},
		{"GET /collections/{cid}/devices", a.listDevices},
		{"POST /collections/{cid}/devices", a.createDevice},
		{"GET /collections/{cid}/devices/{did}", a.getDevice},
		{"PATCH /collections/{cid}/devices/{did}", a.patchDevice},
		{"DELETE /collections/{cid}/devices/{did}", a.deleteDevice},
		{"GET /endpoints", a.listEndpoints},
		{"POST /endpoints", a.createEndpoint},
		{"GET /endpoints/{name}", a.getEndpoint},
		{"PATCH /endpoints/{name}", a.patchEndpoint},
		{"DELETE /endpoints/{name}", a.deleteEndpoint},
	} {
		mux.Handle(r.pattern, r.h)
	}
	var h http.Handler = methodJSON(mux)
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	return h, nil
}

// methodJSON turns the mux's plain-text 404 (no route) and 405 (wrong
// method) into the JSON error shape.
func methodJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&statusJSON{ResponseWriter: w, r: r}, r)
	})
}

type statusJSON struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (s *statusJSON) WriteHeader(code int) {
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound) && s.Header().Get("Content-Type") != "application/json" {
		s.replaced = true
		msg := fmt.Sprintf("no route %s %s", s.r.Method, s.r.URL.Path)
		if code == http.StatusMethodNotAllowed {
			msg = fmt.Sprintf("method %s not allowed on %s (allowed: %s)", s.r.Method, s.r.URL.Path, s.Header().Get("Allow"))
		}
		s.Header().Set("Content-Type", "application/json")
		s.Header().Del("X-Content-Type-Options")
		s.ResponseWriter.WriteHeader(code)
		_ = json.NewEncoder(s.ResponseWriter).Encode(errorBody{Status: code, Message: msg})
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusJSON) Write(b []byte) (int, error) {
	if s.replaced {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

type errorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorBody{Status: code, Message: fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps package errors to statuses.
func (a *api) fail(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "request body over %d bytes", mbe.Limit)
	case errors.Is(err, fleet.ErrUnknownCollection), errors.Is(err, fleet.ErrUnknownDevice),
		errors.Is(err, fleet.ErrUnknownEndpoint), errors.Is(err, outbox.ErrNotFound):
		writeError(w, http.StatusNotFound, "%s", trim(err))
	case errors.Is(err, fleet.ErrInvalid), errors.Is(err, outbox.ErrInvalid), errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, "%s", trim(err))
	case errors.Is(err, fleet.ErrExists), errors.Is(err, outbox.ErrQueueFull), errors.Is(err, outbox.ErrNotPending),
		errors.Is(err, fleet.ErrDefaultCollection):
		writeError(w, http.StatusConflict, "%s", trim(err))
	default:
		a.log.Error("horde api", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// trim drops the Go package prefixes from an error for API clients.
func trim(err error) string {
	s := err.Error()
	for _, p := range []string{"fleet: ", "outbox: ", "horde: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

var errBadRequest = errors.New("horde: bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// decode reads a JSON body into v.
func (a *api) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badRequest("the request needs a JSON body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("body is not valid JSON for this request: %v", err)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Wire types.

type collectionJSON struct {
	CollectionID string            `json:"collectionId"`
	Tags         map[string]string `json:"tags"`
	Created      int64             `json:"created,omitempty"`
}

func collectionOut(c fleet.Collection) collectionJSON {
	return collectionJSON{CollectionID: c.ID, Tags: c.Tags, Created: ms(c.Created)}
}

type deviceJSON struct {
	DeviceID     string            `json:"deviceId"`
	CollectionID string            `json:"collectionId"`
	EUI          string            `json:"eui"`
	IMEI         string            `json:"imei,omitempty"`
	Endpoint     string            `json:"endpoint,omitempty"`
	Provisioned  bool              `json:"provisioned"`
	Opaque       bool              `json:"opaque"`
	Tags         map[string]string `json:"tags"`
}

func deviceOut(d fleet.Device) deviceJSON {
	out := deviceJSON{DeviceID: d.EUI.Hex(), CollectionID: d.Collection, EUI: d.EUI.String(), Endpoint: d.Endpoint,
		Provisioned: d.Provisioned, Opaque: d.Opaque, Tags: d.Tags}
	if imei, err := fleet.NormalizeIMEI(d.Endpoint); err == nil {
		out.IMEI = imei
	}
	return out
}

type messageJSON struct {
	MessageID    string `json:"messageId"`
	CollectionID string `json:"collectionId"`
	DeviceID     string `json:"deviceId"`
	CreatedTime  int64  `json:"createdTime"`
	SentTime     int64  `json:"sentTime,omitempty"`
	State        string `json:"state"`
	Transport    string `json:"transport,omitempty"`
	Port         uint8  `json:"port"`
	Payload      string `json:"payload"`
	Attempts     int    `json:"attempts,omitempty"`
	Error        string `json:"error,omitempty"`
}

func messageOut(cid string, m outbox.Message) messageJSON {
	return messageJSON{MessageID: strconv.FormatUint(m.ID, 10), CollectionID: cid, DeviceID: m.EUI.Hex(), CreatedTime: ms(m.Created),
		SentTime: ms(m.SentTime), State: m.State.String(), Transport: m.Transport, Port: m.Port,
		Payload: base64.StdEncoding.EncodeToString(m.Payload), Attempts: m.Attempts, Error: m.Error}
}

// endpointJSON never carries the pre-shared key: only whether it is set.
type endpointJSON struct {
	Endpoint    string `json:"endpoint"`
	DeviceID    string `json:"deviceId"`
	EUI         string `json:"eui"`
	Opaque      bool   `json:"opaque"`
	Created     int64  `json:"created"`
	PSKIdentity string `json:"pskIdentity,omitempty"`
	PSKSet      bool   `json:"pskSet"`
}

func endpointOut(e fleet.Endpoint) endpointJSON {
	out := endpointJSON{Endpoint: e.Name, DeviceID: e.EUI.Hex(), EUI: e.EUI.String(), Opaque: e.Opaque, Created: ms(e.Created), PSKSet: e.HasPSK}
	if e.HasPSK {
		out.PSKIdentity = e.PSKIdentity
	}
	return out
}

// sendRequest is the Horde downstream body.
type sendRequest struct {
	Port     *int    `json:"port"`
	Payload  *string `json:"payload"`
	CoAPPath string  `json:"coapPath"`
}

func (a *api) parseSend(w http.ResponseWriter, r *http.Request) (int, []byte, error) {
	var req sendRequest
	if err := a.decode(w, r, &req); err != nil {
		return 0, nil, err
	}
	if req.Port == nil {
		return 0, nil, badRequest("port is required")
	}
	if req.Payload == nil {
		return 0, nil, badRequest("payload is required (base64)")
	}
	if req.CoAPPath != "" && strings.Trim(req.CoAPPath, "/") != "19/1/0" {
		return 0, nil, badRequest("coapPath %q is not supported: downlinks are written to /19/1/0", req.CoAPPath)
	}
	if err := outbox.ValidatePort(*req.Port); err != nil {
		return 0, nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(*req.Payload)
	if err != nil {
		if p2, err2 := base64.RawStdEncoding.DecodeString(*req.Payload); err2 == nil {
			payload, err = p2, nil
		}
	}
	if err != nil {
		return 0, nil, badRequest("payload is not valid base64: %v", err)
	}
	return *req.Port, payload, nil
}

// collection checks that {cid} exists.
func (a *api) collection(r *http.Request) (fleet.Collection, error) {
	return a.f.Collection(r.Context(), r.PathValue("cid"))
}

// member resolves {did} to a known device of collection {cid}.
func (a *api) member(r *http.Request) (fleet.Device, error) {
	c, err := a.collection(r)
	if err != nil {
		return fleet.Device{}, err
	}
	did := r.PathValue("did")
	eui, err := a.f.ParseDeviceID(r.Context(), did)
	if err != nil {
		if errors.Is(err, fleet.ErrInvalid) {
			return fleet.Device{}, fmt.Errorf("%w: %q is neither an EUI-64 nor a provisioned endpoint name", fleet.ErrUnknownDevice, did)
		}
		return fleet.Device{}, err
	}
	d, err := a.f.Device(r.Context(), eui)
	if err != nil {
		return fleet.Device{}, err
	}
	if d.Collection != c.ID {
		return fleet.Device{}, fmt.Errorf("%w: device %s is in collection %q, not %q", fleet.ErrUnknownDevice, eui.Hex(), d.Collection, c.ID)
	}
	return d, nil
}

func (a *api) sendDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	port, payload, err := a.parseSend(w, r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if _, err := a.ob.Enqueue(r.Context(), d.EUI, port, payload); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type broadcastError struct {
	DeviceID string `json:"deviceId"`
	Message  string `json:"message"`
}

type broadcastJSON struct {
	Sent   int              `json:"sent"`
	Failed int              `json:"failed"`
	Errors []broadcastError `json:"errors"`
}

func (a *api) broadcast(w http.ResponseWriter, r *http.Request) {
	c, err := a.collection(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	port, payload, err := a.parseSend(w, r)
	if err != nil {
		a.fail(w, err)
		return
	}
	members, err := a.f.Members(r.Context(), c.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	euis := make([]lora.EUI64, len(members))
	for i, d := range members {
		euis[i] = d.EUI
	}
	res, err := a.ob.Broadcast(r.Context(), euis, port, payload)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := broadcastJSON{Sent: res.Sent, Failed: res.Failed, Errors: []broadcastError{}}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, broadcastError{DeviceID: e.EUI.Hex(), Message: strings.TrimPrefix(e.Message, "outbox: ")})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) listOutbox(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	var want outbox.State
	if s := r.URL.Query().Get("state"); s != "" {
		st, ok := outbox.ParseState(s)
		if !ok {
			writeError(w, http.StatusBadRequest, "state %q is not pending, sent or failed", s)
			return
		}
		want = st
	}
	msgs, err := a.ob.List(r.Context(), d.EUI)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := struct {
		Messages []messageJSON `json:"messages"`
	}{Messages: []messageJSON{}}
	for _, m := range msgs {
		if want == 0 || m.State == want {
			out.Messages = append(out.Messages, messageOut(d.Collection, m))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func messageID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("mid"), 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%w: message %q", outbox.ErrNotFound, r.PathValue("mid"))
	}
	return id, nil
}

func (a *api) getMessage(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	id, err := messageID(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	m, err := a.ob.Get(r.Context(), d.EUI, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, messageOut(d.Collection, m))
}

func (a *api) deleteMessage(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	id, err := messageID(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if err := a.ob.Delete(r.Context(), d.EUI, id); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listCollections(w http.ResponseWriter, r *http.Request) {
	cols, err := a.f.Collections(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	out := struct {
		Collections []collectionJSON `json:"collections"`
	}{Collections: []collectionJSON{}}
	for _, c := range cols {
		out.Collections = append(out.Collections, collectionOut(c))
	}
	writeJSON(w, http.StatusOK, out)
}

type collectionRequest struct {
	CollectionID string            `json:"collectionId"`
	Tags         map[string]string `json:"tags"`
}

func (a *api) createCollection(w http.ResponseWriter, r *http.Request) {
	var req collectionRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	c, err := a.f.CreateCollection(r.Context(), req.CollectionID, req.Tags)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, collectionOut(c))
}

func (a *api) getCollection(w http.ResponseWriter, r *http.Request) {
	c, err := a.collection(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, collectionOut(c))
}

func (a *api) patchCollection(w http.ResponseWriter, r *http.Request) {
	var req collectionRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	if req.CollectionID != "" && req.CollectionID != r.PathValue("cid") {
		a.fail(w, badRequest("collectionId cannot be changed"))
		return
	}
	c, err := a.f.SetCollectionTags(r.Context(), r.PathValue("cid"), req.Tags)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, collectionOut(c))
}

func (a *api) deleteCollection(w http.ResponseWriter, r *http.Request) {
	if err := a.f.DeleteCollection(r.Context(), r.PathValue("cid")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listDevices(w http.ResponseWriter, r *http.Request) {
	c, err := a.collection(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	devs, err := a.f.Members(r.Context(), c.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := struct {
		Devices []deviceJSON `json:"devices"`
	}{Devices: []deviceJSON{}}
	for _, d := range devs {
		out.Devices = append(out.Devices, deviceOut(d))
	}
	writeJSON(w, http.StatusOK, out)
}

type deviceRequest struct {
	IMEI         string            `json:"imei"`
	Endpoint     string            `json:"endpoint"`
	DeviceID     string            `json:"deviceId"`
	CollectionID *string           `json:"collectionId"`
	Opaque       *bool             `json:"opaque"`
	Tags         map[string]string `json:"tags"`
}

// parseEUI parses a deviceId given in a body (an EUI only).
func parseEUI(s string) (lora.EUI64, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	e, err := lora.ParseEUI64(t)
	if err != nil {
		return lora.EUI64{}, badRequest("deviceId %q is not an EUI-64", s)
	}
	return e, nil
}

// createDevice adds a device to a collection: an NB-IoT endpoint (imei or
// endpoint, with an optional deviceId EUI) is provisioned; a bare deviceId
// places an existing or future (LoRaWAN) device.
func (a *api) createDevice(w http.ResponseWriter, r *http.Request) {
	c, err := a.collection(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	var req deviceRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	name := req.Endpoint
	if req.IMEI != "" {
		if name != "" && name != req.IMEI {
			a.fail(w, badRequest("give imei or endpoint, not both"))
			return
		}
		imei, err := fleet.NormalizeIMEI(req.IMEI)
		if err != nil {
			a.fail(w, badRequest("imei: %v", trim(err)))
			return
		}
		name = imei
	}
	var eui lora.EUI64
	if req.DeviceID != "" {
		if eui, err = parseEUI(req.DeviceID); err != nil {
			a.fail(w, err)
			return
		}
	}
	switch {
	case name != "":
		ep, err := a.f.Provision(r.Context(), fleet.Endpoint{Name: name, EUI: eui, Opaque: req.Opaque != nil && *req.Opaque}, c.ID, req.Tags)
		if err != nil {
			a.fail(w, err)
			return
		}
		eui = ep.EUI
	case req.DeviceID != "":
		if req.Opaque != nil {
			a.fail(w, badRequest("opaque applies to NB-IoT endpoints: give imei or endpoint"))
			return
		}
		if _, err := a.f.Place(r.Context(), eui, c.ID, req.Tags); err != nil {
			a.fail(w, err)
			return
		}
	default:
		a.fail(w, badRequest("give imei or endpoint (NB-IoT) or deviceId (an EUI-64)"))
		return
	}
	d, err := a.f.Device(r.Context(), eui)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, deviceOut(d))
}

func (a *api) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, deviceOut(d))
}

func (a *api) patchDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	var req deviceRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	if req.IMEI != "" || req.Endpoint != "" || req.DeviceID != "" {
		a.fail(w, badRequest("imei, endpoint and deviceId cannot be changed; delete and create the device"))
		return
	}
	if req.Opaque != nil {
		if !d.Provisioned {
			a.fail(w, badRequest("opaque applies to provisioned NB-IoT endpoints"))
			return
		}
		if _, err := a.f.SetOpaque(r.Context(), d.Endpoint, *req.Opaque); err != nil {
			a.fail(w, err)
			return
		}
	}
	target := d.Collection
	if req.CollectionID != nil {
		target = *req.CollectionID
	}
	if req.CollectionID != nil || req.Tags != nil {
		if _, err := a.f.Place(r.Context(), d.EUI, target, req.Tags); err != nil {
			a.fail(w, err)
			return
		}
	}
	d, err = a.f.Device(r.Context(), d.EUI)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, deviceOut(d))
}

func (a *api) deleteDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.member(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if err := a.f.Forget(r.Context(), d.EUI); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := a.f.Endpoints(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	out := struct {
		Endpoints []endpointJSON `json:"endpoints"`
	}{Endpoints: []endpointJSON{}}
	for _, e := range eps {
		out.Endpoints = append(out.Endpoints, endpointOut(e))
	}
	writeJSON(w, http.StatusOK, out)
}

type endpointRequest struct {
	Endpoint     string            `json:"endpoint"`
	DeviceID     string            `json:"deviceId"`
	Opaque       *bool             `json:"opaque"`
	CollectionID string            `json:"collectionId"`
	Tags         map[string]string `json:"tags"`
	// DTLS pre-shared key (hex) and identity (default: the endpoint name).
	PSK         *string `json:"psk"`
	PSKIdentity *string `json:"pskIdentity"`
	ClearPSK    bool    `json:"clearPsk"`
}

// pskChange validates the key fields of an endpoint request.
func (req endpointRequest) pskChange() (fleet.EndpointChange, error) {
	ch := fleet.EndpointChange{Opaque: req.Opaque, PSKIdentity: req.PSKIdentity, ClearPSK: req.ClearPSK}
	if req.PSK != nil {
		key, err := fleet.ParsePSK(*req.PSK)
		if err != nil {
			return ch, err
		}
		ch.PSK = key
	}
	if id := req.PSKIdentity; id != nil && *id != "" {
		if err := fleet.ValidatePSKIdentity(*id); err != nil {
			return ch, err
		}
	}
	return ch, nil
}

func (a *api) createEndpoint(w http.ResponseWriter, r *http.Request) {
	var req endpointRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	if req.Endpoint == "" {
		a.fail(w, badRequest("endpoint (the LwM2M endpoint name, normally the IMEI) is required"))
		return
	}
	var eui lora.EUI64
	if req.DeviceID != "" {
		var err error
		if eui, err = parseEUI(req.DeviceID); err != nil {
			a.fail(w, err)
			return
		}
	}
	ch, err := req.pskChange()
	if err == nil && req.ClearPSK {
		err = badRequest("clearPsk applies to PATCH")
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	ep := fleet.Endpoint{Name: req.Endpoint, EUI: eui, Opaque: req.Opaque != nil && *req.Opaque, PSK: ch.PSK}
	if req.PSKIdentity != nil {
		ep.PSKIdentity = *req.PSKIdentity
	}
	ep, err = a.f.Provision(r.Context(), ep, req.CollectionID, req.Tags)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, endpointOut(ep))
}

func (a *api) getEndpoint(w http.ResponseWriter, r *http.Request) {
	ep, err := a.f.Endpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(ep))
}

func (a *api) patchEndpoint(w http.ResponseWriter, r *http.Request) {
	var req endpointRequest
	if err := a.decode(w, r, &req); err != nil {
		a.fail(w, err)
		return
	}
	if req.Opaque == nil && req.PSK == nil && req.PSKIdentity == nil && !req.ClearPSK {
		a.fail(w, badRequest("give opaque, psk, pskIdentity or clearPsk; delete and create the endpoint to change its EUI"))
		return
	}
	ch, err := req.pskChange()
	if err != nil {
		a.fail(w, err)
		return
	}
	ep, err := a.f.UpdateEndpoint(r.Context(), r.PathValue("name"), ch)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointOut(ep))
}

func (a *api) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := a.f.Unprovision(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
