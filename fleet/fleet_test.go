package fleet

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

// IMEIs from the spec's seeds (all with valid Luhn check digits).
var seedIMEIs = []struct {
	imei string
	eui  string
}{
	{"867723030005655", "0e86772303000565"}, // BC68 capture (seed 002)
	{"866971030001361", "0e86697103000136"}, // BC26 manual AT+QLWCONF example (seed 004)
	{"867724030023557", "0e86772403002355"}, // BC26 manual section 5 examples
}

func TestIMEIMapping(t *testing.T) {
	for _, tc := range seedIMEIs {
		for _, name := range []string{tc.imei, URNPrefix + tc.imei, "URN:IMEI:" + tc.imei} {
			e, err := IMEIToEUI(name)
			if err != nil {
				t.Fatalf("IMEIToEUI(%q): %v", name, err)
			}
			if e.Hex() != tc.eui {
				t.Errorf("IMEIToEUI(%q) = %s, want %s", name, e.Hex(), tc.eui)
			}
			back, ok := EUIToIMEI(e)
			if !ok || back != tc.imei {
				t.Errorf("EUIToIMEI(%s) = %q, %v; want %q", e, back, ok, tc.imei)
			}
		}
	}
	for _, bad := range []string{"", "86772303000565", "8677230300056550", "867723030005656", "86772303000565x", "urn:imei:12", "abc"} {
		if _, err := IMEIToEUI(bad); !errors.Is(err, ErrNotIMEI) {
			t.Errorf("IMEIToEUI(%q): %v, want ErrNotIMEI", bad, err)
		}
	}
	for _, e := range []string{"0016c001f000406e", "0e8677230300056a", "0f86772303000565"} {
		if s, ok := EUIToIMEI(lora.MustParseEUI64(e)); ok {
			t.Errorf("EUIToIMEI(%s) = %q, want no mapping", e, s)
		}
	}
	// The prefix is locally administered and unicast.
	if IMEIPrefix&0x02 == 0 || IMEIPrefix&0x01 != 0 {
		t.Fatal("IMEIPrefix must be a locally-administered unicast octet")
	}
}

// FuzzIMEIRoundTrip checks that every 14-digit payload round-trips.
func FuzzIMEIRoundTrip(f *testing.F) {
	for _, tc := range seedIMEIs {
		f.Add(tc.imei[:14])
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) != 14 {
			return
		}
		for i := 0; i < 14; i++ {
			if s[i] < '0' || s[i] > '9' {
				return
			}
		}
		imei := s + string(luhn(s))
		e, err := IMEIToEUI(imei)
		if err != nil {
			t.Fatalf("IMEIToEUI(%q): %v", imei, err)
		}
		back, ok := EUIToIMEI(e)
		if !ok || back != imei {
			t.Fatalf("round trip %q → %s → %q", imei, e, back)
		}
	})
}

func BenchmarkIMEIToEUI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IMEIToEUI("867723030005655"); err != nil {
			b.Fatal(err)
		}
	}
}

func newFleet(t testing.TB, cfg Config) (*Fleet, store.Store) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, cfg), db
}

func TestResolvePolicies(t *testing.T) {
	ctx := context.Background()
	f, _ := newFleet(t, Config{})
	custom := lora.MustParseEUI64("0016c001f000406e")
	if _, err := f.Provision(ctx, Endpoint{Name: "sensor-7", EUI: custom, Opaque: true}, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Provision(ctx, Endpoint{Name: "866971030001361"}, "", nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		want Identity
		err  error
	}{
		{"sensor-7", Identity{Endpoint: "sensor-7", EUI: custom, Opaque: true, Provisioned: true}, nil},
		{"urn:imei:866971030001361", Identity{Endpoint: "urn:imei:866971030001361", EUI: lora.MustParseEUI64("0e86697103000136"), Provisioned: true}, nil},
		{"867723030005655", Identity{Endpoint: "867723030005655", EUI: lora.MustParseEUI64("0e86772303000565")}, nil},
		{"not-an-imei", Identity{}, ErrUnknownEndpoint},
		{"867723030005656", Identity{}, ErrUnknownEndpoint}, // bad check digit
		{"", Identity{}, ErrInvalid},
		{"has space", Identity{}, ErrInvalid},
	}
	for _, tc := range cases {
		got, err := f.Resolve(ctx, tc.name)
		if !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q): err %v, want %v", tc.name, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Resolve(%q) (-want +got):\n%s", tc.name, diff)
		}
	}

	// A provisioned endpoint that holds another IMEI's default EUI blocks
	// that IMEI's default mapping.
	if _, err := f.Provision(ctx, Endpoint{Name: "squatter", EUI: lora.MustParseEUI64("0e86772403002355")}, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Resolve(ctx, "867724030023557"); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatalf("default EUI in use: %v", err)
	}

	reject, _ := newFleet(t, Config{Unprovisioned: PolicyReject})
	if _, err := reject.Resolve(ctx, "867723030005655"); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatalf("reject policy: %v", err)
	}
	if _, err := reject.ParseDeviceID(ctx, "867723030005655"); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("reject policy device id: %v", err)
	}
	if _, err := reject.Provision(ctx, Endpoint{Name: "867723030005655"}, "", nil); err != nil {
		t.Fatal(err)
	}
	if id, err := reject.Resolve(ctx, "867723030005655"); err != nil || !id.Provisioned {
		t.Fatalf("provisioned under reject: %+v %v", id, err)
	}
	for _, s := range []string{"map", "reject"} {
		if p, err := ParsePolicy(s); err != nil || p.String() != s {
			t.Errorf("ParsePolicy(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePolicy("allow"); err == nil {
		t.Error("ParsePolicy accepted allow")
	}
}

func TestProvisioning(t *testing.T) {
	ctx := context.Background()
	f, _ := newFleet(t, Config{})
	ep, err := f.Provision(ctx, Endpoint{Name: "867723030005655"}, "", map[string]string{"name": "tracker"})
	if err != nil {
		t.Fatal(err)
	}
	if ep.EUI.Hex() != "0e86772303000565" || ep.Created.IsZero() {
		t.Fatalf("provisioned %+v", ep)
	}
	for _, tc := range []struct {
		ep  Endpoint
		err error
	}{
		{Endpoint{Name: "867723030005655"}, ErrExists},
		{Endpoint{Name: "urn:imei:867723030005655"}, ErrExists}, // alias
		{Endpoint{Name: "other", EUI: ep.EUI}, ErrExists},
		{Endpoint{Name: "no-eui"}, ErrInvalid},
		{Endpoint{Name: "a/b", EUI: lora.EUI64{1}}, ErrInvalid},
	} {
		if _, err := f.Provision(ctx, tc.ep, "", nil); !errors.Is(err, tc.err) {
			t.Errorf("Provision(%+v): %v, want %v", tc.ep, err, tc.err)
		}
	}
	if _, err := f.Provision(ctx, Endpoint{Name: "x", EUI: lora.EUI64{2}}, "nowhere", nil); !errors.Is(err, ErrUnknownCollection) {
		t.Errorf("unknown collection: %v", err)
	}
	if ep2, err := f.SetOpaque(ctx, "urn:imei:867723030005655", true); err != nil || !ep2.Opaque {
		t.Fatalf("SetOpaque: %+v %v", ep2, err)
	}
	list, err := f.Endpoints(ctx)
	if err != nil || len(list) != 1 || !list[0].Opaque {
		t.Fatalf("Endpoints = %+v, %v", list, err)
	}
	d, err := f.Device(ctx, ep.EUI)
	if err != nil {
		t.Fatal(err)
	}
	want := Device{EUI: ep.EUI, Collection: DefaultCollection, Tags: map[string]string{"name": "tracker"}, Endpoint: "867723030005655", Provisioned: true, Opaque: true}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Fatalf("Device (-want +got):\n%s", diff)
	}
	if err := f.Unprovision(ctx, "867723030005655"); err != nil {
		t.Fatal(err)
	}
	if err := f.Unprovision(ctx, "867723030005655"); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatalf("second Unprovision: %v", err)
	}
	// Still known through its placement (the tags were kept).
	if d, err := f.Device(ctx, ep.EUI); err != nil || d.Provisioned || d.Endpoint != "867723030005655" {
		t.Fatalf("after unprovision: %+v %v", d, err)
	}
}

func TestDeviceIDs(t *testing.T) {
	ctx := context.Background()
	f, _ := newFleet(t, Config{})
	eui := lora.MustParseEUI64("0016c001f000406e")
	if _, err := f.Provision(ctx, Endpoint{Name: "sensor-7", EUI: eui}, "", nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0016c001f000406e", "0016C001F000406E", "00-16-c0-01-f0-00-40-6e", "00:16:C0:01:F0:00:40:6E", "0x0016c001f000406e", "sensor-7"} {
		got, err := f.ParseDeviceID(ctx, id)
		if err != nil || got != eui {
			t.Errorf("ParseDeviceID(%q) = %s, %v", id, got, err)
		}
	}
	if got, err := f.ParseDeviceID(ctx, "urn:imei:867723030005655"); err != nil || got.Hex() != "0e86772303000565" {
		t.Errorf("IMEI id: %s %v", got, err)
	}
	for _, bad := range []string{"", "xyz", "0016c001f000406", "00-16-c0-01-f0-00-40-6g"} {
		if _, err := f.ParseDeviceID(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDeviceID(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCollections(t *testing.T) {
	ctx := context.Background()
	f, db := newFleet(t, Config{})
	lora1 := lora.MustParseEUI64("0016c001f0000001")
	lora2 := lora.MustParseEUI64("0016c001f0000002")
	// lora1 has modem state (it sent an uplink): it is known and in default.
	devs := store.NewDevices(db)
	if err := devs.Commit(ctx, &store.Device{EUI: lora1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Device(ctx, lora2); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unseen device: %v", err)
	}
	nb, err := f.Provision(ctx, Endpoint{Name: "867723030005655"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	members := func(cid string) []string {
		t.Helper()
		ds, err := f.Members(ctx, cid)
		if err != nil {
			t.Fatalf("Members(%s): %v", cid, err)
		}
		var out []string
		for _, d := range ds {
			if d.Collection != cid {
				t.Errorf("member %s of %s reports collection %s", d.EUI, cid, d.Collection)
			}
			out = append(out, d.EUI.Hex())
		}
		return out
	}
	if diff := cmp.Diff([]string{lora1.Hex(), nb.EUI.Hex()}, members(DefaultCollection)); diff != "" {
		t.Fatalf("default (-want +got):\n%s", diff)
	}
	c, err := f.CreateCollection(ctx, "", map[string]string{"name": "field"})
	if err != nil || len(c.ID) != 14 {
		t.Fatalf("CreateCollection: %+v %v", c, err)
	}
	if _, err := f.CreateCollection(ctx, c.ID, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate collection: %v", err)
	}
	if _, err := f.CreateCollection(ctx, DefaultCollection, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("create default: %v", err)
	}
	if _, err := f.CreateCollection(ctx, "bad id", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := f.Place(ctx, lora1, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Place(ctx, lora2, c.ID, map[string]string{"name": "pre-registered"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{lora1.Hex(), lora2.Hex()}, members(c.ID)); diff != "" {
		t.Fatalf("collection (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{nb.EUI.Hex()}, members(DefaultCollection)); diff != "" {
		t.Fatalf("default after moves (-want +got):\n%s", diff)
	}
	cols, err := f.Collections(ctx)
	if err != nil || len(cols) != 2 || cols[0].ID != DefaultCollection || cols[1].ID != c.ID || cols[1].Tags["name"] != "field" {
		t.Fatalf("Collections = %+v, %v", cols, err)
	}
	if _, err := f.SetCollectionTags(ctx, DefaultCollection, map[string]string{"name": "everything"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.Collection(ctx, DefaultCollection); d.Tags["name"] != "everything" {
		t.Fatalf("default tags: %+v", d)
	}
	// Moving back to default drops the member index.
	if _, err := f.Place(ctx, lora1, DefaultCollection, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{lora2.Hex()}, members(c.ID)); diff != "" {
		t.Fatalf("after move back (-want +got):\n%s", diff)
	}
	if err := f.DeleteCollection(ctx, DefaultCollection); !errors.Is(err, ErrDefaultCollection) {
		t.Fatalf("delete default: %v", err)
	}
	if err := f.DeleteCollection(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Collection(ctx, c.ID); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("deleted collection: %v", err)
	}
	// Its members move to default: lora2 (known only by its placement) too.
	if diff := cmp.Diff([]string{lora1.Hex(), lora2.Hex(), nb.EUI.Hex()}, members(DefaultCollection)); diff != "" {
		t.Fatalf("default after delete (-want +got):\n%s", diff)
	}
	if _, err := f.Members(ctx, "nope"); !errors.Is(err, ErrUnknownCollection) {
		t.Fatalf("unknown collection members: %v", err)
	}
	if err := f.Forget(ctx, nb.EUI); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Device(ctx, nb.EUI); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("forgotten device: %v", err)
	}
}

// A device that was only placed (no modem state, not provisioned) moves to
// the default collection when its collection is deleted.
func TestDeleteCollectionMovesMembersToDefault(t *testing.T) {
	ctx := context.Background()
	f, _ := newFleet(t, Config{})
	if _, err := f.CreateCollection(ctx, "field", nil); err != nil {
		t.Fatal(err)
	}
	eui := lora.MustParseEUI64("0102030405060708")
	if _, err := f.Place(ctx, eui, "field", map[string]string{"name": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteCollection(ctx, "field"); err != nil {
		t.Fatal(err)
	}
	d, err := f.Device(ctx, eui)
	if err != nil || d.Collection != DefaultCollection || d.Tags["name"] != "x" {
		t.Fatalf("after delete: %+v, %v", d, err)
	}
}
