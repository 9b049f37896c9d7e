package filesvc

import (
	"fmt"
	"math/bits"
)

// Session is one upload session (sid, sctr, cct) being reassembled.
//
// The persisted state is the list of received coded chunks that are not
// known to be redundant (MarshalBinary), at most cct−1 of them, so a
// half-complete 8 KiB upload serializes to about 4.5 KB. The GF(2) basis is
// kept in memory only: it is built lazily the first time the number of
// stored chunks reaches cct (rank cannot reach cct earlier) or Rank is
// called, and is then extended incrementally. A session restored from
// MarshalBinary therefore pays one elimination (about a millisecond for
// cct = 1024) on the first Add that may complete it, and nothing before.
//
// A Session is not safe for concurrent use; Rank and File may update the
// in-memory basis.
type Session struct {
	sid, sctr uint8
	cct       int
	nw        int // 64-bit coefficient words per row; 0 for an invalid cct

	recs    []record // received chunks, grouped per uplink, in arrival order
	nstored int      // total chunks in recs

	// Upper-triangular basis: row p (stride nw+1, value last) exists when
	// pivot bit p is set; its lowest coefficient bit is p.
	basis   []uint64
	pivots  []uint64
	rank    int
	built   bool // basis reflects every stored chunk; redundant ones are pruned
	scratch []uint64

	solved []uint64 // the cct source chunks once rank == cct
}

// record holds the kept coded chunks of one uplink: chunk j (cid =
// phash(fcnt)+j) is kept when bit j of mask is set; vals in ascending j.
type record struct {
	fcnt uint32
	mask uint32
	vals []uint64
}

// NewSession starts the reassembly of the upload (sid, sctr, cct), usually
// taken from its first fragment. A session with out-of-range parameters
// matches no valid fragment.
func NewSession(sid, sctr uint8, cct int) *Session {
	s := &Session{sid: sid, sctr: sctr, cct: cct}
	if _, err := discriminator(sid, sctr, cct); err == nil {
		s.nw = rowWords(cct)
	}
	return s
}

// SID returns the session id (always 0 on LBM devices).
func (s *Session) SID() uint8 { return s.sid }

// Sctr returns the session counter.
func (s *Session) Sctr() uint8 { return s.sctr }

// ChunkCount returns cct.
func (s *Session) ChunkCount() int { return s.cct }

// Add adds the fragment received in the uplink with LoRaWAN frame counter
// fcnt. It returns done = true once the coefficient matrix reaches full rank
// (rank == cct). Fragments for another (sid, sctr, cct) return
// ErrSessionMismatch. Adding after completion is a no-op that returns
// done = true; a second fragment with an fcnt already stored is ignored.
// On error the session is unchanged.
func (s *Session) Add(fcnt uint32, f Fragment) (done bool, err error) {
	if f.SID != s.sid || f.Sctr != s.sctr || f.ChunkCount != s.cct {
		return s.solved != nil, fmt.Errorf("%w: fragment (sid %d, sctr %d, cct %d), session (sid %d, sctr %d, cct %d)",
			ErrSessionMismatch, f.SID, f.Sctr, f.ChunkCount, s.sid, s.sctr, s.cct)
	}
	if _, err := f.D(); err != nil {
		return false, err
	}
	if err := checkChunkCount(len(f.Chunks)); err != nil {
		return s.solved != nil, err
	}
	if s.solved != nil {
		return true, nil
	}
	for i := range s.recs {
		if s.recs[i].fcnt == fcnt {
			return false, nil
		}
	}
	row := s.row()
	rec := record{fcnt: fcnt, vals: make([]uint64, 0, len(f.Chunks))}
	for j, c := range f.Chunks {
		if !coefficients(row[:s.nw], chunkID(fcnt, j), s.cct) {
			continue // all-zero coefficients: the device sent an all-zero chunk
		}
		if s.built {
			row[s.nw] = c
			if !s.insert(row) {
				continue
			}
		}
		rec.mask |= 1 << j
		rec.vals = append(rec.vals, c)
	}
	if rec.mask != 0 {
		s.recs = append(s.recs, rec)
		s.nstored += len(rec.vals)
	}
	if s.built || s.nstored >= s.cct {
		s.fold()
	}
	return s.solved != nil, nil
}

// Rank returns the rank of the coefficient matrix of the chunks received so
// far (cct once complete). It builds the basis if needed.
func (s *Session) Rank() int {
	s.fold()
	if s.solved != nil {
		return s.cct
	}
	return s.rank
}

// File returns the reassembled file once done: header parsed, length
// applied, hash verified. It returns ErrIncomplete before full rank, a
// *DecodeError for an inconsistent header, and on a hash mismatch the File
// (Port, Encrypted, Hash, PlainHash set) with Data = nil together with
// ErrHashMismatch. Each call returns a new File.
func (s *Session) File() (*File, error) {
	s.fold()
	if s.solved == nil {
		return nil, ErrIncomplete
	}
	return decodeStream(s.solved)
}

func (s *Session) row() []uint64 {
	if len(s.scratch) != s.nw+1 {
		s.scratch = make([]uint64, s.nw+1)
	}
	return s.scratch
}

// fold brings the basis up to date and solves once it has full rank.
func (s *Session) fold() {
	if s.solved != nil || s.nw == 0 {
		return
	}
	if !s.built {
		s.build()
	}
	if s.rank == s.cct {
		s.solve()
	}
}

// build eliminates every stored chunk into a fresh basis (batch
// elimination, see eliminate) and drops the redundant ones from the stored
// list.
func (s *Session) build() {
	nw, stride := s.nw, s.nw+1
	n := s.nstored
	mat := make([]uint64, max(n, s.cct)*stride)
	perm := make([]int32, n)
	i := 0
	for _, r := range s.recs {
		vi := 0
		for m := r.mask; m != 0; m &= m - 1 {
			row := mat[i*stride : (i+1)*stride]
			coefficients(row[:nw], chunkID(r.fcnt, bits.TrailingZeros32(m)), s.cct)
			row[nw] = r.vals[vi]
			perm[i] = int32(i)
			vi++
			i++
		}
	}
	rank, cols := eliminate(mat, n, stride, s.cct, perm)

	// Move pivot row k to index cols[k]. cols is increasing and cols[k] ≥ k,
	// so going downwards never overwrites a row still to be moved.
	s.pivots = make([]uint64, nw)
	keep := make([]bool, n)
	for k := rank - 1; k >= 0; k-- {
		p := cols[k]
		if p != k {
			copy(mat[p*stride:(p+1)*stride], mat[k*stride:(k+1)*stride])
		}
		s.pivots[p>>6] |= 1 << (p & 63)
		keep[perm[k]] = true
	}
	s.basis = mat[:s.cct*stride]
	s.rank = rank
	s.built = true

	// Keep only the chunks whose rows became pivots: they are independent
	// and span everything received.
	i = 0
	kept := s.recs[:0]
	s.nstored = 0
	for _, r := range s.recs {
		nr := record{fcnt: r.fcnt, vals: r.vals[:0]} // filtered in place: writes never overtake reads
		vi := 0
		for m := r.mask; m != 0; m &= m - 1 {
			if keep[i] {
				nr.mask |= 1 << bits.TrailingZeros32(m)
				nr.vals = append(nr.vals, r.vals[vi])
			}
			vi++
			i++
		}
		if nr.mask != 0 {
			kept = append(kept, nr)
			s.nstored += len(nr.vals)
		}
	}
	clear(s.recs[len(kept):])
	s.recs = kept
}

// eliminate brings the first n rows of mat (stride words each: coefficient
// words, then the value) to upper-triangular form with the method of four
// Russians: columns are taken 8 at a time; the pivots of the 8 columns are
// found by plain elimination on the few rows it needs, then every row below
// clears those columns with one XOR from a table of all 2⁸ combinations of
// the pivot rows. Pivot row k ends at index k with lowest set bit cols[k];
// the rows from index rank on are zero in their coefficients. perm follows
// the row swaps.
func eliminate(mat []uint64, n, stride, cct int, perm []int32) (rank int, cols []int) {
	var tbl []uint64
	r := 0
	for c0 := 0; c0 < cct && r < n; c0 += 8 {
		w0, sh := c0>>6, uint(c0&63)
		tw := stride - w0 // table row width: words w0..stride-1
		var prow [8]int   // block bit → pivot row index
		var pmask uint64  // block bits that have a pivot
		np := 0
		for c := c0; c < min(c0+8, cct); c++ {
			bit := uint64(1) << (c & 63)
			found := -1
			for i := r + np; i < n; i++ {
				row := mat[i*stride+w0 : (i+1)*stride]
				for b := (row[0] >> sh) & pmask; b != 0; b &= b - 1 {
					p := prow[bits.TrailingZeros64(b)]
					xorInto(row, mat[p*stride+w0:(p+1)*stride])
				}
				if row[0]&bit != 0 {
					found = i
					break
				}
			}
			if found < 0 {
				continue // every remaining row is now clear in column c
			}
			k := r + np
			if found != k {
				a, b := mat[found*stride:(found+1)*stride], mat[k*stride:(k+1)*stride]
				for i := range a {
					a[i], b[i] = b[i], a[i]
				}
				perm[found], perm[k] = perm[k], perm[found]
			}
			// Keep the block's pivot rows reduced against each other.
			nr := mat[k*stride+w0 : (k+1)*stride]
			for q := r; q < k; q++ {
				if pr := mat[q*stride+w0 : (q+1)*stride]; pr[0]&bit != 0 {
					xorInto(pr, nr)
				}
			}
			prow[c-c0] = k
			pmask |= 1 << (c - c0)
			cols = append(cols, c)
			np++
		}
		if np == 0 {
			continue
		}
		if tbl == nil {
			tbl = make([]uint64, 256*stride)
		}
		// tbl[sub] = XOR of the pivot rows of the block bits in sub, for
		// every sub ⊆ pmask, each from a smaller entry plus one row.
		clear(tbl[:tw])
		for sub := -pmask & pmask; sub != 0; sub = (sub - pmask) & pmask {
			low := sub & -sub
			p := prow[bits.TrailingZeros64(low)]
			xor3(tbl[int(sub)*tw:int(sub+1)*tw], tbl[int(sub^low)*tw:int(sub^low+1)*tw], mat[p*stride+w0:(p+1)*stride])
		}
		for i := r + np; i < n; i++ {
			row := mat[i*stride+w0 : (i+1)*stride]
			if b := (row[0] >> sh) & pmask; b != 0 {
				xorInto(row, tbl[int(b)*tw:int(b+1)*tw])
			}
		}
		r += np
	}
	return r, cols
}

// xor3 sets dst = a ^ b over len(b) words.
func xor3(dst, a, b []uint64) {
	dst, a = dst[:len(b)], a[:len(b)]
	for i, v := range b {
		dst[i] = a[i] ^ v
	}
}

// xorInto sets dst ^= src over len(src) words.
func xorInto(dst, src []uint64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] ^= v
	}
}

// insert reduces r (nw coefficient words, then the value) against the basis
// and stores it at its first free pivot. It reports whether r was
// independent; r is clobbered either way. Reduction stops at the first free
// pivot, so rows stay upper triangular rather than fully reduced, which
// halves the work; solve back-substitutes.
func (s *Session) insert(r []uint64) bool {
	nw := s.nw
	stride := nw + 1
	r = r[:stride]
	for w := 0; w < nw; w++ {
		for r[w] != 0 {
			b := bits.TrailingZeros64(r[w])
			if s.pivots[w]&(1<<b) == 0 {
				p := w<<6 | b
				copy(s.basis[p*stride:(p+1)*stride], r)
				s.pivots[w] |= 1 << b
				s.rank++
				return true
			}
			p := w<<6 | b
			br := s.basis[p*stride+w : (p+1)*stride]
			rr := r[w:stride]
			rr = rr[:len(br)]
			for i, v := range br {
				rr[i] ^= v
			}
		}
	}
	return false
}

// solve back-substitutes the full-rank triangular basis into the source
// chunks and releases the elimination state. Columns are taken 8 at a time
// from the top: once the 8 unknowns of a group are known, a table of their
// 2⁸ XOR combinations lets every row below add the group's contribution
// with one lookup.
func (s *Session) solve() {
	nw, cct := s.nw, s.cct
	stride := nw + 1
	x := make([]uint64, cct)
	for p := range x {
		x[p] = s.basis[p*stride+nw] // accumulates value ^ contributions of solved columns
	}
	var tbl [256]uint64
	for g := (cct+7)/8 - 1; g >= 0; g-- {
		c0 := g * 8
		w, sh := c0>>6, uint(c0&63)
		for p := min(c0+7, cct-1); p >= c0; p-- {
			v := x[p]
			for m := ((s.basis[p*stride+w] >> sh) & 0xFF) >> (p - c0 + 1); m != 0; m &= m - 1 {
				v ^= x[p+1+bits.TrailingZeros64(m)]
			}
			x[p] = v
		}
		if c0 == 0 {
			break
		}
		n := min(8, cct-c0)
		for sub := 1; sub < 1<<n; sub++ {
			low := sub & -sub
			tbl[sub] = tbl[sub^low] ^ x[c0+bits.TrailingZeros(uint(low))]
		}
		for p := range c0 {
			x[p] ^= tbl[(s.basis[p*stride+w]>>sh)&0xFF]
		}
	}
	s.solved = x
	s.recs, s.nstored = nil, 0
	s.basis, s.pivots, s.scratch = nil, nil, nil
	s.rank = s.cct
}
