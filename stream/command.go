package stream

// SCMD flag bits (§5.4).
const (
	scmdFlag   = 0x01
	scmdSInfo  = 0x02
	scmdAckWL  = 0x04
	scmdUpdWL  = 0x08
	scmdUpdRR  = 0x10
	scmdUpdPCI = 0x20
	scmdRFU    = 0xC0
	scmdLen    = 4
)

// Command is a downlink SCMD: FLAGS | WL | RR | PCTXINTV (§5.4). On the DM port it is the
// parameter of DM opcode 0x08. WL is meaningful only with AckWL or UpdateWL (the byte is 0
// otherwise); RR and PCTXInterval are carried verbatim and applied by the device only with
// UpdateRR / UpdatePCTXInterval.
type Command struct {
	SInfoRequest       bool
	AckWL              bool
	UpdateWL           bool
	UpdateRR           bool
	UpdatePCTXInterval bool
	WL                 int
	RR                 uint8
	PCTXInterval       uint8
}

// AppendBinary appends the 4-byte SCMD to dst.
func (c Command) AppendBinary(dst []byte) ([]byte, error) {
	if c.AckWL && c.UpdateWL {
		return dst, &DecodeError{Field: "FLAGS", Err: ErrReserved}
	}
	var wlb byte
	if c.AckWL || c.UpdateWL {
		var err error
		if wlb, err = EncodeWL(c.WL); err != nil {
			return dst, err
		}
	}
	flags := byte(scmdFlag)
	if c.SInfoRequest {
		flags |= scmdSInfo
	}
	if c.AckWL {
		flags |= scmdAckWL
	}
	if c.UpdateWL {
		flags |= scmdUpdWL
	}
	if c.UpdateRR {
		flags |= scmdUpdRR
	}
	if c.UpdatePCTXInterval {
		flags |= scmdUpdPCI
	}
	return append(dst, flags, wlb, c.RR, c.PCTXInterval), nil
}

// DecodeCommand decodes a 4-byte SCMD.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) < scmdLen {
		return Command{}, decErr("SCMD", 0, ErrShort)
	}
	if len(b) > scmdLen {
		return Command{}, decErr("SCMD", scmdLen, ErrLength)
	}
	f := b[0]
	if f&scmdFlag == 0 || f&scmdRFU != 0 || f&(scmdAckWL|scmdUpdWL) == scmdAckWL|scmdUpdWL {
		return Command{}, decErr("FLAGS", 0, ErrReserved)
	}
	c := Command{
		SInfoRequest:       f&scmdSInfo != 0,
		AckWL:              f&scmdAckWL != 0,
		UpdateWL:           f&scmdUpdWL != 0,
		UpdateRR:           f&scmdUpdRR != 0,
		UpdatePCTXInterval: f&scmdUpdPCI != 0,
		RR:                 b[2],
		PCTXInterval:       b[3],
	}
	if c.AckWL || c.UpdateWL {
		wl, err := DecodeWL(b[1])
		if err != nil {
			return Command{}, decErr("WL", 1, ErrReserved)
		}
		c.WL = wl
	}
	return c, nil
}
