package store

import (
	"github.com/openmgs/openmgs/modemproto"
)

// Apply records every info field present in a decoded DM frame, reported
// at time t (Unix seconds). It returns the tags it updated.
func (f *InfoFields) Apply(u *modemproto.Uplink, t float64) modemproto.TagSet {
	v := &u.Fields
	var done modemproto.TagSet
	for _, tag := range u.Present.Tags() {
		switch tag {
		case modemproto.TagStatus:
			f.Status.Put(t, v.Status)
		case modemproto.TagCharge:
			f.Charge.Put(t, v.Charge)
		case modemproto.TagVoltage:
			f.Voltage.Put(t, v.Voltage)
		case modemproto.TagTemp:
			f.Temp.Put(t, v.Temp)
		case modemproto.TagSignal:
			f.Signal.Put(t, v.Signal)
		case modemproto.TagUptime:
			f.Uptime.Put(t, v.Uptime)
		case modemproto.TagRxTime:
			f.RxTime.Put(t, v.RxTime)
		case modemproto.TagFirmware:
			f.Firmware.Put(t, v.Firmware)
		case modemproto.TagADRMode:
			f.ADRMode.Put(t, v.ADRMode)
		case modemproto.TagJoinEUI:
			f.JoinEUI.Put(t, v.JoinEUI)
		case modemproto.TagInterval:
			f.Interval.Put(t, v.Interval)
		case modemproto.TagRegion:
			f.Region.Put(t, v.Region)
		case modemproto.TagOpMode:
			f.OpMode.Put(t, v.OpMode)
		case modemproto.TagCrashLog:
			f.CrashLog.Put(t, append([]byte(nil), u.CrashLog...))
		case modemproto.TagRstCount:
			f.RstCount.Put(t, v.RstCount)
		case modemproto.TagDevEUI:
			f.DevEUI.Put(t, v.DevEUI)
		case modemproto.TagRFU:
			f.RFU.Put(t, v.RFU)
		case modemproto.TagSession:
			f.Session.Put(t, v.Session)
		case modemproto.TagChipEUI:
			f.ChipEUI.Put(t, v.ChipEUI)
		case modemproto.TagStreamPar:
			f.StreamPar.Put(t, v.StreamPar)
		case modemproto.TagAppStatus:
			f.AppStatus.Put(t, v.AppStatus)
		case modemproto.TagAlmanacStatus:
			f.AlmanacStatus.Put(t, v.AlmanacStatus)
		default:
			continue // upload, stream, ALC sync and the like are not info fields
		}
		done = done.Add(tag)
	}
	return done
}

// fixed returns every set fixed-size field as a DM frame value set, with
// the time of each tag.
func (f *InfoFields) fixed() (*modemproto.Uplink, map[uint32]float64) {
	u := &modemproto.Uplink{}
	times := make(map[uint32]float64)
	put := func(set bool, tag modemproto.Tag, t float64, assign func(*modemproto.Fields)) {
		if !set {
			return
		}
		assign(&u.Fields)
		u.Present = u.Present.Add(tag)
		times[uint32(tag)] = t
	}
	put(f.Status.Set, modemproto.TagStatus, f.Status.Time, func(v *modemproto.Fields) { v.Status = f.Status.Value })
	put(f.Charge.Set, modemproto.TagCharge, f.Charge.Time, func(v *modemproto.Fields) { v.Charge = f.Charge.Value })
	put(f.Voltage.Set, modemproto.TagVoltage, f.Voltage.Time, func(v *modemproto.Fields) { v.Voltage = f.Voltage.Value })
	put(f.Temp.Set, modemproto.TagTemp, f.Temp.Time, func(v *modemproto.Fields) { v.Temp = f.Temp.Value })
	put(f.Signal.Set, modemproto.TagSignal, f.Signal.Time, func(v *modemproto.Fields) { v.Signal = f.Signal.Value })
	put(f.Uptime.Set, modemproto.TagUptime, f.Uptime.Time, func(v *modemproto.Fields) { v.Uptime = f.Uptime.Value })
	put(f.RxTime.Set, modemproto.TagRxTime, f.RxTime.Time, func(v *modemproto.Fields) { v.RxTime = f.RxTime.Value })
	put(f.Firmware.Set, modemproto.TagFirmware, f.Firmware.Time, func(v *modemproto.Fields) { v.Firmware = f.Firmware.Value })
	put(f.ADRMode.Set, modemproto.TagADRMode, f.ADRMode.Time, func(v *modemproto.Fields) { v.ADRMode = f.ADRMode.Value })
	put(f.JoinEUI.Set, modemproto.TagJoinEUI, f.JoinEUI.Time, func(v *modemproto.Fields) { v.JoinEUI = f.JoinEUI.Value })
	put(f.Interval.Set, modemproto.TagInterval, f.Interval.Time, func(v *modemproto.Fields) { v.Interval = f.Interval.Value })
	put(f.Region.Set, modemproto.TagRegion, f.Region.Time, func(v *modemproto.Fields) { v.Region = f.Region.Value })
	put(f.OpMode.Set, modemproto.TagOpMode, f.OpMode.Time, func(v *modemproto.Fields) { v.OpMode = f.OpMode.Value })
	put(f.RstCount.Set, modemproto.TagRstCount, f.RstCount.Time, func(v *modemproto.Fields) { v.RstCount = f.RstCount.Value })
	put(f.DevEUI.Set, modemproto.TagDevEUI, f.DevEUI.Time, func(v *modemproto.Fields) { v.DevEUI = f.DevEUI.Value })
	put(f.RFU.Set, modemproto.TagRFU, f.RFU.Time, func(v *modemproto.Fields) { v.RFU = f.RFU.Value })
	put(f.Session.Set, modemproto.TagSession, f.Session.Time, func(v *modemproto.Fields) { v.Session = f.Session.Value })
	put(f.ChipEUI.Set, modemproto.TagChipEUI, f.ChipEUI.Time, func(v *modemproto.Fields) { v.ChipEUI = f.ChipEUI.Value })
	put(f.StreamPar.Set, modemproto.TagStreamPar, f.StreamPar.Time, func(v *modemproto.Fields) { v.StreamPar = f.StreamPar.Value })
	put(f.AppStatus.Set, modemproto.TagAppStatus, f.AppStatus.Time, func(v *modemproto.Fields) { v.AppStatus = f.AppStatus.Value })
	put(f.AlmanacStatus.Set, modemproto.TagAlmanacStatus, f.AlmanacStatus.Time, func(v *modemproto.Fields) { v.AlmanacStatus = f.AlmanacStatus.Value })
	return u, times
}
