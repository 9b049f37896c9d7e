package stream

// recTag is the record chain marker (§5.7).
const recTag = 0xA0

// MaxRecord is the largest record ROSE accepts.
const MaxRecord = 254

// Record is one de-framed stream record. Offset is the stream offset of the record's header byte
// (the first octet of its encoding), not of its first data byte: modem-protocol.md §5.7 leaves
// this open, and the header offset is the one the device knows when it adds the record.
type Record struct {
	Offset uint32
	Data   []byte
}

// AppendRecord appends the stream encoding of one record (header, data with 0xA0 chain, 0xA0
// terminator; unit size 1, so no padding) to dst.
func AppendRecord(dst, data []byte) ([]byte, error) {
	n := len(data)
	if n < 1 || n > MaxRecord {
		return dst, ErrRecordLength
	}
	start := len(dst)
	dst = append(dst, 0)
	dst = append(dst, data...)
	dst = append(dst, recTag)
	rec := dst[start:]
	// Walk backwards so each chain byte can store the distance to the next chain position.
	next := n + 1
	for j := n; j >= 1; j-- {
		if rec[j] == recTag {
			rec[j] = recTag + byte(next-j)
			next = j
		}
	}
	rec[0] = recTag + byte(next)
	return dst, nil
}
