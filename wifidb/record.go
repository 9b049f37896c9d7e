package wifidb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/openmgs/openmgs/solver/wifi"
)

// TableName is the store table of the access-point database.
const TableName = "wifi_aps"

// Source says where a record's data came from; a record accumulates the
// sources that contributed to it.
type Source uint8

// Sources.
const (
	SourceImport    Source = 1 << iota // mac,lat,lon[,accuracy] CSV or JSON import
	SourceWiGLE                        // WiGLE CSV import (aggregated observations)
	SourceLearned                      // the service's own GNSS fixes paired with Wi-Fi scans
	SourceSubmitted                    // POST /v2/geosubmit
	SourceAPI                          // written through the API one by one
)

var sourceNames = [...]string{"import", "wigle", "learned", "geosubmit", "api"}

// String lists the sources, "+"-separated ("import+learned").
func (s Source) String() string {
	var parts []string
	for i, n := range sourceNames {
		if s&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := s &^ (1<<len(sourceNames) - 1); rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%02x", uint8(rest)))
	}
	return strings.Join(parts, "+")
}

// Names returns the source names.
func (s Source) Names() []string {
	var out []string
	for i, n := range sourceNames {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Record is one access point of the database.
type Record struct {
	MAC      [6]byte
	Lat, Lon float64 // degrees, WGS 84 (stored to 1e-7°, about 1 cm)
	// Accuracy is the 1-σ uncertainty of the position per horizontal axis
	// in metres (wifi.AP.Accuracy); 0 means unknown (the solver's default
	// applies).
	Accuracy     float64
	Observations uint32 // sightings or imports the position is built from
	// FirstSeen and LastSeen are Unix seconds (0: unknown).
	FirstSeen, LastSeen int64
	Source              Source
}

// AP converts the record to the solver's view.
func (r Record) AP() wifi.AP {
	return wifi.AP{MAC: r.MAC, Lat: r.Lat, Lon: r.Lon, Accuracy: r.Accuracy, Observations: int(r.Observations)}
}

// Time helpers for callers that prefer time.Time.
func (r Record) FirstSeenTime() time.Time { return unixTime(r.FirstSeen) }

// LastSeenTime returns LastSeen as a time (zero when unknown).
func (r Record) LastSeenTime() time.Time { return unixTime(r.LastSeen) }

func unixTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// Validation errors, also used as import reject reasons (ErrBadMAC ...).
var (
	// ErrBadMAC: not a unicast BSSID (multicast bit set, all zeros) or not parseable.
	ErrBadMAC = errors.New("wifidb: bad MAC address")
	// ErrLocallyAdministered: bit 0x02 of the first octet is set (randomised, usually a mobile hotspot).
	ErrLocallyAdministered = errors.New("wifidb: locally administered MAC address")
	// ErrBadCoordinate: latitude/longitude out of range, not finite, or exactly (0, 0) (no fix).
	ErrBadCoordinate = errors.New("wifidb: bad coordinate")
	// ErrBadAccuracy: accuracy negative, not finite or above MaxAccuracy.
	ErrBadAccuracy = errors.New("wifidb: bad accuracy")
	// ErrRecord: a stored value that does not decode.
	ErrRecord = errors.New("wifidb: bad stored record")
)

// MaxAccuracy is the largest accepted per-axis accuracy (m): beyond it an
// AP position says nothing useful for Wi-Fi positioning.
const MaxAccuracy = 10000

// CheckMAC rejects MACs that cannot be fixed access points.
func CheckMAC(mac [6]byte) error {
	switch {
	case mac == [6]byte{}:
		return fmt.Errorf("%w: %s is all zeros", ErrBadMAC, wifi.MACString(mac))
	case mac[0]&0x01 != 0:
		return fmt.Errorf("%w: %s is a group (multicast) address", ErrBadMAC, wifi.MACString(mac))
	case wifi.IsLocallyAdministered(mac):
		return fmt.Errorf("%w: %s", ErrLocallyAdministered, wifi.MACString(mac))
	}
	return nil
}

// CheckPosition rejects impossible coordinates and (0, 0), the "no fix"
// value of many loggers.
func CheckPosition(lat, lon float64) error {
	if !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) {
		return fmt.Errorf("%w: (%v, %v) is not a latitude/longitude in degrees", ErrBadCoordinate, lat, lon)
	}
	if lat == 0 && lon == 0 {
		return fmt.Errorf("%w: (0, 0) (no position fix)", ErrBadCoordinate)
	}
	return nil
}

// CheckAccuracy rejects negative, non-finite or huge accuracies.
func CheckAccuracy(acc float64) error {
	if !(acc >= 0 && acc <= MaxAccuracy) {
		return fmt.Errorf("%w: %v m (want 0…%d)", ErrBadAccuracy, acc, MaxAccuracy)
	}
	return nil
}

// Validate checks a record before it is stored.
func (r Record) Validate() error {
	if err := CheckMAC(r.MAC); err != nil {
		return err
	}
	if err := CheckPosition(r.Lat, r.Lon); err != nil {
		return err
	}
	return CheckAccuracy(r.Accuracy)
}

// Key is the store key of a MAC: wifi.MACKey as 8 bytes, big-endian, so
// keys sort like MACs.
func Key(mac [6]byte) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), wifi.MACKey(mac))
}

// MACOfKey is the inverse of Key.
func MACOfKey(k []byte) ([6]byte, bool) {
	if len(k) != 8 || k[0] != 0 || k[1] != 0 {
		return [6]byte{}, false
	}
	return wifi.MACFromKey(binary.BigEndian.Uint64(k)), true
}

// Record value layout: see the package documentation.
const (
	recordVersion = 1
	recordSize    = 26
)

func e7(v float64) int32 { return int32(math.Round(v * 1e7)) }

func clampUnix(s int64) uint32 {
	return uint32(min(max(s, 0), math.MaxUint32))
}

// AppendRecord appends the stored form of r (its MAC is the key) to dst.
func AppendRecord(dst []byte, r Record) []byte {
	dst = append(dst, recordVersion)
	dst = binary.BigEndian.AppendUint32(dst, uint32(e7(r.Lat)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(e7(r.Lon)))
	dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(r.Accuracy)))
	dst = binary.BigEndian.AppendUint32(dst, r.Observations)
	dst = binary.BigEndian.AppendUint32(dst, clampUnix(r.FirstSeen))
	dst = binary.BigEndian.AppendUint32(dst, clampUnix(r.LastSeen))
	return append(dst, byte(r.Source))
}

// DecodeRecord decodes a stored value of the AP with this MAC. Bytes after
// the version-1 layout are ignored (room for later fields).
func DecodeRecord(mac [6]byte, b []byte) (Record, error) {
	if len(b) < 1 || b[0] != recordVersion {
		return Record{}, fmt.Errorf("%w: %s: unknown version", ErrRecord, wifi.MACString(mac))
	}
	if len(b) < recordSize {
		return Record{}, fmt.Errorf("%w: %s: %d bytes, want %d", ErrRecord, wifi.MACString(mac), len(b), recordSize)
	}
	r := Record{
		MAC:          mac,
		Lat:          float64(int32(binary.BigEndian.Uint32(b[1:]))) / 1e7,
		Lon:          float64(int32(binary.BigEndian.Uint32(b[5:]))) / 1e7,
		Accuracy:     float64(math.Float32frombits(binary.BigEndian.Uint32(b[9:]))),
		Observations: binary.BigEndian.Uint32(b[13:]),
		FirstSeen:    int64(binary.BigEndian.Uint32(b[17:])),
		LastSeen:     int64(binary.BigEndian.Uint32(b[21:])),
		Source:       Source(b[25]),
	}
	if err := CheckPosition(r.Lat, r.Lon); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %v", ErrRecord, wifi.MACString(mac), err)
	}
	if err := CheckAccuracy(r.Accuracy); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %v", ErrRecord, wifi.MACString(mac), err)
	}
	return r, nil
}
