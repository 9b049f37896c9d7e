package modemproto

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
)

// ALCSync v1.0.0 (LoRaWAN TS003) as carried in DM tag 0x17 (uplink), DM
// opcode 0x09 (downlink) or bare on FPort 202.

// ALCSync command identifiers (the same numbers are used in both directions).
const (
	alcPackageVersion = 0x00
	alcAppTime        = 0x01
	alcPeriodicity    = 0x02
	alcForceResync    = 0x03
)

// ALCSync package identity reported in PackageVersionAns.
const (
	ALCPackageID      uint8 = 1
	ALCPackageVersion uint8 = 1
)

// ALCPort is the FPort ALCSync uses when not routed through DM.
const ALCPort = 202

// Uplink commands (device → service).

// PackageVersionAns answers PackageVersionReq: `00 | PackageID | Version`.
type PackageVersionAns struct{ PackageID, Version uint8 }

// AppTimeReq: `01 | DeviceTime (u32 LE, GPS s) | param`, param bit 4
// AnsRequired, bits 3..0 TokenReq.
type AppTimeReq struct {
	DeviceTime  uint32 // GPS-epoch seconds (mod 2^32)
	TokenReq    uint8  // 4 bits
	AnsRequired bool
}

// Time returns DeviceTime as UTC (valid until the u32 wraps in 2116).
func (r AppTimeReq) Time() time.Time { return lora.GPSToTime(float64(r.DeviceTime)) }

// PeriodicityAns (DeviceAppTimePeriodicityAns): `02 | status | time (u32 LE)`,
// status bit 0 NotSupported.
type PeriodicityAns struct {
	NotSupported bool
	Time         uint32 // device time in GPS seconds
}

// Downlink commands (service → device).

// AppTimeAns: `01 | TimeCorrection (i32 LE, s) | token (bits 3..0)`. The
// device applies it only if Token matches its current token.
type AppTimeAns struct {
	Correction int32 // seconds to add to the device clock
	Token      uint8 // 4 bits
}

// PackageVersionReq: `00`.
type PackageVersionReq struct{}

// PeriodicityReq (DeviceAppTimePeriodicityReq): `02 | period`. TS003 uses
// bits 3..0 (periodicity 128·2^Period s); the byte is kept whole.
type PeriodicityReq struct{ Period uint8 }

// ForceResyncReq (ForceDeviceResyncReq): `03 | nb_transmissions`. TS003 uses
// bits 2..0; the byte is kept whole.
type ForceResyncReq struct{ NbTransmissions uint8 }

// alcShort builds the error for a command cut short.
func alcShort(name string, off, need, have int) error {
	return &DecodeError{Field: name, Offset: off,
		Err: fmt.Errorf("%w: need %d bytes, %d left", ErrShort, need, have)}
}

func alcUnknown(dir string, id byte, off int) error {
	return &DecodeError{Field: "alcsync " + dir + " command 0x" + hex2(id), Offset: off, Err: ErrUnknownCommand}
}

// DecodeALCUplink decodes ALCSync uplink commands into PackageVersionAns,
// AppTimeReq and PeriodicityAns values, in order. On a truncated or unknown
// command it returns the commands decoded so far and a *DecodeError.
func DecodeALCUplink(b []byte) ([]any, error) {
	var out []any
	for i := 0; i < len(b); {
		rem := len(b) - i
		switch b[i] {
		case alcPackageVersion:
			if rem < 3 {
				return out, alcShort("PackageVersionAns", i, 3, rem)
			}
			out = append(out, PackageVersionAns{PackageID: b[i+1], Version: b[i+2]})
			i += 3
		case alcAppTime:
			if rem < 6 {
				return out, alcShort("AppTimeReq", i, 6, rem)
			}
			p := b[i+5]
			out = append(out, AppTimeReq{
				DeviceTime:  binary.LittleEndian.Uint32(b[i+1:]),
				TokenReq:    p & 0x0F,
				AnsRequired: p&0x10 != 0,
			})
			i += 6
		case alcPeriodicity:
			if rem < 6 {
				return out, alcShort("PeriodicityAns", i, 6, rem)
			}
			out = append(out, PeriodicityAns{NotSupported: b[i+1]&0x01 != 0, Time: binary.LittleEndian.Uint32(b[i+2:])})
			i += 6
		default:
			return out, alcUnknown("uplink", b[i], i)
		}
	}
	return out, nil
}

// AppendALCUplink appends uplink commands (PackageVersionAns, AppTimeReq,
// PeriodicityAns, as values or pointers) to dst. On error dst is unchanged.
func AppendALCUplink(dst []byte, cmds ...any) ([]byte, error) {
	orig := len(dst)
	for _, c := range cmds {
		switch c := deref(c).(type) {
		case PackageVersionAns:
			dst = append(dst, alcPackageVersion, c.PackageID, c.Version)
		case AppTimeReq:
			if c.TokenReq > 0x0F {
				return dst[:orig], fmt.Errorf("%w: AppTimeReq token %d (max 15)", ErrRange, c.TokenReq)
			}
			p := c.TokenReq
			if c.AnsRequired {
				p |= 0x10
			}
			dst = binary.LittleEndian.AppendUint32(append(dst, alcAppTime), c.DeviceTime)
			dst = append(dst, p)
		case PeriodicityAns:
			var s uint8
			if c.NotSupported {
				s = 1
			}
			dst = binary.LittleEndian.AppendUint32(append(dst, alcPeriodicity, s), c.Time)
		default:
			return dst[:orig], fmt.Errorf("%w: %T is not an ALCSync uplink command", ErrUnknownCommand, c)
		}
	}
	return dst, nil
}

// DecodeALCDownlink decodes ALCSync downlink commands into
// PackageVersionReq, AppTimeAns, PeriodicityReq and ForceResyncReq values,
// in order. On a truncated or unknown command it returns the commands
// decoded so far and a *DecodeError.
func DecodeALCDownlink(b []byte) ([]any, error) {
	var out []any
	for i := 0; i < len(b); {
		rem := len(b) - i
		switch b[i] {
		case alcPackageVersion:
			out = append(out, PackageVersionReq{})
			i++
		case alcAppTime:
			if rem < 6 {
				return out, alcShort("AppTimeAns", i, 6, rem)
			}
			out = append(out, AppTimeAns{Correction: int32(binary.LittleEndian.Uint32(b[i+1:])), Token: b[i+5] & 0x0F})
			i += 6
		case alcPeriodicity:
			if rem < 2 {
				return out, alcShort("PeriodicityReq", i, 2, rem)
			}
			out = append(out, PeriodicityReq{Period: b[i+1]})
			i += 2
		case alcForceResync:
			if rem < 2 {
				return out, alcShort("ForceResyncReq", i, 2, rem)
			}
			out = append(out, ForceResyncReq{NbTransmissions: b[i+1]})
			i += 2
		default:
			return out, alcUnknown("downlink", b[i], i)
		}
	}
	return out, nil
}

// AppendALCDownlink appends downlink commands (PackageVersionReq,
// AppTimeAns, PeriodicityReq, ForceResyncReq, as values or pointers) to dst.
// On error dst is unchanged.
func AppendALCDownlink(dst []byte, cmds ...any) ([]byte, error) {
	orig := len(dst)
	for _, c := range cmds {
		switch c := deref(c).(type) {
		case PackageVersionReq:
			dst = append(dst, alcPackageVersion)
		case AppTimeAns:
			if c.Token > 0x0F {
				return dst[:orig], fmt.Errorf("%w: AppTimeAns token %d (max 15)", ErrRange, c.Token)
			}
			dst = binary.LittleEndian.AppendUint32(append(dst, alcAppTime), uint32(c.Correction))
			dst = append(dst, c.Token)
		case PeriodicityReq:
			dst = append(dst, alcPeriodicity, c.Period)
		case ForceResyncReq:
			dst = append(dst, alcForceResync, c.NbTransmissions)
		default:
			return dst[:orig], fmt.Errorf("%w: %T is not an ALCSync downlink command", ErrUnknownCommand, c)
		}
	}
	return dst, nil
}

// deref turns a pointer to a command struct into its value (nil pointers
// stay as they are and are then rejected as unknown).
func deref(c any) any {
	switch p := c.(type) {
	case *PackageVersionAns:
		if p != nil {
			return *p
		}
	case *AppTimeReq:
		if p != nil {
			return *p
		}
	case *PeriodicityAns:
		if p != nil {
			return *p
		}
	case *PackageVersionReq:
		if p != nil {
			return *p
		}
	case *AppTimeAns:
		if p != nil {
			return *p
		}
	case *PeriodicityReq:
		if p != nil {
			return *p
		}
	case *ForceResyncReq:
		if p != nil {
			return *p
		}
	}
	return c
}
