package wifi

import (
	"errors"
	"slices"
)

// ErrMAC is wrapped by ParseMAC errors.
var ErrMAC = errors.New("wifi: bad MAC address")

// IsLocallyAdministered reports whether bit 0x02 of the first octet is set.
// Such BSSIDs are usually mobile hotspots with randomised addresses and must
// not be trusted as fixed landmarks (wifi.md §1.5).
func IsLocallyAdministered(mac [6]byte) bool { return mac[0]&0x02 != 0 }

// SplitLocallyAdministered separates universally administered observations
// (kept) from locally administered ones (dropped), preserving order. Both
// results are fresh slices; aps is not modified. dropped is nil when none.
func SplitLocallyAdministered(aps []Observation) (kept, dropped []Observation) {
	kept = make([]Observation, 0, len(aps))
	for _, o := range aps {
		if IsLocallyAdministered(o.MAC) {
			dropped = append(dropped, o)
		} else {
			kept = append(kept, o)
		}
	}
	return kept, dropped
}

// Dedup returns the observations with one entry per MAC, keeping the first
// occurrence's position in the list and the strongest usable RSSI among the
// duplicates (an entry with a usable RSSI beats one without). The result is a
// fresh slice.
func Dedup(aps []Observation) []Observation {
	out := make([]Observation, 0, len(aps))
	for _, o := range aps {
		i := slices.IndexFunc(out, func(p Observation) bool { return p.MAC == o.MAC })
		if i < 0 {
			out = append(out, o)
			continue
		}
		if better(o, out[i]) {
			out[i] = o
		}
	}
	return out
}

// better reports whether a carries a more useful RSSI than b.
func better(a, b Observation) bool {
	ua, ub := a.UsableRSSI(), b.UsableRSSI()
	switch {
	case ua && !ub:
		return true
	case ua && ub:
		return a.RSSI > b.RSSI
	}
	return false
}

// distinctMACs counts distinct addresses (n is small: at most a few dozen).
func distinctMACs(aps []Observation) int {
	n := 0
	for i, o := range aps {
		if !slices.ContainsFunc(aps[:i], func(p Observation) bool { return p.MAC == o.MAC }) {
			n++
		}
	}
	return n
}

// MACKey packs a MAC into the low 48 bits of a uint64 (big-endian order), the
// key of Index.
func MACKey(mac [6]byte) uint64 {
	return uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 |
		uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
}

// MACFromKey is the inverse of MACKey; bits above 48 are ignored.
func MACFromKey(k uint64) [6]byte {
	return [6]byte{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

// MACString returns the lower-case colon form, aa:bb:cc:dd:ee:ff (the
// ichnaea/loraWifi "macAddress" form).
func MACString(mac [6]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, v := range mac {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[v>>4], digits[v&0x0f])
	}
	return string(b)
}

// ParseMAC accepts 12 hex digits in either case, bare or with ':' or '-'
// between every octet (wifi.md §4.2).
func ParseMAC(s string) ([6]byte, error) {
	var mac [6]byte
	var sep byte
	switch len(s) {
	case 12:
	case 17:
		sep = s[2]
		if sep != ':' && sep != '-' {
			return mac, errors.Join(ErrMAC, errors.New("separator must be ':' or '-'"))
		}
	default:
		return mac, errors.Join(ErrMAC, errors.New("want 12 hex digits, optionally separated"))
	}
	p := 0
	for i := range mac {
		if sep != 0 && i > 0 {
			if s[p] != sep {
				return [6]byte{}, errors.Join(ErrMAC, errors.New("inconsistent separators"))
			}
			p++
		}
		hi, ok1 := unhex(s[p])
		lo, ok2 := unhex(s[p+1])
		if !ok1 || !ok2 {
			return [6]byte{}, errors.Join(ErrMAC, errors.New("non-hex digit"))
		}
		mac[i] = hi<<4 | lo
		p += 2
	}
	return mac, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
