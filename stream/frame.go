package stream

import "encoding/binary"

// Layout constants (modem-protocol.md §5.2–§5.5).
const (
	sinfoMarker = 0xFF // SHDR value of an SINFO frame
	sinfoLen    = 9
	sdataHdrLen = 3 // SHDR + SOFFL
	pctxLen     = 3 // WL + SOFFH
	pctxFlag    = 0x80
	// MaxSys is the largest number of systematic octets in one SDATA frame (M = 127 is reserved).
	MaxSys = 126

	// MinWL and MaxWL bound the window lengths the WL byte can express.
	MinWL = 16
	MaxWL = 784 + 16*63
	// DefaultWL, DefaultRR and DefaultPCTXInterval are the LBM defaults (rose.h).
	DefaultWL           = 512
	DefaultRR           = 110
	DefaultPCTXInterval = 8
)

// SData is an uplink SDATA frame: SHDR | SOFFL | SYSDAT[M] | REDDAT[N] | (WL | SOFFH if PCTX).
//
// AppendSData encodes from Offset (and WL when PCTX); SOFFL and SOFFH are filled in by ParseFrame
// for convenience and ignored by AppendSData.
type SData struct {
	PCTX   bool
	Offset uint32 // full SOFF when PCTX, else SOFFL; the decoder resolves the high bits
	SOFFL  uint16
	Sys    []byte // systematic octets, stream offsets Offset..Offset+len-1
	Red    []byte // redundancy octets over [SOFF-WL, SOFF)
	WL     int    // decoded window length, only when PCTX (0 otherwise)
	SOFFH  uint16 // only when PCTX
}

// SInfo is an uplink SINFO frame: FF | FLAGS | WL | RR | SOFF (u32) | PCTXINTV.
type SInfo struct {
	RQAWL        bool  // device waits for an SCMD with ACKWL
	UnitSizeLog2 uint8 // FLAGS bits 2..1 (unit = 2^USZ octets)
	WL           int
	RR           uint8
	Offset       uint32 // stream offset of the next systematic unit the device will send
	PCTXInterval uint8
}

// EncodeWL encodes a window length (§5.5). Only exactly representable lengths are accepted:
// 16..268 step 4, 272..776 step 8, 784..1792 step 16.
func EncodeWL(wl int) (byte, error) {
	switch {
	case wl >= 16 && wl <= 16+4*63 && (wl-16)%4 == 0:
		return byte((wl - 16) / 4), nil
	case wl >= 272 && wl <= 272+8*63 && (wl-272)%8 == 0:
		return 0x40 | byte((wl-272)/8), nil
	case wl >= 784 && wl <= MaxWL && (wl-784)%16 == 0:
		return 0x80 | byte((wl-784)/16), nil
	}
	return 0, &DecodeError{Field: "WL", Err: ErrRange}
}

// DecodeWL decodes a WL byte (§5.5). Class 3 is RFU and reported as ErrReserved. Unlike LBM this
// does not cap the result at 512.
func DecodeWL(b byte) (int, error) {
	f := int(b & 0x3F)
	switch b >> 6 {
	case 0:
		return 16 + 4*f, nil
	case 1:
		return 272 + 8*f, nil
	case 2:
		return 784 + 16*f, nil
	}
	return 0, &DecodeError{Field: "WL", Err: ErrReserved}
}

// roundWL rounds a window length up to the next representable value and clamps it to
// [MinWL, MaxWL], as the device does when it is initialised (ROSE_init).
func roundWL(wl int) int {
	switch {
	case wl <= MinWL:
		return MinWL
	case wl <= 268:
		return 16 + (wl-16+3)/4*4
	case wl <= 776:
		return 272 + (wl-272+7)/8*8
	case wl <= MaxWL:
		return 784 + (wl-784+15)/16*16
	}
	return MaxWL
}

// rawSData is a parsed SDATA frame whose slices alias the input (decoder hot path).
type rawSData struct {
	pctx  bool
	soffl uint16
	soffh uint16
	wl    int
	sys   []byte
	red   []byte
}

func parseSData(b []byte, f *rawSData) error {
	if len(b) < sdataHdrLen {
		return decErr("SHDR", 0, ErrShort)
	}
	m := int(b[0] & 0x7F)
	if m == 127 {
		return decErr("SHDR", 0, ErrReserved)
	}
	f.pctx = b[0]&pctxFlag != 0
	f.soffl = binary.LittleEndian.Uint16(b[1:])
	tail := 0
	if f.pctx {
		tail = pctxLen
	}
	if len(b) < sdataHdrLen+m {
		return decErr("SYSDAT", sdataHdrLen, ErrShort)
	}
	if len(b) < sdataHdrLen+m+tail {
		return decErr("PCTX", sdataHdrLen+m, ErrShort)
	}
	f.sys = b[sdataHdrLen : sdataHdrLen+m]
	f.red = b[sdataHdrLen+m : len(b)-tail]
	f.wl, f.soffh = 0, 0
	if f.pctx {
		p := len(b) - tail
		wl, err := DecodeWL(b[p])
		if err != nil {
			return decErr("WL", p, ErrReserved)
		}
		f.wl = wl
		f.soffh = binary.LittleEndian.Uint16(b[p+1:])
	}
	return nil
}

func parseSInfo(b []byte, f *SInfo) error {
	if len(b) < sinfoLen {
		return decErr("SINFO", 0, ErrShort)
	}
	if len(b) > sinfoLen {
		return decErr("SINFO", sinfoLen, ErrLength)
	}
	wl, err := DecodeWL(b[2])
	if err != nil {
		return decErr("WL", 2, ErrReserved)
	}
	// FLAGS bits 7..3 are RFU and ignored, as the device never sets them.
	*f = SInfo{
		RQAWL:        b[1]&0x01 != 0,
		UnitSizeLog2: (b[1] >> 1) & 0x03,
		WL:           wl,
		RR:           b[3],
		Offset:       binary.LittleEndian.Uint32(b[4:]),
		PCTXInterval: b[8],
	}
	return nil
}

// ParseFrame decodes one ROSE uplink frame (without the DM 0x14 prefix) into *SData or *SInfo.
// The returned slices are copies.
func ParseFrame(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, decErr("SHDR", 0, ErrShort)
	}
	if b[0] == sinfoMarker {
		var s SInfo
		if err := parseSInfo(b, &s); err != nil {
			return nil, err
		}
		return &s, nil
	}
	var r rawSData
	if err := parseSData(b, &r); err != nil {
		return nil, err
	}
	f := &SData{
		PCTX:   r.pctx,
		Offset: uint32(r.soffl),
		SOFFL:  r.soffl,
		Sys:    append([]byte(nil), r.sys...),
		Red:    append([]byte(nil), r.red...),
		WL:     r.wl,
		SOFFH:  r.soffh,
	}
	if r.pctx {
		f.Offset |= uint32(r.soffh) << 16
	}
	return f, nil
}

// AppendSData appends the encoding of f to dst.
func AppendSData(dst []byte, f *SData) ([]byte, error) {
	if len(f.Sys) > MaxSys {
		return dst, &DecodeError{Field: "SYSDAT", Offset: sdataHdrLen, Err: ErrRange}
	}
	var wlb byte
	hdr := byte(len(f.Sys))
	if f.PCTX {
		var err error
		if wlb, err = EncodeWL(f.WL); err != nil {
			return dst, err
		}
		hdr |= pctxFlag
	}
	dst = append(dst, hdr, byte(f.Offset), byte(f.Offset>>8))
	dst = append(dst, f.Sys...)
	dst = append(dst, f.Red...)
	if f.PCTX {
		dst = append(dst, wlb, byte(f.Offset>>16), byte(f.Offset>>24))
	}
	return dst, nil
}

// AppendSInfo appends the encoding of f to dst.
func AppendSInfo(dst []byte, f *SInfo) ([]byte, error) {
	wlb, err := EncodeWL(f.WL)
	if err != nil {
		return dst, err
	}
	if f.UnitSizeLog2 > 3 {
		return dst, &DecodeError{Field: "FLAGS", Offset: 1, Err: ErrRange}
	}
	flags := f.UnitSizeLog2 << 1
	if f.RQAWL {
		flags |= 1
	}
	dst = append(dst, sinfoMarker, flags, wlb, f.RR)
	dst = binary.LittleEndian.AppendUint32(dst, f.Offset)
	return append(dst, f.PCTXInterval), nil
}
