package lwm2m

import (
	"errors"
	"fmt"
)

// ErrFraming is returned for an object 19 payload whose port byte is not a
// valid port (1..223).
var ErrFraming = errors.New("lwm2m: bad port byte")

// Frame builds an object 19 payload: the port byte, then the payload.
func Frame(port uint8, payload []byte) []byte {
	b := make([]byte, 0, 1+len(payload))
	return append(append(b, port), payload...)
}

// Unframe splits an object 19 payload into port and payload. An empty
// payload has no port (ok false): it is a bare downlink opportunity. The
// returned payload aliases b.
func Unframe(b []byte) (port uint8, payload []byte, ok bool, err error) {
	if len(b) == 0 {
		return 0, nil, false, nil
	}
	if b[0] == 0 || b[0] > 223 {
		return 0, nil, false, fmt.Errorf("%w: %d is outside 1..223", ErrFraming, b[0])
	}
	return b[0], b[1:], true, nil
}
