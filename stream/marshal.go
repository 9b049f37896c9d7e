package stream

import (
	"encoding/binary"
	"math/bits"
)

const (
	stateVersion = 1
	maxStateSpan = 1 << 20 // octets of buffered stream a valid state can hold

	stSynced   = 1 << 0
	stInSync   = 1 << 1
	stAckWL    = 1 << 2
	stHaveFcnt = 1 << 3
	stHaveParm = 1 << 4
)

// MarshalBinary serialises the decoder state (version 1). Only what later frames can still use
// is kept: the octets from min(de-framer cursor, floor) up to the highest offset seen (about WL
// octets at steady state), pending-octet runs, unsolved equations as column lists, recent frame
// counters and the pre-context backlog. Integers are varints.
func (d *Decoder) MarshalBinary() ([]byte, error) {
	keep := min(d.rd, d.floor)
	b := make([]byte, 0, 64+int(d.end-keep)+16*len(d.rows))
	flags := byte(0)
	if d.synced {
		flags |= stSynced
	}
	if d.inSync {
		flags |= stInSync
	}
	if d.ackWL {
		flags |= stAckWL
	}
	if d.haveFcnt {
		flags |= stHaveFcnt
	}
	if d.haveParam {
		flags |= stHaveParm
	}
	b = append(b, stateVersion, flags)
	b = binary.AppendUvarint(b, uint64(d.reorder))
	b = binary.AppendUvarint(b, uint64(d.wl))
	b = append(b, d.rr, d.pci)
	if d.haveParam {
		b = binary.AppendUvarint(b, uint64(d.paramFcnt))
	}
	if d.haveFcnt {
		b = binary.AppendUvarint(b, uint64(d.fcntStart))
		b = binary.AppendUvarint(b, uint64(d.fcntMax))
		var mask uint32
		for k := range uint32(ringSize) {
			g := d.fcntMax - k
			if e := d.ring[g%ringSize]; e.ok && e.fcnt == g {
				mask |= 1 << k
			}
		}
		b = binary.AppendUvarint(b, uint64(mask))
		for m := mask; m != 0; m &= m - 1 {
			g := d.fcntMax - uint32(bits.TrailingZeros32(m))
			b = binary.AppendVarint(b, d.ring[g%ringSize].end-d.end)
		}
	}
	b = binary.AppendUvarint(b, uint64(keep))
	b = binary.AppendUvarint(b, uint64(d.end-keep))
	b = binary.AppendUvarint(b, uint64(d.floor-keep))
	b = binary.AppendUvarint(b, uint64(d.rd-keep))
	b = append(b, d.buf[keep-d.base:]...)

	// Runs of pending/lost octets in [keep, end).
	lo, hi := keep-d.base, d.end-d.base
	var runs []int64
	for o := bitNext(d.unk, lo, hi); o < hi; {
		e := o + 1
		for e < hi && bitGet(d.unk, e) {
			e++
		}
		runs = append(runs, o, e)
		o = bitNext(d.unk, e, hi)
	}
	b = binary.AppendUvarint(b, uint64(len(runs)/2))
	prev := lo
	for i := 0; i < len(runs); i += 2 {
		b = binary.AppendUvarint(b, uint64(runs[i]-prev))
		b = binary.AppendUvarint(b, uint64(runs[i+1]-runs[i]))
		prev = runs[i+1]
	}

	// Equations: value, pivot and a bitmap over the pending octets (>= floor) in offset order.
	b = binary.AppendUvarint(b, uint64(len(d.rows)))
	if len(d.rows) > 0 {
		cols := d.pendingCols()
		for _, r := range d.rows {
			b = append(b, r.val)
			var bm byte
			pivot := -1
			for j, o := range cols {
				if bitGet(r.bits, o) {
					bm |= 1 << (j & 7)
					if o == r.pivot-d.base {
						pivot = j
					}
				}
				if j&7 == 7 {
					b, bm = append(b, bm), 0
				}
			}
			if len(cols)&7 != 0 {
				b = append(b, bm)
			}
			b = binary.AppendUvarint(b, uint64(pivot))
		}
	}

	b = binary.AppendUvarint(b, uint64(len(d.backlog)))
	for _, p := range d.backlog {
		b = binary.AppendUvarint(b, uint64(p.fcnt))
		b = binary.AppendUvarint(b, uint64(p.soff))
		b = binary.AppendUvarint(b, uint64(len(p.red)))
		b = append(b, p.red...)
	}
	b = binary.AppendUvarint(b, uint64(d.inconsistent))
	b = binary.AppendUvarint(b, d.recovered)
	return b, nil
}

// pendingCols lists the buffer indices of the pending octets (the possible equation columns).
func (d *Decoder) pendingCols() []int64 {
	var cols []int64
	hi := d.end - d.base
	for o := bitNext(d.unk, d.floor-d.base, hi); o < hi; o = bitNext(d.unk, o+1, hi) {
		cols = append(cols, o)
	}
	return cols
}

type stateReader struct {
	b   []byte
	off int
	err error
}

func (r *stateReader) fail(field string) {
	if r.err == nil {
		r.err = &DecodeError{Field: field, Offset: r.off, Err: ErrState}
	}
}

func (r *stateReader) uvarint(field string, limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 || v > limit {
		r.fail(field)
		return 0
	}
	r.off += n
	return v
}

func (r *stateReader) varint(field string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 || v > 1<<40 || v < -(1<<40) {
		r.fail(field)
		return 0
	}
	r.off += n
	return v
}

func (r *stateReader) bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail(field)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// UnmarshalDecoder restores a decoder serialised by MarshalBinary. The state is validated, so a
// corrupt blob yields an error (wrapping ErrState) rather than a decoder that misbehaves.
func UnmarshalDecoder(b []byte) (*Decoder, error) {
	if len(b) < 2 {
		return nil, decErr("state", 0, ErrShort)
	}
	if b[0] != stateVersion {
		return nil, decErr("version", 0, ErrState)
	}
	flags := b[1]
	if flags&^(stSynced|stInSync|stAckWL|stHaveFcnt|stHaveParm) != 0 {
		return nil, decErr("flags", 1, ErrState)
	}
	r := &stateReader{b: b, off: 2}
	d := NewDecoderConfig(Config{ReorderDepth: -1})
	d.synced = flags&stSynced != 0
	d.inSync = flags&stInSync != 0
	d.ackWL = flags&stAckWL != 0
	d.haveFcnt = flags&stHaveFcnt != 0
	d.haveParam = flags&stHaveParm != 0
	d.reorder = int(r.uvarint("reorder", MaxReorderDepth))
	wl := int(r.uvarint("wl", MaxWL))
	if _, err := EncodeWL(wl); r.err == nil && err != nil {
		r.fail("wl")
	}
	rrpci := r.bytes("rr", 2)
	if d.haveParam {
		d.paramFcnt = uint32(r.uvarint("paramFcnt", 0xFFFFFFFF))
	}
	if r.err != nil {
		return nil, r.err
	}
	d.wl = wl
	d.rr, d.pci = rrpci[0], rrpci[1]

	var ringMask uint64
	var ringEnds []int64
	if d.haveFcnt {
		d.fcntStart = uint32(r.uvarint("fcnt", 0xFFFFFFFF))
		d.fcntMax = uint32(r.uvarint("fcnt", 0xFFFFFFFF))
		ringMask = r.uvarint("ring", 0xFFFFFFFF)
		for m := ringMask; m != 0 && r.err == nil; m &= m - 1 {
			ringEnds = append(ringEnds, r.varint("ring"))
		}
	}
	keep := int64(r.uvarint("keep", 1<<33))
	span := int64(r.uvarint("span", maxStateSpan))
	floor := int64(r.uvarint("floor", uint64(span)))
	rd := int64(r.uvarint("rd", uint64(span)))
	data := r.bytes("buf", int(span))
	if r.err != nil {
		return nil, r.err
	}
	d.base = keep &^ 63
	d.end = keep + span
	nb := d.end - d.base
	d.buf = make([]byte, nb, nb+nb/4)
	d.unk = make([]uint64, (nb+63)>>6)
	d.piv = make([]uint64, len(d.unk))
	d.pivAt = make([]*row, nb, cap(d.buf))
	copy(d.buf[keep-d.base:], data)
	bitSetRange(d.unk, 0, keep-d.base) // not kept: below floor and cursor, reads as lost
	d.floor, d.rd = keep+floor, keep+rd
	if keep != min(d.rd, d.floor) {
		return nil, decErr("keep", 0, ErrState)
	}
	if d.haveFcnt {
		i := 0
		for m := uint32(ringMask); m != 0; m &= m - 1 {
			g := d.fcntMax - uint32(bits.TrailingZeros32(m))
			d.ring[g%ringSize] = fcntEntry{fcnt: g, end: d.end + ringEnds[i], ok: true}
			i++
		}
		if ringMask&1 == 0 {
			return nil, decErr("ring", 0, ErrState)
		}
	}

	lo, hi := keep-d.base, d.end-d.base
	nruns := r.uvarint("runs", uint64(span))
	prev := lo
	for range nruns {
		gap := int64(r.uvarint("runs", uint64(span)))
		n := int64(r.uvarint("runs", uint64(span)))
		if r.err != nil {
			return nil, r.err
		}
		s := prev + gap
		if (gap == 0 && prev != lo) || n == 0 || s+n > hi {
			return nil, decErr("runs", r.off, ErrState)
		}
		bitSetRange(d.unk, s, s+n)
		prev = s + n
	}
	for o := bitNext(d.unk, lo, hi); o < hi; o = bitNext(d.unk, o+1, hi) {
		if d.buf[o] != 0 {
			return nil, decErr("buf", r.off, ErrState)
		}
	}

	var cols []int64
	nrows := r.uvarint("rows", uint64(span))
	if nrows > 0 {
		cols = d.pendingCols()
		if nrows > uint64(len(cols)) {
			r.fail("rows")
		}
	}
	for range nrows {
		vb := r.bytes("rows", 1)
		bm := r.bytes("rows", (len(cols)+7)/8)
		pj := r.uvarint("rows", uint64(len(cols)))
		if r.err != nil {
			return nil, r.err
		}
		if pj >= uint64(len(cols)) || bm[pj/8]&(1<<(pj&7)) == 0 ||
			(len(cols)&7 != 0 && bm[len(bm)-1]>>(len(cols)&7) != 0) || d.pivAt[cols[pj]] != nil {
			return nil, decErr("rows", r.off, ErrState)
		}
		row := d.newRow()
		row.val, row.pivot = vb[0], d.base+cols[pj]
		for j, o := range cols {
			if bm[j/8]&(1<<(j&7)) != 0 {
				bitSet(row.bits, o)
			}
		}
		d.addRow(row)
	}
	d.active()
	// Reduced row echelon form: a pivot column appears in its own row only.
	for _, q := range d.rows {
		if d.weight(q) < 2 {
			return nil, decErr("rows", r.off, ErrState) // solved rows never stay in the system
		}
		pi := q.pivot - d.base
		for w := range q.bits {
			m := q.bits[w] & d.piv[w]
			if int64(w) == pi>>6 {
				m &^= 1 << (uint64(pi) & 63)
			}
			if m != 0 {
				return nil, decErr("rows", r.off, ErrState)
			}
		}
	}

	nbl := r.uvarint("backlog", maxBacklog)
	if d.synced && nbl > 0 {
		r.fail("backlog")
	}
	for range nbl {
		fc := uint32(r.uvarint("backlog", 0xFFFFFFFF))
		soff := int64(r.uvarint("backlog", 1<<33))
		red := r.bytes("backlog", int(r.uvarint("backlog", 255)))
		if r.err != nil {
			return nil, r.err
		}
		d.backlog = append(d.backlog, pendingRed{fcnt: fc, soff: soff, red: append([]byte(nil), red...)})
	}
	d.inconsistent = uint32(r.uvarint("inconsistent", 0xFFFFFFFF))
	d.recovered = r.uvarint("recovered", 1<<62)
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(b) {
		return nil, decErr("state", r.off, ErrLength)
	}
	return d, nil
}
