package server

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// Limits of the modem API.
const (
	MaxBatch         = 128  // uplinks per SendUplinks, as LoRa Cloud
	MaxEUIs          = 1000 // EUIs per device-list call
	MaxRequests      = 32   // requests per AddRequests
	DefaultPageSize  = 100
	MaxPageSize      = 1000
	WatchBuffer      = 4096 // events buffered per WatchEvents stream
	batchParallelism = 64
)

// Modem implements mgs.v1.ModemService over an uplink pipeline. The HTTP
// API calls the same methods, so both share one implementation.
type Modem struct {
	mgsv1.UnimplementedModemServiceServer
	p   *uplink.Pipeline
	log *slog.Logger
}

// NewModem returns the service; log may be nil.
func NewModem(p *uplink.Pipeline, log *slog.Logger) *Modem {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Modem{p: p, log: log}
}

// Pipeline returns the pipeline behind the service.
func (m *Modem) Pipeline() *uplink.Pipeline { return m.p }

// fail maps err to a status, logging the detail of internal errors.
func (m *Modem) fail(ctx context.Context, method string, err error) error {
	if isInternal(err) {
		m.log.ErrorContext(ctx, "request failed", "method", method, "err", err)
	}
	return Status(err)
}

func (m *Modem) SendUplink(ctx context.Context, req *mgsv1.SendUplinkRequest) (*mgsv1.SendUplinkResponse, error) {
	eui, err := ParseEUI("deveui", req.Deveui)
	if err != nil {
		return nil, Status(err)
	}
	msg, err := UplinkFromPB(req.Uplink)
	if err != nil {
		return nil, Status(err)
	}
	res, err := m.p.Handle(ctx, eui, msg)
	if err != nil {
		if isInternal(err) {
			m.log.ErrorContext(ctx, "uplink failed", "dev_eui", eui, "msgtype", msg.Type.String(), "fcnt", msg.FCnt, "err", err)
		}
		return nil, Status(err)
	}
	return &mgsv1.SendUplinkResponse{Result: ResultToPB(res)}, nil
}

// SendUplinks validates the whole batch first (a malformed item rejects
// the call), then processes devices concurrently and each device's items
// in order. A failure of one item does not affect the others.
func (m *Modem) SendUplinks(ctx context.Context, req *mgsv1.SendUplinksRequest) (*mgsv1.SendUplinksResponse, error) {
	n := len(req.Uplinks)
	if n == 0 {
		return nil, Status(fieldErr("uplinks", "at least one uplink is required"))
	}
	if n > MaxBatch {
		return nil, Status(fieldErr("uplinks", "%d uplinks is more than %d", n, MaxBatch))
	}
	type item struct {
		eui lora.EUI64
		msg store.Uplink
	}
	items := make([]item, n)
	byDevice := make(map[lora.EUI64][]int, n)
	var order []lora.EUI64
	for i, u := range req.Uplinks {
		eui, err := ParseEUI(fieldIndex("uplinks", i, "deveui"), u.GetDeveui())
		if err != nil {
			return nil, Status(err)
		}
		msg, err := UplinkFromPB(u.GetUplink())
		if err != nil {
			var fe *uplink.FieldError
			if errors.As(err, &fe) {
				fe.Field = fieldIndex("uplinks", i, "uplink."+fe.Field)
			}
			return nil, Status(err)
		}
		if err := uplink.Validate(&msg); err != nil {
			var fe *uplink.FieldError
			if errors.As(err, &fe) {
				fe.Field = fieldIndex("uplinks", i, "uplink."+fe.Field)
			}
			return nil, Status(err)
		}
		items[i] = item{eui, msg}
		if _, ok := byDevice[eui]; !ok {
			order = append(order, eui)
		}
		byDevice[eui] = append(byDevice[eui], i)
	}
	out := make([]*mgsv1.DeviceUplinkResult, n)
	sem := make(chan struct{}, batchParallelism)
	var wg sync.WaitGroup
	for _, eui := range order {
		idx := byDevice[eui]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				r := &mgsv1.DeviceUplinkResult{Deveui: eui.String()}
				res, err := m.p.Handle(ctx, eui, items[i].msg)
				if err != nil {
					if isInternal(err) {
						m.log.ErrorContext(ctx, "uplink failed", "dev_eui", eui, "msgtype", items[i].msg.Type.String(),
							"fcnt", items[i].msg.FCnt, "err", err)
					}
					r.Error = errorText(err)
				} else {
					r.Result = ResultToPB(res)
				}
				out[i] = r
			}
		}()
	}
	wg.Wait()
	return &mgsv1.SendUplinksResponse{Results: out}, nil
}

func fieldIndex(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

func (m *Modem) GetDeviceInfo(ctx context.Context, req *mgsv1.GetDeviceInfoRequest) (*mgsv1.GetDeviceInfoResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.GetDeviceInfoResponse{}
	for _, e := range euis {
		r := &mgsv1.DeviceInfoResult{Deveui: e.String()}
		d, err := m.p.Device(ctx, e)
		if err == nil {
			var ports store.Ports
			if ports, err = m.p.EffectivePorts(ctx, d); err == nil {
				r.Info = DeviceInfoToPB(d, ports)
			}
		}
		if err != nil {
			if !uplink.IsNotFound(err) {
				return nil, m.fail(ctx, "GetDeviceInfo", err)
			}
			r.Error = "device " + e.String() + " not found"
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

func (m *Modem) ListDevices(ctx context.Context, req *mgsv1.ListDevicesRequest) (*mgsv1.ListDevicesResponse, error) {
	size := int(req.PageSize)
	switch {
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		return nil, Status(fieldErr("page_size", "%d is more than %d", size, MaxPageSize))
	}
	var from lora.EUI64
	if req.PageToken != "" {
		b, err := hex.DecodeString(req.PageToken)
		if err != nil || len(b) != 8 {
			return nil, Status(fieldErr("page_token", "not a token from a previous response"))
		}
		from = lora.EUI64(b)
	}
	devs, next, more, err := m.p.ListDevices(ctx, from, size)
	if err != nil {
		return nil, m.fail(ctx, "ListDevices", err)
	}
	resp := &mgsv1.ListDevicesResponse{}
	for _, d := range devs {
		s := &mgsv1.DeviceSummary{Deveui: d.EUI.String(), UplinkCount: d.UplinkCount, PendingRequests: uint32(len(d.Requests))}
		if d.LastUplink != nil {
			s.LastUplinkTime = d.LastUplink.Timestamp
		}
		resp.Devices = append(resp.Devices, s)
	}
	if more {
		resp.NextPageToken = next.Hex()
	}
	return resp, nil
}

func (m *Modem) DeleteDevices(ctx context.Context, req *mgsv1.DeleteDevicesRequest) (*mgsv1.DeleteDevicesResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.DeleteDevicesResponse{}
	for _, e := range euis {
		switch err := m.p.DeleteDevice(ctx, e); {
		case err == nil:
			resp.Deleted = append(resp.Deleted, e.String())
		case uplink.IsNotFound(err):
			resp.NotFound = append(resp.NotFound, e.String())
		default:
			return nil, m.fail(ctx, "DeleteDevices", err)
		}
	}
	return resp, nil
}

func (m *Modem) SetPorts(ctx context.Context, req *mgsv1.SetPortsRequest) (*mgsv1.SetPortsResponse, error) {
	ports, err := PortsFromPB(req.Fports)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.SetPortsResponse{}
	if len(req.Deveuis) == 0 {
		p, err := m.p.SetDefaultPorts(ctx, ports, req.ResetStreamport)
		if err != nil {
			return nil, m.fail(ctx, "SetPorts", err)
		}
		resp.DefaultFports = PortsToPB(p)
		return resp, nil
	}
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	for _, e := range euis {
		r := &mgsv1.DevicePorts{Deveui: e.String()}
		p, err := m.p.SetPorts(ctx, e, ports, req.ResetStreamport)
		if err != nil {
			if !errors.Is(err, uplink.ErrInvalid) {
				return nil, m.fail(ctx, "SetPorts", err)
			}
			if len(euis) == 1 {
				return nil, Status(err)
			}
			r.Error = errorText(err)
		} else {
			r.Fports = PortsToPB(p)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

func (m *Modem) GetDefaultPorts(ctx context.Context, _ *mgsv1.GetDefaultPortsRequest) (*mgsv1.GetDefaultPortsResponse, error) {
	p, err := m.p.DefaultPorts(ctx)
	if err != nil {
		return nil, m.fail(ctx, "GetDefaultPorts", err)
	}
	return &mgsv1.GetDefaultPortsResponse{Fports: PortsToPB(p)}, nil
}

func (m *Modem) AddRequests(ctx context.Context, req *mgsv1.AddRequestsRequest) (*mgsv1.AddRequestsResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	if len(req.Requests) == 0 {
		return nil, Status(fieldErr("requests", "at least one request is required"))
	}
	if len(req.Requests) > MaxRequests {
		return nil, Status(fieldErr("requests", "%d requests is more than %d", len(req.Requests), MaxRequests))
	}
	if req.Upcount > 255 {
		return nil, Status(fieldErr("upcount", "%d is outside 0..255", req.Upcount))
	}
	if req.Updelay > 255 {
		return nil, Status(fieldErr("updelay", "%d is outside 0..255", req.Updelay))
	}
	reqs := make([]store.Request, len(req.Requests))
	for i, r := range req.Requests {
		if reqs[i], err = RequestFromPB(i, r); err != nil {
			return nil, Status(err)
		}
	}
	resp := &mgsv1.AddRequestsResponse{}
	for _, e := range euis {
		r := &mgsv1.DeviceRequests{Deveui: e.String()}
		d, err := m.p.AddRequests(ctx, e, reqs, uint8(req.Upcount), uint8(req.Updelay))
		if err != nil {
			if !errors.Is(err, uplink.ErrLimit) {
				return nil, m.fail(ctx, "AddRequests", err)
			}
			if len(euis) == 1 {
				return nil, Status(err)
			}
			r.Error = errorText(err)
		} else {
			r.PendingRequests = PendingRequestsToPB(d.Requests, d.Upcount, d.Updelay)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

func (m *Modem) ListRequests(ctx context.Context, req *mgsv1.ListRequestsRequest) (*mgsv1.ListRequestsResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.ListRequestsResponse{}
	for _, e := range euis {
		r := &mgsv1.DeviceRequests{Deveui: e.String()}
		d, err := m.p.Device(ctx, e)
		switch {
		case err == nil:
			r.PendingRequests = PendingRequestsToPB(d.Requests, d.Upcount, d.Updelay)
		case uplink.IsNotFound(err):
			r.Error = "device " + e.String() + " not found"
		default:
			return nil, m.fail(ctx, "ListRequests", err)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

func (m *Modem) ClearRequests(ctx context.Context, req *mgsv1.ClearRequestsRequest) (*mgsv1.ClearRequestsResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.ClearRequestsResponse{}
	for _, e := range euis {
		r := &mgsv1.DeviceRequests{Deveui: e.String()}
		d, err := m.p.ClearRequests(ctx, e, req.Ids)
		switch {
		case err == nil:
			r.PendingRequests = PendingRequestsToPB(d.Requests, d.Upcount, d.Updelay)
		case uplink.IsNotFound(err):
			r.Error = "device " + e.String() + " not found"
		case errors.Is(err, uplink.ErrInvalid):
			if len(euis) == 1 {
				return nil, Status(err)
			}
			r.Error = errorText(err)
		default:
			return nil, m.fail(ctx, "ClearRequests", err)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

func (m *Modem) SetAppSKey(ctx context.Context, req *mgsv1.SetAppSKeyRequest) (*mgsv1.SetAppSKeyResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	var key []byte
	if req.Appskey != "" {
		if key, err = ParseHex("appskey", req.Appskey); err != nil {
			return nil, Status(err)
		}
		if len(key) != 16 {
			return nil, Status(fieldErr("appskey", "must be 16 bytes (32 hex digits), got %d", len(key)))
		}
	}
	resp := &mgsv1.SetAppSKeyResponse{}
	for _, e := range euis {
		if err := m.p.SetAppSKey(ctx, e, key); err != nil {
			return nil, m.fail(ctx, "SetAppSKey", err)
		}
		resp.Updated = append(resp.Updated, e.String())
	}
	return resp, nil
}

func (m *Modem) ClearLogs(ctx context.Context, req *mgsv1.ClearLogsRequest) (*mgsv1.ClearLogsResponse, error) {
	euis, err := parseEUIs("deveuis", req.Deveuis, MaxEUIs)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.ClearLogsResponse{}
	for _, e := range euis {
		switch err := m.p.ClearLogs(ctx, e); {
		case err == nil:
			resp.Cleared = append(resp.Cleared, e.String())
		case uplink.IsNotFound(err):
			resp.NotFound = append(resp.NotFound, e.String())
		default:
			return nil, m.fail(ctx, "ClearLogs", err)
		}
	}
	return resp, nil
}

func (m *Modem) WatchEvents(req *mgsv1.WatchEventsRequest, stream mgsv1.ModemService_WatchEventsServer) error {
	var euis []lora.EUI64
	if len(req.Deveuis) > 0 {
		var err error
		if euis, err = parseEUIs("deveuis", req.Deveuis, MaxEUIs); err != nil {
			return Status(err)
		}
	}
	sub := m.p.Events().Subscribe(euis, WatchBuffer)
	defer sub.Close()
	// The response header tells the client that the subscription is in
	// place: every uplink committed after stream.Header() returns on the
	// client side is delivered.
	if err := stream.SendHeader(metadata.Pairs("x-mgs-subscribed", "1")); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return Status(ctx.Err())
		case ev, ok := <-sub.C:
			if !ok {
				if errors.Is(sub.Err(), uplink.ErrSlowSubscriber) {
					return status.Error(codes.ResourceExhausted, "watch stream too slow: more than "+strconv.Itoa(WatchBuffer)+" events pending; reconnect")
				}
				return status.Error(codes.Unavailable, "server shutting down")
			}
			msg := ev.Uplink
			err := stream.Send(&mgsv1.WatchEventsResponse{Deveui: ev.EUI.String(), Uplink: UplinkToPB(&msg),
				Response: ResultToPB(ev.Result), Time: ev.Time})
			if err != nil {
				return err
			}
		}
	}
}
