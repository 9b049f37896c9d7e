package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openmgs/openmgs/internal/lora"
)

func TestParsePSK(t *testing.T) {
	for in, want := range map[string][]byte{
		"000102030405060708090a0b0c0d0e0f": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		"0xAB":                             {0xab},
		"ab:cd-ef":                         {0xab, 0xcd, 0xef},
	} {
		got, err := ParsePSK(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParsePSK(%q) = %x, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "xyz", "abc", strings.Repeat("00", 65)} {
		_, err := ParsePSK(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "psk") {
			t.Errorf("ParsePSK(%q): %v, want an ErrInvalid naming psk", bad, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", 129), "tab\there", "é"} {
		err := ValidatePSKIdentity(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "psk_identity") {
			t.Errorf("ValidatePSKIdentity(%q): %v, want an ErrInvalid naming psk_identity", bad, err)
		}
	}
	if err := ValidatePSKIdentity("urn:imei:867723030005655 #1"); err != nil {
		t.Error(err)
	}
}

func TestEndpointPSK(t *testing.T) {
	ctx := context.Background()
	f, db := newFleet(t, Config{})
	key := []byte("0123456789abcdef")
	ep, err := f.Provision(ctx, Endpoint{Name: "867723030005655", PSK: key}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The identity defaults to the endpoint name; the key is never read back.
	if !ep.HasPSK || ep.PSKIdentity != "867723030005655" || ep.PSK != nil {
		t.Fatalf("provisioned %+v", ep)
	}
	for _, name := range []string{"867723030005655", "urn:imei:867723030005655"} {
		got, err := f.Endpoint(ctx, name)
		if err != nil || !got.HasPSK || got.PSK != nil {
			t.Fatalf("Endpoint(%q) = %+v, %v", name, got, err)
		}
		id, err := f.Resolve(ctx, name)
		if err != nil || id.PSKIdentity != "867723030005655" {
			t.Fatalf("Resolve(%q) = %+v, %v", name, id, err)
		}
	}
	cred, err := f.PSK(ctx, "867723030005655")
	if err != nil || !bytes.Equal(cred.Key, key) || cred.Endpoint != "867723030005655" {
		t.Fatalf("PSK = %+v, %v", cred, err)
	}
	if _, err := f.PSK(ctx, "nobody"); !errors.Is(err, ErrUnknownPSKIdentity) {
		t.Fatalf("unknown identity: %v", err)
	}

	// Another endpoint cannot take the identity.
	other := lora.MustParseEUI64("0016c001f000406e")
	_, err = f.Provision(ctx, Endpoint{Name: "sensor-7", EUI: other, PSK: key, PSKIdentity: "867723030005655"}, "", nil)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "psk_identity") {
		t.Fatalf("duplicate identity: %v", err)
	}
	if _, err := f.Provision(ctx, Endpoint{Name: "sensor-7", EUI: other, PSKIdentity: "x"}, "", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("identity without key: %v", err)
	}
	if _, err := f.Provision(ctx, Endpoint{Name: "sensor-7", EUI: other}, "", nil); err != nil {
		t.Fatal(err)
	}

	// A new identity moves the index; the old identity is gone.
	newID := "tracker-1"
	ep, err = f.UpdateEndpoint(ctx, "867723030005655", EndpointChange{PSKIdentity: &newID})
	if err != nil || ep.PSKIdentity != newID || !ep.HasPSK {
		t.Fatalf("new identity: %+v %v", ep, err)
	}
	if _, err := f.PSK(ctx, "867723030005655"); !errors.Is(err, ErrUnknownPSKIdentity) {
		t.Fatalf("old identity still resolves: %v", err)
	}
	if c, err := f.PSK(ctx, newID); err != nil || !bytes.Equal(c.Key, key) {
		t.Fatalf("PSK(new) = %+v, %v", c, err)
	}
	// A new key, the opaque flag untouched.
	key2 := bytes.Repeat([]byte{7}, 32)
	if ep, err = f.UpdateEndpoint(ctx, "867723030005655", EndpointChange{PSK: key2}); err != nil || ep.PSKIdentity != newID {
		t.Fatalf("new key: %+v %v", ep, err)
	}
	if c, _ := f.PSK(ctx, newID); !bytes.Equal(c.Key, key2) {
		t.Fatal("key not replaced")
	}
	for _, tc := range []struct {
		name  string
		ch    EndpointChange
		field string
	}{
		{"bad key", EndpointChange{PSK: []byte{}}, "psk"},
		{"long key", EndpointChange{PSK: make([]byte, 65)}, "psk"},
		{"clear and set", EndpointChange{ClearPSK: true, PSK: key}, "clear_psk"},
		{"bad identity", EndpointChange{PSKIdentity: ptr("a\x01")}, "psk_identity"},
	} {
		if _, err := f.UpdateEndpoint(ctx, "867723030005655", tc.ch); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an ErrInvalid naming %s", tc.name, err, tc.field)
		}
	}
	if _, err := f.UpdateEndpoint(ctx, "sensor-7", EndpointChange{PSKIdentity: ptr("s7")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("identity for an endpoint without key: %v", err)
	}
	if _, err := f.UpdateEndpoint(ctx, "sensor-7", EndpointChange{PSK: key, PSKIdentity: &newID}); !errors.Is(err, ErrExists) {
		t.Fatalf("taking another endpoint's identity: %v", err)
	}

	// The key is stored only in the endpoint record, and nowhere else.
	var raw map[string]any
	b, _, err := db.Table(TableEndpoints).Get(ctx, nameKey("867723030005655"))
	if err != nil || json.Unmarshal(b, &raw) != nil || raw["psk"] == nil {
		t.Fatalf("stored record %s: %v", b, err)
	}

	// Clearing removes key and identity.
	if ep, err = f.UpdateEndpoint(ctx, "867723030005655", EndpointChange{ClearPSK: true}); err != nil || ep.HasPSK || ep.PSKIdentity != "" {
		t.Fatalf("clear: %+v %v", ep, err)
	}
	if _, err := f.PSK(ctx, newID); !errors.Is(err, ErrUnknownPSKIdentity) {
		t.Fatalf("cleared identity resolves: %v", err)
	}
	if id, _ := f.Resolve(ctx, "867723030005655"); id.PSKIdentity != "" {
		t.Fatalf("cleared endpoint resolves with %+v", id)
	}

	// Unprovision and Forget drop the index entry.
	if _, err := f.UpdateEndpoint(ctx, "sensor-7", EndpointChange{PSK: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PSK(ctx, "sensor-7"); err != nil {
		t.Fatal(err)
	}
	if err := f.Unprovision(ctx, "sensor-7"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PSK(ctx, "sensor-7"); !errors.Is(err, ErrUnknownPSKIdentity) {
		t.Fatalf("identity of an unprovisioned endpoint: %v", err)
	}
	if _, err := f.UpdateEndpoint(ctx, "867723030005655", EndpointChange{PSK: key}); err != nil {
		t.Fatal(err)
	}
	if err := f.Forget(ctx, ep.EUI); err != nil {
		t.Fatal(err)
	}
	if _, err := f.PSK(ctx, "867723030005655"); !errors.Is(err, ErrUnknownPSKIdentity) {
		t.Fatalf("identity of a forgotten device: %v", err)
	}
	if _, _, err := db.Table(TableEndpoints).Get(ctx, identityKey("867723030005655")); err == nil {
		t.Fatal("index entry left behind")
	}
}

// BenchmarkPSK is the per-handshake key lookup.
func BenchmarkPSK(b *testing.B) {
	ctx := context.Background()
	f, _ := newFleet(b, Config{})
	for i := range 1000 {
		eui := lora.EUI64{0x02, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)}
		name := "dev-" + eui.Hex()
		if _, err := f.Provision(ctx, Endpoint{Name: name, EUI: eui, PSK: []byte("0123456789abcdef")}, "", nil); err != nil {
			b.Fatal(err)
		}
	}
	id := "dev-" + lora.EUI64{0x02, 0, 0, 0, 0, 0, 1, 0xf4}.Hex()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.PSK(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }
