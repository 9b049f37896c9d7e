package stream

import "math/bits"

// The equation system is kept in reduced row echelon form over GF(2): every row has a pivot
// column (an unknown octet) that appears in no other row. A row whose only column is its pivot
// determines that octet. Columns are unknown stream octets at or above the loss floor; row bits
// are aligned with the decoder buffer (bit i = offset base+i).

type row struct {
	idx   int   // position in Decoder.rows, -1 once removed
	pivot int64 // stream offset of the pivot column
	val   byte
	bits  []uint64
}

// active narrows [wlo, whi), the words that can hold a column, to the pending octets. Pending
// octets only appear at the top (extend widens the range), so the range stays valid as they
// are resolved; row operations touch only these words.
func (d *Decoder) active() {
	lo, hi := d.floor-d.base, d.end-d.base
	first := bitNext(d.unk, lo, hi)
	if first == hi {
		d.wlo, d.whi = 0, 0
		return
	}
	w := int((hi - 1) >> 6)
	top := d.unk[w]
	if r := hi & 63; r != 0 {
		top &= 1<<uint(r) - 1
	}
	for top == 0 {
		w--
		top = d.unk[w]
	}
	d.wlo, d.whi = int(first>>6), w+1
}

func (d *Decoder) newRow() *row {
	var r *row
	if n := len(d.free); n > 0 {
		r = d.free[n-1]
		d.free = d.free[:n-1]
	} else {
		r = &row{}
	}
	nw := len(d.unk)
	if cap(r.bits) < nw {
		r.bits = make([]uint64, nw, nw+nw/2)
	} else {
		r.bits = r.bits[:nw]
		clear(r.bits)
	}
	r.idx, r.val, r.pivot = -1, 0, 0
	return r
}

func (d *Decoder) release(r *row) {
	r.idx = -1
	if len(d.free) < 1024 {
		d.free = append(d.free, r)
	}
}

func (d *Decoder) xorRow(dst, src *row) {
	a, b := dst.bits[d.wlo:d.whi], src.bits[d.wlo:d.whi]
	for i := range b {
		a[i] ^= b[i]
	}
	dst.val ^= src.val
}

// weight returns 0, 1 or 2 (meaning "two or more") set bits.
func (d *Decoder) weight(r *row) int {
	n := 0
	for _, w := range r.bits[d.wlo:d.whi] {
		n += bits.OnesCount64(w)
		if n > 1 {
			return 2
		}
	}
	return n
}

func (d *Decoder) lowest(r *row) int64 {
	for i, w := range r.bits[d.wlo:d.whi] {
		if w != 0 {
			return d.base + int64(d.wlo+i)<<6 + int64(bits.TrailingZeros64(w))
		}
	}
	return -1
}

func (d *Decoder) addRow(r *row) {
	r.idx = len(d.rows)
	d.rows = append(d.rows, r)
	d.pivAt[r.pivot-d.base] = r
	bitSet(d.piv, r.pivot-d.base)
}

func (d *Decoder) removeRow(r *row) {
	last := d.rows[len(d.rows)-1]
	d.rows[r.idx] = last
	last.idx = r.idx
	d.rows = d.rows[:len(d.rows)-1]
	d.pivAt[r.pivot-d.base] = nil
	bitClr(d.piv, r.pivot-d.base)
	r.idx = -1
}

// insert reduces r against the pivots, adds it as a new pivot row and queues rows that may
// have become single-column. r must only hold unknown columns at or above the floor.
func (d *Decoder) insert(r *row) {
	for w := d.wlo; w < d.whi; w++ {
		// Pivot rows hold no other pivot column, so XORing them leaves the mask valid.
		for m := r.bits[w] & d.piv[w]; m != 0; m &= m - 1 {
			d.xorRow(r, d.pivAt[w<<6+bits.TrailingZeros64(m)])
		}
	}
	p := d.lowest(r)
	if p < 0 {
		if r.val != 0 {
			d.inconsistent++
		}
		d.release(r)
		return
	}
	r.pivot = p
	pw, pm := (p-d.base)>>6, uint64(1)<<(uint64(p-d.base)&63)
	for _, q := range d.rows {
		if q.bits[pw]&pm != 0 {
			d.xorRow(q, r)
			d.queue = append(d.queue, q)
		}
	}
	d.addRow(r)
	d.queue = append(d.queue, r)
}

// drain solves every queued row that is down to its pivot. Solving a pivot never changes other
// rows (no other row holds a pivot column), so this does not cascade.
func (d *Decoder) drain() {
	for len(d.queue) > 0 {
		r := d.queue[len(d.queue)-1]
		d.queue = d.queue[:len(d.queue)-1]
		if r.idx < 0 || d.weight(r) != 1 {
			continue
		}
		p, v := r.pivot, r.val
		d.removeRow(r)
		d.release(r)
		d.setKnown(p, v)
		d.recovered++
	}
}

// setKnown stores the value of an octet that no row refers to any more.
func (d *Decoder) setKnown(o int64, v byte) {
	d.buf[o-d.base] = v
	bitClr(d.unk, o-d.base)
}

// learn records the value of the unknown octet o (o >= floor) and substitutes it everywhere.
func (d *Decoder) learn(o int64, v byte) {
	i := o - d.base
	if bitGet(d.piv, i) {
		r := d.pivAt[i]
		d.removeRow(r)
		d.setKnown(o, v)
		bitClr(r.bits, i)
		r.val ^= v
		d.insert(r)
	} else {
		d.setKnown(o, v)
		w, m := i>>6, uint64(1)<<(uint64(i)&63)
		for _, q := range d.rows {
			if q.bits[w]&m != 0 {
				q.bits[w] &^= m
				q.val ^= v
				d.queue = append(d.queue, q)
			}
		}
	}
	d.drain()
}

// lose removes the unknown octet o from the system: the remaining rows then span exactly the
// equations of the old system that do not involve o.
func (d *Decoder) lose(o int64) {
	i := o - d.base
	if bitGet(d.piv, i) {
		r := d.pivAt[i]
		d.removeRow(r)
		d.release(r)
		return
	}
	w, m := i>>6, uint64(1)<<(uint64(i)&63)
	var first *row
	for k := 0; k < len(d.rows); k++ {
		q := d.rows[k]
		if q.bits[w]&m == 0 {
			continue
		}
		if first == nil {
			first = q
			continue
		}
		d.xorRow(q, first)
		d.queue = append(d.queue, q)
	}
	if first != nil {
		d.removeRow(first)
		d.release(first)
	}
	d.drain()
}
