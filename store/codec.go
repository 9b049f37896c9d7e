package store

import (
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	storev1 "github.com/openmgs/openmgs/proto/gen/mgs/store/v1"
)

// MarshalDevice encodes a device as an mgs.store.v1.Device (Rev is not
// stored; it belongs to the table).
func MarshalDevice(d *Device) ([]byte, error) {
	pb := &storev1.Device{
		Eui:           d.EUI[:],
		NextRequestId: d.NextRequestID,
		Upcount:       uint32(d.Upcount),
		Updelay:       uint32(d.Updelay),
		UplinkCount:   d.UplinkCount,
		Created:       d.Created,
		Sessions:      d.Sessions,
		AppSKey:       d.AppSKey,
	}
	pb.RecentUplinkKeys = d.RecentUplinkKeys
	if d.Ports != nil {
		p := d.Ports
		pb.Ports = &storev1.Ports{Dm: uint32(p.DM), Gnss: uint32(p.GNSS), Gnssng: uint32(p.GNSSNG), Wifi: uint32(p.WiFi), Stream: uint32(p.Stream)}
	}
	info, err := marshalInfo(&d.Info)
	if err != nil {
		return nil, err
	}
	pb.Info = info
	for i := range d.Requests {
		r := &d.Requests[i]
		pb.Requests = append(pb.Requests, &storev1.PendingRequest{
			Id: r.ID, Time: r.Time, Request: marshalRequest(&r.Request), Sent: r.Sent, LastSent: r.LastSent,
			Received: uint64(r.Received), Ref: uint32(r.Ref), HasRef: r.HasRef, Phase: uint32(r.Phase), Confirmed: uint64(r.Confirmed),
		})
	}
	for _, l := range d.Logs {
		pb.Logs = append(pb.Logs, &storev1.LogMessage{Msg: l.Msg, Level: uint32(l.Level), Time: l.Time})
	}
	for _, f := range d.Files {
		pb.Files = append(pb.Files, &storev1.File{Sctr: uint32(f.Sctr), Time: f.Time, Port: uint32(f.Port), Data: f.Data,
			Hash: f.Hash, Encrypted: f.Encrypted, Message: f.Message, Ok: f.OK})
	}
	for _, s := range d.StreamRecords {
		pb.StreamRecords = append(pb.StreamRecords, &storev1.StreamRecord{Time: s.Time, Port: uint32(s.Port), Offset: s.Offset, Data: s.Data})
	}
	for i := range d.Positions {
		p := &d.Positions[i]
		pb.Positions = append(pb.Positions, &storev1.Position{Algorithm: p.Algorithm, Ecef: p.ECEF[:], Llh: p.LLH[:],
			CaptureTimeGps: p.CaptureTimeGPS, CaptureTimesGps: p.CaptureTimesGPS, Gdop: p.GDOP, Accuracy: p.Accuracy, Time: p.Time})
	}
	if u := d.LastUplink; u != nil {
		pb.LastUplink = marshalUplink(u)
	}
	if dn := d.LastDnlink; dn != nil {
		pb.LastDnlink = &storev1.Dnlink{Port: uint32(dn.Port), Payload: dn.Payload}
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pb)
}

// UnmarshalDevice decodes what MarshalDevice wrote.
func UnmarshalDevice(b []byte) (*Device, error) {
	var pb storev1.Device
	if err := proto.Unmarshal(b, &pb); err != nil {
		return nil, fmt.Errorf("store: decode device: %w", err)
	}
	d := &Device{
		NextRequestID: pb.NextRequestId,
		Upcount:       uint8(pb.Upcount),
		Updelay:       uint8(pb.Updelay),
		UplinkCount:   pb.UplinkCount,
		Created:       pb.Created,
	}
	if len(pb.Eui) != 8 {
		return nil, fmt.Errorf("store: decode device: EUI has %d bytes", len(pb.Eui))
	}
	d.EUI = lora.EUI64(pb.Eui)
	if len(pb.AppSKey) > 0 {
		d.AppSKey = pb.AppSKey
	}
	if len(pb.Sessions) > 0 {
		d.Sessions = maps.Clone(pb.Sessions)
	}
	if len(pb.RecentUplinkKeys) > 0 {
		d.RecentUplinkKeys = pb.RecentUplinkKeys
	}
	if p := pb.Ports; p != nil {
		d.Ports = &Ports{DM: uint8(p.Dm), GNSS: uint8(p.Gnss), GNSSNG: uint8(p.Gnssng), WiFi: uint8(p.Wifi), Stream: uint8(p.Stream)}
	}
	if err := unmarshalInfo(pb.Info, &d.Info); err != nil {
		return nil, err
	}
	for _, r := range pb.Requests {
		d.Requests = append(d.Requests, PendingRequest{ID: r.Id, Time: r.Time, Request: unmarshalRequest(r.Request),
			Sent: r.Sent, LastSent: r.LastSent, Received: modemproto.TagSet(r.Received), Ref: uint16(r.Ref),
			HasRef: r.HasRef, Phase: uint8(r.Phase), Confirmed: modemproto.TagSet(r.Confirmed)})
	}
	for _, l := range pb.Logs {
		d.Logs = append(d.Logs, LogMessage{Msg: l.Msg, Level: Level(l.Level), Time: l.Time})
	}
	for _, f := range pb.Files {
		d.Files = append(d.Files, File{Sctr: uint8(f.Sctr), Time: f.Time, Port: uint8(f.Port), Data: f.Data, Hash: f.Hash,
			Encrypted: f.Encrypted, Message: f.Message, OK: f.Ok})
	}
	for _, s := range pb.StreamRecords {
		d.StreamRecords = append(d.StreamRecords, StreamRecord{Time: s.Time, Port: uint8(s.Port), Offset: s.Offset, Data: s.Data})
	}
	for _, p := range pb.Positions {
		pos := Position{Algorithm: p.Algorithm, CaptureTimeGPS: p.CaptureTimeGps, CaptureTimesGPS: p.CaptureTimesGps,
			GDOP: p.Gdop, Accuracy: p.Accuracy, Time: p.Time}
		copy(pos.ECEF[:], p.Ecef)
		copy(pos.LLH[:], p.Llh)
		d.Positions = append(d.Positions, pos)
	}
	if pb.LastUplink != nil {
		d.LastUplink = unmarshalUplink(pb.LastUplink)
	}
	if dn := pb.LastDnlink; dn != nil {
		d.LastDnlink = &Dnlink{Port: uint8(dn.Port), Payload: dn.Payload}
	}
	return d, nil
}

func marshalInfo(f *InfoFields) (*storev1.InfoFields, error) {
	u, times := f.fixed()
	frame, err := u.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("store: encode info fields: %w", err)
	}
	pb := &storev1.InfoFields{Frame: frame, Times: times}
	if f.CrashLog.Set {
		pb.Crashlog, pb.CrashlogTime = f.CrashLog.Value, f.CrashLog.Time
	}
	if a := f.ALCSync; a.Set {
		pb.HasAlcsync, pb.AlcsyncToken, pb.AlcsyncTime, pb.AlcsyncAt = true, uint32(a.Value.Token), a.Value.Time, a.Time
	}
	return pb, nil
}

func unmarshalInfo(pb *storev1.InfoFields, f *InfoFields) error {
	if pb == nil {
		return nil
	}
	if len(pb.Frame) > 0 {
		u, err := modemproto.DecodeUplink(pb.Frame)
		if err != nil {
			return fmt.Errorf("store: decode info fields: %w", err)
		}
		f.Apply(u, 0)
		// Restore each tag's own time.
		for _, tag := range u.Present.Tags() {
			f.setTime(tag, pb.Times[uint32(tag)])
		}
	}
	if pb.CrashlogTime != 0 || len(pb.Crashlog) > 0 {
		f.CrashLog.Put(pb.CrashlogTime, pb.Crashlog)
	}
	if pb.HasAlcsync {
		f.ALCSync.Put(pb.AlcsyncAt, ALCSync{Token: uint8(pb.AlcsyncToken), Time: pb.AlcsyncTime})
	}
	return nil
}

func (f *InfoFields) setTime(tag modemproto.Tag, t float64) {
	switch tag {
	case modemproto.TagStatus:
		f.Status.Time = t
	case modemproto.TagCharge:
		f.Charge.Time = t
	case modemproto.TagVoltage:
		f.Voltage.Time = t
	case modemproto.TagTemp:
		f.Temp.Time = t
	case modemproto.TagSignal:
		f.Signal.Time = t
	case modemproto.TagUptime:
		f.Uptime.Time = t
	case modemproto.TagRxTime:
		f.RxTime.Time = t
	case modemproto.TagFirmware:
		f.Firmware.Time = t
	case modemproto.TagADRMode:
		f.ADRMode.Time = t
	case modemproto.TagJoinEUI:
		f.JoinEUI.Time = t
	case modemproto.TagInterval:
		f.Interval.Time = t
	case modemproto.TagRegion:
		f.Region.Time = t
	case modemproto.TagOpMode:
		f.OpMode.Time = t
	case modemproto.TagRstCount:
		f.RstCount.Time = t
	case modemproto.TagDevEUI:
		f.DevEUI.Time = t
	case modemproto.TagRFU:
		f.RFU.Time = t
	case modemproto.TagSession:
		f.Session.Time = t
	case modemproto.TagChipEUI:
		f.ChipEUI.Time = t
	case modemproto.TagStreamPar:
		f.StreamPar.Time = t
	case modemproto.TagAppStatus:
		f.AppStatus.Time = t
	case modemproto.TagAlmanacStatus:
		f.AlmanacStatus.Time = t
	}
}

func marshalRequest(r *Request) *storev1.Request {
	pb := &storev1.Request{Type: r.Type, Code: uint32(r.Code), Days: uint32(r.Days), Sid: uint32(r.SID),
		Sctr: uint32(r.Sctr), Data: r.Data, HasCode: r.HasCode, HasDays: r.HasDays}
	for _, t := range r.Tags {
		pb.Tags = append(pb.Tags, byte(t))
	}
	if len(r.SetConf) > 0 {
		pb.Setconf = make(map[uint32]uint64, len(r.SetConf))
		for k, v := range r.SetConf {
			pb.Setconf[uint32(k)] = v
		}
	}
	return pb
}

func unmarshalRequest(pb *storev1.Request) Request {
	if pb == nil {
		return Request{}
	}
	r := Request{Type: pb.Type, Code: uint8(pb.Code), Days: uint8(pb.Days), SID: uint8(pb.Sid), Sctr: uint8(pb.Sctr),
		Data: pb.Data, HasCode: pb.HasCode, HasDays: pb.HasDays}
	for _, t := range pb.Tags {
		r.Tags = append(r.Tags, modemproto.Tag(t))
	}
	if len(pb.Setconf) > 0 {
		r.SetConf = make(map[modemproto.Tag]uint64, len(pb.Setconf))
		for k, v := range pb.Setconf {
			r.SetConf[modemproto.Tag(k)] = v
		}
	}
	return r
}

// marshalUplink converts an uplink to its stored form.
func marshalUplink(u *Uplink) *storev1.Uplink {
	pb := &storev1.Uplink{Type: uint32(u.Type), Payload: u.Payload, Timestamp: u.Timestamp, DnMtu: u.DnMTU,
		GnssCaptureTimeAccuracy: u.GNSS.CaptureTimeAccuracy, GnssUse_2DSolver: u.GNSS.Use2D, DedupKey: u.DedupKey}
	if u.HasFCnt {
		pb.Fcnt = proto.Uint32(u.FCnt)
	}
	if u.HasPort {
		pb.Port = proto.Uint32(uint32(u.Port))
	}
	if u.HasDR {
		pb.Dr = proto.Uint32(uint32(u.DR))
	}
	if u.HasFreq {
		pb.Freq = proto.Uint32(u.Freq)
	}
	g := &u.GNSS
	if g.HasCaptureTime {
		pb.GnssCaptureTime = proto.Float64(g.CaptureTime)
	}
	if g.HasAssistPosition {
		pb.GnssAssistPosition = []float64{g.AssistLat, g.AssistLon}
	}
	if g.HasAssistAltitude {
		pb.GnssAssistAltitude = proto.Float64(g.AssistAltitude)
	}
	return pb
}

// unmarshalUplink converts a stored uplink back.
func unmarshalUplink(pb *storev1.Uplink) *Uplink {
	u := &Uplink{Type: MsgType(pb.Type), Payload: pb.Payload, Timestamp: pb.Timestamp, DnMTU: pb.DnMtu, DedupKey: pb.DedupKey}
	if pb.Fcnt != nil {
		u.FCnt, u.HasFCnt = *pb.Fcnt, true
	}
	if pb.Port != nil {
		u.Port, u.HasPort = uint8(*pb.Port), true
	}
	if pb.Dr != nil {
		u.DR, u.HasDR = uint8(*pb.Dr), true
	}
	if pb.Freq != nil {
		u.Freq, u.HasFreq = *pb.Freq, true
	}
	g := &u.GNSS
	g.CaptureTimeAccuracy, g.Use2D = pb.GnssCaptureTimeAccuracy, pb.GnssUse_2DSolver
	if pb.GnssCaptureTime != nil {
		g.CaptureTime, g.HasCaptureTime = *pb.GnssCaptureTime, true
	}
	if len(pb.GnssAssistPosition) == 2 {
		g.AssistLat, g.AssistLon, g.HasAssistPosition = pb.GnssAssistPosition[0], pb.GnssAssistPosition[1], true
	}
	if pb.GnssAssistAltitude != nil {
		g.AssistAltitude, g.HasAssistAltitude = *pb.GnssAssistAltitude, true
	}
	return u
}
