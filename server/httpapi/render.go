package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// The types below are the LoRa Cloud JSON objects (seed 003) rendered from
// the mgs.v1 messages. Absent optional objects are null, as the seed shows;
// lists that the seed marks required are [] when empty.

// orderedMap renders a JSON object with its keys in insertion order (the
// request's order).
type orderedMap struct {
	keys []string
	vals []any
}

func (m *orderedMap) add(k string, v any) {
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

func (m *orderedMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := m.appendTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// appendTo writes the object to b (without the re-validation that
// encoding/json applies to a Marshaler's output).
func (m *orderedMap) appendTo(b *bytes.Buffer) error {
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := appendJSON(b, k); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := appendJSON(b, m.vals[i]); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// appendJSON writes v as compact JSON without HTML escaping.
func appendJSON(b *bytes.Buffer, v any) error {
	if m, ok := v.(*orderedMap); ok {
		return m.appendTo(b)
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// item is one entry of an EUI-keyed result map: {"result": …} or
// {"error": "…"}.
type item struct {
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

type info[T any] struct {
	Timestamp float64 `json:"timestamp"`
	Value     T       `json:"value"`
}

type statusValue struct {
	Brownout  bool `json:"brownout"`
	Crash     bool `json:"crash"`
	Mute      bool `json:"mute"`
	Joined    bool `json:"joined"`
	Suspend   bool `json:"suspend"`
	Upload    bool `json:"upload"`
	Joining   bool `json:"joining"`
	Streaming bool `json:"streaming"`
}

type signalValue struct {
	RSSI int32   `json:"rssi"`
	SNR  float64 `json:"snr"`
}

type firmwareValue struct {
	FwCRC       string `json:"fwcrc"`
	FwTotal     uint32 `json:"fwtotal"`
	FwCompleted uint32 `json:"fwcompleted"`
}

type streamparValue struct {
	Port    uint32 `json:"port"`
	Encmode bool   `json:"encmode"`
}

type alcsyncValue struct {
	Token uint32 `json:"token"`
	Time  uint32 `json:"time"`
}

type almanacStatusValue struct {
	FwVersion       uint32 `json:"fw_version"`
	CRC             string `json:"crc"`
	Error           uint32 `json:"error"`
	GPSUpdate       bool   `json:"gps_update"`
	BeidouUpdate    bool   `json:"beidou_update"`
	FreqSearchSpace uint32 `json:"freq_search_space"`
}

// infoFields is INFO_FIELDS: the seed's 21 fields, null when unknown, and
// two OpenMGS extras (opmode, almstatus) present only when known.
type infoFields struct {
	Status    *info[statusValue]        `json:"status"`
	Charge    *info[uint32]             `json:"charge"`
	Voltage   *info[float64]            `json:"voltage"`
	Temp      *info[int32]              `json:"temp"`
	Signal    *info[signalValue]        `json:"signal"`
	Uptime    *info[uint32]             `json:"uptime"`
	Rxtime    *info[uint32]             `json:"rxtime"`
	Firmware  *info[firmwareValue]      `json:"firmware"`
	Adrmode   *info[uint32]             `json:"adrmode"`
	Joineui   *info[string]             `json:"joineui"`
	Interval  *info[uint32]             `json:"interval"`
	Region    *info[uint32]             `json:"region"`
	Crashlog  *info[string]             `json:"crashlog"`
	Rstcount  *info[uint32]             `json:"rstcount"`
	Deveui    *info[string]             `json:"deveui"`
	Rfu       *info[uint32]             `json:"rfu"`
	Session   *info[uint32]             `json:"session"`
	Chipeui   *info[string]             `json:"chipeui"`
	Streampar *info[streamparValue]     `json:"streampar"`
	Appstatus *info[string]             `json:"appstatus"`
	Alcsync   *info[alcsyncValue]       `json:"alcsync"`
	Opmode    *info[uint32]             `json:"opmode,omitempty"`
	Almstatus *info[almanacStatusValue] `json:"almstatus,omitempty"`
}

func uintInfo(i *mgsv1.UintInfo) *info[uint32] {
	if i == nil {
		return nil
	}
	return &info[uint32]{i.Timestamp, i.Value}
}

func stringInfo(i *mgsv1.StringInfo) *info[string] {
	if i == nil {
		return nil
	}
	return &info[string]{i.Timestamp, i.Value}
}

func renderInfoFields(f *mgsv1.InfoFields) *infoFields {
	if f == nil {
		f = &mgsv1.InfoFields{}
	}
	out := &infoFields{
		Charge: uintInfo(f.Charge), Uptime: uintInfo(f.Uptime), Rxtime: uintInfo(f.Rxtime), Adrmode: uintInfo(f.Adrmode),
		Joineui: stringInfo(f.Joineui), Interval: uintInfo(f.Interval), Region: uintInfo(f.Region),
		Crashlog: stringInfo(f.Crashlog), Rstcount: uintInfo(f.Rstcount), Deveui: stringInfo(f.Deveui),
		Rfu: uintInfo(f.Rfu), Session: uintInfo(f.Session), Chipeui: stringInfo(f.Chipeui),
		Appstatus: stringInfo(f.Appstatus), Opmode: uintInfo(f.Opmode),
	}
	if s := f.Status; s != nil {
		v := s.Value
		if v == nil {
			v = &mgsv1.StatusField{}
		}
		out.Status = &info[statusValue]{s.Timestamp, statusValue{v.Brownout, v.Crash, v.Mute, v.Joined, v.Suspend, v.Upload, v.Joining, v.Streaming}}
	}
	if v := f.Voltage; v != nil {
		out.Voltage = &info[float64]{v.Timestamp, v.Value}
	}
	if v := f.Temp; v != nil {
		out.Temp = &info[int32]{v.Timestamp, v.Value}
	}
	if s := f.Signal; s != nil {
		out.Signal = &info[signalValue]{s.Timestamp, signalValue{s.GetValue().GetRssi(), s.GetValue().GetSnr()}}
	}
	if fw := f.Firmware; fw != nil {
		v := fw.GetValue()
		out.Firmware = &info[firmwareValue]{fw.Timestamp, firmwareValue{v.GetFwcrc(), v.GetFwtotal(), v.GetFwcompleted()}}
	}
	if s := f.Streampar; s != nil {
		out.Streampar = &info[streamparValue]{s.Timestamp, streamparValue{s.GetValue().GetPort(), s.GetValue().GetEncmode()}}
	}
	if s := f.Alcsync; s != nil {
		out.Alcsync = &info[alcsyncValue]{s.Timestamp, alcsyncValue{s.GetValue().GetToken(), s.GetValue().GetTime()}}
	}
	if s := f.Almstatus; s != nil {
		v := s.GetValue()
		out.Almstatus = &info[almanacStatusValue]{s.Timestamp, almanacStatusValue{v.GetFwVersion(), v.GetCrc(), v.GetError(),
			v.GetGpsUpdate(), v.GetBeidouUpdate(), v.GetFreqSearchSpace()}}
	}
	return out
}

// fports is FPORTS.
type fports struct {
	DM     uint32 `json:"dmport"`
	GNSS   uint32 `json:"gnssport"`
	GNSSNG uint32 `json:"gnssngport"`
	WiFi   uint32 `json:"wifiport"`
	Stream uint32 `json:"streamport"`
}

func renderPorts(p *mgsv1.Fports) *fports {
	if p == nil {
		return nil
	}
	return &fports{p.Dmport, p.Gnssport, p.Gnssngport, p.Wifiport, p.Streamport}
}

// requestObj is REQUEST.
type requestObj struct {
	Type  string `json:"type"`
	Param any    `json:"param,omitempty"`
}

// pendingRequest is PENDING_REQUEST.
type pendingRequest struct {
	ID        uint32     `json:"id"`
	Cookie    any        `json:"cookie"`
	Timestamp float64    `json:"timestamp"`
	Request   requestObj `json:"request"`
}

func renderPending(rs []*mgsv1.PendingRequest) []pendingRequest {
	out := make([]pendingRequest, len(rs))
	for i, r := range rs {
		p := pendingRequest{ID: r.Id, Timestamp: r.Timestamp}
		if r.Cookie != nil {
			p.Cookie = r.Cookie.AsInterface()
		}
		if q := r.Request; q != nil {
			p.Request.Type = q.Type
			if q.Param != nil {
				p.Request.Param = q.Param.AsInterface()
			}
		}
		out[i] = p
	}
	return out
}

// pendingRequests is the pending_requests object.
type pendingRequests struct {
	Requests []pendingRequest `json:"requests"`
	Upcount  uint32           `json:"upcount"`
	Updelay  uint32           `json:"updelay"`
}

func renderPendingRequests(p *mgsv1.PendingRequests) pendingRequests {
	if p == nil {
		p = &mgsv1.PendingRequests{}
	}
	return pendingRequests{Requests: renderPending(p.Requests), Upcount: p.Upcount, Updelay: p.Updelay}
}

// logMessage is LOG_MESSAGE.
type logMessage struct {
	Logmsg    string  `json:"logmsg"`
	Level     string  `json:"level"`
	Timestamp float64 `json:"timestamp"`
}

func renderLogs(ls []*mgsv1.LogMessage) []logMessage {
	out := make([]logMessage, len(ls))
	for i, l := range ls {
		out[i] = logMessage{l.Logmsg, l.Level, l.Timestamp}
	}
	return out
}

// file is FILE; port, data, hash and encmode are null when the upload
// failed.
type file struct {
	Sctr      uint32  `json:"sctr"`
	Timestamp float64 `json:"timestamp"`
	Port      *uint32 `json:"port"`
	Data      *string `json:"data"`
	Hash      *string `json:"hash"`
	Encmode   *bool   `json:"encmode"`
	Message   string  `json:"message,omitempty"`
}

func renderFile(f *mgsv1.File) *file {
	if f == nil {
		return nil
	}
	return &file{f.Sctr, f.Timestamp, f.Port, f.Data, f.Hash, f.Encmode, f.Message}
}

// streamRecord is one entry of stream_records: [offset, "hex"].
type streamRecord struct {
	offset uint32
	data   string // lower-case hex
}

func (s streamRecord) MarshalJSON() ([]byte, error) {
	b := append([]byte{'['}, strconv.FormatUint(uint64(s.offset), 10)...)
	b = append(b, ',')
	d, err := json.Marshal(s.data)
	if err != nil {
		return nil, err
	}
	b = append(b, d...)
	return append(b, ']'), nil
}

// stream is STREAM (a stream record history entry).
type stream struct {
	Timestamp float64 `json:"timestamp"`
	Port      uint32  `json:"port"`
	Data      string  `json:"data"`
	Off       uint32  `json:"off"`
}

// optFloat renders NaN and ±Inf as null.
type optFloat float64

func (f optFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// position is POSITION_SOLUTION (gnss, gnssng or wifi).
type position struct {
	AlgorithmType   string     `json:"algorithm_type"`
	ECEF            []float64  `json:"ecef,omitempty"`
	LLH             []float64  `json:"llh"`
	CaptureTimeGPS  *float64   `json:"capture_time_gps,omitempty"`
	CaptureTimesGPS []optFloat `json:"capture_times_gps,omitempty"`
	GDOP            *float64   `json:"gdop,omitempty"`
	Accuracy        float64    `json:"accuracy"`
	Timestamp       float64    `json:"timestamp"`
}

func renderPosition(p *mgsv1.PositionSolution) *position {
	if p == nil {
		return nil
	}
	out := &position{AlgorithmType: p.AlgorithmType, LLH: p.Llh, Accuracy: p.Accuracy, Timestamp: p.Timestamp}
	if out.LLH == nil {
		out.LLH = []float64{}
	}
	if p.AlgorithmType != "wifi" {
		ct, gdop := p.CaptureTimeGps, p.Gdop
		out.ECEF, out.CaptureTimeGPS, out.GDOP = p.Ecef, &ct, &gdop
	}
	if p.AlgorithmType == "gnssng" {
		out.CaptureTimesGPS = make([]optFloat, len(p.CaptureTimesGps))
		for i, v := range p.CaptureTimesGps {
			out.CaptureTimesGPS[i] = optFloat(v)
		}
	}
	return out
}

// dnlink is LORA_DNLINK.
type dnlink struct {
	Port    uint32 `json:"port"`
	Payload string `json:"payload"`
}

// uplinkResponse is UPLINK_RESPONSE.
type uplinkResponse struct {
	Operation         string           `json:"operation"`
	File              *file            `json:"file"`
	StreamRecords     []streamRecord   `json:"stream_records"`
	PositionSolution  *position        `json:"position_solution"`
	FulfilledRequests []pendingRequest `json:"fulfilled_requests"`
	Dnlink            *dnlink          `json:"dnlink"`
	Fports            *fports          `json:"fports"`
	InfoFields        *infoFields      `json:"info_fields"`
	PendingRequests   pendingRequests  `json:"pending_requests"`
	LogMessages       []logMessage     `json:"log_messages"`
}

func renderUplinkResponse(r *mgsv1.UplinkResponse) *uplinkResponse {
	out := &uplinkResponse{
		Operation:        r.Operation,
		File:             renderFile(r.File),
		PositionSolution: renderPosition(r.PositionSolution),
		Fports:           renderPorts(r.Fports),
		InfoFields:       renderInfoFields(r.InfoFields),
		PendingRequests:  renderPendingRequests(r.PendingRequests),
		LogMessages:      renderLogs(r.LogMessages),
	}
	// stream_records and fulfilled_requests are null when there are none.
	if len(r.StreamRecords) > 0 {
		out.StreamRecords = make([]streamRecord, len(r.StreamRecords))
		for i, s := range r.StreamRecords {
			out.StreamRecords[i] = streamRecord{s.Offset, s.Data}
		}
	}
	if len(r.FulfilledRequests) > 0 {
		out.FulfilledRequests = renderPending(r.FulfilledRequests)
	}
	if d := r.Dnlink; d != nil {
		out.Dnlink = &dnlink{d.Port, d.Payload}
	}
	return out
}

// uplinkMsg is UPLINK_MSG (DEVICEINFO's last_uplink).
type uplinkMsg struct {
	Msgtype                 string    `json:"msgtype"`
	Fcnt                    *uint32   `json:"fcnt,omitempty"`
	Port                    *uint32   `json:"port,omitempty"`
	Payload                 string    `json:"payload"`
	Dr                      *uint32   `json:"dr,omitempty"`
	Freq                    *uint32   `json:"freq,omitempty"`
	Timestamp               *float64  `json:"timestamp,omitempty"`
	DnMtu                   *uint32   `json:"dn_mtu,omitempty"`
	GnssCaptureTime         *float64  `json:"gnss_capture_time,omitempty"`
	GnssCaptureTimeAccuracy *float64  `json:"gnss_capture_time_accuracy,omitempty"`
	GnssAssistPosition      []float64 `json:"gnss_assist_position,omitempty"`
	GnssAssistAltitude      *float64  `json:"gnss_assist_altitude,omitempty"`
	GnssUse2DSolver         bool      `json:"gnss_use_2D_solver,omitempty"`
}

func renderUplinkMsg(u *mgsv1.UplinkMsg) *uplinkMsg {
	if u == nil {
		return nil
	}
	return &uplinkMsg{u.Msgtype, u.Fcnt, u.Port, u.Payload, u.Dr, u.Freq, u.Timestamp, u.DnMtu, u.GnssCaptureTime,
		u.GnssCaptureTimeAccuracy, u.GnssAssistPosition, u.GnssAssistAltitude, u.GnssUse_2DSolver}
}

// deviceInfo is DEVICEINFO, plus OpenMGS extras (deveui, positions,
// uplink_count).
type deviceInfo struct {
	Deveui                string          `json:"deveui"`
	Fports                *fports         `json:"fports"`
	InfoFields            *infoFields     `json:"info_fields"`
	PendingRequests       pendingRequests `json:"pending_requests"`
	LogMessages           []logMessage    `json:"log_messages"`
	UploadedFiles         []*file         `json:"uploaded_files"`
	UploadedStreamRecords []stream        `json:"uploaded_stream_records"`
	LastUplink            *uplinkMsg      `json:"last_uplink"`
	Positions             []*position     `json:"positions"`
	UplinkCount           uint64          `json:"uplink_count"`
}

func renderDeviceInfo(d *mgsv1.DeviceInfo) *deviceInfo {
	out := &deviceInfo{
		Deveui:                d.Deveui,
		Fports:                renderPorts(d.Fports),
		InfoFields:            renderInfoFields(d.InfoFields),
		PendingRequests:       renderPendingRequests(d.PendingRequests),
		LogMessages:           renderLogs(d.LogMessages),
		UploadedFiles:         make([]*file, len(d.UploadedFiles)),
		UploadedStreamRecords: make([]stream, len(d.UploadedStreamRecords)),
		LastUplink:            renderUplinkMsg(d.LastUplink),
		Positions:             make([]*position, len(d.Positions)),
		UplinkCount:           d.UplinkCount,
	}
	for i, f := range d.UploadedFiles {
		out.UploadedFiles[i] = renderFile(f)
	}
	for i, s := range d.UploadedStreamRecords {
		out.UploadedStreamRecords[i] = stream{s.Timestamp, s.Port, s.Data, s.Off}
	}
	for i, p := range d.Positions {
		out.Positions[i] = renderPosition(p)
	}
	return out
}

// tokenInfo is a token as token/* shows it. token is the secret right
// after token/add or a renewal, else the token's id (secrets are stored
// hashed; the token/{token} endpoints accept the id).
type tokenInfo struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Token        string   `json:"token"`
	Capabilities []string `json:"capabilities"`
	Created      float64  `json:"created"`
	Static       bool     `json:"static"`
}

func renderToken(t *mgsv1.TokenInfo) tokenInfo {
	out := tokenInfo{ID: t.Id, Name: t.Name, Token: t.Token, Capabilities: t.Capabilities, Created: t.Created, Static: t.Static}
	if out.Token == "" {
		out.Token = t.Id
	}
	if out.Capabilities == nil {
		out.Capabilities = []string{}
	}
	return out
}
