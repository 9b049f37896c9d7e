package uplink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/store"
)

// WiFiSolver positions a Wi-Fi scan (locally administered MACs already
// removed); *wifi.Solver implements it. Config.WiFi nil keeps Wi-Fi scans
// unsolved (they are still decoded and kept as the device's last scan).
type WiFiSolver interface {
	Solve(obs []wifi.Observation) (wifi.Solution, error)
}

// SessionWiFiLast is the Device.Sessions key of the device's last Wi-Fi
// scan (WiFiScan), kept so that a GNSS fix arriving after the scan can be
// paired with it to learn access-point positions.
const SessionWiFiLast = "wifi_last"

// AlgorithmWiFi is the algorithm_type of Wi-Fi position solutions.
const AlgorithmWiFi = "wifi"

// WiFiScan is a decoded Wi-Fi scan as kept in Device.Sessions["wifi_last"].
type WiFiScan struct {
	Time float64            // uplink timestamp, Unix seconds
	APs  []wifi.Observation // universally administered MACs, wire order
}

// maxKeptAPs bounds the APs kept in the session (the LR11xx reports at most 32).
const maxKeptAPs = 64

// wifiScanVersion is byte 0 of an encoded WiFiScan:
//
//	version(1) = 1 | time (float64, big-endian) | n × (flags(1) RSSI(int8) MAC(6))
//
// flags bit 0: the RSSI is present.
const wifiScanVersion = 1

// MarshalBinary encodes the scan (at most 64 APs are kept).
func (s WiFiScan) MarshalBinary() ([]byte, error) {
	aps := s.APs[:min(len(s.APs), maxKeptAPs)]
	b := make([]byte, 0, 9+8*len(aps))
	b = append(b, wifiScanVersion)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(s.Time))
	for _, o := range aps {
		var flags byte
		rssi := 0
		if o.HasRSSI {
			flags, rssi = 1, max(-128, min(127, o.RSSI))
		}
		b = append(b, flags, byte(int8(rssi)))
		b = append(b, o.MAC[:]...)
	}
	return b, nil
}

// errWiFiScan is wrapped by DecodeWiFiScan errors.
var errWiFiScan = errors.New("uplink: bad stored Wi-Fi scan")

// DecodeWiFiScan decodes what WiFiScan.MarshalBinary wrote (at most 64 APs).
func DecodeWiFiScan(b []byte) (WiFiScan, error) {
	if len(b) < 9 || b[0] != wifiScanVersion || (len(b)-9)%8 != 0 || (len(b)-9)/8 > maxKeptAPs {
		return WiFiScan{}, fmt.Errorf("%w: %d bytes", errWiFiScan, len(b))
	}
	s := WiFiScan{Time: math.Float64frombits(binary.BigEndian.Uint64(b[1:9]))}
	for r := b[9:]; len(r) > 0; r = r[8:] {
		o := wifi.Observation{HasRSSI: r[0]&1 != 0}
		if o.HasRSSI {
			o.RSSI = int(int8(r[1]))
		}
		copy(o.MAC[:], r[2:8])
		s.APs = append(s.APs, o)
	}
	return s, nil
}

// Tags of the LoRa Edge tracker TLV stream (wifi.md §1.3): GNSS 0x05–0x07,
// Wi-Fi legacy 0x08, sensors 0x09–0x0D, Wi-Fi 0x0E, GNSS multi-frame 0x0F.
const firstTrackerTag, lastTrackerTag = 0x05, 0x0f

// DecodeWiFiPayload decodes the payload of a Wi-Fi uplink (port or msgtype
// wifi): an LBM scan (format byte 0x00 MAC only or 0x01 RSSI + MAC) or LoRa
// Edge tracker TLV records (tag 0x08 legacy or 0x0E with timestamp; the
// stream's other records, GNSS or sensors, are skipped and the last Wi-Fi
// record is used). At least two distinct MACs are required (wifi.ErrTooFewAPs).
func DecodeWiFiPayload(b []byte) (wifi.Scan, error) {
	if len(b) == 0 {
		return wifi.Scan{}, &wifi.DecodeError{Field: "format", Err: wifi.ErrShort}
	}
	switch b[0] {
	case wifi.FormatMACOnly, wifi.FormatRSSIMAC:
		return wifi.DecodeScan(b)
	}
	if b[0] < firstTrackerTag || b[0] > lastTrackerTag {
		return wifi.Scan{}, &wifi.DecodeError{Field: "format", Err: fmt.Errorf("%w 0x%02x (want 0x00 MAC only, 0x01 RSSI + MAC, or tracker records 0x05…0x0f)",
			wifi.ErrUnknownFormat, b[0])}
	}
	var last *wifi.Scan
	for off := 0; off < len(b); {
		rec, n, err := wifi.DecodeTrackerRecord(b[off:])
		switch {
		case err == nil:
			last = &rec.Scan
		case errors.Is(err, wifi.ErrUnknownTag) && n > 0:
			// Another record of the tracker stream (GNSS, sensors).
		default:
			var de *wifi.DecodeError
			if errors.As(err, &de) {
				de.Offset += off
			}
			return wifi.Scan{}, err
		}
		off += n
	}
	if last == nil {
		return wifi.Scan{}, &wifi.DecodeError{Field: "tag", Err: fmt.Errorf("%w: no Wi-Fi record in the tracker records", wifi.ErrUnknownTag)}
	}
	return *last, nil
}

// macList formats MACs for log messages (at most 8).
func macList(obs []wifi.Observation) string {
	var b strings.Builder
	for i, o := range obs {
		if i == 8 {
			fmt.Fprintf(&b, " and %d more", len(obs)-8)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(wifi.MACString(o.MAC))
	}
	return b.String()
}

// wifiScan decodes a Wi-Fi scan, keeps it as the device's last scan and,
// with a solver configured, computes the position solution.
func (p *Pipeline) wifiScan(_ context.Context, s *State) error {
	if s.Protocol != ProtoWiFi {
		return nil
	}
	scan, err := DecodeWiFiPayload(s.Msg.Payload)
	if err != nil {
		if errors.Is(err, wifi.ErrTooFewAPs) {
			s.Log(store.LevelError, "Wi-Fi scan rejected: at least 2 different MAC addresses are required (%v)", err)
		} else {
			s.Log(store.LevelError, "Wi-Fi scan rejected: %v", err)
		}
		return nil
	}
	kept, dropped := wifi.SplitLocallyAdministered(scan.APs)
	if len(dropped) > 0 {
		s.Log(store.LevelInfo, "Wi-Fi scan: %d locally administered MAC address(es) ignored (randomised, likely mobile hotspots): %s",
			len(dropped), macList(dropped))
	}
	if len(kept) > 0 {
		b, _ := WiFiScan{Time: s.Msg.Timestamp, APs: kept}.MarshalBinary()
		if s.Dev.Sessions == nil {
			s.Dev.Sessions = map[string][]byte{}
		}
		s.Dev.Sessions[SessionWiFiLast] = b
	}
	if n := len(wifi.Dedup(kept)); n < wifi.MinAPs {
		s.Log(store.LevelError, "Wi-Fi scan: %d usable MAC address(es) after removing locally administered ones, at least 2 are required: no position", n)
		return nil
	}
	solver := p.cfg.WiFi
	if solver == nil {
		return nil
	}
	sol, err := solver.Solve(kept)
	if err != nil {
		s.Log(store.LevelWarning, "Wi-Fi position not computed: %v", err)
		return nil
	}
	if len(sol.Rejected) > 0 {
		rej := make([]wifi.Observation, len(sol.Rejected))
		for i, m := range sol.Rejected {
			rej[i].MAC = m
		}
		s.Log(store.LevelInfo, "Wi-Fi position: %d access point(s) disagree with the others and were not used (moved?): %s",
			len(rej), macList(rej))
	}
	s.Result.Position = &store.Position{Algorithm: AlgorithmWiFi, LLH: [3]float64{sol.Lat, sol.Lon, 0},
		ECEF: ecef(sol.Lat, sol.Lon, 0), Accuracy: sol.Accuracy, Time: s.Msg.Timestamp}
	return nil
}

// ecef converts WGS 84 latitude, longitude (degrees) and ellipsoidal height
// (m) to Earth-centred, Earth-fixed metres.
func ecef(lat, lon, h float64) [3]float64 {
	const a, f = 6378137.0, 1 / 298.257223563
	e2 := f * (2 - f)
	phi, lam := lat*math.Pi/180, lon*math.Pi/180
	sp, cp := math.Sincos(phi)
	sl, cl := math.Sincos(lam)
	n := a / math.Sqrt(1-e2*sp*sp)
	return [3]float64{(n + h) * cp * cl, (n + h) * cp * sl, (n*(1-e2) + h) * sp}
}
