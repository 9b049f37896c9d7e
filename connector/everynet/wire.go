package everynet

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// Message types (everynet.md §3).
const (
	typeUplink           = "uplink"
	typeDownlinkRequest  = "downlink_request"
	typeDownlinkResponse = "downlink_response"
	typeDownlink         = "downlink"
	typeJoinRequest      = "join_request"
	typeJoinResponse     = "join_response"
	typeStatusRequest    = "status_request"
	typeStatusResponse   = "status_response"
	typeStatus           = "status" // status_response as the doc example spells it
	typeDownlinkClaim    = "downlink_claim"
	typeLocation         = "location"
	typeError            = "error"
	typeWarning          = "warning"
	typeInfo             = "info"
)

// FieldError is a message that cannot be used: the JSON field and why.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return "everynet: " + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Sentinels wrapped by FieldError.
var (
	ErrMissing = errors.New("missing")
	ErrType    = errors.New("wrong JSON type")
	ErrRange   = errors.New("out of range")
	ErrBase64  = errors.New("invalid base64")
)

func fieldErr(field string, err error, detail string) error {
	if detail != "" {
		err = fmt.Errorf("%w: %s", err, detail)
	}
	return &FieldError{Field: field, Err: err}
}

// message is one Data API message with its meta parsed. Meta is kept
// verbatim: a downlink_response copies it.
type message struct {
	Type       string
	Meta       json.RawMessage
	Params     json.RawMessage
	Device     lora.EUI64
	HasDevice  bool
	Network    string
	PacketHash string
	Time       float64 // meta.time, Unix seconds (0: absent)
	History    bool
}

// parseMessage decodes the envelope and the meta fields the connector
// uses. On error the returned message holds what was parsed (the packet
// hash, for the log).
func parseMessage(data []byte) (*message, error) {
	m := &message{}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return m, fieldErr("json", ErrType, err.Error())
	}
	var meta map[string]json.RawMessage
	if raw, ok := top["meta"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return m, fieldErr("meta", ErrType, "not an object")
		}
		m.Meta = raw
	}
	// The hash first, so that later errors can be logged with it.
	if err := optString(meta, "packet_hash", &m.PacketHash); err != nil {
		return m, prefix("meta.", err)
	}
	raw, ok := top["type"]
	if !ok {
		return m, fieldErr("type", ErrMissing, "")
	}
	if err := json.Unmarshal(raw, &m.Type); err != nil || m.Type == "" {
		return m, fieldErr("type", ErrType, "not a non-empty string")
	}
	if m.Meta == nil {
		return m, fieldErr("meta", ErrMissing, "")
	}
	if p, ok := top["params"]; ok && !isNull(p) {
		if len(p) == 0 || p[0] != '{' {
			return m, fieldErr("params", ErrType, "not an object")
		}
		m.Params = p
	}
	var dev string
	if err := optString(meta, "device", &dev); err != nil {
		return m, prefix("meta.", err)
	}
	if dev != "" {
		e, err := lora.ParseEUI64(dev)
		if err != nil {
			return m, fieldErr("meta.device", ErrType, err.Error())
		}
		m.Device, m.HasDevice = e, true
	}
	if err := optString(meta, "network", &m.Network); err != nil {
		return m, prefix("meta.", err)
	}
	if raw, ok := meta["time"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &m.Time); err != nil || !finite(m.Time) || m.Time < 0 {
			return m, fieldErr("meta.time", ErrType, "not a Unix time")
		}
	}
	if raw, ok := meta["history"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &m.History); err != nil {
			return m, fieldErr("meta.history", ErrType, "not a boolean")
		}
	}
	return m, nil
}

func prefix(p string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: p + fe.Field, Err: fe.Err}
	}
	return err
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func optString(obj map[string]json.RawMessage, key string, dst *string) error {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fieldErr(key, ErrType, "not a string")
	}
	return nil
}

// decodeParams unmarshals params into dst, naming the offending field.
func decodeParams(m *message, dst any) error {
	if m.Params == nil {
		return fieldErr("params", ErrMissing, "")
	}
	if err := json.Unmarshal(m.Params, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fieldErr("params."+te.Field, ErrType, "is a JSON "+te.Value)
		}
		return fieldErr("params", ErrType, err.Error())
	}
	return nil
}

// decodeBase64 accepts the padded standard alphabet the network sends.
func decodeBase64(field, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fieldErr(field, ErrBase64, err.Error())
	}
	return b, nil
}

// uplinkParams is an uplink's params (everynet.md §3).
type uplinkParams struct {
	RxTime           *float64        `json:"rx_time"`
	CounterUp        *int64          `json:"counter_up"`
	Port             *int64          `json:"port"`
	Payload          *string         `json:"payload"`
	EncryptedPayload *string         `json:"encrypted_payload"`
	Duplicate        bool            `json:"duplicate"`
	Radio            json.RawMessage `json:"radio"`
}

// radioParams is the part of params.radio the mapping uses.
type radioParams struct {
	Freq       *float64        `json:"freq"` // MHz
	Time       *float64        `json:"time"`
	Datr       json.RawMessage `json:"datr"` // "SF12BW125", or an FSK bit rate
	Modulation *struct {
		Type      json.RawMessage `json:"type"` // "LORA"/"FSK", or 0/1 in some examples
		Bandwidth *float64        `json:"bandwidth"`
		Spreading *int            `json:"spreading"`
	} `json:"modulation"`
}

// Outcomes of mapUplink that are not errors in the message.
var (
	errDuplicateCopy = errors.New("gateway duplicate")
	errEncrypted     = errors.New("only encrypted_payload: the network does not hold this device's AppSKey, so OpenMGS cannot read the payload; provision the AppSKey to the network (encryption NS)")
)

// mapUplink turns an uplink message into the pipeline's UPLINK_MSG (updf).
// notes lists what was left out (radio fields it could not use).
func mapUplink(m *message, plan string) (u store.Uplink, notes []string, err error) {
	var p uplinkParams
	if err := decodeParams(m, &p); err != nil {
		return u, nil, err
	}
	if p.Duplicate {
		return u, nil, errDuplicateCopy
	}
	if p.CounterUp == nil {
		return u, nil, fieldErr("params.counter_up", ErrMissing, "")
	}
	if *p.CounterUp < 0 || *p.CounterUp > math.MaxUint32 {
		return u, nil, fieldErr("params.counter_up", ErrRange, strconv.FormatInt(*p.CounterUp, 10))
	}
	u = store.Uplink{Type: store.MsgUpdf, FCnt: uint32(*p.CounterUp), HasFCnt: true}
	port := int64(0)
	if p.Port != nil {
		port = *p.Port
	}
	if port < 0 || port > 255 {
		return u, nil, fieldErr("params.port", ErrRange, strconv.FormatInt(port, 10))
	}
	switch {
	case port == 0:
		// FPort 0 (or none) carries only MAC commands: the uplink is a
		// downlink opportunity without application data.
	case port > 223:
		notes = append(notes, fmt.Sprintf("port %d is reserved: forwarded as a downlink opportunity without payload", port))
	default:
		u.Port, u.HasPort = uint8(port), true
		switch {
		case p.Payload != nil:
			b, err := decodeBase64("params.payload", *p.Payload)
			if err != nil {
				return u, nil, err
			}
			if len(b) > uplink.MaxPayload {
				return u, nil, fieldErr("params.payload", ErrRange, fmt.Sprintf("%d bytes, more than %d", len(b), uplink.MaxPayload))
			}
			u.Payload = b
		case p.EncryptedPayload != nil && *p.EncryptedPayload != "":
			return u, nil, errEncrypted
		}
	}
	if p.RxTime != nil && finite(*p.RxTime) && *p.RxTime > 0 {
		u.Timestamp = *p.RxTime
	}
	notes = append(notes, applyRadio(&u, p.Radio, plan)...)
	if u.Timestamp == 0 && m.Time > 0 {
		u.Timestamp = m.Time
	}
	return u, notes, nil
}

// applyRadio fills freq and dr from params.radio; fields it cannot use are
// reported as notes, never as errors.
func applyRadio(u *store.Uplink, raw json.RawMessage, plan string) (notes []string) {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	var r radioParams
	if err := json.Unmarshal(raw, &r); err != nil {
		return []string{"params.radio ignored: " + err.Error()}
	}
	if r.Freq != nil {
		hz := math.Round(*r.Freq * 1e6)
		if finite(hz) && hz > 0 && hz <= math.MaxUint32 {
			u.Freq, u.HasFreq = uint32(hz), true
		} else {
			notes = append(notes, fmt.Sprintf("params.radio.freq %v MHz ignored", *r.Freq))
		}
	}
	if u.Timestamp == 0 && r.Time != nil && finite(*r.Time) && *r.Time > 0 {
		u.Timestamp = *r.Time
	}
	mod, sf, bwHz, ok := modulationOf(&r)
	if !ok {
		return notes
	}
	if dr, ok := dataRate(plan, mod, sf, bwHz); ok {
		u.DR, u.HasDR = dr, true
	} else if plan != PlanNone {
		notes = append(notes, fmt.Sprintf("no %s data rate for %s SF%d BW%d: dr left out", plan, mod, sf, bwHz/1000))
	}
	return notes
}

// modulationOf reads the modulation from datr, or from modulation.type,
// spreading and bandwidth.
func modulationOf(r *radioParams) (mod string, sf, bwHz int, ok bool) {
	if len(r.Datr) > 0 && !isNull(r.Datr) {
		var s string
		if json.Unmarshal(r.Datr, &s) == nil {
			if sf, bw, ok := parseDatr(s); ok {
				return "LORA", sf, bw, true
			}
		} else if n, err := strconv.ParseFloat(string(r.Datr), 64); err == nil && n > 0 {
			return "FSK", 0, 0, true // datr is the FSK bit rate
		}
	}
	md := r.Modulation
	if md == nil {
		return "", 0, 0, false
	}
	switch t := strings.Trim(strings.ToUpper(string(bytes.TrimSpace(md.Type))), `"`); t {
	case "FSK", "1":
		return "FSK", 0, 0, true
	case "LORA", "0", "", "NULL":
		// Some examples send type 0 for LoRa; an absent type with a
		// spreading factor is LoRa too.
	default:
		return "", 0, 0, false
	}
	if md.Spreading == nil || md.Bandwidth == nil {
		return "", 0, 0, false
	}
	bw := *md.Bandwidth
	if bw > 0 && bw < 1000 { // kHz
		bw *= 1000
	}
	return "LORA", *md.Spreading, int(math.Round(bw)), true
}

// parseDatr parses a LoRa data-rate identifier such as "SF7BW125".
func parseDatr(s string) (sf, bwHz int, ok bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	rest, found := strings.CutPrefix(s, "SF")
	if !found {
		return 0, 0, false
	}
	sfs, bws, found := strings.Cut(rest, "BW")
	if !found {
		return 0, 0, false
	}
	sf, err1 := strconv.Atoi(sfs)
	bw, err2 := strconv.ParseFloat(bws, 64)
	if err1 != nil || err2 != nil || bw <= 0 {
		return 0, 0, false
	}
	return sf, int(math.Round(bw * 1000)), true
}

// dataRate maps a modulation to the plan's uplink DR index.
func dataRate(plan, mod string, sf, bwHz int) (uint8, bool) {
	if mod == "FSK" {
		return 7, plan == PlanEU868
	}
	switch plan {
	case PlanEU868:
		switch {
		case bwHz == 125000 && sf >= 7 && sf <= 12:
			return uint8(12 - sf), true
		case bwHz == 250000 && sf == 7:
			return 6, true
		}
	case PlanAU915:
		switch {
		case bwHz == 125000 && sf >= 7 && sf <= 12:
			return uint8(12 - sf), true
		case bwHz == 500000 && sf == 8:
			return 6, true
		}
	case PlanUS915:
		switch {
		case bwHz == 125000 && sf >= 7 && sf <= 10:
			return uint8(10 - sf), true
		case bwHz == 500000 && sf == 8:
			return 4, true
		}
	}
	return 0, false
}

// joiningUplink is the pipeline message for a join event.
func joiningUplink(m *message, plan string) (store.Uplink, []string) {
	u := store.Uplink{Type: store.MsgJoining, Timestamp: m.Time}
	var p struct {
		Radio json.RawMessage `json:"radio"`
	}
	var notes []string
	if m.Params != nil && json.Unmarshal(m.Params, &p) == nil {
		notes = applyRadio(&u, p.Radio, plan)
	}
	return u, notes
}

// downlinkRequestParams (everynet.md §4).
type downlinkRequestParams struct {
	CounterDown *int64   `json:"counter_down"`
	MaxSize     *int64   `json:"max_size"`
	TxTime      *float64 `json:"tx_time"`
}

func parseDownlinkRequest(m *message) (downlinkRequestParams, error) {
	var p downlinkRequestParams
	if err := decodeParams(m, &p); err != nil {
		return p, err
	}
	if p.CounterDown != nil && (*p.CounterDown < 0 || *p.CounterDown > math.MaxUint32) {
		return p, fieldErr("params.counter_down", ErrRange, strconv.FormatInt(*p.CounterDown, 10))
	}
	if p.MaxSize != nil && (*p.MaxSize < 0 || *p.MaxSize > 255) {
		return p, fieldErr("params.max_size", ErrRange, strconv.FormatInt(*p.MaxSize, 10))
	}
	if p.TxTime != nil && !finite(*p.TxTime) {
		return p, fieldErr("params.tx_time", ErrRange, "not finite")
	}
	return p, nil
}

// downlinkResponseParams is what the connector sends (everynet.md §4).
type downlinkResponseParams struct {
	Port        uint8   `json:"port"`
	Payload     string  `json:"payload"`
	CounterDown *uint32 `json:"counter_down,omitempty"`
	Pending     bool    `json:"pending,omitempty"`
	QueueIfLate bool    `json:"queue_if_late,omitempty"`
}

type outMessage struct {
	Type   string          `json:"type"`
	Meta   json.RawMessage `json:"meta"`
	Params any             `json:"params,omitempty"`
}

// downlinkResponse builds the answer to request m: its meta verbatim,
// port, base64 payload and the echoed counter_down.
func downlinkResponse(m *message, req downlinkRequestParams, dn *store.Dnlink, pending, queueIfLate bool) ([]byte, error) {
	p := downlinkResponseParams{Port: dn.Port, Payload: base64.StdEncoding.EncodeToString(dn.Payload),
		Pending: pending, QueueIfLate: queueIfLate}
	if req.CounterDown != nil {
		c := uint32(*req.CounterDown)
		p.CounterDown = &c
	}
	return json.Marshal(outMessage{Type: typeDownlinkResponse, Meta: m.Meta, Params: p})
}

// downlinkClaim builds a downlink_claim for a device (everynet.md §5).
func downlinkClaim(eui lora.EUI64, network string) ([]byte, error) {
	meta := struct {
		Device  string `json:"device"`
		Network string `json:"network,omitempty"`
	}{eui.Hex(), network}
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	return json.Marshal(outMessage{Type: typeDownlinkClaim, Meta: mb})
}

// downlinkParams is a downlink notification's params (everynet.md §3.1).
type downlinkParams struct {
	CounterDown      *int64  `json:"counter_down"`
	Port             *int64  `json:"port"`
	Payload          *string `json:"payload"`
	EncryptedPayload *string `json:"encrypted_payload"`
	Duplicate        bool    `json:"duplicate"`
}

// notification is a parsed downlink notification.
type notification struct {
	Port        int64
	Payload     []byte
	HasPayload  bool
	CounterDown int64
	Duplicate   bool
}

func parseDownlink(m *message) (notification, error) {
	var p downlinkParams
	if err := decodeParams(m, &p); err != nil {
		return notification{}, err
	}
	n := notification{Port: -1, CounterDown: -1, Duplicate: p.Duplicate}
	if p.Port != nil {
		if *p.Port < 0 || *p.Port > 255 {
			return n, fieldErr("params.port", ErrRange, strconv.FormatInt(*p.Port, 10))
		}
		n.Port = *p.Port
	}
	if p.CounterDown != nil {
		n.CounterDown = *p.CounterDown
	}
	if p.Payload != nil {
		b, err := decodeBase64("params.payload", *p.Payload)
		if err != nil {
			return n, err
		}
		n.Payload, n.HasPayload = b, true
	}
	return n, nil
}

// logParams is an error/warning/info message's params.
type logParams struct {
	Message string          `json:"message"`
	Code    json.RawMessage `json:"code"`
}

// statusParams is a status_response's params.
type statusParams struct {
	Battery *float64 `json:"battery"`
	SNR     *float64 `json:"snr"`
	RxTime  *float64 `json:"rx_time"`
}

// locationParams is a location message's params.
type locationParams struct {
	Solutions []struct {
		Lat       float64 `json:"lat"`
		Lng       float64 `json:"lng"`
		Precision float64 `json:"precision"`
		Quality   float64 `json:"quality"`
		Method    string  `json:"method"`
	} `json:"solutions"`
}
