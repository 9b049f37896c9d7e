package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/openmgs/openmgs/store"
)

// TableTokens is the store table of the stored tokens.
const TableTokens = "tokens"

// Token format of issued tokens: prefix + base64url(32 random bytes).
const (
	TokenPrefix  = "mgs_"
	secretBytes  = 32
	maxNameLen   = 128
	maxTokenLen  = 4096
	recordFormat = 1
)

// Options configure an Authenticator.
type Options struct {
	// Static tokens (from the command line) have every capability.
	Static []string
	// AllowOpen accepts every request as the anonymous administrator while
	// no token of any kind exists. Set it only when every listener is on a
	// loopback address.
	AllowOpen bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the source of secrets and ids (default crypto/rand).
	Rand io.Reader
}

// Info describes a token. Token holds the secret only when it was just
// created or renewed.
type Info struct {
	ID           string
	Name         string
	Capabilities []string
	Token        string
	Created      float64
	Static       bool
}

// record is the stored value (see the package doc).
type record struct {
	V       int      `json:"v"`
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Caps    []string `json:"caps"`
	Created float64  `json:"created"`
}

type entry struct {
	hash    [32]byte
	id      string
	name    string
	caps    Caps
	created float64
	static  bool
}

func (e *entry) principal() Principal {
	return Principal{ID: e.id, Name: e.name, Caps: e.caps, Static: e.static}
}

func (e *entry) info() Info {
	return Info{ID: e.id, Name: e.name, Capabilities: e.caps.Names(), Created: e.created, Static: e.static}
}

// snapshot is an immutable view of all tokens; Check reads it without locks.
type snapshot struct {
	byHash map[[32]byte]*entry
	list   []*entry // static first, then stored in creation order
}

// Authenticator checks tokens and manages the stored ones. Check serves
// from an in-memory snapshot; management operations write the store first
// and then replace the snapshot, one at a time. The snapshot is loaded by
// New (and Reload), so tokens written by another process are seen after a
// reload.
type Authenticator struct {
	t    store.Table
	opts Options
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises management operations
}

// New loads the stored tokens of s.
func New(ctx context.Context, s store.Store, o Options) (*Authenticator, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	a := &Authenticator{t: s.Table(TableTokens), opts: o}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload re-reads the stored tokens.
func (a *Authenticator) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	sn := &snapshot{byHash: map[[32]byte]*entry{}}
	n := 0
	for _, tok := range a.opts.Static {
		if tok = strings.TrimSpace(tok); tok == "" {
			continue
		}
		h := sha256.Sum256([]byte(tok))
		if _, dup := sn.byHash[h]; dup {
			continue
		}
		n++
		e := &entry{hash: h, id: "static-" + strconv.Itoa(n), name: "static token " + strconv.Itoa(n), caps: AllCaps, static: true}
		sn.byHash[h] = e
		sn.list = append(sn.list, e)
	}
	var stored []*entry
	err := a.t.Range(ctx, nil, func(key, value []byte, _ uint64) error {
		if len(key) != sha256.Size {
			return fmt.Errorf("auth: tokens table: key of %d bytes", len(key))
		}
		e, err := decodeRecord(value)
		if err != nil {
			return fmt.Errorf("auth: tokens table: %w", err)
		}
		copy(e.hash[:], key)
		stored = append(stored, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	slices.SortStableFunc(stored, func(x, y *entry) int {
		if x.created != y.created {
			if x.created < y.created {
				return -1
			}
			return 1
		}
		return strings.Compare(x.id, y.id)
	})
	for _, e := range stored {
		if _, dup := sn.byHash[e.hash]; dup {
			continue // a stored token equal to a static one: static wins
		}
		sn.byHash[e.hash] = e
		sn.list = append(sn.list, e)
	}
	a.snap.Store(sn)
	return nil
}

func decodeRecord(b []byte) (*entry, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.V != recordFormat {
		return nil, fmt.Errorf("record format %d (this program reads %d)", r.V, recordFormat)
	}
	caps, err := ParseCaps(r.Caps)
	if err != nil {
		return nil, err
	}
	return &entry{id: r.ID, name: r.Name, caps: caps, created: r.Created}, nil
}

func encodeRecord(e *entry) []byte {
	b, _ := json.Marshal(record{V: recordFormat, ID: e.id, Name: e.name, Caps: e.caps.Names(), Created: e.created})
	return b
}

// Open reports whether requests are accepted without a token: AllowOpen is
// set and no token exists.
func (a *Authenticator) Open() bool {
	return a.opts.AllowOpen && len(a.snap.Load().list) == 0
}

// Count returns the number of tokens (static and stored).
func (a *Authenticator) Count() int { return len(a.snap.Load().list) }

// Check returns the principal of a token as a client sent it. In open mode
// every request, with or without a token, is the anonymous administrator.
// The lookup is by SHA-256 of the token, so its time does not depend on how
// much of a stored token a guess matches.
func (a *Authenticator) Check(token string) (Principal, error) {
	sn := a.snap.Load()
	if a.opts.AllowOpen && len(sn.list) == 0 {
		return Principal{Name: "anonymous", Caps: AllCaps, Anonymous: true}, nil
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return Principal{}, ErrMissing
	}
	if len(token) > maxTokenLen {
		return Principal{}, ErrInvalid
	}
	e, ok := sn.byHash[sha256.Sum256([]byte(token))]
	if !ok {
		return Principal{}, ErrInvalid
	}
	return e.principal(), nil
}

// List returns every token, static ones first, without secrets.
func (a *Authenticator) List() []Info {
	sn := a.snap.Load()
	out := make([]Info, len(sn.list))
	for i, e := range sn.list {
		out[i] = e.info()
	}
	return out
}

// Get returns the token named by ref: its secret or its id.
func (a *Authenticator) Get(ref string) (Info, error) {
	e, err := a.find(a.snap.Load(), ref)
	if err != nil {
		return Info{}, err
	}
	return e.info(), nil
}

func (a *Authenticator) find(sn *snapshot, ref string) (*entry, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, &InputError{Field: "token", Reason: "required (the token or its id)"}
	}
	if e, ok := sn.byHash[sha256.Sum256([]byte(ref))]; ok {
		return e, nil
	}
	for _, e := range sn.list {
		if e.id == ref {
			return e, nil
		}
	}
	return nil, ErrNotFound
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", &InputError{Field: "name", Reason: "required"}
	case len(name) > maxNameLen:
		return "", &InputError{Field: "name", Reason: fmt.Sprintf("%d bytes is more than %d", len(name), maxNameLen)}
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", &InputError{Field: "name", Reason: "must be printable UTF-8 text"}
	}
	return name, nil
}

func (a *Authenticator) newSecret() (string, [32]byte, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(a.opts.Rand, b); err != nil {
		return "", [32]byte{}, fmt.Errorf("auth: random source: %w", err)
	}
	tok := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, sha256.Sum256([]byte(tok)), nil
}

func (a *Authenticator) newID(sn *snapshot) (string, error) {
	for range 8 {
		b := make([]byte, 8)
		if _, err := io.ReadFull(a.opts.Rand, b); err != nil {
			return "", fmt.Errorf("auth: random source: %w", err)
		}
		id := hex.EncodeToString(b)
		if !slices.ContainsFunc(sn.list, func(e *entry) bool { return e.id == id }) {
			return id, nil
		}
	}
	return "", errors.New("auth: could not draw a unique token id")
}

// hasAdmin reports whether list holds an admin token.
func hasAdmin(list []*entry) bool {
	return slices.ContainsFunc(list, func(e *entry) bool { return e.caps.Has(CapAdmin) })
}

// checkInvariant refuses a token set from which tokens could no longer be
// managed: tokens but no admin token, or no token at all on a server that
// may not run open.
func (a *Authenticator) checkInvariant(list []*entry) error {
	if len(list) == 0 {
		if !a.opts.AllowOpen {
			return fmt.Errorf("%w: the server listens on a non-loopback address and needs at least one token", ErrLastAdmin)
		}
		return nil
	}
	if !hasAdmin(list) {
		return fmt.Errorf("%w: add a token with the admin capability first", ErrLastAdmin)
	}
	return nil
}

// replace installs a new snapshot with list (static entries included).
func (a *Authenticator) replace(list []*entry) {
	sn := &snapshot{byHash: make(map[[32]byte]*entry, len(list)), list: list}
	for _, e := range list {
		sn.byHash[e.hash] = e
	}
	a.snap.Store(sn)
}

// Add creates a token; the returned Info carries the secret.
func (a *Authenticator) Add(ctx context.Context, name string, capabilities []string) (Info, error) {
	name, err := checkName(name)
	if err != nil {
		return Info{}, err
	}
	caps, err := ParseCaps(capabilities)
	if err != nil {
		return Info{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sn := a.snap.Load()
	tok, h, err := a.newSecret()
	if err != nil {
		return Info{}, err
	}
	id, err := a.newID(sn)
	if err != nil {
		return Info{}, err
	}
	e := &entry{hash: h, id: id, name: name, caps: caps, created: float64(a.opts.Now().UnixNano()) / 1e9}
	list := append(slices.Clip(sn.list), e)
	if err := a.checkInvariant(list); err != nil {
		return Info{}, err
	}
	if _, err := a.t.CompareAndSwap(ctx, h[:], 0, encodeRecord(e)); err != nil {
		return Info{}, fmt.Errorf("store token: %w", err)
	}
	a.replace(list)
	info := e.info()
	info.Token = tok
	return info, nil
}

// Update renames the token named by ref (when name is not empty) and,
// with renew, replaces its secret; the returned Info carries the new
// secret when renewed.
func (a *Authenticator) Update(ctx context.Context, ref, name string, renew bool) (Info, error) {
	if name != "" {
		var err error
		if name, err = checkName(name); err != nil {
			return Info{}, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sn := a.snap.Load()
	old, err := a.find(sn, ref)
	if err != nil {
		return Info{}, err
	}
	if old.static {
		return Info{}, ErrStatic
	}
	e := *old
	if name != "" {
		e.name = name
	}
	var tok string
	if renew {
		if tok, e.hash, err = a.newSecret(); err != nil {
			return Info{}, err
		}
		err = a.t.Write(ctx, []store.Op{{Key: old.hash[:]}, {Key: e.hash[:], Value: encodeRecord(&e)}})
	} else {
		err = a.rewrite(ctx, &e)
	}
	if err != nil {
		return Info{}, fmt.Errorf("store token: %w", err)
	}
	list := slices.Clone(sn.list)
	list[slices.Index(list, old)] = &e
	a.replace(list)
	info := e.info()
	info.Token = tok
	return info, nil
}

// rewrite stores e over the record with the same hash, if it still exists.
func (a *Authenticator) rewrite(ctx context.Context, e *entry) error {
	_, rev, err := a.t.Get(ctx, e.hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = a.t.CompareAndSwap(ctx, e.hash[:], rev, encodeRecord(e))
	return err
}

// Remove deletes the token named by ref (its secret or id).
func (a *Authenticator) Remove(ctx context.Context, ref string) (Info, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sn := a.snap.Load()
	e, err := a.find(sn, ref)
	if err != nil {
		return Info{}, err
	}
	if e.static {
		return Info{}, ErrStatic
	}
	list := slices.DeleteFunc(slices.Clone(sn.list), func(x *entry) bool { return x == e })
	if err := a.checkInvariant(list); err != nil {
		return Info{}, err
	}
	if err := a.t.Write(ctx, []store.Op{{Key: e.hash[:]}}); err != nil {
		return Info{}, fmt.Errorf("delete token: %w", err)
	}
	a.replace(list)
	return e.info(), nil
}
