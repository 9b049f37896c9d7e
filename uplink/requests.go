package uplink

import (
	"encoding/hex"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/stream"
)

// ParseRequest builds a typed request from LoRa Cloud's REQUEST JSON: the
// type name and the decoded JSON param (nil, float64, string, []any or
// map[string]any, as encoding/json and structpb produce).
func ParseRequest(typ string, param any) (store.Request, error) {
	t := strings.ToUpper(strings.TrimSpace(typ))
	switch t {
	case "SET_DM_INFO":
		t = store.RequestSetDMInfo
	case "ALC_SYNC":
		t = store.RequestALCSync
	}
	r := store.Request{Type: t}
	switch t {
	case store.RequestReset:
		r.Code, r.HasCode = 3, true
		if param != nil {
			n, err := uintParam("param", param, 255)
			if err != nil {
				return r, err
			}
			if n < 1 || n > 3 {
				return r, invalid("param", "RESET code %d: must be 1 (modem), 2 (application) or 3 (both)", n)
			}
			r.Code = uint8(n)
		}
	case store.RequestRejoin:
		if param != nil {
			return r, invalid("param", "REJOIN takes no parameter")
		}
	case store.RequestMute:
		if param == nil {
			return r, invalid("param", "MUTE needs the number of days: 0 unmutes, 1..254 days, 255 permanently")
		}
		n, err := uintParam("param", param, 255)
		if err != nil {
			return r, err
		}
		r.Days, r.HasDays = uint8(n), true
	case store.RequestGetInfo, store.RequestSetDMInfo:
		tags, err := tagListParam(t, param)
		if err != nil {
			return r, err
		}
		r.Tags = tags
	case store.RequestSetConf:
		m, ok := param.(map[string]any)
		if !ok || len(m) == 0 {
			return r, invalid("param", "SETCONF needs an object with at least one of adrmode, joineui, interval, region")
		}
		r.SetConf = make(map[modemproto.Tag]uint64, len(m))
		for k, v := range m {
			var (
				tag modemproto.Tag
				val uint64
			)
			switch k {
			case "adrmode":
				n, err := uintParam("param.adrmode", v, 3)
				if err != nil {
					return r, err
				}
				tag, val = modemproto.TagADRMode, n
			case "interval":
				n, err := uintParam("param.interval", v, 255)
				if err != nil {
					return r, err
				}
				tag, val = modemproto.TagInterval, n
			case "region":
				n, err := uintParam("param.region", v, 255)
				if err != nil {
					return r, err
				}
				if n < 1 || n > 13 {
					return r, invalid("param.region", "%d is not a region code 1..13", n)
				}
				tag, val = modemproto.TagRegion, n
			case "joineui":
				s, ok := v.(string)
				if !ok {
					return r, invalid("param.joineui", "must be an EUI string")
				}
				e, err := lora.ParseEUI64(s)
				if err != nil {
					return r, invalid("param.joineui", "%v", err)
				}
				tag, val = modemproto.TagJoinEUI, e.Uint64()
			default:
				return r, invalid("param."+k, "unknown SETCONF field (adrmode, joineui, interval, region)")
			}
			r.SetConf[tag] = val
		}
	case store.RequestFileDone:
		m, ok := param.(map[string]any)
		if !ok {
			return r, invalid("param", "FILEDONE needs {\"sid\": 0..3, \"sctr\": 0..15}")
		}
		for k := range m {
			if k != "sid" && k != "sctr" {
				return r, invalid("param."+k, "unknown FILEDONE field (sid, sctr)")
			}
		}
		sid, err := uintParam("param.sid", m["sid"], 3)
		if err != nil {
			return r, err
		}
		sctr, err := uintParam("param.sctr", m["sctr"], 15)
		if err != nil {
			return r, err
		}
		r.SID, r.Sctr = uint8(sid), uint8(sctr)
	case store.RequestStream:
		if m, ok := param.(map[string]any); ok {
			b, err := streamCommand(m)
			if err != nil {
				return r, err
			}
			r.Data = b
			break
		}
		s, ok := param.(string)
		if !ok {
			return r, invalid("param", "STREAM needs {\"sinfo\", \"ackwl\", \"wl\", \"rr\", \"pctxintv\"} or the SCMD as hex")
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 4 {
			return r, invalid("param", "STREAM: the SCMD is 4 bytes of hex")
		}
		if _, err := stream.DecodeCommand(b); err != nil {
			return r, invalid("param", "STREAM: %v", err)
		}
		r.Data = b
	case store.RequestALCSync:
		if m, ok := param.(map[string]any); ok {
			b, err := alcCommands(m)
			if err != nil {
				return r, err
			}
			r.Data = b
			break
		}
		fallthrough
	case store.RequestFUOTA:
		s, ok := param.(string)
		if !ok || s == "" {
			return r, invalid("param", "%s needs a hex string", t)
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return r, invalid("param", "%s: not hex: %v", t, err)
		}
		if len(b) > 240 {
			return r, invalid("param", "%s: %d bytes is more than a downlink can carry", t, len(b))
		}
		r.Data = b
	case "":
		return r, invalid("type", "required")
	default:
		return r, invalid("type", "unknown request type %q", typ)
	}
	// Make sure the device would accept what we will send.
	if c := commandFor(&r, 0, 0); c == nil {
		return r, invalid("type", "no DM command for request type %q", typ)
	} else if _, err := c.AppendParams(nil); err != nil && t != store.RequestReset && t != store.RequestRejoin {
		return r, invalid("param", "%v", err)
	}
	return r, nil
}

// streamCommand builds a ROSE SCMD from {"sinfo": true, "ackwl": WL,
// "wl": WL, "rr": percent, "pctxintv": frames}.
func streamCommand(m map[string]any) ([]byte, error) {
	var c stream.Command
	for k, v := range m {
		switch k {
		case "sinfo":
			b, ok := v.(bool)
			if !ok {
				return nil, invalid("param.sinfo", "must be a boolean")
			}
			c.SInfoRequest = b
		case "ackwl", "wl":
			n, err := uintParam("param."+k, v, 1024)
			if err != nil {
				return nil, err
			}
			c.WL = int(n)
			c.AckWL, c.UpdateWL = k == "ackwl", k == "wl"
		case "rr":
			n, err := uintParam("param.rr", v, 255)
			if err != nil {
				return nil, err
			}
			c.RR, c.UpdateRR = uint8(n), true
		case "pctxintv":
			n, err := uintParam("param.pctxintv", v, 255)
			if err != nil {
				return nil, err
			}
			c.PCTXInterval, c.UpdatePCTXInterval = uint8(n), true
		default:
			return nil, invalid("param."+k, "unknown STREAM field (sinfo, ackwl, wl, rr, pctxintv)")
		}
	}
	if _, ok := m["ackwl"]; ok {
		if _, both := m["wl"]; both {
			return nil, invalid("param", "STREAM: ackwl and wl exclude each other")
		}
	}
	b, err := c.AppendBinary(nil)
	if err != nil {
		return nil, invalid("param", "STREAM: %v", err)
	}
	return b, nil
}

// alcCommands builds ALCSync downlink commands from
// {"package_version": true, "periodicity": 0..15, "force_resync": 1..7}.
func alcCommands(m map[string]any) ([]byte, error) {
	var cmds []any
	for _, k := range []string{"package_version", "periodicity", "force_resync"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		switch k {
		case "package_version":
			if b, isBool := v.(bool); !isBool || !b {
				return nil, invalid("param.package_version", "must be true")
			}
			cmds = append(cmds, modemproto.PackageVersionReq{})
		case "periodicity":
			n, err := uintParam("param.periodicity", v, 15)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, modemproto.PeriodicityReq{Period: uint8(n)})
		case "force_resync":
			n, err := uintParam("param.force_resync", v, 7)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, modemproto.ForceResyncReq{NbTransmissions: uint8(n)})
		}
	}
	for k := range m {
		if k != "package_version" && k != "periodicity" && k != "force_resync" {
			return nil, invalid("param."+k, "unknown ALCSYNC field (package_version, periodicity, force_resync)")
		}
	}
	if len(cmds) == 0 {
		return nil, invalid("param", "ALCSYNC needs package_version, periodicity or force_resync")
	}
	b, err := modemproto.AppendALCDownlink(nil, cmds...)
	if err != nil {
		return nil, invalid("param", "%v", err)
	}
	return b, nil
}

func uintParam(field string, v any, max uint64) (uint64, error) {
	f, ok := v.(float64)
	if !ok {
		if i, isInt := v.(int); isInt {
			f, ok = float64(i), true
		}
	}
	if !ok {
		if v == nil {
			return 0, invalid(field, "required")
		}
		return 0, invalid(field, "must be a number")
	}
	if f < 0 || f > float64(max) || f != math.Trunc(f) {
		return 0, invalid(field, "%v is not an integer in 0..%d", f, max)
	}
	return uint64(f), nil
}

func tagListParam(typ string, param any) ([]modemproto.Tag, error) {
	list, ok := param.([]any)
	if !ok || len(list) == 0 {
		return nil, invalid("param", "%s needs a non-empty list of field names", typ)
	}
	var set modemproto.TagSet
	for _, v := range list {
		name, ok := v.(string)
		if !ok {
			return nil, invalid("param", "%s: field names must be strings", typ)
		}
		tag, ok := modemproto.ParseTagName(name)
		if !ok {
			return nil, invalid("param", "%s: unknown field %q", typ, name)
		}
		allowed := tag.GetInfoAllowed()
		if typ == store.RequestSetDMInfo {
			allowed = tag.SetDMInfoAllowed()
		}
		if !allowed {
			return nil, invalid("param", "%s: the device refuses field %q", typ, name)
		}
		set = set.Add(tag)
	}
	return set.Tags(), nil
}

// RequestParam renders a request's param as LoRa Cloud JSON would carry it
// (nil when the type has none).
func RequestParam(r *store.Request) any {
	switch r.Type {
	case store.RequestReset:
		return float64(r.Code)
	case store.RequestMute:
		return float64(r.Days)
	case store.RequestGetInfo, store.RequestSetDMInfo:
		out := make([]any, len(r.Tags))
		for i, t := range r.Tags {
			out[i] = t.String()
		}
		return out
	case store.RequestSetConf:
		out := make(map[string]any, len(r.SetConf))
		for tag, v := range r.SetConf {
			if tag == modemproto.TagJoinEUI {
				out[tag.String()] = lora.EUI64FromUint64(v).String()
			} else {
				out[tag.String()] = float64(v)
			}
		}
		return out
	case store.RequestFileDone:
		return map[string]any{"sid": float64(r.SID), "sctr": float64(r.Sctr)}
	case store.RequestFUOTA, store.RequestStream, store.RequestALCSync:
		return hex.EncodeToString(r.Data)
	}
	return nil
}

// Cookie renders the completion-check state of a pending request (the
// PENDING_REQUEST cookie).
func Cookie(p *store.PendingRequest) any {
	c := map[string]any{"sent": float64(p.Sent)}
	if p.HasRef {
		c["ref"] = float64(p.Ref)
	}
	switch p.Request.Type {
	case store.RequestGetInfo:
		var missing []any
		for _, t := range p.Request.Tags {
			if !p.Received.Has(t) {
				missing = append(missing, t.String())
			}
		}
		c["awaiting"] = missing
	case store.RequestSetConf:
		var missing []any
		keys := make([]modemproto.Tag, 0, len(p.Request.SetConf))
		for t := range p.Request.SetConf {
			keys = append(keys, t)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, t := range keys {
			if !p.Confirmed.Has(t) {
				missing = append(missing, t.String())
			}
		}
		c["awaiting"] = missing
	}
	return c
}

// commandFor returns the DM command for a request, given the device's
// current counters (RESET and REJOIN echo them), or nil.
func commandFor(r *store.Request, rstcount, session uint16) modemproto.Command {
	switch r.Type {
	case store.RequestReset:
		return modemproto.Reset{Code: r.Code, RstCount: rstcount}
	case store.RequestRejoin:
		return modemproto.Rejoin{Session: session}
	case store.RequestMute:
		return modemproto.Mute{Days: r.Days}
	case store.RequestGetInfo:
		return modemproto.GetInfo{Tags: slices.Clone(r.Tags)}
	case store.RequestSetDMInfo:
		return modemproto.SetDMInfo{Tags: slices.Clone(r.Tags)}
	case store.RequestSetConf:
		for _, tag := range []modemproto.Tag{modemproto.TagADRMode, modemproto.TagJoinEUI, modemproto.TagInterval, modemproto.TagRegion} {
			if v, ok := r.SetConf[tag]; ok {
				return setConf(tag, v)
			}
		}
	case store.RequestFileDone:
		return modemproto.FileDone{SID: r.SID, Sctr: r.Sctr}
	case store.RequestFUOTA:
		return modemproto.FUOTA{Chunk: r.Data}
	case store.RequestStream:
		return modemproto.StreamCommand{SCMD: r.Data}
	case store.RequestALCSync:
		return modemproto.ALCSyncCommand{Commands: r.Data}
	}
	return nil // no command for this type (unreachable for parsed requests)
}

func setConf(tag modemproto.Tag, v uint64) modemproto.SetConf {
	c := modemproto.SetConf{Tag: tag}
	switch tag {
	case modemproto.TagADRMode:
		c.ADRMode = uint8(v)
	case modemproto.TagJoinEUI:
		c.JoinEUI = lora.EUI64FromUint64(v)
	case modemproto.TagInterval:
		c.Interval = modemproto.Interval(v)
	case modemproto.TagRegion:
		c.Region = uint8(v)
	}
	return c
}

// infoValue returns the stored value of a SETCONF-able field as uint64.
func infoValue(f *store.InfoFields, tag modemproto.Tag) (uint64, bool) {
	switch tag {
	case modemproto.TagADRMode:
		return uint64(f.ADRMode.Value), f.ADRMode.Set
	case modemproto.TagJoinEUI:
		return f.JoinEUI.Value.Uint64(), f.JoinEUI.Set
	case modemproto.TagInterval:
		return uint64(f.Interval.Value), f.Interval.Set
	case modemproto.TagRegion:
		return uint64(f.Region.Value), f.Region.Set
	}
	return 0, false
}
