package modemproto

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
)

// Status is the status bitfield (tag 0x00, SMTC_MODEM_STATUS_*). The JSON
// names of Joining (bit 6) and Stream (bit 7) are not published.
type Status struct {
	Brownout bool // bit 0
	Crash    bool // bit 1: crash log pending
	Mute     bool // bit 2
	Joined   bool // bit 3
	Suspend  bool // bit 4
	Upload   bool // bit 5: file upload running
	Joining  bool // bit 6
	Stream   bool // bit 7: streaming running
}

// Byte returns the wire byte.
func (s Status) Byte() uint8 {
	var b uint8
	for i, f := range [8]bool{s.Brownout, s.Crash, s.Mute, s.Joined, s.Suspend, s.Upload, s.Joining, s.Stream} {
		if f {
			b |= 1 << i
		}
	}
	return b
}

// StatusFromByte decodes the wire byte.
func StatusFromByte(b uint8) Status {
	bit := func(i uint) bool { return b&(1<<i) != 0 }
	return Status{bit(0), bit(1), bit(2), bit(3), bit(4), bit(5), bit(6), bit(7)}
}

// Signal is the strength of the last downlink (tag 0x04).
type Signal struct {
	RSSI int     // dBm; the wire byte is RSSI+64 clamped to int8, so −192..63
	SNR  float64 // dB in 0.25 dB steps, −32..31.75
}

func (s Signal) wire() (b0, b1 uint8, err error) {
	r := min(max(s.RSSI+64, math.MinInt8), math.MaxInt8) // the device clamps the same way
	if math.IsNaN(s.SNR) {
		return 0, 0, fmt.Errorf("%w: signal SNR is NaN", ErrRange)
	}
	q := min(max(math.Round(s.SNR*4), math.MinInt8), math.MaxInt8)
	return uint8(int8(r)), uint8(int8(q)), nil
}

// Firmware is tag 0x07. LBM4 sends all zeros; Modem-E sends the firmware
// CRC32, the FUOTA session counter (JSON fwtotal) and the number of
// fragments received (JSON fwcompleted).
type Firmware struct {
	CRC       uint32
	Total     uint16
	Completed uint16
}

// StreamPar is tag 0x15: the stream FPort and whether records are encrypted.
type StreamPar struct {
	Port      uint8
	Encrypted bool
}

// AlmanacStatus is tag 0x18, the LR11xx GNSS context status without its
// destination byte: fw_version(1) almanac_CRC(u32 LE) f1(1) f2(1).
type AlmanacStatus struct {
	FirmwareVersion uint8
	CRC             uint32
	Error           uint8 // f1 bits 7..4: 0 ok, 1 almanac too old, 2 update CRC mismatch, 3 flash integrity, 4 update not allowed
	BeiDouUpdate    bool  // f1 bit 2
	GPSUpdate       bool  // f1 bit 1
	FreqSearchSpace uint8 // 2 bits: f1 bit 0 (MSB), f2 bit 7 (LSB)
	// Reserved keeps the undocumented bits so re-encoding is lossless:
	// bit 7 = f1 bit 3, bits 6..0 = f2 bits 6..0.
	Reserved uint8
}

func decodeAlmanacStatus(v []byte) AlmanacStatus {
	f1, f2 := v[5], v[6]
	return AlmanacStatus{
		FirmwareVersion: v[0],
		CRC:             binary.LittleEndian.Uint32(v[1:5]),
		Error:           f1 >> 4,
		BeiDouUpdate:    f1&0x04 != 0,
		GPSUpdate:       f1&0x02 != 0,
		FreqSearchSpace: (f1&0x01)<<1 | f2>>7,
		Reserved:        (f1&0x08)<<4 | f2&0x7F,
	}
}

func (a AlmanacStatus) appendWire(dst []byte) ([]byte, error) {
	if a.Error > 0x0F || a.FreqSearchSpace > 3 {
		return dst, fmt.Errorf("%w: almstatus error code %d (max 15) / frequency search space %d (max 3)",
			ErrRange, a.Error, a.FreqSearchSpace)
	}
	f1 := a.Error<<4 | (a.Reserved>>4)&0x08 | a.FreqSearchSpace>>1
	if a.BeiDouUpdate {
		f1 |= 0x04
	}
	if a.GPSUpdate {
		f1 |= 0x02
	}
	f2 := (a.FreqSearchSpace&1)<<7 | a.Reserved&0x7F
	dst = append(dst, a.FirmwareVersion)
	dst = binary.LittleEndian.AppendUint32(dst, a.CRC)
	return append(dst, f1, f2), nil
}

// IntervalUnit is the unit in bits 7..6 of an Interval.
type IntervalUnit uint8

// Interval units (LBM dm_interval_unit_t). Seed 003 writes them in binary
// (00 seconds, 01 days, 10 hours, 11 minutes); the LBM table is authoritative.
const (
	IntervalSeconds IntervalUnit = 0
	IntervalDays    IntervalUnit = 1
	IntervalHours   IntervalUnit = 2
	IntervalMinutes IntervalUnit = 3
)

var unitSeconds = [4]time.Duration{time.Second, 24 * time.Hour, time.Hour, time.Minute}
var unitSuffix = [4]string{"s", "d", "h", "m"}

// Interval is the DM report interval byte (tag 0x0A, REPINTV): bits 7..6
// unit, bits 5..0 value 0..63; a value of 0 disables periodic reports. The
// LBM default is 0x81 (1 hour).
type Interval uint8

// NewInterval builds an interval; value must be ≤ 63.
func NewInterval(unit IntervalUnit, value uint8) (Interval, error) {
	if unit > 3 || value > 63 {
		return 0, fmt.Errorf("%w: interval unit %d (max 3) / value %d (max 63)", ErrRange, unit, value)
	}
	return Interval(uint8(unit)<<6 | value), nil
}

// IntervalFromDuration returns the interval that represents d exactly,
// using the smallest unit that fits; ok is false if none does. d = 0 gives
// 0 (disabled).
func IntervalFromDuration(d time.Duration) (iv Interval, ok bool) {
	if d == 0 {
		return 0, true
	}
	for _, u := range [...]IntervalUnit{IntervalSeconds, IntervalMinutes, IntervalHours, IntervalDays} {
		step := unitSeconds[u]
		if d > 0 && d%step == 0 && d/step <= 63 {
			return Interval(uint8(u)<<6 | uint8(d/step)), true
		}
	}
	return 0, false
}

// Unit returns bits 7..6.
func (iv Interval) Unit() IntervalUnit { return IntervalUnit(iv >> 6) }

// Value returns bits 5..0.
func (iv Interval) Value() uint8 { return uint8(iv) & 0x3F }

// Duration returns the report period; 0 means periodic reports are disabled.
func (iv Interval) Duration() time.Duration {
	return time.Duration(iv.Value()) * unitSeconds[iv.Unit()]
}

// String returns e.g. "1h", "2m", "30s", "3d" or "disabled".
func (iv Interval) String() string {
	if iv.Value() == 0 {
		return "disabled"
	}
	return strconv.Itoa(int(iv.Value())) + unitSuffix[iv.Unit()]
}

// Fields holds the fixed-size info fields of one frame; only tags in
// Uplink.Present are meaningful.
type Fields struct {
	Status        Status
	Charge        uint16  // mAh
	Voltage       float64 // volts; 1/50 V on the wire (0xA5 = 3.30 V)
	Temp          int8    // °C
	Signal        Signal
	Uptime        uint16 // hours since reset
	RxTime        uint16 // hours since the last downlink
	Firmware      Firmware
	ADRMode       uint8 // 0 network-controlled, 1 mobile long range, 2 mobile low power, 3 custom
	JoinEUI       lora.EUI64
	Interval      Interval
	Region        uint8 // smtc_real_region_types_t: 1 EU868, 2 AS923-1, 3 US915, …
	OpMode        uint32
	RstCount      uint16
	DevEUI        lora.EUI64
	RFU           uint16 // tag 0x11 ("old owner number")
	Session       uint16 // DevNonce of the last join
	ChipEUI       lora.EUI64
	StreamPar     StreamPar
	AppStatus     [8]byte
	AlmanacStatus AlmanacStatus
}

// decode sets the field of fixed-size tag t from v (len(v) == size of t).
func (f *Fields) decode(t Tag, v []byte) {
	le16 := binary.LittleEndian.Uint16
	switch t {
	case TagStatus:
		f.Status = StatusFromByte(v[0])
	case TagCharge:
		f.Charge = le16(v)
	case TagVoltage:
		f.Voltage = float64(v[0]) / 50
	case TagTemp:
		f.Temp = int8(v[0])
	case TagSignal:
		f.Signal = Signal{RSSI: int(int8(v[0])) - 64, SNR: float64(int8(v[1])) / 4}
	case TagUptime:
		f.Uptime = le16(v)
	case TagRxTime:
		f.RxTime = le16(v)
	case TagFirmware:
		f.Firmware = Firmware{CRC: binary.LittleEndian.Uint32(v), Total: le16(v[4:]), Completed: le16(v[6:])}
	case TagADRMode:
		f.ADRMode = v[0]
	case TagJoinEUI:
		f.JoinEUI = lora.EUI64FromWire(v)
	case TagInterval:
		f.Interval = Interval(v[0])
	case TagRegion:
		f.Region = v[0]
	case TagOpMode:
		f.OpMode = binary.LittleEndian.Uint32(v)
	case TagRstCount:
		f.RstCount = le16(v)
	case TagDevEUI:
		f.DevEUI = lora.EUI64FromWire(v)
	case TagRFU:
		f.RFU = le16(v)
	case TagSession:
		f.Session = le16(v)
	case TagChipEUI:
		f.ChipEUI = lora.EUI64FromWire(v)
	case TagStreamPar:
		// Any non-zero byte counts as encrypted; re-encoding writes 1.
		f.StreamPar = StreamPar{Port: v[0], Encrypted: v[1] != 0}
	case TagAppStatus:
		copy(f.AppStatus[:], v)
	case TagAlmanacStatus:
		f.AlmanacStatus = decodeAlmanacStatus(v)
	}
}

// appendValue appends the value of fixed-size tag t.
func (f *Fields) appendValue(dst []byte, t Tag) ([]byte, error) {
	le16 := binary.LittleEndian.AppendUint16
	switch t {
	case TagStatus:
		return append(dst, f.Status.Byte()), nil
	case TagCharge:
		return le16(dst, f.Charge), nil
	case TagVoltage:
		v := math.Round(f.Voltage * 50)
		if !(v >= 0 && v <= 255) { // also rejects NaN
			return dst, fmt.Errorf("%w: voltage %g V outside 0..5.10 V", ErrRange, f.Voltage)
		}
		return append(dst, uint8(v)), nil
	case TagTemp:
		return append(dst, uint8(f.Temp)), nil
	case TagSignal:
		b0, b1, err := f.Signal.wire()
		if err != nil {
			return dst, err
		}
		return append(dst, b0, b1), nil
	case TagUptime:
		return le16(dst, f.Uptime), nil
	case TagRxTime:
		return le16(dst, f.RxTime), nil
	case TagFirmware:
		dst = binary.LittleEndian.AppendUint32(dst, f.Firmware.CRC)
		return le16(le16(dst, f.Firmware.Total), f.Firmware.Completed), nil
	case TagADRMode:
		return append(dst, f.ADRMode), nil
	case TagJoinEUI:
		r := f.JoinEUI.Reversed()
		return append(dst, r[:]...), nil
	case TagInterval:
		return append(dst, uint8(f.Interval)), nil
	case TagRegion:
		return append(dst, f.Region), nil
	case TagOpMode:
		return binary.LittleEndian.AppendUint32(dst, f.OpMode), nil
	case TagRstCount:
		return le16(dst, f.RstCount), nil
	case TagDevEUI:
		r := f.DevEUI.Reversed()
		return append(dst, r[:]...), nil
	case TagRFU:
		return le16(dst, f.RFU), nil
	case TagSession:
		return le16(dst, f.Session), nil
	case TagChipEUI:
		r := f.ChipEUI.Reversed()
		return append(dst, r[:]...), nil
	case TagStreamPar:
		enc := uint8(0)
		if f.StreamPar.Encrypted {
			enc = 1
		}
		return append(dst, f.StreamPar.Port, enc), nil
	case TagAppStatus:
		return append(dst, f.AppStatus[:]...), nil
	case TagAlmanacStatus:
		return f.AlmanacStatus.appendWire(dst)
	}
	return dst, fmt.Errorf("%w: %v is not a fixed-size field", ErrUnknownTag, t)
}
