package modemproto

import (
	"encoding/hex"
	"strings"
	"testing"
)

// mustHex decodes hex written with optional spaces, as in the spec tables.
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
