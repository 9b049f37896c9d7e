package stream

import "encoding/binary"

// Encoder is a device-side ROSE engine for tests and simulators. It follows the LBM frame
// scheduling (systematic octets first, redundancy up to the target ratio RR over the window,
// dilution as fresh octets enter the window, protocol context every PCTXInterval+1 frames, SINFO
// when asked or while a WL change is unacknowledged), so that for the same inputs it emits the
// same frames as the device. Differences from LBM: the FIFO is unbounded (AddRecord never
// overruns), records are not encrypted, the unit size is 1, and WL is not capped at 512.
type Encoder struct {
	wl, rr, pci int
	framecnt    int
	soff        uint32 // stream offset of the next unsent octet
	redcnt      int    // redundancy octets sent over the current window (diluted as it slides)
	pool        []byte // already sent octets [soff-len(pool), soff); len(pool) == wl in steady state
	pending     []byte // octets added but not yet sent
	pendSInfo   bool
	pendWLAck   bool
	lowLatency  bool
	sel         *selector
}

// NewEncoder returns an encoder with window length wl (rounded up to a representable value and
// clamped to [MinWL, MaxWL]), redundancy ratio rr in percent and protocol context interval
// pctxInterval (both clamped to 0..255). The first frame carries the protocol context.
func NewEncoder(wl int, rr int, pctxInterval int) *Encoder {
	wl = roundWL(wl)
	e := &Encoder{
		wl:   wl,
		rr:   min(max(rr, 0), 255),
		pci:  min(max(pctxInterval, 0), 255),
		pool: make([]byte, wl), // the window initially holds wl virtual 0x00 octets
		sel:  newSelector(wl),
	}
	// LBM starts with a full redundancy account, so the first frames carry only systematic data.
	e.redcnt = e.target()
	return e
}

func (e *Encoder) target() int { return (e.wl*e.rr + 99) / 100 }

// SetLowLatency enables the LBM low-latency mode: when no systematic data is pending, the encoder
// keeps sending redundancy-only frames until the target redundancy over the window is reached.
func (e *Encoder) SetLowLatency(on bool) { e.lowLatency = on }

// WL returns the current window length.
func (e *Encoder) WL() int { return e.wl }

// Offset returns the stream offset the next added record will start at.
func (e *Encoder) Offset() uint32 { return e.soff + uint32(len(e.pending)) }

// Pending returns the number of octets added but not yet sent as systematic data.
func (e *Encoder) Pending() int { return len(e.pending) }

// AddRecord appends one record of 1..254 bytes to the stream.
func (e *Encoder) AddRecord(data []byte) error {
	var err error
	e.pending, err = AppendRecord(e.pending, data)
	return err
}

// Busy reports whether NextFrame would produce a frame.
func (e *Encoder) Busy() bool {
	return len(e.pending) > 0 || e.pendSInfo || e.pendWLAck ||
		(e.lowLatency && len(e.pool) >= e.wl && e.target() > e.redcnt)
}

// HandleCommand applies a downlink SCMD as the device does.
func (e *Encoder) HandleCommand(c Command) error {
	if c.AckWL || c.UpdateWL {
		if _, err := EncodeWL(c.WL); err != nil {
			return err
		}
	}
	if c.SInfoRequest {
		e.pendSInfo = true
	}
	if c.UpdateRR {
		e.rr = int(c.RR)
	}
	if c.UpdatePCTXInterval {
		e.pci = int(c.PCTXInterval)
	}
	if c.UpdateWL {
		if shift := e.wl - c.WL; shift > 0 {
			// Shrink: keep the newest octets of the window.
			drop := min(shift, len(e.pool))
			e.pool = append(e.pool[:0], e.pool[drop:]...)
			e.redcnt = e.redcnt * (e.wl - shift) / e.wl
		}
		// Growth needs no shift: the window fills with the next systematic octets before any
		// redundancy is sent again.
		e.wl = c.WL
		e.sel.reset(e.wl)
		e.pendWLAck = true
	}
	if c.AckWL && c.WL == e.wl {
		e.pendWLAck = false
	}
	return nil
}

// NextFrame returns the next ROSE frame (without the DM 0x14 prefix) to send with uplink counter
// fcnt, at most maxLen bytes long. ok is false when there is nothing to send.
func (e *Encoder) NextFrame(fcnt uint32, maxLen int) (frame []byte, ok bool, err error) {
	if e.pendSInfo || e.pendWLAck {
		if maxLen < sinfoLen {
			return nil, false, ErrFrameTooSmall
		}
		frame, err = AppendSInfo(nil, &SInfo{
			RQAWL: e.pendWLAck, WL: e.wl, RR: uint8(e.rr), Offset: e.soff, PCTXInterval: uint8(e.pci),
		})
		if err != nil {
			return nil, false, err
		}
		e.pendSInfo = false
		return frame, true, nil
	}
	if !e.Busy() {
		return nil, false, nil
	}
	pctx := e.framecnt == 0
	avail := maxLen - sdataHdrLen
	if pctx {
		avail -= pctxLen
	}
	if avail <= 0 {
		return nil, false, ErrFrameTooSmall
	}
	var nsys, nred int
	target := e.target()
	if len(e.pool) < e.wl {
		// The window grew: send systematic octets only until it is full again.
		nsys = min(len(e.pending), avail, MaxSys)
	} else {
		maxRed := min(e.wl, max(0, target-e.redcnt))
		if maxRed > avail {
			nred = avail
		} else {
			nred = maxRed
			nsys = min(len(e.pending), MaxSys, avail-nred)
		}
	}
	if nsys+nred == 0 {
		return nil, false, nil
	}
	soff := e.soff
	frame = make([]byte, 0, sdataHdrLen+nsys+nred+pctxLen)
	hdr := byte(nsys)
	if pctx {
		hdr |= pctxFlag
	}
	frame = append(frame, hdr, byte(soff), byte(soff>>8))
	frame = append(frame, e.pending[:nsys]...)
	for i := range nred {
		v, good := e.sel.draw(fcnt, i, e.pool[:e.wl])
		if !good {
			// The device would loop forever on this counter; refuse rather than hang.
			return nil, false, &DecodeError{Field: "REDDAT", Offset: sdataHdrLen + nsys + i, Err: ErrRange}
		}
		frame = append(frame, v)
	}
	if pctx {
		wlb, err := EncodeWL(e.wl)
		if err != nil {
			return nil, false, err
		}
		frame = append(frame, wlb)
		frame = binary.LittleEndian.AppendUint16(frame, uint16(soff>>16))
	}
	if nred > 0 {
		e.redcnt = min(target, e.redcnt+nred)
	}
	e.pool = append(e.pool, e.pending[:nsys]...)
	e.pending = e.pending[nsys:]
	if len(e.pending) == 0 {
		e.pending = nil
	}
	e.soff += uint32(nsys)
	if shift := len(e.pool) - e.wl; shift > 0 {
		e.pool = append(e.pool[:0], e.pool[shift:]...)
		e.redcnt = e.redcnt * (e.wl - shift) / e.wl
	}
	e.framecnt = (e.framecnt + 1) % (e.pci + 1)
	return frame, true, nil
}
