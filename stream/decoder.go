package stream

import "math/bits"

// Decoder limits.
const (
	ringSize = 32 // recent frame counters remembered for duplicates and the reorder window
	// DefaultReorderDepth is how many frame counters a frame may arrive late and still be fully
	// used; loss is not declared for octets such a frame could still deliver or recover.
	DefaultReorderDepth = 8
	// MaxReorderDepth bounds Config.ReorderDepth.
	MaxReorderDepth = 16
	maxBacklog      = 32      // frames buffered before the first protocol context
	maxJump         = 1 << 16 // a larger forward jump declares the skipped octets lost at once
	compactBits     = 512     // buffer compaction granularity (octets)
	// maxPending bounds the span of pending octets below the highest offset seen. A genuine
	// stream needs at most WL (<= MaxWL) plus the systematic octets of MaxReorderDepth frames
	// (<= 16*126); anything older is declared lost, which bounds memory and elimination cost.
	maxPending = 4096
)

// Config tunes a Decoder. The zero value selects the defaults.
type Config struct {
	// ReorderDepth (0..MaxReorderDepth; 0 selects DefaultReorderDepth, negative disables reorder
	// tolerance) is the number of frame counters a missing frame is waited for before the
	// octets only it could deliver are declared lost.
	ReorderDepth int
}

type fcntEntry struct {
	fcnt uint32
	end  int64 // stream offset after the frame's systematic octets (SINFO: its SOFF)
	ok   bool
}

type pendingRed struct {
	fcnt uint32
	soff int64
	red  []byte
}

// Decoder reassembles one ROSE stream (one device, one join session) on the server side.
//
// Every octet of the stream is known, pending (not received; redundancy still to come may recover
// it) or lost. Redundancy octets are GF(2) equations over the window [SOFF-WL, SOFF); they are
// evaluated only while their window holds pending octets, substituted with the known octets, and
// solved by peeling and elimination. A pending octet is declared lost once no frame still to come
// can deliver or cover it: below (highest SOFF seen) - WL, and below the window of any frame that
// is missing within the last ReorderDepth frame counters.
//
// Records are de-framed in stream order from the known prefix; a record is reported once all its
// octets are known, so records behind a pending octet wait until it is recovered or declared
// lost. Inside an encoded record the byte 0xA0 occurs only as the terminator (chain bytes hold
// 0xA0 + a distance of 1..255, never 0xA0), so every 0xA0 in the stream is a terminator or
// padding. After a lost octet the decoder therefore skips to the next known 0xA0 and resumes at
// the first non-0xA0 octet after it, which is provably a record header. Dropped are the records
// overlapping the lost octets and, when the loss ends exactly at a record boundary, the record
// right after it (its header cannot be told from data). Frames are never trusted to be aligned
// to records.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	reorder int
	synced  bool // WL known (PCTX or SINFO seen, or backlog overflowed with the default)
	wl      int
	rr, pci uint8
	ackWL   bool
	// paramFcnt is the counter of the frame that last set WL (PCTX or SINFO), so that a late
	// frame cannot roll the parameters back.
	paramFcnt uint32
	haveParam bool

	haveFcnt  bool
	fcntStart uint32
	fcntMax   uint32
	ring      [ringSize]fcntEntry

	base   int64 // stream offset of buf[0]; multiple of 64
	end    int64 // highest stream offset seen + 1
	floor  int64 // octets below are final (known or lost)
	rd     int64 // de-framer cursor
	inSync bool  // rd is at a record boundary
	buf    []byte
	unk    []uint64 // pending (>= floor) or lost (< floor) octets
	piv    []uint64 // pivot columns

	rows     []*row
	wlo, whi int    // words of buf that can hold pending octets (see active)
	pivAt    []*row // pivot row by column (offset - base); nil if not a pivot

	backlog      []pendingRed
	inconsistent uint32
	recovered    uint64

	// scratch, not part of the state
	sel   *selector
	queue []*row
	free  []*row
	win   []byte
	rec   []byte
	out   []Record
	lost  int
}

// NewDecoder returns a decoder with the LBM defaults (WL 512, RR 110 %, PCTX interval 8) and
// DefaultReorderDepth. Until a frame with protocol context (or an SINFO) arrives, systematic
// octets are used at once and redundancy octets are buffered (rose.rst).
func NewDecoder() *Decoder { return NewDecoderConfig(Config{}) }

// NewDecoderConfig returns a decoder with the given configuration.
func NewDecoderConfig(c Config) *Decoder {
	d := &Decoder{
		reorder: c.ReorderDepth,
		wl:      DefaultWL,
		rr:      DefaultRR,
		pci:     DefaultPCTXInterval,
		inSync:  true,
	}
	switch {
	case d.reorder == 0:
		d.reorder = DefaultReorderDepth
	case d.reorder < 0:
		d.reorder = 0
	case d.reorder > MaxReorderDepth:
		d.reorder = MaxReorderDepth
	}
	d.sel = newSelector(d.wl)
	return d
}

// Status is a snapshot of the decoder's view of the stream.
type Status struct {
	Synced        bool   // WL learned from the device (PCTX or SINFO)
	WL            int    // current window length
	RR            uint8  // redundancy ratio from the last SINFO (default 110)
	PCTXInterval  uint8  // from the last SINFO (default 8)
	End           uint32 // highest stream offset seen + 1
	Floor         uint32 // octets below are final (known or lost)
	Pending       int    // octets at or above Floor not received yet
	Equations     int    // independent unsolved equations held
	Recovered     uint64 // octets recovered from redundancy so far
	Inconsistent  uint32 // equations contradicting known octets (corruption or WL mismatch)
	AckWLRequired bool   // an SINFO asked for a WL acknowledgement; see AckCommand
}

// Status returns the decoder's current view.
func (d *Decoder) Status() Status {
	return Status{
		Synced: d.synced, WL: d.wl, RR: d.rr, PCTXInterval: d.pci,
		End: uint32(d.end), Floor: uint32(d.floor),
		Pending:   bitCount(d.unk, d.floor-d.base, d.end-d.base),
		Equations: len(d.rows), Recovered: d.recovered, Inconsistent: d.inconsistent,
		AckWLRequired: d.ackWL,
	}
}

// AckCommand returns the SCMD acknowledging the device's window length when its last SINFO
// requested it (RQAWL) and no SDATA has arrived since.
func (d *Decoder) AckCommand() (Command, bool) {
	if !d.ackWL {
		return Command{}, false
	}
	return Command{AckWL: true, WL: d.wl}, true
}

// Add processes one ROSE frame (without the DM 0x14 prefix) received with uplink counter fcnt. It
// returns the records completed by this frame, in stream order, and the number of octets newly
// declared lost. A frame whose counter was already processed (within the last 32) is ignored. A
// frame that does not parse returns an error and leaves the state unchanged.
func (d *Decoder) Add(fcnt uint32, frame []byte) (records []Record, lost int, err error) {
	var si SInfo
	var sd rawSData
	isInfo := len(frame) > 0 && frame[0] == sinfoMarker
	if isInfo {
		if err := parseSInfo(frame, &si); err != nil {
			return nil, 0, err
		}
		if si.UnitSizeLog2 != 0 {
			return nil, 0, decErr("FLAGS", 1, ErrUnitSize)
		}
	} else if err := parseSData(frame, &sd); err != nil {
		return nil, 0, err
	}
	if d.duplicate(fcnt) {
		return nil, 0, nil
	}
	d.out, d.lost = nil, 0
	if isInfo {
		d.addSInfo(fcnt, &si)
	} else {
		d.addSData(fcnt, &sd)
	}
	d.advanceFloor()
	d.deframe()
	d.compact()
	records, lost = d.out, d.lost
	d.out = nil
	return records, lost, nil
}

// Flush declares every pending octet lost (end of session) and returns the records this
// completes and the number of octets declared lost. A record still missing octets beyond the
// highest offset seen stays incomplete.
func (d *Decoder) Flush() (records []Record, lost int) {
	d.out, d.lost = nil, 0
	d.setFloor(d.end)
	d.deframe()
	d.compact()
	records, lost = d.out, d.lost
	d.out = nil
	return records, lost
}

func (d *Decoder) duplicate(fcnt uint32) bool {
	if !d.haveFcnt {
		return false
	}
	age := int64(int32(d.fcntMax - fcnt))
	e := &d.ring[fcnt%ringSize]
	return age >= 0 && age < ringSize && e.ok && e.fcnt == fcnt
}

func (d *Decoder) noteFcnt(fcnt uint32, end int64) {
	if !d.haveFcnt {
		d.haveFcnt, d.fcntStart, d.fcntMax = true, fcnt, fcnt
	} else if int32(fcnt-d.fcntMax) > 0 {
		d.fcntMax = fcnt
	}
	if age := int64(int32(d.fcntMax - fcnt)); age >= 0 && age < ringSize {
		d.ring[fcnt%ringSize] = fcntEntry{fcnt: fcnt, end: end, ok: true}
	}
}

// newer reports whether a frame with counter fcnt may update the stream parameters.
func (d *Decoder) newer(fcnt uint32) bool {
	return !d.haveParam || int32(fcnt-d.paramFcnt) >= 0
}

func (d *Decoder) setParam(fcnt uint32, wl int) {
	d.wl, d.paramFcnt, d.haveParam = wl, fcnt, true
}

func (d *Decoder) sync() {
	if d.synced {
		return
	}
	d.synced = true
	bl := d.backlog
	d.backlog = nil
	for _, p := range bl {
		d.addRed(p.fcnt, p.soff, p.red, d.wl)
	}
}

func (d *Decoder) addSInfo(fcnt uint32, si *SInfo) {
	if d.newer(fcnt) {
		d.setParam(fcnt, si.WL)
		d.rr, d.pci = si.RR, si.PCTXInterval
		d.ackWL = si.RQAWL
	}
	soff := int64(si.Offset)
	d.extend(soff) // octets [end, SOFF) were sent and not received
	d.sync()
	d.noteFcnt(fcnt, soff)
}

func (d *Decoder) addSData(fcnt uint32, f *rawSData) {
	if d.ackWL && int32(fcnt-d.paramFcnt) > 0 {
		d.ackWL = false // SDATA after the SINFO: the device got the acknowledgement
	}
	var s int64
	wl := d.wl
	if f.pctx {
		s = int64(f.soffh)<<16 | int64(f.soffl)
		wl = f.wl // the frame's own redundancy always uses its own WL
		if d.newer(fcnt) {
			d.setParam(fcnt, wl)
		}
	} else {
		s = d.resolve(f.soffl)
	}
	d.placeSys(s, f.sys)
	if f.pctx {
		d.sync()
	}
	if d.synced {
		d.addRed(fcnt, s, f.red, wl)
	} else if len(f.red) > 0 {
		d.backlog = append(d.backlog, pendingRed{fcnt: fcnt, soff: s, red: append([]byte(nil), f.red...)})
		if len(d.backlog) > maxBacklog {
			d.sync() // no context for too long: assume the device default WL
		}
	}
	d.noteFcnt(fcnt, s+int64(len(f.sys)))
}

// resolve picks the full offset with low 16 bits soffl nearest to the highest offset seen.
func (d *Decoder) resolve(soffl uint16) int64 {
	ref := d.end
	c := ref&^0xFFFF | int64(soffl)
	best := int64(-1)
	for _, x := range [3]int64{c - 0x10000, c, c + 0x10000} {
		if x < 0 || x > 0xFFFFFFFF {
			continue
		}
		if best < 0 || abs64(x-ref) <= abs64(best-ref) {
			best = x
		}
	}
	return best
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (d *Decoder) placeSys(s int64, sys []byte) {
	d.extend(s + int64(len(sys)))
	for j, v := range sys {
		o := s + int64(j)
		if o < d.floor {
			continue // final: already known or declared lost
		}
		i := o - d.base
		if bitGet(d.unk, i) {
			d.learn(o, v)
		} else if d.buf[i] != v {
			d.inconsistent++
		}
	}
}

// extend grows the buffer to newEnd; new octets are pending until received.
func (d *Decoder) extend(newEnd int64) {
	if newEnd <= d.end {
		return
	}
	if newEnd-d.end > maxJump {
		d.fastForward(newEnd - MaxWL - MaxSys)
	}
	nb := int(newEnd - d.base)
	nw := (nb + 63) >> 6
	d.buf = append(d.buf, make([]byte, nb-len(d.buf))...)
	d.pivAt = append(d.pivAt, make([]*row, nb-len(d.pivAt))...)
	if grow := nw - len(d.unk); grow > 0 {
		d.unk = append(d.unk, make([]uint64, grow)...)
		d.piv = append(d.piv, make([]uint64, grow)...)
		for _, r := range d.rows {
			r.bits = append(r.bits, make([]uint64, grow)...)
		}
	}
	bitSetRange(d.unk, d.end-d.base, newEnd-d.base)
	if d.wlo == d.whi {
		d.wlo = int((d.end - d.base) >> 6)
	}
	d.whi = nw
	d.end = newEnd
}

// fastForward handles a jump too large to buffer: everything pending and everything up to `to`
// is declared lost at once.
func (d *Decoder) fastForward(to int64) {
	d.lost += bitCount(d.unk, d.floor-d.base, d.end-d.base) + int(to-d.end)
	for _, r := range d.rows {
		d.release(r)
	}
	d.rows = d.rows[:0]
	d.wlo, d.whi = 0, 0
	d.base = to &^ 63
	d.buf, d.unk, d.piv = d.buf[:0], d.unk[:0], d.piv[:0]
	clear(d.pivAt)
	d.pivAt = d.pivAt[:0]
	d.end = d.base
	d.floor = to
	d.rd, d.inSync = d.base, false
	d.extend(to) // marks [base, to) unknown: below the floor, hence lost
}

// addRed turns the redundancy octets of one frame into equations.
func (d *Decoder) addRed(fcnt uint32, s int64, red []byte, w int) {
	if len(red) == 0 {
		return
	}
	if int(d.sel.wl) != w {
		d.sel.reset(w)
	}
	wl := int64(w)
	ws := s - wl
	from := max(ws, 0)
	if from < d.floor || s > d.end {
		// The window reaches below the floor: only a frame later than the reorder depth (or
		// an unacknowledged WL growth) gets here. Octets below the floor are final, and the
		// decoder state does not keep them for equations.
		return
	}
	if bitNext(d.unk, from-d.base, s-d.base) >= s-d.base {
		return // nothing to recover
	}
	d.active()
	var win []byte
	if ws >= 0 {
		win = d.buf[ws-d.base : s-d.base] // aliases buf, so recovered octets show up at once
	} else {
		if cap(d.win) < int(wl) {
			d.win = make([]byte, wl)
		}
		win = d.win[:wl]
		clear(win[:-ws]) // offsets below 0 read as 0x00
	}
	for i, rv := range red {
		first := bitNext(d.unk, from-d.base, s-d.base)
		if first >= s-d.base {
			return
		}
		if ws < 0 {
			copy(win[-ws:], d.buf[:s]) // base is 0 here; refresh after each recovery
		}
		acc, ok := d.sel.draw(fcnt, i, win)
		if !ok {
			continue
		}
		r := d.newRow()
		r.val = rv ^ acc
		// Coefficients: pending octets of the window that are in the drawn set, word by word.
		// The set only has bits for offsets in [ws, s), and every pending octet there is >= from.
		n, last := 0, int64(0)
		for k := first >> 6; k <= (s-1-d.base)>>6; k++ {
			m := d.unk[k] & d.sel.word(k<<6+d.base-ws)
			r.bits[k] = m
			if m != 0 {
				n += bits.OnesCount64(m)
				last = k<<6 + 63 - int64(bits.LeadingZeros64(m))
			}
		}
		switch {
		case n == 0:
			if r.val != 0 {
				d.inconsistent++
			}
			d.release(r)
		case n == 1 && !bitGet(d.piv, last):
			v := r.val
			d.release(r)
			d.recovered++
			d.learn(d.base+last, v) // peel
		default:
			d.insert(r)
			d.drain()
		}
	}
}

// horizon returns the offset below which no frame still to come can deliver or cover an octet.
func (d *Decoder) horizon() int64 {
	low := d.end
	if d.haveFcnt && d.reorder > 0 {
		var lastEnd int64
		have := false
		for k := ringSize - 1; k >= 0; k-- {
			g := d.fcntMax - uint32(k)
			if int32(g-d.fcntStart) < 0 {
				continue
			}
			if e := d.ring[g%ringSize]; e.ok && e.fcnt == g {
				if !have || e.end > lastEnd {
					lastEnd, have = e.end, true
				}
				continue
			}
			if k < d.reorder {
				// g is missing but may still arrive; its SOFF is at least lastEnd.
				if !have {
					return d.floor
				}
				low = min(low, lastEnd)
			}
		}
	}
	return low - int64(d.wl)
}

func (d *Decoder) advanceFloor() {
	h := d.end - maxPending
	if d.synced {
		h = max(h, d.horizon())
	}
	d.setFloor(h)
}

// setFloor declares the pending octets below h lost.
func (d *Decoder) setFloor(h int64) {
	h = min(h, d.end)
	if h <= d.floor {
		return
	}
	for o := bitNext(d.unk, d.floor-d.base, h-d.base); o < h-d.base; o = bitNext(d.unk, o+1, h-d.base) {
		d.lose(d.base + o)
		d.lost++
	}
	d.floor = h
}

// state of octet o for the de-framer: 0 known, 1 pending, 2 lost, 3 not seen yet.
func (d *Decoder) octet(o int64) int {
	switch {
	case o >= d.end:
		return 3
	case !bitGet(d.unk, o-d.base):
		return 0
	case o >= d.floor:
		return 1
	}
	return 2
}

// deframe extracts complete records from the known prefix (§5.7).
func (d *Decoder) deframe() {
	for d.rd < d.end {
		if !d.inSync {
			// Resynchronise: the first known 0xA0 is a terminator or padding.
			st := d.octet(d.rd)
			if st == 1 {
				return
			}
			b := d.buf[d.rd-d.base]
			d.rd++
			if st == 0 && b == recTag {
				d.inSync = true
			}
			continue
		}
		o := d.rd
		switch d.octet(o) {
		case 1:
			return
		case 2:
			d.inSync = false
			continue
		}
		if d.buf[o-d.base] == recTag {
			d.rd++ // padding
			continue
		}
		next, done, bad := d.parseRecord(o)
		if !done && !bad {
			return // wait for more octets
		}
		if bad {
			d.inSync = false
			d.rd = next
			continue
		}
		d.out = append(d.out, Record{Offset: uint32(o), Data: append([]byte(nil), d.rec...)})
		d.rd = next
	}
}

// parseRecord decodes the record whose header is at o into d.rec. done: next is the offset after
// the terminator. bad: the record is lost or malformed, resynchronise from next. Neither: wait.
func (d *Decoder) parseRecord(o int64) (next int64, done, bad bool) {
	d.rec = d.rec[:0]
	pos := o
	dist := int64(d.buf[o-d.base] - recTag)
	for {
		chain := pos + dist
		if chain-o > MaxRecord+1 {
			return o + 1, false, true // chain runs past the longest record
		}
		for q := pos + 1; q <= chain; q++ {
			switch d.octet(q) {
			case 1, 3:
				return 0, false, false
			case 2:
				return q, false, true
			}
			if b := d.buf[q-d.base]; q < chain {
				if b == recTag {
					return q, false, true // 0xA0 inside a record: resync at it
				}
				d.rec = append(d.rec, b)
			}
		}
		b := d.buf[chain-d.base]
		if b == recTag {
			return chain + 1, true, false
		}
		d.rec = append(d.rec, recTag)
		pos, dist = chain, int64(b-recTag)
	}
}

// compact drops buffered octets that are final and already de-framed.
func (d *Decoder) compact() {
	target := min(d.rd, d.floor) &^ 63
	k := target - d.base
	if k < compactBits {
		return
	}
	kw := int(k >> 6)
	d.buf = d.buf[:copy(d.buf, d.buf[k:])]
	n := copy(d.pivAt, d.pivAt[k:])
	clear(d.pivAt[n:])
	d.pivAt = d.pivAt[:n]
	d.unk = d.unk[:copy(d.unk, d.unk[kw:])]
	d.piv = d.piv[:copy(d.piv, d.piv[kw:])]
	for _, r := range d.rows {
		r.bits = r.bits[:copy(r.bits, r.bits[kw:])]
	}
	d.base = target
	d.wlo, d.whi = max(d.wlo-kw, 0), max(d.whi-kw, 0)
}
