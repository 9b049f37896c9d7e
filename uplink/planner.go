package uplink

import (
	"context"
	"slices"

	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
)

// fulfil detects the pending requests that this uplink completes:
//
//   - GETINFO once every asked field has been reported after the request;
//   - SETCONF once every field has been reported with the requested value;
//   - RESET once rstcount is reported different from the one the RESET
//     was sent with;
//   - REJOIN on a joining message, or a session (DevNonce) different from
//     the one the REJOIN was sent with;
//   - MUTE once the status mute bit matches (after the MUTE was sent).
//
// FILEDONE, FUOTA, SETDMINFO, STREAM and ALCSYNC have no acknowledgement
// and are fulfilled once sent (in planDownlink).
func (p *Pipeline) fulfil(_ context.Context, s *State) error {
	d := s.Dev
	if len(d.Requests) == 0 {
		return nil
	}
	info, got := &d.Info, s.Received
	keep := d.Requests[:0:0]
	for _, r := range d.Requests {
		done := false
		switch r.Request.Type {
		case store.RequestGetInfo:
			for _, t := range r.Request.Tags {
				if got.Has(t) {
					r.Received = r.Received.Add(t)
				}
			}
			done = r.Received.Len() == len(r.Request.Tags)
		case store.RequestSetConf:
			for tag, want := range r.Request.SetConf {
				if v, ok := infoValue(info, tag); ok && got.Has(tag) && v == want {
					r.Confirmed = r.Confirmed.Add(tag)
				}
			}
			done = r.Confirmed.Len() == len(r.Request.SetConf)
		case store.RequestReset:
			done = r.HasRef && got.Has(modemproto.TagRstCount) && info.RstCount.Value != r.Ref
		case store.RequestRejoin:
			done = s.Protocol == ProtoJoin ||
				(r.HasRef && got.Has(modemproto.TagSession) && info.Session.Value != r.Ref)
		case store.RequestMute:
			done = r.Sent > 0 && got.Has(modemproto.TagStatus) && info.Status.Value.Mute == (r.Request.Days > 0)
		}
		if done {
			s.Result.Fulfilled = append(s.Result.Fulfilled, r)
			continue
		}
		keep = append(keep, r)
	}
	d.Requests = keep
	return nil
}

// planDownlink turns at most one pending request into this uplink's
// downlink. Requests sent least often go first (oldest first among equals),
// so several requests take turns and an unacknowledged one is repeated.
func (p *Pipeline) planDownlink(_ context.Context, s *State) error {
	d := s.Dev
	if s.Protocol == ProtoJoin || s.Result.Dnlink != nil || len(d.Requests) == 0 {
		return nil
	}
	order := make([]int, len(d.Requests))
	for i := range order {
		order[i] = i
	}
	// A completed upload's FILEDONE goes first: the device keeps sending
	// fragments until it arrives.
	urgent := func(r *store.PendingRequest) bool { return r.Request.Type == store.RequestFileDone && r.Sent == 0 }
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := &d.Requests[a], &d.Requests[b]
		if ua, ub := urgent(ra), urgent(rb); ua != ub {
			if ua {
				return -1
			}
			return 1
		}
		if ra.Sent != rb.Sent {
			return int(ra.Sent) - int(rb.Sent)
		}
		return int(ra.ID) - int(rb.ID)
	})
	mtu := int(s.Msg.DnMTU)
	for _, i := range order {
		r := &d.Requests[i]
		cmd, ref, hasRef, note := p.nextCommand(s, r)
		if cmd == nil {
			continue
		}
		dl := modemproto.Downlink{Upcount: d.Upcount, Updelay: d.Updelay, Command: cmd}
		payload, err := dl.AppendBinary(nil)
		if err != nil {
			s.Log(store.LevelError, "request %d (%s): cannot encode: %v", r.ID, r.Request.Type, err)
			continue
		}
		if mtu > 0 && len(payload) > mtu {
			// A GETINFO can be split: ask for as many fields as fit now.
			gi, ok := cmd.(modemproto.GetInfo)
			if !ok || mtu < 4 {
				s.Log(store.LevelWarning, "request %d (%s) needs %d bytes but dn_mtu is %d: kept pending", r.ID, r.Request.Type, len(payload), mtu)
				continue
			}
			dl.Command = modemproto.GetInfo{Tags: gi.Tags[:mtu-3]}
			if payload, err = dl.AppendBinary(nil); err != nil {
				continue
			}
		}
		if note != "" {
			s.Log(store.LevelWarning, "%s", note)
		}
		r.Sent++
		r.LastSent = s.Now
		if hasRef {
			r.Ref, r.HasRef = ref, true
		}
		s.Result.Dnlink = &store.Dnlink{Port: s.Ports.DM, Payload: payload}
		if oneShot(r.Request.Type) {
			s.Result.Fulfilled = append(s.Result.Fulfilled, *r)
			d.Requests = slices.Delete(d.Requests, i, i+1)
		}
		return nil
	}
	return nil
}

// oneShot request types have no acknowledgement from the device.
func oneShot(t string) bool {
	switch t {
	case store.RequestFileDone, store.RequestFUOTA, store.RequestSetDMInfo, store.RequestStream, store.RequestALCSync:
		return true
	}
	return false
}

// nextCommand returns the command that advances request r (nil if none
// now), the counter it is sent against, and a note for the log.
func (p *Pipeline) nextCommand(s *State, r *store.PendingRequest) (cmd modemproto.Command, ref uint16, hasRef bool, note string) {
	info := &s.Dev.Info
	switch r.Request.Type {
	case store.RequestReset:
		if !info.RstCount.Set {
			return modemproto.GetInfo{Tags: []modemproto.Tag{modemproto.TagRstCount}}, 0, false,
				"RESET needs the modem's reset counter (rstcount), which it has not reported: asking for it with GETINFO first"
		}
		return commandFor(&r.Request, info.RstCount.Value, 0), info.RstCount.Value, true, ""
	case store.RequestRejoin:
		if !info.Session.Set {
			return modemproto.GetInfo{Tags: []modemproto.Tag{modemproto.TagSession}}, 0, false,
				"REJOIN needs the modem's session (DevNonce), which it has not reported since its last join: asking for it with GETINFO first"
		}
		return commandFor(&r.Request, 0, info.Session.Value), info.Session.Value, true, ""
	case store.RequestGetInfo:
		var missing []modemproto.Tag
		for _, t := range r.Request.Tags {
			if !r.Received.Has(t) {
				missing = append(missing, t)
			}
		}
		return modemproto.GetInfo{Tags: missing}, 0, false, ""
	case store.RequestSetConf:
		// One field per downlink: set it, then read it back to confirm.
		// Phase holds the tag whose SETCONF was sent last (+1).
		for _, tag := range []modemproto.Tag{modemproto.TagADRMode, modemproto.TagJoinEUI, modemproto.TagInterval, modemproto.TagRegion} {
			v, ok := r.Request.SetConf[tag]
			if !ok || r.Confirmed.Has(tag) {
				continue
			}
			if r.Phase == uint8(tag)+1 {
				r.Phase = 0
				return modemproto.GetInfo{Tags: []modemproto.Tag{tag}}, 0, false, ""
			}
			r.Phase = uint8(tag) + 1
			return setConf(tag, v), 0, false, ""
		}
		return nil, 0, false, ""
	}
	return commandFor(&r.Request, 0, 0), 0, false, ""
}
