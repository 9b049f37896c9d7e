package store_test

import (
	"hash/fnv"
	"testing"

	"github.com/openmgs/openmgs/store"
)

// UplinkKeyHash is stored: it must stay FNV-1a 64 (published vectors) and
// allocate nothing.
func TestUplinkKeyHash(t *testing.T) {
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := store.UplinkKeyHash(s); got != want {
			t.Errorf("UplinkKeyHash(%q) = %#x, want %#x", s, got, want)
		}
	}
	for _, s := range []string{"uplink/79f664df2c2073af798fa87497305d8d", "join_request/j1"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := store.UplinkKeyHash(s), h.Sum64(); got != want {
			t.Errorf("UplinkKeyHash(%q) = %#x, hash/fnv says %#x", s, got, want)
		}
	}
	key := "uplink/79f664df2c2073af798fa87497305d8d"
	var sink uint64
	if n := testing.AllocsPerRun(100, func() { sink ^= store.UplinkKeyHash(key) }); n != 0 {
		t.Errorf("UplinkKeyHash allocates %v times", n)
	}
}
