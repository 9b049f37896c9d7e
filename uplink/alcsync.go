package uplink

import (
	"context"
	"math"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
)

// alcSync answers LoRaWAN Application Layer Clock Synchronization (ALCSync
// v1.0.0) requests, carried in DM tag 0x17 or bare on the ALC port (202).
// An AppTimeReq is answered with AppTimeAns carrying the correction from
// the uplink's RX time (GPS epoch, leap seconds applied) when the device
// asks for an answer or its clock is off by at least the threshold. The
// answer takes this uplink's downlink slot: it is only valid now.
func (p *Pipeline) alcSync(_ context.Context, s *State) error {
	var payload []byte
	viaDM := false
	switch {
	case s.Protocol == ProtoDM && s.DM != nil && s.DM.Present.Has(modemproto.TagALCSync):
		payload, viaDM = s.DM.ALCSync, true
	case s.Protocol == ProtoALC:
		payload = s.Msg.Payload
	default:
		return nil
	}
	cmds, err := modemproto.DecodeALCUplink(payload)
	if err != nil {
		s.Log(store.LevelError, "ALC sync: %v", err)
	}
	var answers []any
	for _, c := range cmds {
		switch c := c.(type) {
		case modemproto.AppTimeReq:
			s.Dev.Info.ALCSync.Put(s.Msg.Timestamp, store.ALCSync{Token: c.TokenReq, Time: c.DeviceTime})
			corr := math.Round(lora.UnixToGPS(s.Msg.Timestamp) - float64(c.DeviceTime))
			corr = math.Max(math.MinInt32, math.Min(math.MaxInt32, corr))
			if c.AnsRequired || math.Abs(corr) >= float64(p.cfg.ALCThreshold) {
				answers = append(answers, modemproto.AppTimeAns{Correction: int32(corr), Token: c.TokenReq})
				s.Log(store.LevelInfo, "clock sync: device time is off by %+d s; answering (token %d)", int64(corr), c.TokenReq)
			}
		case modemproto.PackageVersionAns:
			s.Log(store.LevelInfo, "ALC sync package %d version %d", c.PackageID, c.Version)
		case modemproto.PeriodicityAns:
			if c.NotSupported {
				s.Log(store.LevelWarning, "ALC sync: the device does not support the requested periodicity")
			} else {
				s.Log(store.LevelInfo, "ALC sync periodicity accepted (device time %d)", c.Time)
			}
		}
	}
	if len(answers) == 0 {
		return nil
	}
	cmd, err := modemproto.AppendALCDownlink(nil, answers...)
	if err != nil {
		return err
	}
	if !viaDM {
		s.Result.Dnlink = &store.Dnlink{Port: uint8(p.cfg.ALCPort), Payload: cmd}
		return nil
	}
	dl := modemproto.Downlink{Upcount: s.Dev.Upcount, Updelay: s.Dev.Updelay, Command: modemproto.ALCSyncCommand{Commands: cmd}}
	b, err := dl.AppendBinary(nil)
	if err != nil {
		return err
	}
	s.Result.Dnlink = &store.Dnlink{Port: s.Ports.DM, Payload: b}
	return nil
}
