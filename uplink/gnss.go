package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/store"
)

// GNSSSolver solves GNSS snapshots for the gnss stage (Config.GNSS).
// *gnssdata.Service implements it over the imported orbit data; a
// *gnss.Solver does too, which keeps the pipeline testable without a store.
// Implementations must be safe for concurrent use.
type GNSSSolver interface {
	Solve(req gnss.Request) (gnss.Solution, error)
}

// SessionGNSSNG is the Device.Sessions key of the GNSS-NG group state.
const SessionGNSSNG = "gnssng"

// Position algorithms of the GNSS protocols (POSITION_SOLUTION).
const (
	AlgorithmGNSS   = "gnss"
	AlgorithmGNSSNG = "gnssng"
)

const (
	// aidingDistance is how far the NAV's assistance position may be from
	// the caller's or the solved position before an aiding downlink is
	// sent (gnss.md §4).
	aidingDistance = 150e3
	// sameAP: assistance candidates closer than this to one already tried
	// are not tried again.
	sameAP = 20e3
	// maxNGCaptures bounds the NAVs of one GNSS-NG solve (the solver's
	// multi-frame limit).
	maxNGCaptures = 16
	// ngKeepGroups is how many solved groups of the current token are kept
	// for the sliding multi-frame solve of a static device.
	ngKeepGroups = 3
)

// gnssStage handles the legacy GNSS protocol (port 198, msgtype gnss) and
// GNSS-NG (port 192, msgtype gnssng) when a solver is configured:
//
//   - U-GNSSLOC-REQAID (first byte 0x00) is answered with D-GNSSLOC-AIDP on
//     the GNSS port, built from gnss_assist_position or, failing that, the
//     device's last position (an ERROR log when neither is known).
//   - A NAV1 message is solved. The capture-time estimate is
//     gnss_capture_time or the uplink timestamp (as GPS time) with
//     gnss_capture_time_accuracy (default 300 s; below 16 s the NAV's own
//     time indicator is ignored, cloud-api.md §3). Assistance positions are
//     tried in order until one solves: gnss_assist_position, the device's
//     last position, the NAV's own assistance position, then a Doppler-only
//     fix. The fix is the position_solution (kept in the device history).
//     An aiding-position downlink follows the rules of gnss.md §4.
//   - NAV2/NAV3 (layouts unpublished) are rejected with an ERROR naming
//     the format; solver failures are logged (WARNING for the measurements,
//     ERROR for missing orbit data) and give no position.
//   - GNSS-NG NAVs are grouped by the token of their header byte (state in
//     Device.Sessions["gnssng"]) and solved as one multi-frame request when
//     the NAV with the "last" flag arrives, together with up to
//     ngKeepGroups earlier groups of the same token (the device keeps the
//     token while it is static), falling back to the last group alone when
//     the earlier ones do not fit.
//
// Downlink priority: an answer to REQAID takes the downlink (the device
// asked for it; pending modem requests go out on the next uplink). An
// aiding downlink triggered by a NAV yields to pending modem requests: it
// is sent only when no request is queued, and is sent again after a later
// NAV if the device still needs it. Nothing replaces a downlink that an
// earlier stage has set. GNSS-NG gets no aiding downlink: its downlink
// format is not published.
func (p *Pipeline) gnssStage(_ context.Context, s *State) error {
	if p.cfg.GNSS == nil {
		return nil
	}
	switch s.Protocol {
	case ProtoGNSS:
		p.gnssLegacy(s)
	case ProtoGNSSNG:
		p.gnssNG(s)
	}
	return nil
}

func (p *Pipeline) gnssLegacy(s *State) {
	payload := s.Msg.Payload
	switch k := nav.Classify(payload); k {
	case nav.KindREQAID:
		p.gnssReqAid(s)
		return
	case nav.KindNAV1:
	case nav.KindNAV2, nav.KindNAV3:
		s.Log(store.LevelError, "GNSS %s message (first byte 0x%02x) is not supported: its layout is not published; OpenMGS solves NAV1 only", k, payload[0])
		return
	default:
		s.Log(store.LevelError, "GNSS payload with first byte 0x%02x is neither U-GNSSLOC-REQAID nor a NAV message", payload[0])
		return
	}
	m, err := nav.Decode(payload)
	if err != nil {
		s.Log(store.LevelError, "GNSS NAV message: %v", err)
		return
	}
	c, navAP, skipped := gnss.FromNAV(&m, gnssEstimate(s.Msg))
	if skipped > 0 {
		s.Log(store.LevelInfo, "GNSS NAV: %d satellite record(s) without usable GPS/BeiDou measurements ignored", skipped)
	}
	req := p.gnssRequest(s, []gnss.Capture{c})
	sol, err := p.gnssSolve(s, req, navAP)
	var fix *gnss.Solution
	if err != nil {
		gnssFailure(s, err)
	} else {
		fix = &sol
		s.Result.Position = positionOf(AlgorithmGNSS, sol, s.Msg.Timestamp)
	}
	p.gnssAiding(s, &m, fix)
}

// gnssEstimate is the capture-time estimate of an uplink, GPS seconds.
func gnssEstimate(m *Message) float64 {
	if m.GNSS.HasCaptureTime {
		return m.GNSS.CaptureTime
	}
	return lora.UnixToGPS(m.Timestamp)
}

// gnssRequest fills the request fields that come from the uplink.
func (p *Pipeline) gnssRequest(s *State, caps []gnss.Capture) gnss.Request {
	g := &s.Msg.GNSS
	req := gnss.Request{Captures: caps, TimeAccuracy: g.CaptureTimeAccuracy, Use2D: g.Use2D}
	if g.HasAssistAltitude {
		alt := g.AssistAltitude
		req.AssistAltitude = &alt
	}
	return req
}

type apCandidate struct {
	src string
	pos *geo.LLH
}

// gnssSolve tries the assistance positions in order of trust until one
// gives a fix. Only failures that a better starting point can fix lead to
// the next candidate. The error is that of the first attempt.
func (p *Pipeline) gnssSolve(s *State, req gnss.Request, navAP *geo.LLH) (gnss.Solution, error) {
	var cands []apCandidate
	if pos := callerAP(s.Msg); pos != nil {
		cands = append(cands, apCandidate{"gnss_assist_position", pos})
	}
	if pos := lastPosition(s.Dev); pos != nil {
		cands = append(cands, apCandidate{"the device's last position", pos})
	}
	if navAP != nil {
		cands = append(cands, apCandidate{"the NAV's assistance position", navAP})
	}
	if len(cands) == 0 || hasDoppler(req) {
		cands = append(cands, apCandidate{"a Doppler-only fix", nil})
	}
	var first error
	var tried []*geo.LLH
	for _, c := range cands {
		if c.pos != nil && nearAny(c.pos, tried) {
			continue
		}
		req.AssistPosition = c.pos
		sol, err := p.cfg.GNSS.Solve(req)
		if err == nil {
			if first != nil {
				s.Log(store.LevelInfo, "GNSS solve: %v; solved from %s instead", first, c.src)
			}
			return sol, nil
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, gnss.ErrIntegrity) && !errors.Is(err, gnss.ErrCaptureTime) && !errors.Is(err, gnss.ErrNoAssistance) {
			break
		}
		tried = append(tried, c.pos)
	}
	return gnss.Solution{}, first
}

func nearAny(p *geo.LLH, list []*geo.LLH) bool {
	for _, q := range list {
		if q != nil && geo.GreatCircle(*p, *q) < sameAP {
			return true
		}
	}
	return false
}

func hasDoppler(req gnss.Request) bool {
	for _, c := range req.Captures {
		for _, m := range c.Measurements {
			if m.HasDoppler {
				return true
			}
		}
	}
	return false
}

// callerAP is the uplink's gnss_assist_position (at gnss_assist_altitude).
func callerAP(m *Message) *geo.LLH {
	g := &m.GNSS
	if !g.HasAssistPosition {
		return nil
	}
	p := &geo.LLH{Lat: g.AssistLat, Lon: g.AssistLon}
	if g.HasAssistAltitude {
		p.Height = g.AssistAltitude
	}
	return p
}

// lastPosition is the newest position of the device's history.
func lastPosition(d *store.Device) *geo.LLH {
	if len(d.Positions) == 0 {
		return nil
	}
	l := d.Positions[len(d.Positions)-1].LLH
	if math.IsNaN(l[0]) || math.IsNaN(l[1]) {
		return nil
	}
	return &geo.LLH{Lat: l[0], Lon: l[1], Height: l[2]}
}

func positionOf(alg string, sol gnss.Solution, ts float64) *store.Position {
	return &store.Position{Algorithm: alg, ECEF: sol.ECEF, LLH: [3]float64{sol.LLH.Lat, sol.LLH.Lon, sol.LLH.Height},
		CaptureTimeGPS: sol.CaptureTimeGPS, GDOP: sol.GDOP, Accuracy: sol.Accuracy, Time: ts}
}

// gnssFailure logs a failed solve: measurement problems are warnings,
// missing orbit data and other failures errors.
func gnssFailure(s *State, err error) {
	level := store.LevelError
	for _, e := range []error{gnss.ErrTooFewSVs, gnss.ErrCaptureTime, gnss.ErrIntegrity, gnss.ErrNoAssistance} {
		if errors.Is(err, e) {
			level = store.LevelWarning
		}
	}
	s.Log(level, "GNSS solve failed, no position: %v", err)
}

// gnssReqAid answers U-GNSSLOC-REQAID with D-GNSSLOC-AIDP.
func (p *Pipeline) gnssReqAid(s *State) {
	pos, src := callerAP(s.Msg), "gnss_assist_position"
	if pos == nil {
		pos, src = lastPosition(s.Dev), "the device's last position"
	}
	if pos == nil {
		s.Log(store.LevelError, "U-GNSSLOC-REQAID: gnss_assist_position is required to answer an aiding-position request (no earlier position of the device is known)")
		return
	}
	sendAIDP(s, pos, "requested by the device (U-GNSSLOC-REQAID), from "+src, true)
}

// gnssAiding sends D-GNSSLOC-AIDP when the device's assistance position is
// missing or wrong (gnss.md §4): no AP in the NAV, a Doppler-error flag, or
// the NAV's AP more than 150 km from the caller's assist position or from
// the solved position.
func (p *Pipeline) gnssAiding(s *State, m *nav.Message, fix *gnss.Solution) {
	var reasons []string
	lat, lon, hasAP := m.AssistPosition()
	navAP := geo.LLH{Lat: lat, Lon: lon}
	if !hasAP {
		reasons = append(reasons, "the NAV carries no assistance position")
	}
	flagged := 0
	for _, c := range m.Constellations {
		for _, sv := range c.SVs {
			if sv.DopplerError {
				flagged++
			}
		}
	}
	if flagged > 0 {
		reasons = append(reasons, fmt.Sprintf("%d satellite(s) carry the Doppler-error flag", flagged))
	}
	caller := callerAP(s.Msg)
	if hasAP && caller != nil {
		if d := geo.GreatCircle(navAP, *caller); d > aidingDistance {
			reasons = append(reasons, fmt.Sprintf("the NAV's assistance position is %.0f km from gnss_assist_position", d/1e3))
		}
	}
	if hasAP && fix != nil {
		if d := geo.GreatCircle(navAP, fix.LLH); d > aidingDistance {
			reasons = append(reasons, fmt.Sprintf("the NAV's assistance position is %.0f km from the solved position", d/1e3))
		}
	}
	if len(reasons) == 0 {
		return
	}
	why := strings.Join(reasons, "; ")
	switch {
	case fix != nil:
		sendAIDP(s, &fix.LLH, why+"; aiding with the solved position", false)
	case caller != nil:
		sendAIDP(s, caller, why+"; aiding with gnss_assist_position", false)
	case lastPosition(s.Dev) != nil:
		sendAIDP(s, lastPosition(s.Dev), why+"; aiding with the device's last position", false)
	default:
		s.Log(store.LevelWarning, "aiding position needed (%s) but no position of the device is known: send gnss_assist_position", why)
	}
}

// sendAIDP sets the aiding-position downlink on the GNSS port unless the
// downlink slot is taken (see gnssStage for the priority).
func sendAIDP(s *State, pos *geo.LLH, why string, requested bool) {
	payload := nav.AppendAIDPDownlink(nil, pos.Lat, pos.Lon)
	switch {
	case s.Result.Dnlink != nil:
		s.Log(store.LevelInfo, "aiding-position downlink not sent (%s): the downlink is already taken", why)
	case !requested && len(s.Dev.Requests) > 0:
		s.Log(store.LevelInfo, "aiding-position downlink deferred (%s): pending modem requests take the downlink first", why)
	case s.Msg.DnMTU > 0 && int(s.Msg.DnMTU) < len(payload):
		s.Log(store.LevelWarning, "aiding-position downlink not sent (%s): %d bytes exceed dn_mtu %d", why, len(payload), s.Msg.DnMTU)
	default:
		s.Result.Dnlink = &store.Dnlink{Port: s.Ports.GNSS, Payload: payload}
		s.Log(store.LevelInfo, "aiding-position downlink D-GNSSLOC-AIDP %.3f, %.3f: %s", pos.Lat, pos.Lon, why)
	}
}

// ngSession is the GNSS-NG state of a device: the NAVs of the open group
// and the solved groups kept for the sliding solve, all of one token.
type ngSession struct {
	Token  uint8         `json:"token"`
	Groups [][]ngCapture `json:"groups,omitempty"` // solved groups, oldest first
	Open   []ngCapture   `json:"open,omitempty"`
}

type ngCapture struct {
	NAV      []byte  `json:"nav"`
	Estimate float64 `json:"estimate"` // capture-time estimate, GPS s
	Accuracy float64 `json:"accuracy,omitempty"`
}

func (p *Pipeline) gnssNG(s *State) {
	hdr, navb, err := nav.SplitNG(s.Msg.Payload)
	if err != nil {
		s.Log(store.LevelError, "GNSS-NG message: %v", err)
		return
	}
	var sess ngSession
	if b := s.Dev.Sessions[SessionGNSSNG]; b != nil {
		if err := json.Unmarshal(b, &sess); err != nil {
			s.Log(store.LevelError, "stored GNSS-NG group unreadable (%v): starting over", err)
			sess = ngSession{}
		}
	}
	if sess.Token != hdr.Token {
		if len(sess.Open) > 0 {
			s.Log(store.LevelWarning, "GNSS-NG group token %d: %d NAV(s) dropped without their last NAV (token %d started)",
				sess.Token, len(sess.Open), hdr.Token)
		}
		sess = ngSession{Token: hdr.Token}
	}
	switch k := nav.Classify(navb); k {
	case nav.KindNAV1:
		if _, err := nav.Decode(navb); err != nil {
			s.Log(store.LevelError, "GNSS-NG NAV (token %d): %v", hdr.Token, err)
			break
		}
		if len(sess.Open) == maxNGCaptures {
			sess.Open = sess.Open[1:]
		}
		sess.Open = append(sess.Open, ngCapture{NAV: append([]byte(nil), navb...), Estimate: gnssEstimate(s.Msg),
			Accuracy: s.Msg.GNSS.CaptureTimeAccuracy})
	case nav.KindNAV2, nav.KindNAV3:
		s.Log(store.LevelError, "GNSS-NG %s message (first byte 0x%02x) is not supported: its layout is not published; OpenMGS solves NAV1 only", k, navb[0])
	default:
		s.Log(store.LevelError, "GNSS-NG payload (token %d) with first byte 0x%02x is not a NAV message", hdr.Token, navb[0])
	}
	if hdr.Last && len(sess.Open) > 0 {
		p.gnssNGSolve(s, &sess)
	}
	b, err := json.Marshal(&sess)
	if err != nil {
		s.Log(store.LevelError, "GNSS-NG group state: %v", err)
		return
	}
	setSession(s.Dev, SessionGNSSNG, b)
}

// gnssNGSolve solves the open group, with the kept groups of the same token
// when they fit, and moves it to the kept groups on success.
func (p *Pipeline) gnssNGSolve(s *State, sess *ngSession) {
	open := sess.Open
	sess.Open = nil
	var prev [][]ngCapture
	n := len(open)
	for i := len(sess.Groups) - 1; i >= 0 && len(prev) < ngKeepGroups; i-- {
		if n+len(sess.Groups[i]) > maxNGCaptures {
			break
		}
		n += len(sess.Groups[i])
		prev = append([][]ngCapture{sess.Groups[i]}, prev...)
	}
	groups := append(prev, open)
	sol, err := p.solveGroups(s, groups)
	if err != nil && len(prev) > 0 {
		var err2 error
		groups = [][]ngCapture{open}
		if sol, err2 = p.solveGroups(s, groups); err2 == nil {
			s.Log(store.LevelWarning, "GNSS-NG token %d: the %d earlier group(s) do not fit the last one (%v); solved the last group alone",
				sess.Token, len(prev), err)
			sess.Groups = nil
		}
		err = err2
	}
	if err != nil {
		gnssFailure(s, fmt.Errorf("GNSS-NG token %d: %w", sess.Token, err))
		return
	}
	sess.Groups = append(sess.Groups, open)
	if len(sess.Groups) > ngKeepGroups {
		sess.Groups = sess.Groups[len(sess.Groups)-ngKeepGroups:]
	}
	pos := positionOf(AlgorithmGNSSNG, sol, s.Msg.Timestamp)
	// One capture time per group: that of its most recent scan.
	j := -1
	for _, g := range groups {
		j += len(g)
		t := math.NaN()
		if j < len(sol.CaptureTimesGPS) {
			t = sol.CaptureTimesGPS[j]
		}
		pos.CaptureTimesGPS = append(pos.CaptureTimesGPS, t)
	}
	s.Result.Position = pos
}

// solveGroups solves the NAVs of groups as one multi-frame request. The
// time accuracy is the largest of the captures' (default 300 s each).
func (p *Pipeline) solveGroups(s *State, groups [][]ngCapture) (gnss.Solution, error) {
	var caps []gnss.Capture
	var navAP *geo.LLH
	acc := 0.0
	for _, g := range groups {
		for _, c := range g {
			m, err := nav.Decode(c.NAV)
			if err != nil {
				return gnss.Solution{}, err
			}
			capt, ap, _ := gnss.FromNAV(&m, c.Estimate)
			if ap != nil {
				navAP = ap
			}
			caps = append(caps, capt)
			a := c.Accuracy
			if a == 0 {
				a = gnss.DefaultTimeAccuracy
			}
			acc = math.Max(acc, a)
		}
	}
	req := p.gnssRequest(s, caps)
	req.TimeAccuracy = acc
	return p.gnssSolve(s, req, navAP)
}
