package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
	"github.com/openmgs/openmgs/wifidb"
)

// Limits of the Wi-Fi API.
const (
	MaxWiFiObservations = 64   // access points per SolveWifi (the LR11xx reports at most 32)
	MaxAccessPointMACs  = 1000 // MACs per GetAccessPoints / DeleteAccessPoints
	exportPage          = 1000 // access points per ExportAccessPoints message
)

// WiFi is the Wi-Fi part of GeolocationService: scans solved against the
// access-point database, and the database itself. Geolocation serves it
// when its WiFi field is set; the HTTP endpoints call it in-process.
type WiFi struct {
	db     *wifidb.DB
	solver *wifi.Solver
	log    *slog.Logger
}

// NewWiFi returns the Wi-Fi service over db, solving with solver (which
// should use db as its source); log may be nil.
func NewWiFi(db *wifidb.DB, solver *wifi.Solver, log *slog.Logger) *WiFi {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WiFi{db: db, solver: solver, log: log}
}

// DB returns the access-point database.
func (w *WiFi) DB() *wifidb.DB { return w.db }

// Solver returns the solver.
func (w *WiFi) Solver() *wifi.Solver { return w.solver }

// errNoWiFi answers the Wi-Fi RPCs of a server without a database.
var errNoWiFi = status.Error(codes.FailedPrecondition, "Wi-Fi positioning is not configured on this server")

// SolveWifi implements GeolocationService.SolveWifi.
func (g *Geolocation) SolveWifi(ctx context.Context, req *mgsv1.SolveWifiRequest) (*mgsv1.SolveWifiResponse, error) {
	if g.WiFi == nil {
		return nil, errNoWiFi
	}
	return g.WiFi.SolveWifi(ctx, req)
}

// ImportAccessPoints implements GeolocationService.ImportAccessPoints.
func (g *Geolocation) ImportAccessPoints(stream mgsv1.GeolocationService_ImportAccessPointsServer) error {
	if g.WiFi == nil {
		return errNoWiFi
	}
	return g.WiFi.ImportAccessPoints(stream)
}

// GetAccessPoints implements GeolocationService.GetAccessPoints.
func (g *Geolocation) GetAccessPoints(ctx context.Context, req *mgsv1.GetAccessPointsRequest) (*mgsv1.GetAccessPointsResponse, error) {
	if g.WiFi == nil {
		return nil, errNoWiFi
	}
	return g.WiFi.GetAccessPoints(ctx, req)
}

// DeleteAccessPoints implements GeolocationService.DeleteAccessPoints.
func (g *Geolocation) DeleteAccessPoints(ctx context.Context, req *mgsv1.DeleteAccessPointsRequest) (*mgsv1.DeleteAccessPointsResponse, error) {
	if g.WiFi == nil {
		return nil, errNoWiFi
	}
	return g.WiFi.DeleteAccessPoints(ctx, req)
}

// ExportAccessPoints implements GeolocationService.ExportAccessPoints.
func (g *Geolocation) ExportAccessPoints(req *mgsv1.ExportAccessPointsRequest, stream mgsv1.GeolocationService_ExportAccessPointsServer) error {
	if g.WiFi == nil {
		return errNoWiFi
	}
	return g.WiFi.ExportAccessPoints(req, stream)
}

// SolveWifi converts the scan, drops locally administered MACs (warnings)
// and solves it. A scan without fix is answered with errors, not a status.
func (w *WiFi) SolveWifi(_ context.Context, req *mgsv1.SolveWifiRequest) (*mgsv1.SolveWifiResponse, error) {
	obs, err := wifiObservations(req)
	if err != nil {
		return nil, Status(err)
	}
	kept, dropped := wifi.SplitLocallyAdministered(obs)
	resp := &mgsv1.SolveWifiResponse{}
	if len(dropped) > 0 {
		macs := make([]string, len(dropped))
		for i, o := range dropped {
			macs[i] = wifi.MACString(o.MAC)
		}
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%d locally administered MAC address(es) ignored (randomised, likely mobile hotspots): %s",
			len(dropped), strings.Join(macs, ", ")))
	}
	sol, err := w.solver.Solve(kept)
	switch {
	case err == nil:
		resp.Solution = WiFiSolutionToPB(sol)
	case errors.Is(err, wifi.ErrTooFewKnownAPs), errors.Is(err, wifi.ErrNoConsistentCluster):
		resp.Errors = append(resp.Errors, err.Error())
	default:
		w.log.Error("wifi solve failed", "err", err)
		return nil, Status(err)
	}
	return resp, nil
}

// wifiObservations validates the access points or decodes the payload; at
// least two distinct MACs are required.
func wifiObservations(req *mgsv1.SolveWifiRequest) ([]wifi.Observation, error) {
	switch {
	case req.Payload != "" && len(req.AccessPoints) > 0:
		return nil, fieldErr("payload", "give either payload or access_points, not both")
	case req.Payload != "":
		b, err := hex.DecodeString(strings.TrimSpace(req.Payload))
		if err != nil {
			return nil, fieldErr("payload", "not hex: %v", err)
		}
		scan, err := uplink.DecodeWiFiPayload(b)
		if err != nil {
			return nil, fieldErr("payload", "%v", err)
		}
		if n := len(scan.APs); n > MaxWiFiObservations {
			return nil, fieldErr("payload", "%d access points; at most %d", n, MaxWiFiObservations)
		}
		return scan.APs, nil
	}
	if n := len(req.AccessPoints); n > MaxWiFiObservations {
		return nil, fieldErr("access_points", "%d access points; at most %d", n, MaxWiFiObservations)
	}
	obs := make([]wifi.Observation, 0, len(req.AccessPoints))
	for i, ap := range req.AccessPoints {
		mac, err := wifi.ParseMAC(strings.TrimSpace(ap.Mac))
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("access_points[%d].mac", i), "%q is not a MAC address (12 hex digits, optionally ':' or '-' separated)", ap.Mac)
		}
		o := wifi.Observation{MAC: mac}
		if ap.Rssi != 0 {
			if ap.Rssi < -127 || ap.Rssi > 0 {
				return nil, fieldErr(fmt.Sprintf("access_points[%d].rssi", i), "%d dBm is outside -127..-1 (0 means unknown)", ap.Rssi)
			}
			o.RSSI, o.HasRSSI = int(ap.Rssi), true
		}
		obs = append(obs, o)
	}
	if n := len(wifi.Dedup(obs)); n < wifi.MinAPs {
		return nil, fieldErr("access_points", "%d distinct MAC address(es); at least %d are required", n, wifi.MinAPs)
	}
	return obs, nil
}

// WiFiSolutionToPB converts a fix.
func WiFiSolutionToPB(s wifi.Solution) *mgsv1.WifiSolution {
	pb := &mgsv1.WifiSolution{Latitude: s.Lat, Longitude: s.Lon, Accuracy: s.Accuracy, Method: s.Method.String(),
		ApsUsed: uint32(s.APsUsed), ApsKnown: uint32(s.APsKnown)}
	for _, m := range s.Rejected {
		pb.Rejected = append(pb.Rejected, wifi.MACString(m))
	}
	return pb
}

// AccessPointToPB converts a database record.
func AccessPointToPB(r wifidb.Record) *mgsv1.AccessPoint {
	return &mgsv1.AccessPoint{Mac: wifi.MACString(r.MAC), Latitude: r.Lat, Longitude: r.Lon, Accuracy: r.Accuracy,
		Observations: r.Observations, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Source.Names()}
}

// importReader reads the chunks of an ImportAccessPoints stream.
type importReader struct {
	stream mgsv1.GeolocationService_ImportAccessPointsServer
	buf    []byte
	err    error
}

func (r *importReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		msg, err := r.stream.Recv()
		if err != nil {
			r.err = err // io.EOF at the end of the upload
			continue
		}
		if msg.Format != "" {
			r.err = fieldErr("format", "the format belongs in the first message only")
			continue
		}
		if len(msg.Data) > MaxImportChunk {
			r.err = fieldErr("data", "chunk of %d bytes; at most %d per message", len(msg.Data), MaxImportChunk)
			continue
		}
		r.buf = msg.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// ImportAccessPoints imports the uploaded file as it arrives.
func (w *WiFi) ImportAccessPoints(stream mgsv1.GeolocationService_ImportAccessPointsServer) error {
	first, err := stream.Recv()
	if err == io.EOF {
		return Status(fieldErr("data", "the file is empty"))
	}
	if err != nil {
		return err
	}
	format, err := wifidb.ParseFormat(first.Format)
	if err != nil {
		return Status(fieldErr("format", "%q is not wigle, csv, json or auto", first.Format))
	}
	if len(first.Data) > MaxImportChunk {
		return Status(fieldErr("data", "chunk of %d bytes; at most %d per message", len(first.Data), MaxImportChunk))
	}
	r := &importReader{stream: stream, buf: first.Data}
	ctx := stream.Context()
	st, err := w.db.Import(ctx, r, format, nil)
	if err != nil {
		var fe *uplink.FieldError
		switch {
		case errors.As(err, &fe):
			return Status(err)
		case errors.Is(err, wifidb.ErrFormat):
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if isInternal(err) {
			w.log.Error("access point import failed", "rows", st.Rows, "err", err)
		}
		return Status(err)
	}
	w.log.InfoContext(ctx, "access points imported", "format", st.Format, "rows", st.Rows, "accepted", st.Accepted,
		"rejected", st.RejectedTotal(), "created", st.Created, "updated", st.Updated, "total", w.db.Len())
	resp := &mgsv1.ImportAccessPointsResponse{Format: string(st.Format), Bytes: st.Bytes, Rows: st.Rows, Accepted: st.Accepted,
		Rejected: st.Rejected, Created: st.Created, Updated: st.Updated, Moved: st.Moved, Total: uint64(w.db.Len())}
	return stream.SendAndClose(resp)
}

// parseMACs parses the MACs of a Get/Delete request.
func parseMACs(macs []string) ([][6]byte, error) {
	if len(macs) == 0 {
		return nil, nil
	}
	if len(macs) > MaxAccessPointMACs {
		return nil, fieldErr("macs", "%d MACs; at most %d per call", len(macs), MaxAccessPointMACs)
	}
	out := make([][6]byte, len(macs))
	for i, s := range macs {
		m, err := wifi.ParseMAC(strings.TrimSpace(s))
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("macs[%d]", i), "%q is not a MAC address", s)
		}
		out[i] = m
	}
	return out, nil
}

// GetAccessPoints returns the stored records of the MACs.
func (w *WiFi) GetAccessPoints(ctx context.Context, req *mgsv1.GetAccessPointsRequest) (*mgsv1.GetAccessPointsResponse, error) {
	macs, err := parseMACs(req.Macs)
	if err != nil {
		return nil, Status(err)
	}
	resp := &mgsv1.GetAccessPointsResponse{Total: uint64(w.db.Len())}
	for _, m := range macs {
		r, err := w.db.Get(ctx, m)
		switch {
		case errors.Is(err, store.ErrNotFound):
			resp.NotFound = append(resp.NotFound, wifi.MACString(m))
		case err != nil:
			return nil, Status(err)
		default:
			resp.AccessPoints = append(resp.AccessPoints, AccessPointToPB(r))
		}
	}
	return resp, nil
}

// DeleteAccessPoints removes the MACs.
func (w *WiFi) DeleteAccessPoints(ctx context.Context, req *mgsv1.DeleteAccessPointsRequest) (*mgsv1.DeleteAccessPointsResponse, error) {
	macs, err := parseMACs(req.Macs)
	if err != nil {
		return nil, Status(err)
	}
	if len(macs) == 0 {
		return nil, Status(fieldErr("macs", "at least one MAC is required"))
	}
	resp := &mgsv1.DeleteAccessPointsResponse{}
	for _, m := range macs {
		if _, ok := w.db.Index().Get(m); !ok {
			resp.NotFound = append(resp.NotFound, wifi.MACString(m))
		}
	}
	n, err := w.db.Delete(ctx, macs...)
	if err != nil {
		return nil, Status(err)
	}
	resp.Deleted = uint32(n)
	return resp, nil
}

// ExportAccessPoints streams the database in pages.
func (w *WiFi) ExportAccessPoints(req *mgsv1.ExportAccessPointsRequest, stream mgsv1.GeolocationService_ExportAccessPointsServer) error {
	var from [6]byte
	if req.FromMac != "" {
		m, err := wifi.ParseMAC(strings.TrimSpace(req.FromMac))
		if err != nil {
			return Status(fieldErr("from_mac", "%q is not a MAC address", req.FromMac))
		}
		from = m
	}
	page := &mgsv1.ExportAccessPointsResponse{}
	err := w.db.Range(stream.Context(), from, func(r wifidb.Record) error {
		page.AccessPoints = append(page.AccessPoints, AccessPointToPB(r))
		if len(page.AccessPoints) == exportPage {
			if err := stream.Send(page); err != nil {
				return err
			}
			page = &mgsv1.ExportAccessPointsResponse{}
		}
		return nil
	})
	if err == nil && len(page.AccessPoints) > 0 {
		err = stream.Send(page)
	}
	if err != nil {
		if _, ok := status.FromError(err); !ok && isInternal(err) {
			w.log.Error("access point export failed", "err", err)
		}
		return Status(err)
	}
	return nil
}
