package modemproto

import (
	"math/bits"
	"strconv"
	"strings"
)

// Tag is a DM info-field tag (LBM dm_info_field_t).
type Tag uint8

// Info-field tags, modem-protocol.md §2.2.
const (
	TagStatus        Tag = 0x00
	TagCharge        Tag = 0x01
	TagVoltage       Tag = 0x02
	TagTemp          Tag = 0x03
	TagSignal        Tag = 0x04
	TagUptime        Tag = 0x05
	TagRxTime        Tag = 0x06
	TagFirmware      Tag = 0x07
	TagADRMode       Tag = 0x08
	TagJoinEUI       Tag = 0x09
	TagInterval      Tag = 0x0A
	TagRegion        Tag = 0x0B
	TagOpMode        Tag = 0x0C
	TagCrashLog      Tag = 0x0D
	TagUpload        Tag = 0x0E
	TagRstCount      Tag = 0x0F
	TagDevEUI        Tag = 0x10
	TagRFU           Tag = 0x11
	TagSession       Tag = 0x12
	TagChipEUI       Tag = 0x13
	TagStream        Tag = 0x14
	TagStreamPar     Tag = 0x15
	TagAppStatus     Tag = 0x16
	TagALCSync       Tag = 0x17
	TagAlmanacStatus Tag = 0x18
	TagDebugResponse Tag = 0x19
	TagGNSSLoc       Tag = 0x1A
	TagWiFiLoc       Tag = 0x1B
)

// numTags is LBM's DM_INFO_MAX: tags 0x00..0x1B are defined.
const numTags = 0x1C

// variableSize marks a variable-length tag in tagSizes.
const variableSize = -1

// tagNames are the JSON info-field names (cloud-api.md §5.3). Tags without a
// published JSON name use the short LBM names of modem-protocol.md §2.2.
var tagNames = [numTags]string{
	"status", "charge", "voltage", "temp", "signal", "uptime", "rxtime", "firmware",
	"adrmode", "joineui", "interval", "region", "opmode", "crashlog", "upload", "rstcount",
	"deveui", "rfu", "session", "chipeui", "stream", "streampar", "appstatus", "alcsync",
	"almstatus", "dbgrsp", "gnssloc", "wifiloc",
}

// tagSizes is LBM's dm_info_field_sz with variable-length tags marked.
var tagSizes = [numTags]int8{
	1, 2, 1, 1, 2, 2, 2, 8, // status .. firmware
	1, 8, 1, 1, 4, variableSize, variableSize, 2, // adrmode .. rstcount
	8, 2, 2, 8, variableSize, 2, 8, variableSize, // deveui .. alcsync
	7, variableSize, variableSize, variableSize, // almstatus .. wifiloc
}

// tagAliases are other names clients use for a tag; ParseTagName accepts them.
var tagAliases = map[string]Tag{
	"owncnt":  TagRFU, // LR1110 OWNER_COUNTER (unverified JSON name)
	"factrst": TagRFU, // TTN old object model
}

const (
	// getInfoMask: tags LBM4 cloud_dm_set_info_field accepts in GETINFO.
	// Rejected: 0x0C, 0x0E, 0x11, 0x14, 0x17..0x1B and anything ≥ 0x1C.
	getInfoMask uint32 = (1<<numTags - 1) &^
		(1<<TagOpMode | 1<<TagUpload | 1<<TagRFU | 1<<TagStream | 1<<TagALCSync |
			1<<TagAlmanacStatus | 1<<TagDebugResponse | 1<<TagGNSSLoc | 1<<TagWiFiLoc)
	// setDMInfoMask: SET_DM_INFO additionally rejects the crash log.
	setDMInfoMask uint32 = getInfoMask &^ (1 << TagCrashLog)
	// setConfMask: the only tags dm_set_conf acts on.
	setConfMask uint32 = 1<<TagADRMode | 1<<TagJoinEUI | 1<<TagInterval | 1<<TagRegion
)

// Known reports whether t is a defined tag (0x00..0x1B).
func (t Tag) Known() bool { return t < numTags }

// String returns the JSON info-field name ("status", "charge", …, "rfu" for
// 0x11, "almstatus" for 0x18), or "tag(0x1c)" for an undefined tag.
func (t Tag) String() string {
	if t.Known() {
		return tagNames[t]
	}
	return "tag(0x" + hex2(uint8(t)) + ")"
}

// ParseTagName is the inverse of Tag.String for defined tags; it also
// accepts "owncnt" and "factrst" for 0x11. Names are case-insensitive.
func ParseTagName(name string) (Tag, bool) {
	for i, n := range tagNames {
		if strings.EqualFold(n, name) {
			return Tag(i), true
		}
	}
	t, ok := tagAliases[strings.ToLower(name)]
	return t, ok
}

// Size returns the value size in bytes of a fixed-size tag, or variable =
// true for a tag whose value runs to the end of the frame. Undefined tags
// return (0, false); check Known first.
func (t Tag) Size() (n int, variable bool) {
	if !t.Known() {
		return 0, false
	}
	s := tagSizes[t]
	if s == variableSize {
		return 0, true
	}
	return int(s), false
}

// GetInfoAllowed reports whether the device accepts t in a GETINFO request
// (any rejected tag makes the device ignore the whole request).
func (t Tag) GetInfoAllowed() bool { return t < numTags && getInfoMask&(uint32(1)<<t) != 0 }

// SetDMInfoAllowed reports whether the device accepts t in SET_DM_INFO (the
// periodic report set): the GETINFO rule without the crash log.
func (t Tag) SetDMInfoAllowed() bool { return t < numTags && setDMInfoMask&(uint32(1)<<t) != 0 }

// SetConfAllowed reports whether t may be written with SETCONF (adrmode,
// joineui, interval, region).
func (t Tag) SetConfAllowed() bool { return t < numTags && setConfMask&(uint32(1)<<t) != 0 }

// TagSet is a set of tags: bit i set means tag i is present. Tags ≥ 64
// cannot be represented (none is defined).
type TagSet uint64

// Has reports whether t is in the set.
func (s TagSet) Has(t Tag) bool { return t < 64 && s&(1<<t) != 0 }

// Add returns the set with t added (unchanged for t ≥ 64).
func (s TagSet) Add(t Tag) TagSet {
	if t >= 64 {
		return s
	}
	return s | 1<<t
}

// Remove returns the set without t.
func (s TagSet) Remove(t Tag) TagSet {
	if t >= 64 {
		return s
	}
	return s &^ (1 << t)
}

// Len returns the number of tags in the set.
func (s TagSet) Len() int { return bits.OnesCount64(uint64(s)) }

// Tags returns the tags in ascending order (nil for the empty set).
func (s TagSet) Tags() []Tag {
	if s == 0 {
		return nil
	}
	out := make([]Tag, 0, s.Len())
	for ; s != 0; s &= s - 1 {
		out = append(out, Tag(bits.TrailingZeros64(uint64(s))))
	}
	return out
}

// String returns the tag names in ascending order, as "{status,temp}".
func (s TagSet) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, t := range s.Tags() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.String())
	}
	b.WriteByte('}')
	return b.String()
}

// TagSetOf returns the set of the given tags.
func TagSetOf(tags ...Tag) TagSet {
	var s TagSet
	for _, t := range tags {
		s = s.Add(t)
	}
	return s
}

func hex2(b uint8) string {
	s := strconv.FormatUint(uint64(b), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}
