package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/gnssdata"
	"github.com/openmgs/openmgs/internal/lora"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/solver/geo"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/gnss/nav"
	"github.com/openmgs/openmgs/solver/gnss/orbit"
)

// Limits of the geolocation API.
const (
	MaxGNSSCaptures     = 16      // captures per SolveGnss (the solver's multi-frame limit)
	MaxGNSSMeasurements = 64      // plain measurements per capture
	MaxImportChunk      = 1 << 20 // bytes per ImportOrbits message
	MaxOrbitImportIDs   = 1000    // ids per DeleteOrbitImports
)

// Geolocation implements mgs.v1.GeolocationService over the orbit data
// service. The HTTP solve endpoints call SolveGnss in-process.
type Geolocation struct {
	mgsv1.UnimplementedGeolocationServiceServer
	svc *gnssdata.Service
	log *slog.Logger
	// Now is the clock of capture-time defaults (default time.Now).
	Now func() time.Time
	// MaxImportBytes bounds an uploaded file as sent (default
	// gnssdata.DefaultMaxFileBytes).
	MaxImportBytes int
	// WiFi serves the Wi-Fi RPCs (wifi.go); nil: they fail with FAILED_PRECONDITION.
	WiFi *WiFi
}

// errNoGNSS answers the GNSS RPCs of a server without orbit data service.
var errNoGNSS = status.Error(codes.FailedPrecondition, "GNSS positioning is not configured on this server")

// NewGeolocation returns the service; svc nil serves no GNSS (the GNSS RPCs
// fail with FAILED_PRECONDITION); log may be nil.
func NewGeolocation(svc *gnssdata.Service, log *slog.Logger) *Geolocation {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Geolocation{svc: svc, log: log, Now: time.Now, MaxImportBytes: gnssdata.DefaultMaxFileBytes}
}

// Orbits returns the orbit data service.
func (g *Geolocation) Orbits() *gnssdata.Service { return g.svc }

// SolveGnss converts the request, tries the assistance positions in turn
// (gnss_assist_position, the NAV's own, a Doppler-only fix) and reports the
// first fix. See the proto for the error model.
func (g *Geolocation) SolveGnss(_ context.Context, req *mgsv1.SolveGnssRequest) (*mgsv1.SolveGnssResponse, error) {
	if g.svc == nil {
		return nil, errNoGNSS
	}
	greq, navAP, warnings, err := g.gnssRequest(req)
	if err != nil {
		return nil, Status(err)
	}
	var cands []*geo.LLH
	switch {
	case greq.AssistPosition != nil:
		cands = append(cands, greq.AssistPosition)
		if navAP != nil && geo.GreatCircle(*navAP, *greq.AssistPosition) > 20e3 {
			cands = append(cands, navAP)
		}
	case navAP != nil:
		cands = append(cands, navAP)
	}
	if len(cands) == 0 || requestHasDoppler(greq) {
		cands = append(cands, nil)
	}
	var first error
	for i, ap := range cands {
		greq.AssistPosition = ap
		sol, err := g.svc.Solve(greq)
		if err == nil {
			if i > 0 {
				warnings = append(warnings, fmt.Sprintf("%v; solved from %s instead", first, apName(ap)))
			}
			return &mgsv1.SolveGnssResponse{Solution: SolutionToPB(sol), Warnings: warnings}, nil
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, gnss.ErrIntegrity) && !errors.Is(err, gnss.ErrCaptureTime) && !errors.Is(err, gnss.ErrNoAssistance) {
			break
		}
	}
	switch {
	case errors.Is(first, gnssdata.ErrNoData):
		return nil, status.Error(codes.FailedPrecondition, first.Error())
	case errors.Is(first, gnss.ErrInvalidInput):
		return nil, status.Error(codes.InvalidArgument, first.Error())
	case errors.Is(first, gnss.ErrTooFewSVs), errors.Is(first, gnss.ErrNoOrbit), errors.Is(first, gnss.ErrCaptureTime),
		errors.Is(first, gnss.ErrIntegrity), errors.Is(first, gnss.ErrNoAssistance):
		return &mgsv1.SolveGnssResponse{Warnings: warnings, Errors: []string{first.Error()}}, nil
	}
	g.log.Error("gnss solve failed", "err", first)
	return nil, Status(first)
}

func apName(ap *geo.LLH) string {
	if ap == nil {
		return "a Doppler-only fix"
	}
	return "the NAV's assistance position"
}

func requestHasDoppler(r gnss.Request) bool {
	for _, c := range r.Captures {
		for _, m := range c.Measurements {
			if m.HasDoppler {
				return true
			}
		}
	}
	return false
}

// gnssRequest validates and converts a SolveGnssRequest. navAP is the
// assistance position of the first NAV that carries one.
func (g *Geolocation) gnssRequest(req *mgsv1.SolveGnssRequest) (r gnss.Request, navAP *geo.LLH, warnings []string, err error) {
	n := len(req.Captures)
	if n == 0 {
		return r, nil, nil, fieldErr("captures", "at least one capture is required")
	}
	if n > MaxGNSSCaptures {
		return r, nil, nil, fieldErr("captures", "%d captures; at most %d", n, MaxGNSSCaptures)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if req.GnssCaptureTime != nil && !(finite(*req.GnssCaptureTime) && *req.GnssCaptureTime >= 0) {
		return r, nil, nil, fieldErr("gnss_capture_time", "must be finite, non-negative GPS seconds")
	}
	if a := req.GnssCaptureTimeAccuracy; a != nil {
		if !(finite(*a) && *a >= 0) {
			return r, nil, nil, fieldErr("gnss_capture_time_accuracy", "must be a non-negative number of seconds")
		}
		r.TimeAccuracy = *a
	}
	switch len(req.GnssAssistPosition) {
	case 0:
	case 2:
		lat, lon := req.GnssAssistPosition[0], req.GnssAssistPosition[1]
		if !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) {
			return r, nil, nil, fieldErr("gnss_assist_position", "[%v, %v] is not a latitude/longitude in degrees", lat, lon)
		}
		r.AssistPosition = &geo.LLH{Lat: lat, Lon: lon}
	default:
		return r, nil, nil, fieldErr("gnss_assist_position", "must be [latitude, longitude], got %d numbers", len(req.GnssAssistPosition))
	}
	if a := req.GnssAssistAltitude; a != nil {
		if !finite(*a) {
			return r, nil, nil, fieldErr("gnss_assist_altitude", "must be finite")
		}
		alt := *a
		r.AssistAltitude = &alt
		if r.AssistPosition != nil {
			r.AssistPosition.Height = alt
		}
	}
	if req.GnssUse_2DSolver {
		if r.AssistAltitude == nil {
			return r, nil, nil, fieldErr("gnss_assist_altitude", "required when gnss_use_2D_solver is true")
		}
		r.Use2D = true
	}
	def := lora.TimeToGPS(g.Now())
	if req.GnssCaptureTime != nil {
		def = *req.GnssCaptureTime
	}
	for i, pc := range req.Captures {
		field := fmt.Sprintf("captures[%d]", i)
		est := def
		if pc.GnssCaptureTime != nil {
			if !(finite(*pc.GnssCaptureTime) && *pc.GnssCaptureTime >= 0) {
				return r, nil, nil, fieldErr(field+".gnss_capture_time", "must be finite, non-negative GPS seconds")
			}
			est = *pc.GnssCaptureTime
		}
		var c gnss.Capture
		switch {
		case pc.Payload != "" && len(pc.Measurements) > 0:
			return r, nil, nil, fieldErr(field, "give either payload or measurements, not both")
		case pc.Payload != "":
			var ap *geo.LLH
			var skipped int
			c, ap, skipped, err = captureFromNAV(field+".payload", pc.Payload, est)
			if err != nil {
				return r, nil, nil, err
			}
			if ap != nil && navAP == nil {
				navAP = ap
			}
			if skipped > 0 {
				warnings = append(warnings, fmt.Sprintf("%s: %d satellite record(s) without usable GPS/BeiDou measurements ignored", field, skipped))
			}
		case len(pc.Measurements) > 0:
			if c, err = captureFromMeasurements(field+".measurements", pc.Measurements, est); err != nil {
				return r, nil, nil, err
			}
		default:
			return r, nil, nil, fieldErr(field, "a payload or measurements are required")
		}
		r.Captures = append(r.Captures, c)
	}
	return r, navAP, warnings, nil
}

// captureFromNAV decodes a NAV1 payload given as hex.
func captureFromNAV(field, payload string, est float64) (gnss.Capture, *geo.LLH, int, error) {
	b, err := hex.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return gnss.Capture{}, nil, 0, fieldErr(field, "not hex: %v", err)
	}
	switch k := nav.Classify(b); k {
	case nav.KindNAV1:
	case nav.KindREQAID:
		return gnss.Capture{}, nil, 0, fieldErr(field, "first byte 0x00 is U-GNSSLOC-REQAID (an aiding request), not a NAV message")
	case nav.KindNAV2, nav.KindNAV3:
		return gnss.Capture{}, nil, 0, fieldErr(field, "%s message (first byte 0x%02x): its layout is not published; OpenMGS solves NAV1 only", k, b[0])
	default:
		if len(b) == 0 {
			return gnss.Capture{}, nil, 0, fieldErr(field, "empty")
		}
		return gnss.Capture{}, nil, 0, fieldErr(field, "first byte 0x%02x is not a NAV message", b[0])
	}
	m, err := nav.Decode(b)
	if err != nil {
		return gnss.Capture{}, nil, 0, fieldErr(field, "%v", err)
	}
	c, ap, skipped := gnss.FromNAV(&m, est)
	return c, ap, skipped, nil
}

// captureFromMeasurements converts plain measurements (no time indicator:
// the estimate and accuracy place the capture).
func captureFromMeasurements(field string, ms []*mgsv1.GnssMeasurement, est float64) (gnss.Capture, error) {
	if len(ms) > MaxGNSSMeasurements {
		return gnss.Capture{}, fieldErr(field, "%d measurements; at most %d", len(ms), MaxGNSSMeasurements)
	}
	c := gnss.Capture{TimeEstimate: est}
	seen := map[orbit.SatID]bool{}
	for i, pm := range ms {
		f := fmt.Sprintf("%s[%d]", field, i)
		var id orbit.SatID
		switch strings.ToLower(strings.TrimSpace(pm.Constellation)) {
		case "gps", "g":
			id = orbit.SatID{Sys: orbit.GPS, PRN: int(pm.Prn)}
			if pm.Prn < 1 || pm.Prn > 32 {
				return c, fieldErr(f+".prn", "GPS PRN %d is outside 1..32", pm.Prn)
			}
		case "beidou", "bds", "c":
			id = orbit.SatID{Sys: orbit.BeiDou, PRN: int(pm.Prn)}
			if pm.Prn < 1 || pm.Prn > 63 {
				return c, fieldErr(f+".prn", "BeiDou PRN %d is outside 1..63", pm.Prn)
			}
		default:
			return c, fieldErr(f+".constellation", "%q is not gps or beidou", pm.Constellation)
		}
		if seen[id] {
			return c, fieldErr(f, "%v given twice", id)
		}
		seen[id] = true
		if !(pm.CodePhaseMs >= 0 && pm.CodePhaseMs < 1) {
			return c, fieldErr(f+".code_phase_ms", "%v is outside [0, 1)", pm.CodePhaseMs)
		}
		m := gnss.Measurement{Sat: id, CodePhase: pm.CodePhaseMs, HasCodePhase: true}
		if pm.DopplerHz != nil {
			if !(math.Abs(*pm.DopplerHz) < 50e3) {
				return c, fieldErr(f+".doppler_hz", "%v Hz is not a plausible Doppler", *pm.DopplerHz)
			}
			m.Doppler, m.HasDoppler = *pm.DopplerHz, true
		}
		if pm.Cn0 != nil {
			if !(*pm.Cn0 >= 0 && *pm.Cn0 <= 70) {
				return c, fieldErr(f+".cn0", "%v dB-Hz is outside 0..70", *pm.Cn0)
			}
			m.CN0 = *pm.Cn0
		}
		c.Measurements = append(c.Measurements, m)
	}
	return c, nil
}

// SolutionToPB converts a fix.
func SolutionToPB(s gnss.Solution) *mgsv1.GnssSolution {
	pb := &mgsv1.GnssSolution{Ecef: []float64{s.ECEF[0], s.ECEF[1], s.ECEF[2]}, Llh: []float64{s.LLH.Lat, s.LLH.Lon, s.LLH.Height},
		CaptureTimeGps: s.CaptureTimeGPS, CaptureTimeUtc: lora.GPSToUnix(s.CaptureTimeGPS), CaptureTimesGps: s.CaptureTimesGPS,
		Gdop: s.GDOP, Accuracy: s.Accuracy, NumSvs: uint32(s.NumSVs), ResidualRms: s.ResidualRMS, DopplerSeed: s.DopplerSeed}
	for _, id := range s.Excluded {
		pb.Excluded = append(pb.Excluded, id.String())
	}
	return pb
}

// ImportOrbits receives the file in chunks and imports it.
func (g *Geolocation) ImportOrbits(stream mgsv1.GeolocationService_ImportOrbitsServer) error {
	if g.svc == nil {
		return errNoGNSS
	}
	var name, fmtName string
	var data []byte
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if first {
			name, fmtName = strings.TrimSpace(msg.Name), msg.Format
		} else if msg.Name != "" || msg.Format != "" {
			return Status(fieldErr("name", "name and format belong in the first message only"))
		}
		if len(msg.Data) > MaxImportChunk {
			return Status(fieldErr("data", "chunk of %d bytes; at most %d per message", len(msg.Data), MaxImportChunk))
		}
		if len(data)+len(msg.Data) > g.MaxImportBytes {
			return status.Errorf(codes.InvalidArgument, "data: the file exceeds %d bytes", g.MaxImportBytes)
		}
		data = append(data, msg.Data...)
	}
	if len(data) == 0 {
		return Status(fieldErr("data", "the file is empty"))
	}
	format, err := gnssdata.ParseFormat(fmtName)
	if err != nil {
		return Status(fieldErr("format", "%q is not rinex, yuma or auto", fmtName))
	}
	if len(name) > 256 {
		return Status(fieldErr("name", "longer than 256 characters"))
	}
	res, err := g.svc.Import(stream.Context(), name, format, data)
	var fe *gnssdata.FileError
	switch {
	case errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, gnssdata.ErrRetention):
		return status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		if isInternal(err) {
			g.log.Error("orbit import failed", "name", name, "err", err)
		}
		return Status(err)
	}
	resp := &mgsv1.ImportOrbitsResponse{Import: ImportToPB(res.Import), Duplicate: res.Duplicate}
	for _, p := range res.Pruned {
		resp.Pruned = append(resp.Pruned, ImportToPB(p))
	}
	return stream.SendAndClose(resp)
}

// ImportToPB converts an import description.
func ImportToPB(i gnssdata.Import) *mgsv1.OrbitImport {
	return &mgsv1.OrbitImport{Id: i.ID, Name: i.Name, Format: string(i.Format), Version: i.Version, Imported: i.Imported, Size: i.Size,
		Sha256: i.SHA256, GpsEphemerides: uint32(i.Counts.GPS), BeidouEphemerides: uint32(i.Counts.BeiDou),
		Almanacs: uint32(i.Counts.Almanacs), Skipped: uint32(i.Counts.Skipped), FromGps: i.Counts.From, ToGps: i.Counts.To, Iono: i.Iono,
		DataEndGps: i.DataEnd}
}

// GetOrbitStatus describes the loaded orbit data.
func (g *Geolocation) GetOrbitStatus(context.Context, *mgsv1.GetOrbitStatusRequest) (*mgsv1.GetOrbitStatusResponse, error) {
	if g.svc == nil {
		return nil, errNoGNSS
	}
	st := g.svc.Status()
	resp := &mgsv1.GetOrbitStatusResponse{EphemerisSatellites: uint32(st.EphemerisSats), AlmanacSatellites: uint32(st.AlmanacSats),
		ValidNow: uint32(st.ValidNow), AlmanacNow: uint32(st.AlmanacNow), ValidFromGps: st.ValidFrom, ValidToGps: st.ValidTo,
		NewestGps: st.Newest, AgeSeconds: st.Age, NowGps: st.Now, Iono: st.Iono, RetentionSeconds: st.Retention.Seconds(),
		RetainFromGps: st.RetainFrom}
	for _, i := range st.Imports {
		resp.Imports = append(resp.Imports, ImportToPB(i))
	}
	for _, s := range st.Sats {
		resp.Satellites = append(resp.Satellites, &mgsv1.SatelliteOrbit{Sat: s.Sat.String(), Constellation: strings.ToLower(s.Sat.Sys.String()),
			Prn: uint32(s.Sat.PRN), Ephemerides: uint32(s.Ephemerides), Almanacs: uint32(s.Almanacs),
			EphemerisFromGps: s.EphemerisFrom, EphemerisToGps: s.EphemerisTo, AlmanacRefGps: s.AlmanacRef})
	}
	return resp, nil
}

// DeleteOrbitImports removes imports by id.
func (g *Geolocation) DeleteOrbitImports(ctx context.Context, req *mgsv1.DeleteOrbitImportsRequest) (*mgsv1.DeleteOrbitImportsResponse, error) {
	if g.svc == nil {
		return nil, errNoGNSS
	}
	switch n := len(req.Ids); {
	case n == 0:
		return nil, Status(fieldErr("ids", "at least one import id is required"))
	case n > MaxOrbitImportIDs:
		return nil, Status(fieldErr("ids", "%d ids; at most %d", n, MaxOrbitImportIDs))
	}
	deleted, err := g.svc.Delete(ctx, req.Ids...)
	if err != nil {
		if isInternal(err) {
			g.log.Error("orbit import delete failed", "ids", req.Ids, "err", err)
		}
		return nil, Status(err)
	}
	resp := &mgsv1.DeleteOrbitImportsResponse{Deleted: uint32(len(deleted))}
	for _, id := range req.Ids {
		if !slices.ContainsFunc(deleted, func(i gnssdata.Import) bool { return i.ID == id }) && !slices.Contains(resp.NotFound, id) {
			resp.NotFound = append(resp.NotFound, id)
		}
	}
	return resp, nil
}
