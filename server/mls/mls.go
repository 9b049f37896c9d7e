package mls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/wifidb"
)

// Paths served.
const (
	GeolocatePath = "/v1/geolocate"
	GeosubmitPath = "/v2/geosubmit"
)

// Locator solves a scan; *wifi.Solver implements it.
type Locator interface {
	Solve(obs []wifi.Observation) (wifi.Solution, error)
}

// Submitter stores sightings; *wifidb.DB implements it.
type Submitter interface {
	Observe(ctx context.Context, src wifidb.Source, s []wifidb.Sighting) (wifidb.ObserveResult, error)
}

// Options configure the handler.
type Options struct {
	// Locator answers geolocate (required).
	Locator Locator
	// Confidence is the probability of the Locator's accuracy radius
	// (default 0.68, the solver's); answers are converted to 95 %.
	Confidence float64
	// Submitter takes geosubmit data; nil answers geosubmit with 403.
	Submitter Submitter
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxAPs bounds the access points used per query or item (default 64).
	MaxAPs int
	// Now is the clock of items without timestamp (default time.Now).
	Now func() time.Time
	// Logger receives unexpected errors; nil discards.
	Logger *slog.Logger
}

// Handler serves GeolocatePath and GeosubmitPath.
type Handler struct {
	o     Options
	scale float64 // Locator accuracy → 95 % radius
}

// New returns the handler.
func New(o Options) (*Handler, error) {
	if o.Locator == nil {
		return nil, errors.New("mls: Options.Locator is required")
	}
	if o.Confidence == 0 {
		o.Confidence = 0.68
	}
	if !(o.Confidence > 0 && o.Confidence < 1) {
		return nil, fmt.Errorf("mls: Confidence %v is not in (0, 1)", o.Confidence)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxAPs <= 0 {
		o.MaxAPs = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// Radius of a circular Gaussian holding probability p: σ·√(−2 ln(1−p)).
	k := func(p float64) float64 { return math.Sqrt(-2 * math.Log(1-p)) }
	return &Handler{o: o, scale: k(0.95) / k(o.Confidence)}, nil
}

// Mount returns a handler that serves the MLS paths with h, each wrapped
// by protect (the server's token check, given the path), and every other
// request with next. MLS clients send their key as ?key=…: it is moved
// into the Authorization header when the request has none.
func Mount(next, h http.Handler, protect func(path string, h http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	for _, p := range []string{GeolocatePath, GeosubmitPath} {
		mux.Handle(p, keyParam(protect(p, h)))
	}
	return mux
}

// keyParam copies the "key" query parameter into Authorization.
func keyParam(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.URL.Query().Get("key"); k != "" && r.Header.Get("Authorization") == "" &&
			r.Header.Get("Ocp-Apim-Subscription-Key") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", k)
		}
		h.ServeHTTP(w, r)
	})
}

// AP is an access point of a geolocate query or geosubmit item.
type AP struct {
	MACAddress     string   `json:"macAddress"`
	SignalStrength *float64 `json:"signalStrength,omitempty"`
	Age            *float64 `json:"age,omitempty"`
	SSID           string   `json:"ssid,omitempty"`
	// Channel, frequency and SNR are accepted and not used.
	Channel            *float64 `json:"channel,omitempty"`
	Frequency          *float64 `json:"frequency,omitempty"`
	SignalToNoiseRatio *float64 `json:"signalToNoiseRatio,omitempty"`
}

// GeolocateRequest is the body of POST /v1/geolocate (the fields used).
type GeolocateRequest struct {
	ConsiderIP       *bool `json:"considerIp,omitempty"`
	WiFiAccessPoints []AP  `json:"wifiAccessPoints"`
}

// Location is a position of a geolocate answer.
type Location struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// GeolocateResponse is a 200 answer.
type GeolocateResponse struct {
	Location Location `json:"location"`
	Accuracy float64  `json:"accuracy"`
}

// Position is the observer position of a geosubmit item.
type Position struct {
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
	Accuracy  *float64 `json:"accuracy,omitempty"`
	Age       *float64 `json:"age,omitempty"`
	Speed     *float64 `json:"speed,omitempty"`
}

// Item is one geosubmit observation.
type Item struct {
	Timestamp        *float64  `json:"timestamp,omitempty"` // ms since the Unix epoch
	Position         *Position `json:"position"`
	WiFiAccessPoints []AP      `json:"wifiAccessPoints"`
}

// GeosubmitRequest is the body of POST /v2/geosubmit.
type GeosubmitRequest struct {
	Items []Item `json:"items"`
}

// errorBody is ichnaea's error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Errors  []errorItem `json:"errors"`
	Code    int         `json:"code"`
	Message string      `json:"message"`
}

type errorItem struct {
	Domain  string `json:"domain"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"errors":[],"code":500,"message":"Internal Error"}}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

func writeError(w http.ResponseWriter, code int, domain, reason, msg string) {
	writeJSON(w, code, errorBody{Error: errorDetail{Errors: []errorItem{{Domain: domain, Reason: reason, Message: msg}}, Code: code, Message: msg}})
}

// ServeHTTP serves the two endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request, []byte)
	switch r.URL.Path {
	case GeolocatePath:
		serve = h.geolocate
	case GeosubmitPath:
		serve = h.geosubmit
	default:
		writeError(w, http.StatusNotFound, "global", "notFound", "Not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "global", "methodNotAllowed", "Method Not Allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "global", "payloadTooLarge", fmt.Sprintf("Body larger than %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "global", "parseError", "Parse Error")
		return
	}
	serve(w, r, body)
}

func (h *Handler) parse(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "global", "parseError", "Parse Error")
		return false
	}
	return true
}

// observation converts one AP when it is usable: parseable, universally
// administered, not "_nomap".
func observation(a AP) (wifi.Observation, bool) {
	mac, err := wifi.ParseMAC(strings.TrimSpace(a.MACAddress))
	if err != nil || wifidb.CheckMAC(mac) != nil || strings.HasSuffix(a.SSID, "_nomap") {
		return wifi.Observation{}, false
	}
	o := wifi.Observation{MAC: mac}
	if s := a.SignalStrength; s != nil && *s < 0 && *s > -128 {
		o.RSSI, o.HasRSSI = int(math.Round(*s)), true
	}
	return o, true
}

// observations converts the usable APs of a query, at most MaxAPs.
func (h *Handler) observations(aps []AP) []wifi.Observation {
	var obs []wifi.Observation
	for _, a := range aps {
		if o, ok := observation(a); ok && len(obs) < h.o.MaxAPs {
			obs = append(obs, o)
		}
	}
	return obs
}

func (h *Handler) geolocate(w http.ResponseWriter, r *http.Request, body []byte) {
	var req GeolocateRequest
	if !h.parse(w, body, &req) {
		return
	}
	obs := h.observations(req.WiFiAccessPoints)
	if len(wifi.Dedup(obs)) < wifi.MinAPs {
		writeError(w, http.StatusNotFound, "geolocation", "notFound", "Not found")
		return
	}
	sol, err := h.o.Locator.Solve(obs)
	if err != nil {
		if !errors.Is(err, wifi.ErrTooFewKnownAPs) && !errors.Is(err, wifi.ErrNoConsistentCluster) {
			h.o.Logger.ErrorContext(r.Context(), "mls geolocate failed", "err", err)
		}
		writeError(w, http.StatusNotFound, "geolocation", "notFound", "Not found")
		return
	}
	acc := math.Round(sol.Accuracy*h.scale*10) / 10
	writeJSON(w, http.StatusOK, GeolocateResponse{Location: Location{Lat: round7(sol.Lat), Lng: round7(sol.Lon)}, Accuracy: acc})
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// walkingSpeed (m/s) widens a sighting's position uncertainty by the time
// between the position fix and the Wi-Fi scan when the item gives no speed.
const walkingSpeed = 1.5

func (h *Handler) geosubmit(w http.ResponseWriter, r *http.Request, body []byte) {
	if h.o.Submitter == nil {
		writeError(w, http.StatusForbidden, "global", "forbidden", "Submissions are not accepted by this server")
		return
	}
	var req GeosubmitRequest
	if !h.parse(w, body, &req) {
		return
	}
	now := h.o.Now()
	var sightings []wifidb.Sighting
	for _, it := range req.Items {
		p := it.Position
		if p == nil || p.Latitude == nil || p.Longitude == nil {
			continue
		}
		t := now.Unix()
		if it.Timestamp != nil && *it.Timestamp > 0 {
			t = int64(*it.Timestamp / 1000)
		}
		acc := 0.0
		if p.Accuracy != nil && *p.Accuracy > 0 {
			acc = *p.Accuracy
		}
		speed := walkingSpeed
		if p.Speed != nil && *p.Speed > 0 {
			speed = *p.Speed
		}
		posAge := 0.0
		if p.Age != nil {
			posAge = *p.Age
		}
		n := 0
		for _, ap := range it.WiFiAccessPoints {
			o, ok := observation(ap)
			if !ok || n == h.o.MaxAPs {
				continue
			}
			n++
			a := acc
			if age := ap.Age; age != nil && a > 0 {
				a = math.Hypot(a, speed*math.Abs(*age-posAge)/1000)
			}
			sightings = append(sightings, wifidb.Sighting{MAC: o.MAC, RSSI: o.RSSI, HasRSSI: o.HasRSSI, Lat: *p.Latitude,
				Lon: *p.Longitude, PosAccuracy: math.Min(a, wifidb.MaxAccuracy), Time: t})
		}
	}
	if len(sightings) > 0 {
		if _, err := h.o.Submitter.Observe(r.Context(), wifidb.SourceSubmitted, sightings); err != nil {
			h.o.Logger.ErrorContext(r.Context(), "mls geosubmit failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "global", "serviceUnavailable", "Service Unavailable")
			return
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
