package server

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

func fieldErr(field, format string, args ...any) error {
	return &uplink.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ParseEUI parses a device EUI argument, naming field in the error.
func ParseEUI(field, s string) (lora.EUI64, error) {
	if s == "" {
		return lora.EUI64{}, fieldErr(field, "required")
	}
	e, err := lora.ParseEUI64(s)
	if err != nil {
		return lora.EUI64{}, fieldErr(field, "%q is not an EUI-64 (16 hex digits, optionally dash-separated)", s)
	}
	return e, nil
}

func parseEUIs(field string, list []string, max int) ([]lora.EUI64, error) {
	if len(list) == 0 {
		return nil, fieldErr(field, "at least one EUI is required")
	}
	if len(list) > max {
		return nil, fieldErr(field, "%d EUIs is more than %d", len(list), max)
	}
	out := make([]lora.EUI64, len(list))
	for i, s := range list {
		e, err := ParseEUI(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// ParseHex decodes a hex argument (any case), naming field in the error.
func ParseHex(field, s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fieldErr(field, "odd number of hex digits (%d)", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fieldErr(field, "not hex: %v", err)
	}
	return b, nil
}

// UplinkFromPB converts and checks an API uplink; the pipeline validates
// the rest.
func UplinkFromPB(pb *mgsv1.UplinkMsg) (store.Uplink, error) {
	if pb == nil {
		return store.Uplink{}, fieldErr("uplink", "required")
	}
	t, ok := store.ParseMsgType(strings.ToLower(pb.Msgtype))
	if !ok {
		return store.Uplink{}, fieldErr("msgtype", "unknown message type %q (updf, modem, joining, gnss, gnssng, wifi)", pb.Msgtype)
	}
	m := store.Uplink{Type: t}
	var err error
	if m.Payload, err = ParseHex("payload", pb.Payload); err != nil {
		return m, err
	}
	if pb.Fcnt != nil {
		m.FCnt, m.HasFCnt = *pb.Fcnt, true
	}
	if pb.Port != nil {
		if *pb.Port > 255 {
			return m, fieldErr("port", "%d is outside 1..223", *pb.Port)
		}
		m.Port, m.HasPort = uint8(*pb.Port), true
		if m.Port == 0 || m.Port > 223 {
			return m, fieldErr("port", "%d is outside 1..223", *pb.Port)
		}
	}
	if pb.Dr != nil {
		if *pb.Dr > 15 {
			return m, fieldErr("dr", "%d is outside 0..15", *pb.Dr)
		}
		m.DR, m.HasDR = uint8(*pb.Dr), true
	}
	if pb.Freq != nil {
		m.Freq, m.HasFreq = *pb.Freq, true
	}
	if pb.Timestamp != nil {
		if *pb.Timestamp <= 0 {
			return m, fieldErr("timestamp", "%v is not a positive Unix time", *pb.Timestamp)
		}
		m.Timestamp = *pb.Timestamp
	}
	if pb.DnMtu != nil {
		m.DnMTU = *pb.DnMtu
	}
	g := &m.GNSS
	if pb.GnssCaptureTime != nil {
		g.CaptureTime, g.HasCaptureTime = *pb.GnssCaptureTime, true
	}
	if pb.GnssCaptureTimeAccuracy != nil {
		g.CaptureTimeAccuracy = *pb.GnssCaptureTimeAccuracy
	}
	switch len(pb.GnssAssistPosition) {
	case 0:
	case 2:
		g.AssistLat, g.AssistLon, g.HasAssistPosition = pb.GnssAssistPosition[0], pb.GnssAssistPosition[1], true
	default:
		return m, fieldErr("gnss_assist_position", "must be [latitude, longitude], got %d numbers", len(pb.GnssAssistPosition))
	}
	if pb.GnssAssistAltitude != nil {
		g.AssistAltitude, g.HasAssistAltitude = *pb.GnssAssistAltitude, true
	}
	g.Use2D = pb.GnssUse_2DSolver
	return m, nil
}

// UplinkToPB converts a stored uplink back to the API form.
func UplinkToPB(m *store.Uplink) *mgsv1.UplinkMsg {
	if m == nil {
		return nil
	}
	pb := &mgsv1.UplinkMsg{Msgtype: m.Type.String(), Payload: hex.EncodeToString(m.Payload)}
	ts := m.Timestamp
	pb.Timestamp = &ts
	if m.HasFCnt {
		v := m.FCnt
		pb.Fcnt = &v
	}
	if m.HasPort {
		v := uint32(m.Port)
		pb.Port = &v
	}
	if m.HasDR {
		v := uint32(m.DR)
		pb.Dr = &v
	}
	if m.HasFreq {
		v := m.Freq
		pb.Freq = &v
	}
	if m.DnMTU != 0 {
		v := m.DnMTU
		pb.DnMtu = &v
	}
	g := &m.GNSS
	if g.HasCaptureTime {
		v := g.CaptureTime
		pb.GnssCaptureTime = &v
	}
	if g.CaptureTimeAccuracy != 0 {
		v := g.CaptureTimeAccuracy
		pb.GnssCaptureTimeAccuracy = &v
	}
	if g.HasAssistPosition {
		pb.GnssAssistPosition = []float64{g.AssistLat, g.AssistLon}
	}
	if g.HasAssistAltitude {
		v := g.AssistAltitude
		pb.GnssAssistAltitude = &v
	}
	pb.GnssUse_2DSolver = g.Use2D
	return pb
}

// PortsToPB converts ports (the stream port shown explicitly).
func PortsToPB(p store.Ports) *mgsv1.Fports {
	return &mgsv1.Fports{Dmport: uint32(p.DM), Gnssport: uint32(p.GNSS), Gnssngport: uint32(p.GNSSNG),
		Wifiport: uint32(p.WiFi), Streamport: uint32(p.StreamPort())}
}

// PortsFromPB converts requested ports; 0 keeps a value.
func PortsFromPB(pb *mgsv1.Fports) (store.Ports, error) {
	if pb == nil {
		return store.Ports{}, fieldErr("fports", "required")
	}
	var p store.Ports
	for _, f := range []struct {
		name string
		v    uint32
		dst  *uint8
	}{{"fports.dmport", pb.Dmport, &p.DM}, {"fports.gnssport", pb.Gnssport, &p.GNSS}, {"fports.gnssngport", pb.Gnssngport, &p.GNSSNG},
		{"fports.wifiport", pb.Wifiport, &p.WiFi}, {"fports.streamport", pb.Streamport, &p.Stream}} {
		if f.v > 223 {
			return p, fieldErr(f.name, "%d is outside 1..223", f.v)
		}
		*f.dst = uint8(f.v)
	}
	return p, nil
}

// InfoFieldsToPB converts info fields.
func InfoFieldsToPB(f *store.InfoFields) *mgsv1.InfoFields {
	pb := &mgsv1.InfoFields{}
	if v := f.Status; v.Set {
		s := v.Value
		pb.Status = &mgsv1.StatusInfo{Timestamp: v.Time, Value: &mgsv1.StatusField{Brownout: s.Brownout, Crash: s.Crash,
			Mute: s.Mute, Joined: s.Joined, Suspend: s.Suspend, Upload: s.Upload, Joining: s.Joining, Streaming: s.Stream}}
	}
	u := func(i store.Info[uint16]) *mgsv1.UintInfo {
		if !i.Set {
			return nil
		}
		return &mgsv1.UintInfo{Timestamp: i.Time, Value: uint32(i.Value)}
	}
	u8 := func(i store.Info[uint8]) *mgsv1.UintInfo {
		if !i.Set {
			return nil
		}
		return &mgsv1.UintInfo{Timestamp: i.Time, Value: uint32(i.Value)}
	}
	e := func(i store.Info[lora.EUI64]) *mgsv1.StringInfo {
		if !i.Set {
			return nil
		}
		return &mgsv1.StringInfo{Timestamp: i.Time, Value: i.Value.String()}
	}
	pb.Charge, pb.Uptime, pb.Rxtime = u(f.Charge), u(f.Uptime), u(f.RxTime)
	pb.Rstcount, pb.Rfu, pb.Session = u(f.RstCount), u(f.RFU), u(f.Session)
	pb.Adrmode, pb.Region = u8(f.ADRMode), u8(f.Region)
	pb.Joineui, pb.Deveui, pb.Chipeui = e(f.JoinEUI), e(f.DevEUI), e(f.ChipEUI)
	if v := f.Voltage; v.Set {
		pb.Voltage = &mgsv1.FloatInfo{Timestamp: v.Time, Value: math.Round(v.Value*100) / 100}
	}
	if v := f.Temp; v.Set {
		pb.Temp = &mgsv1.IntInfo{Timestamp: v.Time, Value: int32(v.Value)}
	}
	if v := f.Signal; v.Set {
		pb.Signal = &mgsv1.SignalInfo{Timestamp: v.Time, Value: &mgsv1.SignalValue{Rssi: int32(v.Value.RSSI), Snr: v.Value.SNR}}
	}
	if v := f.Firmware; v.Set {
		pb.Firmware = &mgsv1.FirmwareInfo{Timestamp: v.Time, Value: &mgsv1.FirmwareValue{
			Fwcrc: fmt.Sprintf("%08x", v.Value.CRC), Fwtotal: uint32(v.Value.Total), Fwcompleted: uint32(v.Value.Completed)}}
	}
	if v := f.Interval; v.Set {
		pb.Interval = &mgsv1.UintInfo{Timestamp: v.Time, Value: uint32(v.Value)}
	}
	if v := f.OpMode; v.Set {
		pb.Opmode = &mgsv1.UintInfo{Timestamp: v.Time, Value: v.Value}
	}
	if v := f.CrashLog; v.Set {
		pb.Crashlog = &mgsv1.StringInfo{Timestamp: v.Time, Value: hex.EncodeToString(v.Value)}
	}
	if v := f.StreamPar; v.Set {
		pb.Streampar = &mgsv1.StreamparInfo{Timestamp: v.Time, Value: &mgsv1.StreamparValue{Port: uint32(v.Value.Port), Encmode: v.Value.Encrypted}}
	}
	if v := f.AppStatus; v.Set {
		pb.Appstatus = &mgsv1.StringInfo{Timestamp: v.Time, Value: hex.EncodeToString(v.Value[:])}
	}
	if v := f.ALCSync; v.Set {
		pb.Alcsync = &mgsv1.AlcsyncInfo{Timestamp: v.Time, Value: &mgsv1.AlcsyncValue{Token: uint32(v.Value.Token), Time: v.Value.Time}}
	}
	if v := f.AlmanacStatus; v.Set {
		a := v.Value
		pb.Almstatus = &mgsv1.AlmanacStatusInfo{Timestamp: v.Time, Value: &mgsv1.AlmanacStatusValue{FwVersion: uint32(a.FirmwareVersion),
			Crc: fmt.Sprintf("%08x", a.CRC), Error: uint32(a.Error), GpsUpdate: a.GPSUpdate, BeidouUpdate: a.BeiDouUpdate,
			FreqSearchSpace: uint32(a.FreqSearchSpace)}}
	}
	return pb
}

// RequestFromPB converts and validates an API request.
func RequestFromPB(i int, pb *mgsv1.Request) (store.Request, error) {
	if pb == nil {
		return store.Request{}, fieldErr(fmt.Sprintf("requests[%d]", i), "required")
	}
	var param any
	if pb.Param != nil {
		param = pb.Param.AsInterface()
	}
	r, err := uplink.ParseRequest(pb.Type, param)
	if fe, ok := err.(*uplink.FieldError); ok {
		fe.Field = fmt.Sprintf("requests[%d].%s", i, fe.Field)
	}
	return r, err
}

func valueOf(v any) *structpb.Value {
	if v == nil {
		return nil
	}
	pv, err := structpb.NewValue(v)
	if err != nil {
		return structpb.NewStringValue(fmt.Sprint(v))
	}
	return pv
}

// PendingToPB converts a pending request.
func PendingToPB(r *store.PendingRequest) *mgsv1.PendingRequest {
	return &mgsv1.PendingRequest{Id: r.ID, Timestamp: r.Time, Cookie: valueOf(uplink.Cookie(r)),
		Request: &mgsv1.Request{Type: r.Request.Type, Param: valueOf(uplink.RequestParam(&r.Request))}}
}

func pendingList(rs []store.PendingRequest) []*mgsv1.PendingRequest {
	if rs == nil {
		return nil
	}
	out := make([]*mgsv1.PendingRequest, len(rs))
	for i := range rs {
		out[i] = PendingToPB(&rs[i])
	}
	return out
}

// PendingRequestsToPB converts the pending_requests object.
func PendingRequestsToPB(rs []store.PendingRequest, upcount, updelay uint8) *mgsv1.PendingRequests {
	return &mgsv1.PendingRequests{Requests: pendingList(rs), Upcount: uint32(upcount), Updelay: uint32(updelay)}
}

func logsToPB(ls []store.LogMessage) []*mgsv1.LogMessage {
	out := make([]*mgsv1.LogMessage, len(ls))
	for i, l := range ls {
		out[i] = &mgsv1.LogMessage{Logmsg: l.Msg, Level: l.Level.String(), Timestamp: l.Time}
	}
	return out
}

// FileToPB converts a file; data, hash, port and encmode are absent when
// the upload failed.
func FileToPB(f *store.File) *mgsv1.File {
	pb := &mgsv1.File{Sctr: uint32(f.Sctr), Timestamp: f.Time, Message: f.Message}
	if f.OK {
		port, data, h, enc := uint32(f.Port), hex.EncodeToString(f.Data), hex.EncodeToString(f.Hash), f.Encrypted
		pb.Port, pb.Data, pb.Hash, pb.Encmode = &port, &data, &h, &enc
	}
	return pb
}

// PositionToPB converts a position solution.
func PositionToPB(p *store.Position) *mgsv1.PositionSolution {
	pb := &mgsv1.PositionSolution{AlgorithmType: p.Algorithm, Llh: p.LLH[:], CaptureTimeGps: p.CaptureTimeGPS,
		CaptureTimesGps: p.CaptureTimesGPS, Gdop: p.GDOP, Accuracy: p.Accuracy, Timestamp: p.Time}
	if p.Algorithm != "wifi" {
		pb.Ecef = p.ECEF[:]
	}
	return pb
}

// ResultToPB converts an uplink result to UPLINK_RESPONSE.
func ResultToPB(r *uplink.Result) *mgsv1.UplinkResponse {
	pb := &mgsv1.UplinkResponse{
		Operation:       r.Operation,
		Fports:          PortsToPB(r.Ports),
		InfoFields:      InfoFieldsToPB(&r.Info),
		PendingRequests: PendingRequestsToPB(r.Pending, r.Upcount, r.Updelay),
		LogMessages:     logsToPB(r.Logs),
	}
	if r.File != nil {
		pb.File = FileToPB(r.File)
	}
	for _, s := range r.StreamRecords {
		pb.StreamRecords = append(pb.StreamRecords, &mgsv1.StreamRecord{Offset: s.Offset, Data: hex.EncodeToString(s.Data)})
	}
	if r.Position != nil {
		pb.PositionSolution = PositionToPB(r.Position)
	}
	pb.FulfilledRequests = pendingList(r.Fulfilled)
	if r.Dnlink != nil {
		pb.Dnlink = &mgsv1.LoraDnlink{Port: uint32(r.Dnlink.Port), Payload: hex.EncodeToString(r.Dnlink.Payload)}
	}
	return pb
}

// DeviceInfoToPB converts a device to DEVICEINFO.
func DeviceInfoToPB(d *store.Device, ports store.Ports) *mgsv1.DeviceInfo {
	pb := &mgsv1.DeviceInfo{
		Deveui:          d.EUI.String(),
		Fports:          PortsToPB(ports),
		InfoFields:      InfoFieldsToPB(&d.Info),
		PendingRequests: PendingRequestsToPB(d.Requests, d.Upcount, d.Updelay),
		LogMessages:     logsToPB(d.Logs),
		LastUplink:      UplinkToPB(d.LastUplink),
		UplinkCount:     d.UplinkCount,
		HasAppskey:      len(d.AppSKey) == 16,
	}
	for i := range d.Files {
		pb.UploadedFiles = append(pb.UploadedFiles, FileToPB(&d.Files[i]))
	}
	for _, s := range d.StreamRecords {
		pb.UploadedStreamRecords = append(pb.UploadedStreamRecords, &mgsv1.Stream{Timestamp: s.Time, Port: uint32(s.Port),
			Data: hex.EncodeToString(s.Data), Off: s.Offset})
	}
	for i := range d.Positions {
		pb.Positions = append(pb.Positions, PositionToPB(&d.Positions[i]))
	}
	return pb
}
