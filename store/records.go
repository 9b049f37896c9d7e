package store

import (
	"errors"
	"fmt"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
)

// Ports are a device's protocol ports. Stream 0 means "same as DM" (the
// stream is tunnelled through DM tag 0x14).
type Ports struct {
	DM, GNSS, GNSSNG, WiFi, Stream uint8
}

// DefaultPorts are LoRa Cloud's defaults.
func DefaultPorts() Ports { return Ports{DM: 199, GNSS: 198, GNSSNG: 192, WiFi: 197} }

// StreamPort returns the effective stream port.
func (p Ports) StreamPort() uint8 {
	if p.Stream == 0 {
		return p.DM
	}
	return p.Stream
}

// ErrInvalidPorts is wrapped by Ports.Validate errors.
var ErrInvalidPorts = errors.New("invalid ports")

// Validate checks that every port is in 1..223 and that they all differ
// (an explicit stream port must differ from the others too).
func (p Ports) Validate() error {
	named := []struct {
		name string
		v    uint8
	}{{"dmport", p.DM}, {"gnssport", p.GNSS}, {"gnssngport", p.GNSSNG}, {"wifiport", p.WiFi}}
	if p.Stream != 0 {
		named = append(named, struct {
			name string
			v    uint8
		}{"streamport", p.Stream})
	}
	for i, a := range named {
		if a.v < 1 || a.v > 223 {
			return fmt.Errorf("%w: %s %d is outside 1..223", ErrInvalidPorts, a.name, a.v)
		}
		for _, b := range named[:i] {
			if a.v == b.v {
				return fmt.Errorf("%w: %s and %s are both %d; ports must differ", ErrInvalidPorts, b.name, a.name, a.v)
			}
		}
	}
	return nil
}

// Info is one info field value with the time it was last reported.
type Info[T any] struct {
	Set   bool
	Time  float64 // Unix seconds
	Value T
}

// Put sets the value and time.
func (i *Info[T]) Put(t float64, v T) { *i = Info[T]{Set: true, Time: t, Value: v} }

// ALCSync is the alcsync info field: the token and device time of the last
// AppTimeReq.
type ALCSync struct {
	Token uint8
	Time  uint32
}

// InfoFields is the service's view of a modem's DM info fields.
type InfoFields struct {
	Status        Info[modemproto.Status]
	Charge        Info[uint16]
	Voltage       Info[float64]
	Temp          Info[int8]
	Signal        Info[modemproto.Signal]
	Uptime        Info[uint16]
	RxTime        Info[uint16]
	Firmware      Info[modemproto.Firmware]
	ADRMode       Info[uint8]
	JoinEUI       Info[lora.EUI64]
	Interval      Info[modemproto.Interval]
	Region        Info[uint8]
	OpMode        Info[uint32]
	CrashLog      Info[[]byte]
	RstCount      Info[uint16]
	DevEUI        Info[lora.EUI64]
	RFU           Info[uint16]
	Session       Info[uint16]
	ChipEUI       Info[lora.EUI64]
	StreamPar     Info[modemproto.StreamPar]
	AppStatus     Info[[8]byte]
	ALCSync       Info[ALCSync]
	AlmanacStatus Info[modemproto.AlmanacStatus]
}

// Level is a log message level.
type Level uint8

// Log levels, as LoRa Cloud names them.
const (
	LevelInfo Level = iota
	LevelWarning
	LevelError
)

func (l Level) String() string {
	switch l {
	case LevelWarning:
		return "WARNING"
	case LevelError:
		return "ERROR"
	}
	return "INFO"
}

// LogMessage is LOG_MESSAGE.
type LogMessage struct {
	Msg   string
	Level Level
	Time  float64
}

// Request types.
const (
	RequestReset     = "RESET"
	RequestRejoin    = "REJOIN"
	RequestMute      = "MUTE"
	RequestGetInfo   = "GETINFO"
	RequestSetConf   = "SETCONF"
	RequestFileDone  = "FILEDONE"
	RequestFUOTA     = "FUOTA"
	RequestSetDMInfo = "SETDMINFO"
	RequestStream    = "STREAM"
	RequestALCSync   = "ALCSYNC"
)

// Request is a typed modem request. Which fields matter depends on Type.
type Request struct {
	Type    string
	Code    uint8            // RESET: 1 modem, 2 application, 3 both
	Days    uint8            // MUTE: 0 unmute, 1..254 days, 255 permanent
	Tags    []modemproto.Tag // GETINFO, SETDMINFO
	SetConf map[modemproto.Tag]uint64
	SID     uint8  // FILEDONE
	Sctr    uint8  // FILEDONE
	Data    []byte // FUOTA chunk, STREAM SCMD, ALCSYNC commands
	HasCode bool
	HasDays bool
}

// PendingRequest is a queued request and its progress.
type PendingRequest struct {
	ID      uint32
	Time    float64 // creation, Unix seconds
	Request Request
	// Sent counts the downlinks that carried this request.
	Sent     uint32
	LastSent float64
	// Received is the set of GETINFO tags reported since the request was made.
	Received modemproto.TagSet
	// Ref is the counter the request was sent against: RESET rstcount,
	// REJOIN session.
	Ref    uint16
	HasRef bool
	// Phase is request-type specific progress.
	Phase uint8
	// Confirmed is the set of SETCONF fields the device has reported with
	// the requested value.
	Confirmed modemproto.TagSet
}

// File is a completed file upload; Data is nil when it failed.
type File struct {
	Sctr      uint8
	Time      float64
	Port      uint8
	Data      []byte
	Hash      []byte
	Encrypted bool
	Message   string
	OK        bool
}

// StreamRecord is a reassembled stream record.
type StreamRecord struct {
	Time   float64
	Port   uint8
	Offset uint32
	Data   []byte
}

// Position is a position solution.
type Position struct {
	Algorithm       string // gnss, gnssng, wifi
	ECEF            [3]float64
	LLH             [3]float64
	CaptureTimeGPS  float64
	CaptureTimesGPS []float64 // NaN = null
	GDOP            float64
	Accuracy        float64
	Time            float64
}

// MsgType is UPLINK_MSG's msgtype.
type MsgType uint8

// Message types.
const (
	MsgUpdf MsgType = iota
	MsgModem
	MsgJoining
	MsgGNSS
	MsgGNSSNG
	MsgWiFi
)

var msgTypeNames = [...]string{"updf", "modem", "joining", "gnss", "gnssng", "wifi"}

func (m MsgType) String() string {
	if int(m) < len(msgTypeNames) {
		return msgTypeNames[m]
	}
	return fmt.Sprintf("msgtype(%d)", m)
}

// ParseMsgType parses a msgtype; "" is updf.
func ParseMsgType(s string) (MsgType, bool) {
	if s == "" {
		return MsgUpdf, true
	}
	for i, n := range msgTypeNames {
		if n == s {
			return MsgType(i), true
		}
	}
	return 0, false
}

// Uplink is UPLINK_MSG, validated.
type Uplink struct {
	Type      MsgType
	FCnt      uint32
	HasFCnt   bool
	Port      uint8
	HasPort   bool
	Payload   []byte
	DR        uint8
	HasDR     bool
	Freq      uint32
	HasFreq   bool
	Timestamp float64 // Unix seconds; filled with the server time when absent
	DnMTU     uint32  // 0 = unknown
	GNSS      GNSSParams
	// DedupKey is a transport-given identity of this uplink (Everynet:
	// type/packet_hash); a later uplink with the same key is a replay and is
	// not processed again. Empty: none (only a repeat of the last uplink is
	// recognised). Internal: never served.
	DedupKey string
}

// GNSSParams are the gnss_* fields of an uplink.
type GNSSParams struct {
	CaptureTime         float64
	HasCaptureTime      bool
	CaptureTimeAccuracy float64 // 0 = default
	AssistLat           float64
	AssistLon           float64
	HasAssistPosition   bool
	AssistAltitude      float64
	HasAssistAltitude   bool
	Use2D               bool
}

// Dnlink is LORA_DNLINK.
type Dnlink struct {
	Port    uint8
	Payload []byte
}

// Device is the whole state of one device.
type Device struct {
	EUI lora.EUI64
	// Rev is the store revision the device was read at (0: new device). It
	// is not part of the stored value.
	Rev uint64

	Ports         *Ports // nil: the service default
	Info          InfoFields
	Requests      []PendingRequest
	NextRequestID uint32
	Upcount       uint8
	Updelay       uint8
	Logs          []LogMessage
	Files         []File
	StreamRecords []StreamRecord
	Positions     []Position
	LastUplink    *Uplink
	LastDnlink    *Dnlink
	UplinkCount   uint64
	Created       float64
	// AppSKey decrypts encrypted uploads; nil when not configured.
	AppSKey []byte
	// Sessions holds opaque per-protocol state (file upload, stream, ...)
	// keyed by the owning protocol's name.
	Sessions map[string][]byte
	// RecentUplinkKeys are the UplinkKeyHash of the DedupKey of the most
	// recent keyed uplinks, oldest first; the pipeline bounds them.
	RecentUplinkKeys []uint64
}

// UplinkKeyHash is the stored form of an uplink's DedupKey: its FNV-1a 64
// hash. It must stay stable across releases (stored hashes are compared
// with new ones), and it allocates nothing.
func UplinkKeyHash(key string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime
	}
	return h
}
