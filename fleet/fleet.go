package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
)

// Table names and the always-present collection.
const (
	TableEndpoints    = "nbiot_endpoints"
	TableCollections  = "collections"
	DefaultCollection = "default"
)

var (
	// ErrUnknownEndpoint is returned by Resolve for an endpoint that is
	// neither provisioned nor (under PolicyMap) default-mappable.
	ErrUnknownEndpoint = errors.New("fleet: unknown endpoint")
	// ErrUnknownDevice is returned for a device OpenMGS does not know.
	ErrUnknownDevice = errors.New("fleet: unknown device")
	// ErrUnknownCollection is returned for a collection that does not exist.
	ErrUnknownCollection = errors.New("fleet: unknown collection")
	// ErrExists is returned when creating something that already exists
	// (an endpoint name, an EUI claimed by another endpoint, a collection).
	ErrExists = errors.New("fleet: already exists")
	// ErrInvalid is wrapped by every bad-argument error.
	ErrInvalid = errors.New("fleet: invalid argument")
	// ErrDefaultCollection is returned when deleting the default collection.
	ErrDefaultCollection = errors.New("fleet: the default collection cannot be deleted")
	// ErrUnknownPSKIdentity is returned by PSK for an identity no endpoint
	// has.
	ErrUnknownPSKIdentity = errors.New("fleet: unknown PSK identity")
)

// Policy is what happens to unprovisioned endpoints.
type Policy uint8

// Policies.
const (
	// PolicyMap accepts unprovisioned IMEI endpoints through the default
	// mapping (IMEIToEUI).
	PolicyMap Policy = iota
	// PolicyReject accepts provisioned endpoints only.
	PolicyReject
)

func (p Policy) String() string {
	if p == PolicyReject {
		return "reject"
	}
	return "map"
}

// ParsePolicy parses "map" or "reject".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "map":
		return PolicyMap, nil
	case "reject":
		return PolicyReject, nil
	}
	return 0, fmt.Errorf("%w: unprovisioned-endpoint policy %q is not map or reject", ErrInvalid, s)
}

// Config of a Fleet.
type Config struct {
	// Unprovisioned is the policy for endpoints not in the provisioning
	// table (default PolicyMap).
	Unprovisioned Policy
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Unprovisioned: PolicyMap} }

// Validate reports an invalid setting.
func (c Config) Validate() error {
	if c.Unprovisioned > PolicyReject {
		return fmt.Errorf("%w: unprovisioned-endpoint policy %d", ErrInvalid, c.Unprovisioned)
	}
	return nil
}

// Fleet is the provisioning table and the collections over a store.
type Fleet struct {
	cfg     Config
	eps     store.Table
	cols    store.Table
	devices store.Table
	mu      sync.Mutex // serialises writes
}

// New returns the fleet of s.
func New(s store.Store, cfg Config) *Fleet {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Fleet{cfg: cfg, eps: s.Table(TableEndpoints), cols: s.Table(TableCollections), devices: s.Table(store.TableDevices)}
}

// Config returns the effective configuration.
func (f *Fleet) Config() Config { return f.cfg }

// Endpoint is a provisioned NB-IoT endpoint.
type Endpoint struct {
	Name string
	EUI  lora.EUI64
	// Opaque devices carry application data only: the whole object 19
	// payload is the uplink (no port byte), and downlinks are written
	// without a port byte.
	Opaque  bool
	Created time.Time
	// PSKIdentity is the DTLS-PSK identity of an endpoint that has a key
	// (HasPSK); "" otherwise. On Provision, "" with a PSK means the
	// endpoint name.
	PSKIdentity string
	HasPSK      bool
	// PSK is write-only: Provision stores it, reads never fill it (the key
	// is a secret; only PSK hands it to the DTLS handshake).
	PSK []byte
}

// Identity is what an endpoint name resolves to.
type Identity struct {
	Endpoint    string
	EUI         lora.EUI64
	Opaque      bool
	Provisioned bool
	// PSKIdentity is set when the endpoint has a DTLS pre-shared key: it
	// may then only register over DTLS, authenticated with this identity.
	PSKIdentity string
}

type endpointRecord struct {
	EUI         string `json:"eui"`
	Opaque      bool   `json:"opaque,omitempty"`
	Created     int64  `json:"created"`
	PSKIdentity string `json:"psk_identity,omitempty"`
	PSK         []byte `json:"psk,omitempty"`
}

func (r endpointRecord) endpoint(name string) (Endpoint, error) {
	e, err := lora.ParseEUI64(r.EUI)
	if err != nil {
		return Endpoint{}, fmt.Errorf("fleet: endpoint %q: %w", name, err)
	}
	return Endpoint{Name: name, EUI: e, Opaque: r.Opaque, Created: time.Unix(0, r.Created), PSKIdentity: r.PSKIdentity,
		HasPSK: len(r.PSK) > 0}, nil
}

func nameKey(name string) []byte { return append([]byte("n/"), name...) }

func identityKey(id string) []byte { return append([]byte("i/"), id...) }

func euiKey(prefix string, e lora.EUI64) []byte { return append([]byte(prefix), e[:]...) }

// ValidateEndpointName checks an endpoint name: 1..128 printable ASCII
// characters without spaces or '/'.
func ValidateEndpointName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("%w: endpoint name must have 1..128 characters", ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return fmt.Errorf("%w: endpoint name %q has a space, '/' or a non-printable character", ErrInvalid, name)
		}
	}
	return nil
}

// record reads the stored record of an endpoint name (no aliases).
func (f *Fleet) record(ctx context.Context, name string) (endpointRecord, bool, error) {
	b, _, err := f.eps.Get(ctx, nameKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return endpointRecord{}, false, nil
	}
	if err != nil {
		return endpointRecord{}, false, err
	}
	var r endpointRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return endpointRecord{}, false, fmt.Errorf("fleet: endpoint %q: %w", name, err)
	}
	return r, true, nil
}

func (f *Fleet) getEndpoint(ctx context.Context, name string) (Endpoint, bool, error) {
	r, ok, err := f.record(ctx, name)
	if err != nil || !ok {
		return Endpoint{}, false, err
	}
	ep, err := r.endpoint(name)
	return ep, err == nil, err
}

// aliases returns the names an endpoint may be provisioned under: itself
// and, for an IMEI, the other of "<IMEI>" / "urn:imei:<IMEI>".
func aliases(name string) []string {
	out := []string{name}
	if imei, err := NormalizeIMEI(name); err == nil {
		if imei == name {
			out = append(out, URNPrefix+imei)
		} else {
			out = append(out, imei)
		}
	}
	return out
}

func (f *Fleet) provisioned(ctx context.Context, name string) (Endpoint, bool, error) {
	for _, n := range aliases(name) {
		ep, ok, err := f.getEndpoint(ctx, n)
		if err != nil || ok {
			return ep, ok, err
		}
	}
	return Endpoint{}, false, nil
}

// endpointOf returns the provisioned endpoint name holding eui, if any.
func (f *Fleet) endpointOf(ctx context.Context, eui lora.EUI64) (string, bool, error) {
	b, _, err := f.eps.Get(ctx, euiKey("e/", eui))
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// Resolve maps an endpoint name to a device: the provisioning table first
// (also under the IMEI / "urn:imei:" alias), then, under PolicyMap, the
// default mapping. It returns ErrUnknownEndpoint otherwise.
func (f *Fleet) Resolve(ctx context.Context, name string) (Identity, error) {
	if err := ValidateEndpointName(name); err != nil {
		return Identity{}, err
	}
	ep, ok, err := f.provisioned(ctx, name)
	if err != nil {
		return Identity{}, err
	}
	if ok {
		id := Identity{Endpoint: name, EUI: ep.EUI, Opaque: ep.Opaque, Provisioned: true}
		if ep.HasPSK {
			id.PSKIdentity = ep.PSKIdentity
		}
		return id, nil
	}
	if f.cfg.Unprovisioned == PolicyReject {
		return Identity{}, fmt.Errorf("%w: %q is not provisioned (unprovisioned endpoints are rejected)", ErrUnknownEndpoint, name)
	}
	eui, err := IMEIToEUI(name)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %q is not provisioned and has no default mapping: %v", ErrUnknownEndpoint, name, err)
	}
	if other, ok, err := f.endpointOf(ctx, eui); err != nil {
		return Identity{}, err
	} else if ok {
		return Identity{}, fmt.Errorf("%w: the default EUI %s of %q belongs to provisioned endpoint %q", ErrUnknownEndpoint, eui, name, other)
	}
	return Identity{Endpoint: name, EUI: eui}, nil
}

// Provision adds an endpoint. A zero EUI takes the default mapping (the
// name must then be an IMEI). The device is placed in collection (""
// means default) with tags. It fails with ErrExists if the name (or its
// IMEI alias) is provisioned or the EUI belongs to another endpoint.
func (f *Fleet) Provision(ctx context.Context, ep Endpoint, collection string, tags map[string]string) (Endpoint, error) {
	if err := ValidateEndpointName(ep.Name); err != nil {
		return Endpoint{}, err
	}
	if err := validateTags(tags); err != nil {
		return Endpoint{}, err
	}
	if err := checkPSK(&ep); err != nil {
		return Endpoint{}, err
	}
	if ep.EUI.IsZero() {
		e, err := IMEIToEUI(ep.Name)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%w: no EUI given and %v", ErrInvalid, err)
		}
		ep.EUI = e
	}
	if collection == "" {
		collection = DefaultCollection
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.collection(ctx, collection); err != nil {
		return Endpoint{}, err
	}
	if old, ok, err := f.provisioned(ctx, ep.Name); err != nil {
		return Endpoint{}, err
	} else if ok {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q is provisioned (as %q, EUI %s)", ErrExists, ep.Name, old.Name, old.EUI)
	}
	if other, ok, err := f.endpointOf(ctx, ep.EUI); err != nil {
		return Endpoint{}, err
	} else if ok {
		return Endpoint{}, fmt.Errorf("%w: EUI %s belongs to endpoint %q", ErrExists, ep.EUI, other)
	}
	if err := f.identityFree(ctx, ep.PSKIdentity, ep.Name); err != nil {
		return Endpoint{}, err
	}
	ep.Created = f.cfg.Now()
	rec := endpointRecord{EUI: ep.EUI.Hex(), Opaque: ep.Opaque, Created: ep.Created.UnixNano(), PSKIdentity: ep.PSKIdentity,
		PSK: ep.PSK}
	ops, err := recordOps(ep.Name, endpointRecord{}, rec)
	if err != nil {
		return Endpoint{}, err
	}
	ops = append(ops, store.Op{Key: euiKey("e/", ep.EUI), Value: []byte(ep.Name)})
	if err := f.eps.Write(ctx, ops); err != nil {
		return Endpoint{}, err
	}
	if err := f.place(ctx, ep.EUI, collection, tags, true); err != nil {
		return Endpoint{}, err
	}
	return rec.endpoint(ep.Name)
}

// checkPSK validates the key of an endpoint being provisioned and fills
// in the default identity (the endpoint name).
func checkPSK(ep *Endpoint) error {
	if len(ep.PSK) == 0 {
		if ep.PSKIdentity != "" {
			return fmt.Errorf("%w: psk_identity: set without a psk", ErrInvalid)
		}
		return nil
	}
	if err := ValidatePSK(ep.PSK); err != nil {
		return err
	}
	if ep.PSKIdentity == "" {
		ep.PSKIdentity = ep.Name
	}
	ep.PSK = bytes.Clone(ep.PSK)
	return ValidatePSKIdentity(ep.PSKIdentity)
}

// identityFree checks that no endpoint but owner uses a PSK identity.
// f.mu must be held.
func (f *Fleet) identityFree(ctx context.Context, id, owner string) error {
	if id == "" {
		return nil
	}
	b, _, err := f.eps.Get(ctx, identityKey(id))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case string(b) != owner:
		return fmt.Errorf("%w: psk_identity %q belongs to endpoint %q", ErrExists, id, b)
	}
	return nil
}

// recordOps writes rec under name, moving the identity index from old's
// PSK identity to rec's.
func recordOps(name string, old, rec endpointRecord) ([]store.Op, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	ops := []store.Op{{Key: nameKey(name), Value: b}}
	if old.PSKIdentity != "" && old.PSKIdentity != rec.PSKIdentity {
		ops = append(ops, store.Op{Key: identityKey(old.PSKIdentity)})
	}
	if rec.PSKIdentity != "" {
		ops = append(ops, store.Op{Key: identityKey(rec.PSKIdentity), Value: []byte(name)})
	}
	return ops, nil
}

// Endpoint returns a provisioned endpoint by name (or IMEI alias).
func (f *Fleet) Endpoint(ctx context.Context, name string) (Endpoint, error) {
	ep, ok, err := f.provisioned(ctx, name)
	if err != nil {
		return Endpoint{}, err
	}
	if !ok {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q is not provisioned", ErrUnknownEndpoint, name)
	}
	return ep, nil
}

// Endpoints lists the provisioned endpoints in name order.
func (f *Fleet) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var names []string
	err := f.eps.Range(ctx, []byte("n/"), func(k, _ []byte, _ uint64) error {
		if !bytes.HasPrefix(k, []byte("n/")) {
			return store.ErrStop
		}
		names = append(names, string(k[2:]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Endpoint, 0, len(names))
	for _, n := range names {
		ep, ok, err := f.getEndpoint(ctx, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ep)
		}
	}
	return out, nil
}

// SetOpaque changes an endpoint's opaque flag. A registered device sees
// the change at its next registration update.
func (f *Fleet) SetOpaque(ctx context.Context, name string, opaque bool) (Endpoint, error) {
	return f.UpdateEndpoint(ctx, name, EndpointChange{Opaque: &opaque})
}

// EndpointChange is a partial update of an endpoint: nil fields are kept.
type EndpointChange struct {
	Opaque *bool
	// PSK replaces the DTLS pre-shared key.
	PSK []byte
	// PSKIdentity replaces the PSK identity ("" means the endpoint name);
	// the endpoint must have a key (stored or given with PSK).
	PSKIdentity *string
	// ClearPSK removes the key and identity (not with PSK or PSKIdentity).
	ClearPSK bool
}

// UpdateEndpoint applies a change to a provisioned endpoint. A registered
// device sees an opaque change at its next registration update; a new key
// applies to the next DTLS handshake.
func (f *Fleet) UpdateEndpoint(ctx context.Context, name string, ch EndpointChange) (Endpoint, error) {
	if ch.ClearPSK && (ch.PSK != nil || ch.PSKIdentity != nil) {
		return Endpoint{}, fmt.Errorf("%w: clear_psk: cannot be combined with psk or psk_identity", ErrInvalid)
	}
	if ch.PSK != nil {
		if err := ValidatePSK(ch.PSK); err != nil {
			return Endpoint{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ep, ok, err := f.provisioned(ctx, name)
	if err != nil {
		return Endpoint{}, err
	}
	if !ok {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q is not provisioned", ErrUnknownEndpoint, name)
	}
	old, _, err := f.record(ctx, ep.Name)
	if err != nil {
		return Endpoint{}, err
	}
	rec, err := applyChange(ep.Name, old, ch)
	if err != nil {
		return Endpoint{}, err
	}
	if err := f.identityFree(ctx, rec.PSKIdentity, ep.Name); err != nil {
		return Endpoint{}, err
	}
	ops, err := recordOps(ep.Name, old, rec)
	if err != nil {
		return Endpoint{}, err
	}
	if err := f.eps.Write(ctx, ops); err != nil {
		return Endpoint{}, err
	}
	return rec.endpoint(ep.Name)
}

// applyChange returns old with ch applied and the PSK fields validated.
func applyChange(name string, old endpointRecord, ch EndpointChange) (endpointRecord, error) {
	rec := old
	if ch.Opaque != nil {
		rec.Opaque = *ch.Opaque
	}
	if ch.ClearPSK {
		rec.PSK, rec.PSKIdentity = nil, ""
		return rec, nil
	}
	if ch.PSK != nil {
		rec.PSK = bytes.Clone(ch.PSK)
	}
	if ch.PSKIdentity != nil {
		rec.PSKIdentity = *ch.PSKIdentity
	}
	if len(rec.PSK) == 0 {
		if ch.PSKIdentity != nil {
			return endpointRecord{}, fmt.Errorf("%w: psk_identity: endpoint %q has no psk: give one", ErrInvalid, name)
		}
		return rec, nil
	}
	if rec.PSKIdentity == "" {
		rec.PSKIdentity = name
	}
	return rec, ValidatePSKIdentity(rec.PSKIdentity)
}

// Unprovision removes an endpoint from the provisioning table (its device
// state and placement are kept).
func (f *Fleet) Unprovision(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep, ok, err := f.provisioned(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: endpoint %q is not provisioned", ErrUnknownEndpoint, name)
	}
	return f.eps.Write(ctx, f.unprovisionOps(ep))
}

// unprovisionOps deletes an endpoint's record and its index entries.
func (f *Fleet) unprovisionOps(ep Endpoint) []store.Op {
	ops := []store.Op{{Key: nameKey(ep.Name)}, {Key: euiKey("e/", ep.EUI)}}
	if ep.PSKIdentity != "" {
		ops = append(ops, store.Op{Key: identityKey(ep.PSKIdentity)})
	}
	return ops
}

// ParseDeviceID turns a device id from a URL into an EUI: a provisioned
// endpoint name (or its IMEI alias), an EUI-64 (16 hex digits, plain,
// '-'/':'-separated or 0x-prefixed, any case), or — under PolicyMap — an
// IMEI through the default mapping. It does not check that the device is
// known (see Device).
func (f *Fleet) ParseDeviceID(ctx context.Context, id string) (lora.EUI64, error) {
	if ValidateEndpointName(id) == nil {
		ep, ok, err := f.provisioned(ctx, id)
		if err != nil {
			return lora.EUI64{}, err
		}
		if ok {
			return ep.EUI, nil
		}
	}
	s := id
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	if e, err := lora.ParseEUI64(s); err == nil {
		return e, nil
	}
	if e, err := IMEIToEUI(id); err == nil {
		if f.cfg.Unprovisioned == PolicyReject {
			return lora.EUI64{}, fmt.Errorf("%w: endpoint %q is not provisioned", ErrUnknownDevice, id)
		}
		return e, nil
	}
	return lora.EUI64{}, fmt.Errorf("%w: device id %q is neither an EUI-64 nor a provisioned endpoint name", ErrInvalid, id)
}

// Collection is a named group of devices.
type Collection struct {
	ID      string
	Tags    map[string]string
	Created time.Time
}

type collectionRecord struct {
	Tags    map[string]string `json:"tags,omitempty"`
	Created int64             `json:"created"`
}

type placementRecord struct {
	Collection string            `json:"collection"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// ValidateCollectionID checks a collection id: 1..64 characters from
// [A-Za-z0-9._-].
func ValidateCollectionID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: collection id must have 1..64 characters", ErrInvalid)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: collection id %q may only contain letters, digits, '.', '_' and '-'", ErrInvalid, id)
		}
	}
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > 32 {
		return fmt.Errorf("%w: at most 32 tags, got %d", ErrInvalid, len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 64 || len(v) > 256 {
			return fmt.Errorf("%w: tag %q: names have 1..64 characters, values up to 256", ErrInvalid, k)
		}
	}
	return nil
}

func colKey(id string) []byte { return append([]byte("c/"), id...) }

func memberKey(cid string, e lora.EUI64) []byte {
	return append(append([]byte("m/"+cid), '/'), e[:]...)
}

func (f *Fleet) collection(ctx context.Context, id string) (Collection, error) {
	b, _, err := f.cols.Get(ctx, colKey(id))
	if errors.Is(err, store.ErrNotFound) {
		if id == DefaultCollection {
			return Collection{ID: id, Tags: map[string]string{}}, nil
		}
		return Collection{}, fmt.Errorf("%w: %q", ErrUnknownCollection, id)
	}
	if err != nil {
		return Collection{}, err
	}
	var r collectionRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Collection{}, fmt.Errorf("fleet: collection %q: %w", id, err)
	}
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	return Collection{ID: id, Tags: r.Tags, Created: time.Unix(0, r.Created)}, nil
}

// Collection returns a collection; "default" always exists.
func (f *Fleet) Collection(ctx context.Context, id string) (Collection, error) {
	if err := ValidateCollectionID(id); err != nil {
		return Collection{}, fmt.Errorf("%w: %v", ErrUnknownCollection, err)
	}
	return f.collection(ctx, id)
}

// Collections lists all collections, "default" first, then in id order.
func (f *Fleet) Collections(ctx context.Context) ([]Collection, error) {
	def, err := f.collection(ctx, DefaultCollection)
	if err != nil {
		return nil, err
	}
	out := []Collection{def}
	var ids []string
	err = f.cols.Range(ctx, []byte("c/"), func(k, _ []byte, _ uint64) error {
		if !bytes.HasPrefix(k, []byte("c/")) {
			return store.ErrStop
		}
		if id := string(k[2:]); id != DefaultCollection {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		c, err := f.collection(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func newID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	b := make([]byte, 14)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b)
}

// CreateCollection creates a collection; an empty id gets a generated one.
func (f *Fleet) CreateCollection(ctx context.Context, id string, tags map[string]string) (Collection, error) {
	if id == "" {
		id = newID()
	}
	if err := ValidateCollectionID(id); err != nil {
		return Collection{}, err
	}
	if err := validateTags(tags); err != nil {
		return Collection{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == DefaultCollection {
		return Collection{}, fmt.Errorf("%w: collection %q", ErrExists, id)
	}
	if _, err := f.collection(ctx, id); err == nil {
		return Collection{}, fmt.Errorf("%w: collection %q", ErrExists, id)
	} else if !errors.Is(err, ErrUnknownCollection) {
		return Collection{}, err
	}
	c := Collection{ID: id, Tags: maps.Clone(tags), Created: f.cfg.Now()}
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	return c, f.putCollection(ctx, c)
}

func (f *Fleet) putCollection(ctx context.Context, c Collection) error {
	b, err := json.Marshal(collectionRecord{Tags: c.Tags, Created: c.Created.UnixNano()})
	if err != nil {
		return err
	}
	return f.cols.Write(ctx, []store.Op{{Key: colKey(c.ID), Value: b}})
}

// SetCollectionTags replaces a collection's tags.
func (f *Fleet) SetCollectionTags(ctx context.Context, id string, tags map[string]string) (Collection, error) {
	if err := validateTags(tags); err != nil {
		return Collection{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.Collection(ctx, id)
	if err != nil {
		return Collection{}, err
	}
	c.Tags = maps.Clone(tags)
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	if c.Created.IsZero() {
		c.Created = f.cfg.Now()
	}
	return c, f.putCollection(ctx, c)
}

// DeleteCollection deletes a collection; its devices return to "default".
func (f *Fleet) DeleteCollection(ctx context.Context, id string) error {
	if id == DefaultCollection {
		return ErrDefaultCollection
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.Collection(ctx, id); err != nil {
		return err
	}
	members, err := f.memberEUIs(ctx, id)
	if err != nil {
		return err
	}
	// Members move to the default collection, keeping their tags: default
	// holds every device not placed elsewhere.
	for _, e := range members {
		if err := f.place(ctx, e, DefaultCollection, nil, false); err != nil {
			return err
		}
	}
	return f.cols.Write(ctx, []store.Op{{Key: colKey(id)}})
}

func (f *Fleet) memberEUIs(ctx context.Context, cid string) ([]lora.EUI64, error) {
	prefix := append([]byte("m/"+cid), '/')
	var out []lora.EUI64
	err := f.cols.Range(ctx, prefix, func(k, _ []byte, _ uint64) error {
		if !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
			return store.ErrStop
		}
		out = append(out, lora.EUI64(k[len(prefix):]))
		return nil
	})
	return out, err
}

func (f *Fleet) placement(ctx context.Context, eui lora.EUI64) (placementRecord, bool, error) {
	b, _, err := f.cols.Get(ctx, euiKey("d/", eui))
	if errors.Is(err, store.ErrNotFound) {
		return placementRecord{Collection: DefaultCollection}, false, nil
	}
	if err != nil {
		return placementRecord{}, false, err
	}
	var p placementRecord
	if err := json.Unmarshal(b, &p); err != nil {
		return placementRecord{}, false, fmt.Errorf("fleet: placement of %s: %w", eui, err)
	}
	return p, true, nil
}

// place moves eui to cid; with setTags its tags are replaced by tags.
// f.mu must be held.
func (f *Fleet) place(ctx context.Context, eui lora.EUI64, cid string, tags map[string]string, setTags bool) error {
	old, had, err := f.placement(ctx, eui)
	if err != nil {
		return err
	}
	p := placementRecord{Collection: cid, Tags: old.Tags}
	if setTags {
		p.Tags = maps.Clone(tags)
	}
	var ops []store.Op
	if had && old.Collection != DefaultCollection && old.Collection != cid {
		ops = append(ops, store.Op{Key: memberKey(old.Collection, eui)})
	}
	if cid != DefaultCollection {
		ops = append(ops, store.Op{Key: memberKey(cid, eui), Value: []byte{}})
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ops = append(ops, store.Op{Key: euiKey("d/", eui), Value: b})
	return f.cols.Write(ctx, ops)
}

// Place puts a device in a collection (creating its placement, which also
// makes an otherwise unseen device known). tags, when non-nil, replace the
// device's tags.
func (f *Fleet) Place(ctx context.Context, eui lora.EUI64, collection string, tags map[string]string) (Device, error) {
	if err := validateTags(tags); err != nil {
		return Device{}, err
	}
	f.mu.Lock()
	if _, err := f.Collection(ctx, collection); err != nil {
		f.mu.Unlock()
		return Device{}, err
	}
	err := f.place(ctx, eui, collection, tags, tags != nil)
	f.mu.Unlock()
	if err != nil {
		return Device{}, err
	}
	return f.Device(ctx, eui)
}

// Forget removes a device's placement and endpoint provisioning (not its
// modem state).
func (f *Fleet) Forget(ctx context.Context, eui lora.EUI64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, had, err := f.placement(ctx, eui)
	if err != nil {
		return err
	}
	if name, ok, err := f.endpointOf(ctx, eui); err != nil {
		return err
	} else if ok {
		ep, _, err := f.getEndpoint(ctx, name)
		if err != nil {
			return err
		}
		ep.Name, ep.EUI = name, eui
		if err := f.eps.Write(ctx, f.unprovisionOps(ep)); err != nil {
			return err
		}
	}
	if !had {
		return nil
	}
	ops := []store.Op{{Key: euiKey("d/", eui)}}
	if p.Collection != DefaultCollection {
		ops = append(ops, store.Op{Key: memberKey(p.Collection, eui)})
	}
	return f.cols.Write(ctx, ops)
}

// Device is a known device as the downstream API shows it.
type Device struct {
	EUI        lora.EUI64
	Collection string
	Tags       map[string]string
	// Endpoint is the provisioned endpoint name, or the IMEI of a
	// default-mapped EUI; "" for other devices.
	Endpoint    string
	Provisioned bool
	Opaque      bool
	// HasState is true when the devices table holds modem state for it.
	HasState bool
}

// Device returns a known device, or ErrUnknownDevice.
func (f *Fleet) Device(ctx context.Context, eui lora.EUI64) (Device, error) {
	p, placed, err := f.placement(ctx, eui)
	if err != nil {
		return Device{}, err
	}
	d := Device{EUI: eui, Collection: p.Collection, Tags: p.Tags}
	if d.Tags == nil {
		d.Tags = map[string]string{}
	}
	name, prov, err := f.endpointOf(ctx, eui)
	if err != nil {
		return Device{}, err
	}
	if prov {
		ep, ok, err := f.getEndpoint(ctx, name)
		if err != nil {
			return Device{}, err
		}
		d.Endpoint, d.Provisioned, d.Opaque = name, ok, ep.Opaque
	} else if imei, ok := EUIToIMEI(eui); ok {
		d.Endpoint = imei
	}
	_, _, err = f.devices.Get(ctx, eui[:])
	switch {
	case err == nil:
		d.HasState = true
	case !errors.Is(err, store.ErrNotFound):
		return Device{}, err
	}
	if !placed && !prov && !d.HasState {
		return Device{}, fmt.Errorf("%w: %s", ErrUnknownDevice, eui)
	}
	return d, nil
}

// Members returns the devices of a collection in EUI order. The default
// collection holds every known device without a placement elsewhere.
func (f *Fleet) Members(ctx context.Context, cid string) ([]Device, error) {
	if _, err := f.Collection(ctx, cid); err != nil {
		return nil, err
	}
	var euis []lora.EUI64
	if cid != DefaultCollection {
		var err error
		if euis, err = f.memberEUIs(ctx, cid); err != nil {
			return nil, err
		}
	} else {
		elsewhere := map[lora.EUI64]bool{}
		set := map[lora.EUI64]bool{}
		err := f.cols.Range(ctx, []byte("d/"), func(k, v []byte, _ uint64) error {
			if !bytes.HasPrefix(k, []byte("d/")) {
				return store.ErrStop
			}
			var p placementRecord
			if len(k) != 10 || json.Unmarshal(v, &p) != nil {
				return fmt.Errorf("fleet: bad placement record %x", k)
			}
			e := lora.EUI64(k[2:])
			if p.Collection == DefaultCollection {
				set[e] = true
			} else {
				elsewhere[e] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		add := func(k []byte) {
			if len(k) == 8 && !elsewhere[lora.EUI64(k)] {
				set[lora.EUI64(k)] = true
			}
		}
		if err := f.devices.Range(ctx, nil, func(k, _ []byte, _ uint64) error { add(k); return nil }); err != nil {
			return nil, err
		}
		err = f.eps.Range(ctx, []byte("e/"), func(k, _ []byte, _ uint64) error {
			if !bytes.HasPrefix(k, []byte("e/")) {
				return store.ErrStop
			}
			add(k[2:])
			return nil
		})
		if err != nil {
			return nil, err
		}
		euis = slices.Collect(maps.Keys(set))
	}
	slices.SortFunc(euis, func(a, b lora.EUI64) int { return bytes.Compare(a[:], b[:]) })
	out := make([]Device, 0, len(euis))
	for _, e := range euis {
		d, err := f.Device(ctx, e)
		if errors.Is(err, ErrUnknownDevice) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
