package lwm2m

import (
	"errors"
	"fmt"
)

// TLV identifier types (bits 7–6 of the type byte).
const (
	TLVObjectInstance   = 0
	TLVResourceInstance = 1
	TLVMultipleResource = 2
	TLVResource         = 3
)

// TLV is one LwM2M TLV entry. Object instances and multiple resources hold
// their children in Children; the others hold a Value.
type TLV struct {
	Type     uint8
	ID       uint16
	Value    []byte
	Children []TLV
}

// ErrTLV is wrapped by every TLV decode error.
var ErrTLV = errors.New("lwm2m: bad TLV")

// TLVError locates a TLV decode error.
type TLVError struct {
	Field  string
	Offset int
}

func (e *TLVError) Error() string {
	return fmt.Sprintf("lwm2m: bad TLV: %s at offset %d", e.Field, e.Offset)
}

// Unwrap makes errors.Is(err, ErrTLV) true.
func (e *TLVError) Unwrap() error { return ErrTLV }

// DecodeTLV decodes a TLV payload. Values alias b.
func DecodeTLV(b []byte) ([]TLV, error) { return decodeTLV(b, 0, 0) }

func decodeTLV(b []byte, base, depth int) ([]TLV, error) {
	var out []TLV
	for i := 0; i < len(b); {
		start := i
		t := b[i]
		i++
		e := TLV{Type: t >> 6}
		idLen := 1 + int(t>>5&1)
		if len(b)-i < idLen {
			return nil, &TLVError{"identifier", base + start}
		}
		if idLen == 1 {
			e.ID = uint16(b[i])
		} else {
			e.ID = uint16(b[i])<<8 | uint16(b[i+1])
		}
		i += idLen
		n := int(t & 7)
		if ll := int(t >> 3 & 3); ll > 0 {
			if len(b)-i < ll {
				return nil, &TLVError{"length", base + start}
			}
			n = 0
			for range ll {
				n = n<<8 | int(b[i])
				i++
			}
		}
		if len(b)-i < n {
			return nil, &TLVError{"value", base + start}
		}
		v := b[i : i+n : i+n]
		i += n
		switch e.Type {
		case TLVObjectInstance, TLVMultipleResource:
			if depth >= 2 {
				return nil, &TLVError{"nesting", base + start}
			}
			want := uint8(TLVResource)
			if e.Type == TLVMultipleResource {
				want = TLVResourceInstance
			}
			kids, err := decodeTLV(v, base+i-n, depth+1)
			if err != nil {
				return nil, err
			}
			for _, k := range kids {
				if e.Type == TLVMultipleResource && k.Type != want || e.Type == TLVObjectInstance && k.Type != TLVResource && k.Type != TLVMultipleResource {
					return nil, &TLVError{"child type", base + i - n}
				}
			}
			e.Children = kids
		default:
			e.Value = v
		}
		out = append(out, e)
	}
	return out, nil
}

// AppendTLV encodes entries (the inverse of DecodeTLV), choosing the
// shortest identifier and length fields.
func AppendTLV(dst []byte, entries []TLV) []byte {
	for _, e := range entries {
		v := e.Value
		if e.Type == TLVObjectInstance || e.Type == TLVMultipleResource {
			v = AppendTLV(nil, e.Children)
		}
		t := e.Type << 6
		if e.ID > 0xff {
			t |= 1 << 5
		}
		n := len(v)
		switch {
		case n < 8:
			t |= uint8(n)
		case n <= 0xff:
			t |= 1 << 3
		case n <= 0xffff:
			t |= 2 << 3
		default:
			t |= 3 << 3
		}
		dst = append(dst, t)
		if e.ID > 0xff {
			dst = append(dst, byte(e.ID>>8))
		}
		dst = append(dst, byte(e.ID))
		switch ll := t >> 3 & 3; ll {
		case 1:
			dst = append(dst, byte(n))
		case 2:
			dst = append(dst, byte(n>>8), byte(n))
		case 3:
			dst = append(dst, byte(n>>16), byte(n>>8), byte(n))
		}
		dst = append(dst, v...)
	}
	return dst
}

// ResourceValue finds resource res in a decoded TLV payload (directly, or
// inside the first object instance) and returns its value; for a multiple
// resource, the value of its lowest-numbered instance.
func ResourceValue(entries []TLV, res uint16) ([]byte, bool) {
	for _, e := range entries {
		switch {
		case e.Type == TLVObjectInstance:
			if v, ok := ResourceValue(e.Children, res); ok {
				return v, true
			}
		case e.ID != res:
		case e.Type == TLVResource:
			return e.Value, true
		case e.Type == TLVMultipleResource && len(e.Children) > 0:
			low := e.Children[0]
			for _, k := range e.Children[1:] {
				if k.ID < low.ID {
					low = k
				}
			}
			return low.Value, true
		}
	}
	return nil, false
}
