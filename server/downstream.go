package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// Downstream implements mgs.v1.DownstreamService over the fleet and the
// outbox: the gRPC form of the Horde-compatible HTTP API (server/horde),
// with the same device-id resolution and the same store.
type Downstream struct {
	mgsv1.UnimplementedDownstreamServiceServer
	f   *fleet.Fleet
	ob  *outbox.Outbox
	log *slog.Logger
}

// NewDownstream returns the service; log may be nil.
func NewDownstream(f *fleet.Fleet, ob *outbox.Outbox, log *slog.Logger) *Downstream {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Downstream{f: f, ob: ob, log: log}
}

// FleetServer implements mgs.v1.FleetService: collections and the NB-IoT
// provisioning table, plus the live LwM2M registrations when a CoAP
// server is running.
type FleetServer struct {
	mgsv1.UnimplementedFleetServiceServer
	f    *fleet.Fleet
	regs func() []lwm2m.Registration
	log  *slog.Logger
}

// NewFleetServer returns the service; regs (the CoAP server's
// Registrations) and log may be nil.
func NewFleetServer(f *fleet.Fleet, regs func() []lwm2m.Registration, log *slog.Logger) *FleetServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FleetServer{f: f, regs: regs, log: log}
}

// failWith maps err to a status, logging the detail of internal errors.
func failWith(ctx context.Context, log *slog.Logger, method string, err error) error {
	if isInternal(err) {
		log.ErrorContext(ctx, "request failed", "method", method, "err", err)
	}
	return Status(err)
}

// resolveDevice turns a device id into a known device as server/horde
// does: fleet.ParseDeviceID, then fleet.Device; with a collection, the
// device must be its member. An id that is neither an EUI nor a
// provisioned name is an unknown device (it may be an endpoint that is not
// provisioned).
func resolveDevice(ctx context.Context, f *fleet.Fleet, collection, id string) (fleet.Device, error) {
	if id == "" {
		return fleet.Device{}, fieldErr("device_id", "required")
	}
	if collection != "" {
		if _, err := f.Collection(ctx, collection); err != nil {
			return fleet.Device{}, err
		}
	}
	eui, err := parseDeviceID(ctx, f, id)
	if err != nil {
		return fleet.Device{}, err
	}
	d, err := f.Device(ctx, eui)
	if err != nil {
		return fleet.Device{}, err
	}
	if collection != "" && d.Collection != collection {
		return fleet.Device{}, fmt.Errorf("%w: device %s is in collection %q, not %q", fleet.ErrUnknownDevice, eui.Hex(), d.Collection, collection)
	}
	return d, nil
}

func parseDeviceID(ctx context.Context, f *fleet.Fleet, id string) (lora.EUI64, error) {
	eui, err := f.ParseDeviceID(ctx, id)
	if errors.Is(err, fleet.ErrInvalid) {
		return lora.EUI64{}, fmt.Errorf("%w: %q is neither an EUI-64 nor a provisioned endpoint name", fleet.ErrUnknownDevice, id)
	}
	return eui, err
}

// seconds is t as Unix seconds; 0 for the zero time.
func seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// MessageStateToPB converts an outbox state.
func MessageStateToPB(s outbox.State) mgsv1.MessageState {
	switch s {
	case outbox.Pending:
		return mgsv1.MessageState_MESSAGE_STATE_PENDING
	case outbox.Sent:
		return mgsv1.MessageState_MESSAGE_STATE_SENT
	case outbox.Failed:
		return mgsv1.MessageState_MESSAGE_STATE_FAILED
	}
	return mgsv1.MessageState_MESSAGE_STATE_UNSPECIFIED
}

// MessageToPB converts a downstream message of a device in collection.
func MessageToPB(collection string, m outbox.Message) *mgsv1.DownstreamMessage {
	return &mgsv1.DownstreamMessage{MessageId: m.ID, Deveui: m.EUI.String(), CollectionId: collection, Port: uint32(m.Port),
		Payload: hex.EncodeToString(m.Payload), State: MessageStateToPB(m.State), CreatedTime: seconds(m.Created),
		SentTime: seconds(m.SentTime), UpdatedTime: seconds(m.Updated), Transport: m.Transport, Attempts: uint32(m.Attempts),
		Error: m.Error}
}

// message checks and decodes the port and hex payload of a request.
func message(port uint32, payload string) (int, []byte, error) {
	if err := outbox.ValidatePort(int(min(port, 1<<16))); err != nil {
		return 0, nil, fieldErr("port", "%d is outside 1..223 (LoRaWAN FPort / NB-IoT port byte)", port)
	}
	b, err := ParseHex("payload", payload)
	if err != nil {
		return 0, nil, err
	}
	return int(port), b, nil
}

func (d *Downstream) SendMessage(ctx context.Context, req *mgsv1.SendMessageRequest) (*mgsv1.SendMessageResponse, error) {
	dev, err := resolveDevice(ctx, d.f, req.CollectionId, req.DeviceId)
	if err != nil {
		return nil, failWith(ctx, d.log, "SendMessage", err)
	}
	port, payload, err := message(req.Port, req.Payload)
	if err != nil {
		return nil, Status(err)
	}
	m, err := d.ob.Enqueue(ctx, dev.EUI, port, payload)
	if err != nil {
		return nil, failWith(ctx, d.log, "SendMessage", err)
	}
	return &mgsv1.SendMessageResponse{Message: MessageToPB(dev.Collection, m)}, nil
}

func (d *Downstream) BroadcastMessage(ctx context.Context, req *mgsv1.BroadcastMessageRequest) (*mgsv1.BroadcastMessageResponse, error) {
	if req.CollectionId == "" {
		return nil, Status(fieldErr("collection_id", "required"))
	}
	port, payload, err := message(req.Port, req.Payload)
	if err != nil {
		return nil, Status(err)
	}
	members, err := d.f.Members(ctx, req.CollectionId)
	if err != nil {
		return nil, failWith(ctx, d.log, "BroadcastMessage", err)
	}
	euis := make([]lora.EUI64, len(members))
	for i, m := range members {
		euis[i] = m.EUI
	}
	res, err := d.ob.Broadcast(ctx, euis, port, payload)
	if err != nil {
		return nil, failWith(ctx, d.log, "BroadcastMessage", err)
	}
	resp := &mgsv1.BroadcastMessageResponse{Sent: uint32(res.Sent), Failed: uint32(res.Failed)}
	for _, e := range res.Errors {
		resp.Errors = append(resp.Errors, &mgsv1.BroadcastError{Deveui: e.EUI.String(), Message: e.Message})
	}
	return resp, nil
}

func (d *Downstream) ListMessages(ctx context.Context, req *mgsv1.ListMessagesRequest) (*mgsv1.ListMessagesResponse, error) {
	var want outbox.State
	switch req.State {
	case mgsv1.MessageState_MESSAGE_STATE_UNSPECIFIED:
	case mgsv1.MessageState_MESSAGE_STATE_PENDING:
		want = outbox.Pending
	case mgsv1.MessageState_MESSAGE_STATE_SENT:
		want = outbox.Sent
	case mgsv1.MessageState_MESSAGE_STATE_FAILED:
		want = outbox.Failed
	default:
		return nil, Status(fieldErr("state", "unknown state %d", req.State))
	}
	dev, err := resolveDevice(ctx, d.f, req.CollectionId, req.DeviceId)
	if err != nil {
		return nil, failWith(ctx, d.log, "ListMessages", err)
	}
	msgs, err := d.ob.List(ctx, dev.EUI)
	if err != nil {
		return nil, failWith(ctx, d.log, "ListMessages", err)
	}
	resp := &mgsv1.ListMessagesResponse{}
	for _, m := range msgs {
		if want == 0 || m.State == want {
			resp.Messages = append(resp.Messages, MessageToPB(dev.Collection, m))
		}
	}
	return resp, nil
}

func (d *Downstream) DeleteMessage(ctx context.Context, req *mgsv1.DeleteMessageRequest) (*mgsv1.DeleteMessageResponse, error) {
	dev, err := resolveDevice(ctx, d.f, req.CollectionId, req.DeviceId)
	if err != nil {
		return nil, failWith(ctx, d.log, "DeleteMessage", err)
	}
	if req.MessageId == 0 {
		return nil, Status(fieldErr("message_id", "required"))
	}
	if err := d.ob.Delete(ctx, dev.EUI, req.MessageId); err != nil {
		return nil, failWith(ctx, d.log, "DeleteMessage", err)
	}
	return &mgsv1.DeleteMessageResponse{}, nil
}

// EndpointToPB converts a provisioned endpoint. The pre-shared key is a
// secret: only whether it is set, and its identity, are shown.
func EndpointToPB(e fleet.Endpoint) *mgsv1.Endpoint {
	pb := &mgsv1.Endpoint{Endpoint: e.Name, Deveui: e.EUI.String(), Opaque: e.Opaque, CreatedTime: seconds(e.Created), PskSet: e.HasPSK}
	if e.HasPSK {
		pb.PskIdentity = e.PSKIdentity
	}
	return pb
}

// parsePSK decodes a hex key argument, naming field in the error.
func parsePSK(field, s string) ([]byte, error) {
	key, err := fleet.ParsePSK(s)
	if err != nil {
		return nil, fieldErr(field, "%s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), fleet.ErrInvalid.Error()+": "), field+": "))
	}
	return key, nil
}

// CollectionToPB converts a collection.
func CollectionToPB(c fleet.Collection) *mgsv1.Collection {
	return &mgsv1.Collection{CollectionId: c.ID, Tags: maps.Clone(c.Tags), CreatedTime: seconds(c.Created)}
}

// FleetDeviceToPB converts a fleet device.
func FleetDeviceToPB(d fleet.Device) *mgsv1.FleetDevice {
	pb := &mgsv1.FleetDevice{Deveui: d.EUI.String(), CollectionId: d.Collection, Endpoint: d.Endpoint, Provisioned: d.Provisioned,
		Opaque: d.Opaque, Tags: maps.Clone(d.Tags), HasState: d.HasState}
	if imei, err := fleet.NormalizeIMEI(d.Endpoint); err == nil {
		pb.Imei = imei
	}
	return pb
}

// RegistrationToPB converts a live LwM2M registration.
func RegistrationToPB(r lwm2m.Registration) *mgsv1.Registration {
	return &mgsv1.Registration{Endpoint: r.Endpoint, Deveui: r.EUI.String(), RegistrationId: r.ID, Address: r.Addr,
		Binding: r.Binding, Lwm2MVersion: r.Version, Lifetime: r.Lifetime.Seconds(), Objects: r.Objects,
		RegisteredTime: seconds(r.Registered), UpdatedTime: seconds(r.Updated), LastSeenTime: seconds(r.LastSeen),
		ExpiresTime: seconds(r.Expires), Observed: r.Observed, Opaque: r.Opaque, Dtls: r.DTLS, PskIdentity: r.PSKIdentity}
}

func (s *FleetServer) ProvisionEndpoint(ctx context.Context, req *mgsv1.ProvisionEndpointRequest) (*mgsv1.ProvisionEndpointResponse, error) {
	if req.Endpoint == "" {
		return nil, Status(fieldErr("endpoint", "required (the LwM2M endpoint name, normally the IMEI)"))
	}
	var eui lora.EUI64
	if req.Eui != "" {
		var err error
		if eui, err = lora.ParseEUI64(trim0x(req.Eui)); err != nil || eui.IsZero() {
			return nil, Status(fieldErr("eui", "%q is not a non-zero EUI-64", req.Eui))
		}
	}
	ep := fleet.Endpoint{Name: req.Endpoint, EUI: eui, Opaque: req.Opaque, PSKIdentity: req.PskIdentity}
	if req.Psk != "" {
		var err error
		if ep.PSK, err = parsePSK("psk", req.Psk); err != nil {
			return nil, Status(err)
		}
	} else if req.PskIdentity != "" {
		return nil, Status(fieldErr("psk_identity", "needs psk (the key of the identity)"))
	}
	if req.PskIdentity != "" {
		if err := fleet.ValidatePSKIdentity(req.PskIdentity); err != nil {
			return nil, Status(fieldErr("psk_identity", "%s", trimFleetErr(err, "psk_identity")))
		}
	}
	ep, err := s.f.Provision(ctx, ep, req.CollectionId, req.Tags)
	if err != nil {
		return nil, failWith(ctx, s.log, "ProvisionEndpoint", err)
	}
	return &mgsv1.ProvisionEndpointResponse{Endpoint: EndpointToPB(ep)}, nil
}

func trim0x(s string) string {
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		return s[2:]
	}
	return s
}

func (s *FleetServer) ListEndpoints(ctx context.Context, _ *mgsv1.ListEndpointsRequest) (*mgsv1.ListEndpointsResponse, error) {
	eps, err := s.f.Endpoints(ctx)
	if err != nil {
		return nil, failWith(ctx, s.log, "ListEndpoints", err)
	}
	resp := &mgsv1.ListEndpointsResponse{}
	for _, e := range eps {
		resp.Endpoints = append(resp.Endpoints, EndpointToPB(e))
	}
	return resp, nil
}

func (s *FleetServer) UpdateEndpoint(ctx context.Context, req *mgsv1.UpdateEndpointRequest) (*mgsv1.UpdateEndpointResponse, error) {
	if req.Endpoint == "" {
		return nil, Status(fieldErr("endpoint", "required"))
	}
	ch, err := endpointChange(req)
	if err != nil {
		return nil, Status(err)
	}
	ep, err := s.f.UpdateEndpoint(ctx, req.Endpoint, ch)
	if err != nil {
		return nil, failWith(ctx, s.log, "UpdateEndpoint", err)
	}
	return &mgsv1.UpdateEndpointResponse{Endpoint: EndpointToPB(ep)}, nil
}

// endpointChange validates the fields of an UpdateEndpoint request.
func endpointChange(req *mgsv1.UpdateEndpointRequest) (fleet.EndpointChange, error) {
	ch := fleet.EndpointChange{Opaque: req.Opaque, PSKIdentity: req.PskIdentity, ClearPSK: req.ClearPsk}
	if req.Opaque == nil && req.Psk == nil && req.PskIdentity == nil && !req.ClearPsk {
		return ch, fieldErr("opaque", "give opaque, psk, psk_identity or clear_psk (delete and provision the endpoint to change its EUI)")
	}
	if req.ClearPsk && (req.Psk != nil || req.PskIdentity != nil) {
		return ch, fieldErr("clear_psk", "cannot be combined with psk or psk_identity")
	}
	if req.Psk != nil {
		var err error
		if ch.PSK, err = parsePSK("psk", *req.Psk); err != nil {
			return ch, err
		}
	}
	if id := req.PskIdentity; id != nil && *id != "" {
		if err := fleet.ValidatePSKIdentity(*id); err != nil {
			return ch, fieldErr("psk_identity", "%s", trimFleetErr(err, "psk_identity"))
		}
	}
	return ch, nil
}

// trimFleetErr drops the sentinel and field prefixes of a fleet
// validation error, for a FieldError that names the field itself.
func trimFleetErr(err error, field string) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), fleet.ErrInvalid.Error()+": "), field+": ")
}

func (s *FleetServer) DeleteEndpoint(ctx context.Context, req *mgsv1.DeleteEndpointRequest) (*mgsv1.DeleteEndpointResponse, error) {
	if req.Endpoint == "" {
		return nil, Status(fieldErr("endpoint", "required"))
	}
	if err := s.f.Unprovision(ctx, req.Endpoint); err != nil {
		return nil, failWith(ctx, s.log, "DeleteEndpoint", err)
	}
	return &mgsv1.DeleteEndpointResponse{}, nil
}

func (s *FleetServer) CreateCollection(ctx context.Context, req *mgsv1.CreateCollectionRequest) (*mgsv1.CreateCollectionResponse, error) {
	c, err := s.f.CreateCollection(ctx, req.CollectionId, req.Tags)
	if err != nil {
		return nil, failWith(ctx, s.log, "CreateCollection", err)
	}
	return &mgsv1.CreateCollectionResponse{Collection: CollectionToPB(c)}, nil
}

func (s *FleetServer) ListCollections(ctx context.Context, _ *mgsv1.ListCollectionsRequest) (*mgsv1.ListCollectionsResponse, error) {
	cols, err := s.f.Collections(ctx)
	if err != nil {
		return nil, failWith(ctx, s.log, "ListCollections", err)
	}
	resp := &mgsv1.ListCollectionsResponse{}
	for _, c := range cols {
		resp.Collections = append(resp.Collections, CollectionToPB(c))
	}
	return resp, nil
}

func (s *FleetServer) DeleteCollection(ctx context.Context, req *mgsv1.DeleteCollectionRequest) (*mgsv1.DeleteCollectionResponse, error) {
	if req.CollectionId == "" {
		return nil, Status(fieldErr("collection_id", "required"))
	}
	if err := s.f.DeleteCollection(ctx, req.CollectionId); err != nil {
		return nil, failWith(ctx, s.log, "DeleteCollection", err)
	}
	return &mgsv1.DeleteCollectionResponse{}, nil
}

func (s *FleetServer) PlaceDevice(ctx context.Context, req *mgsv1.PlaceDeviceRequest) (*mgsv1.PlaceDeviceResponse, error) {
	if req.DeviceId == "" {
		return nil, Status(fieldErr("device_id", "required"))
	}
	if req.CollectionId == "" {
		return nil, Status(fieldErr("collection_id", "required"))
	}
	// The device need not be known: a LoRaWAN device may be placed before
	// its first uplink. Its id must still parse (EUI or endpoint name).
	eui, err := s.f.ParseDeviceID(ctx, req.DeviceId)
	if err != nil {
		if errors.Is(err, fleet.ErrInvalid) {
			return nil, Status(fieldErr("device_id", "%q is neither an EUI-64 nor a provisioned endpoint name", req.DeviceId))
		}
		return nil, failWith(ctx, s.log, "PlaceDevice", err)
	}
	tags := req.Tags
	if req.ReplaceTags && tags == nil {
		tags = map[string]string{}
	} else if !req.ReplaceTags && len(tags) == 0 {
		tags = nil // keep
	}
	d, err := s.f.Place(ctx, eui, req.CollectionId, tags)
	if err != nil {
		return nil, failWith(ctx, s.log, "PlaceDevice", err)
	}
	return &mgsv1.PlaceDeviceResponse{Device: FleetDeviceToPB(d)}, nil
}

func (s *FleetServer) ListCollectionDevices(ctx context.Context, req *mgsv1.ListCollectionDevicesRequest) (*mgsv1.ListCollectionDevicesResponse, error) {
	if req.CollectionId == "" {
		return nil, Status(fieldErr("collection_id", "required"))
	}
	devs, err := s.f.Members(ctx, req.CollectionId)
	if err != nil {
		return nil, failWith(ctx, s.log, "ListCollectionDevices", err)
	}
	resp := &mgsv1.ListCollectionDevicesResponse{}
	for _, d := range devs {
		resp.Devices = append(resp.Devices, FleetDeviceToPB(d))
	}
	return resp, nil
}

func (s *FleetServer) ListRegistrations(context.Context, *mgsv1.ListRegistrationsRequest) (*mgsv1.ListRegistrationsResponse, error) {
	if s.regs == nil {
		return nil, status.Error(codes.FailedPrecondition, "NB-IoT (the CoAP/LwM2M server) is not enabled on this server")
	}
	resp := &mgsv1.ListRegistrationsResponse{}
	for _, r := range s.regs() {
		resp.Registrations = append(resp.Registrations, RegistrationToPB(r))
	}
	return resp, nil
}
