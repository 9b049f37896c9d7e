package uplink

import (
	"errors"
	"fmt"
	"math"

	"github.com/openmgs/openmgs/store"
)

// Message is a device uplink (UPLINK_MSG).
type Message = store.Uplink

// FieldError is an invalid API argument: the field and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ErrInvalid is matched by every *FieldError (errors.Is).
var ErrInvalid = errors.New("invalid argument")

// Is makes errors.Is(err, ErrInvalid) true for field errors.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MaxPayload bounds an uplink payload (LoRaWAN allows 242 bytes; NB-IoT
// object 19 carries up to 512, and non-LoRaWAN GNSS/Wi-Fi messages more).
const MaxPayload = 2048

// MaxDedupKey bounds Message.DedupKey, which is stored with the last uplink.
const MaxDedupKey = 256

// Validate checks an uplink as the API receives it.
func Validate(m *Message) error {
	switch m.Type {
	case store.MsgUpdf, store.MsgModem:
		if !m.HasFCnt {
			return invalid("fcnt", "required for msgtype %s", m.Type)
		}
		if m.HasPort && (m.Port == 0 || m.Port > 223) {
			return invalid("port", "%d is outside 1..223", m.Port)
		}
	case store.MsgGNSS, store.MsgGNSSNG, store.MsgWiFi:
		if len(m.Payload) == 0 {
			return invalid("payload", "required for msgtype %s", m.Type)
		}
	case store.MsgJoining:
	default:
		return invalid("msgtype", "unknown message type %d", m.Type)
	}
	if m.Type == store.MsgModem && m.HasPort {
		return invalid("port", "not allowed for msgtype modem (the DM port is implied)")
	}
	if len(m.Payload) > MaxPayload {
		return invalid("payload", "%d bytes is more than %d", len(m.Payload), MaxPayload)
	}
	if len(m.DedupKey) > MaxDedupKey {
		return invalid("dedup_key", "%d bytes is more than %d", len(m.DedupKey), MaxDedupKey)
	}
	if m.HasDR && m.DR > 15 {
		return invalid("dr", "%d is outside 0..15", m.DR)
	}
	if m.Timestamp < 0 || math.IsNaN(m.Timestamp) || math.IsInf(m.Timestamp, 0) {
		return invalid("timestamp", "must be a finite, non-negative number of Unix seconds")
	}
	g := &m.GNSS
	if g.HasAssistPosition {
		if !(g.AssistLat >= -90 && g.AssistLat <= 90) || !(g.AssistLon >= -180 && g.AssistLon <= 180) {
			return invalid("gnss_assist_position", "[%v, %v] is not a latitude/longitude in degrees", g.AssistLat, g.AssistLon)
		}
	}
	if g.CaptureTimeAccuracy < 0 || math.IsNaN(g.CaptureTimeAccuracy) {
		return invalid("gnss_capture_time_accuracy", "must be a non-negative number of seconds")
	}
	if g.HasCaptureTime && (g.CaptureTime < 0 || math.IsNaN(g.CaptureTime) || math.IsInf(g.CaptureTime, 0)) {
		return invalid("gnss_capture_time", "must be finite, non-negative GPS seconds")
	}
	if g.HasAssistAltitude && (math.IsNaN(g.AssistAltitude) || math.IsInf(g.AssistAltitude, 0)) {
		return invalid("gnss_assist_altitude", "must be finite")
	}
	if g.Use2D && !g.HasAssistAltitude {
		return invalid("gnss_assist_altitude", "required when gnss_use_2D_solver is true")
	}
	return nil
}
