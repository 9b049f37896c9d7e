package httpapi

import (
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// The GNSS solve endpoints of LoRa Cloud (gnss.md §3), answered by the
// GeolocationService in-process:
//
//	POST /api/v1/solve/gnss_lr1110_singleframe
//	POST /api/v1/solve/gnss_lora_edge_singleframe
//	     {"payload": hex, "gnss_capture_time", "gnss_capture_time_accuracy",
//	      "gnss_assist_position": [lat, lon], "gnss_assist_altitude",
//	      "gnss_use_2D_solver"}
//	POST /api/v1/solve/gnss_lr1110_multiframe
//	     {"captures": [{"payload", "gnss_capture_time"}, …], same options}
//
// The result is {"ecef", "llh", "capture_time_gps", "capture_time_utc",
// "gdop", "accuracy"} (multiframe adds "capture_times_gps"). A request
// that gives no fix answers 200 with "result": null and the reason in
// "errors", as LoRa Cloud does; malformed requests 400; a server without
// orbit data 503; a server without the GNSS solver 501.

// gnssOptions are the solver options shared by both request shapes.
type gnssOptions struct {
	CaptureTime         *float64  `json:"gnss_capture_time"`
	CaptureTimeAccuracy *float64  `json:"gnss_capture_time_accuracy"`
	AssistPosition      []float64 `json:"gnss_assist_position"`
	AssistAltitude      *float64  `json:"gnss_assist_altitude"`
	Use2D               bool      `json:"gnss_use_2D_solver"`
}

type gnssSingleBody struct {
	Payload string `json:"payload"`
	gnssOptions
}

type gnssMultiBody struct {
	Captures []struct {
		Payload     string   `json:"payload"`
		CaptureTime *float64 `json:"gnss_capture_time"`
	} `json:"captures"`
	gnssOptions
}

// gnssResult is the LoRa Cloud GNSS solver result.
type gnssResult struct {
	ECEF            []float64 `json:"ecef"`
	LLH             []float64 `json:"llh"`
	CaptureTimeGPS  float64   `json:"capture_time_gps"`
	CaptureTimeUTC  float64   `json:"capture_time_utc"`
	CaptureTimesGPS []float64 `json:"capture_times_gps,omitempty"`
	GDOP            float64   `json:"gdop"`
	Accuracy        float64   `json:"accuracy"`
}

func (o *gnssOptions) request(caps []*mgsv1.GnssCapture) *mgsv1.SolveGnssRequest {
	return &mgsv1.SolveGnssRequest{Captures: caps, GnssCaptureTime: o.CaptureTime, GnssCaptureTimeAccuracy: o.CaptureTimeAccuracy,
		GnssAssistPosition: o.AssistPosition, GnssAssistAltitude: o.AssistAltitude, GnssUse_2DSolver: o.Use2D}
}

func gnssSingleframe(what string) func(a *API, r *request) (*reply, error) {
	return func(a *API, r *request) (*reply, error) {
		if !a.gnssConfigured() {
			return notAvailable(what)(a, r)
		}
		var body gnssSingleBody
		if err := decodeJSON(r.body, &body); err != nil {
			return nil, err
		}
		if body.Payload == "" {
			return nil, badRequest("payload: required (the NAV message as hex, without the destination byte)")
		}
		return a.solveGnss(r, body.request([]*mgsv1.GnssCapture{{Payload: body.Payload}}), false)
	}
}

func (a *API) gnssMultiframe(r *request) (*reply, error) {
	if !a.gnssConfigured() {
		return notAvailable("GNSS (LR1110 multi-frame)")(a, r)
	}
	var body gnssMultiBody
	if err := decodeJSON(r.body, &body); err != nil {
		return nil, err
	}
	if len(body.Captures) == 0 {
		return nil, badRequest("captures: at least one capture {payload, gnss_capture_time} is required")
	}
	caps := make([]*mgsv1.GnssCapture, len(body.Captures))
	for i, c := range body.Captures {
		caps[i] = &mgsv1.GnssCapture{Payload: c.Payload, GnssCaptureTime: c.CaptureTime}
	}
	return a.solveGnss(r, body.request(caps), true)
}

// gnssConfigured reports whether the server has the GNSS solver (the
// GeolocationService may serve Wi-Fi only).
func (a *API) gnssConfigured() bool {
	return a.opts.Geolocation != nil && a.opts.Geolocation.Orbits() != nil
}

func (a *API) solveGnss(r *request, req *mgsv1.SolveGnssRequest, multi bool) (*reply, error) {
	resp, err := a.opts.Geolocation.SolveGnss(r.Context(), req)
	if status.Code(err) == codes.FailedPrecondition {
		return nil, &apiError{http.StatusServiceUnavailable, status.Convert(err).Message()}
	}
	if err != nil {
		return nil, err
	}
	s := resp.Solution
	if s == nil {
		// 200 with "result": null and the reason in "errors".
		msg := "no position"
		if len(resp.Errors) > 0 {
			msg = strings.Join(resp.Errors, "; ")
		}
		return nil, &apiError{http.StatusOK, msg}
	}
	res := &gnssResult{ECEF: s.Ecef, LLH: s.Llh, CaptureTimeGPS: s.CaptureTimeGps, CaptureTimeUTC: s.CaptureTimeUtc, GDOP: s.Gdop,
		Accuracy: s.Accuracy}
	if multi {
		res.CaptureTimesGPS = s.CaptureTimesGps
	}
	return &reply{result: res, warnings: resp.Warnings}, nil
}
