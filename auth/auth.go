package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Capability is one right a token can carry.
type Capability uint8

// Capabilities. Admin implies all others.
const (
	CapRead Capability = 1 << iota
	CapUplink
	CapRequests
	CapDevices
	CapAdmin
)

// capNames are the names of the capabilities, in bit order.
var capNames = [...]string{"read", "uplink", "requests", "devices", "admin"}

// CapabilityNames lists the capability names in their canonical order.
func CapabilityNames() []string { return append([]string(nil), capNames[:]...) }

// String returns the name of a single capability.
func (c Capability) String() string {
	for i, n := range capNames {
		if c == 1<<i {
			return n
		}
	}
	return fmt.Sprintf("capability(%#x)", uint8(c))
}

// Caps is a set of capabilities.
type Caps uint8

// AllCaps is every capability (what admin grants).
const AllCaps = Caps(CapRead | CapUplink | CapRequests | CapDevices | CapAdmin)

// Has reports whether the set grants c; admin grants everything.
func (s Caps) Has(c Capability) bool {
	return s&Caps(CapAdmin) != 0 || s&Caps(c) != 0
}

// Names returns the names of the set's capabilities in canonical order.
func (s Caps) Names() []string {
	out := []string{}
	for i, n := range capNames {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// ParseCaps parses capability names (any case, duplicates allowed); at
// least one is required.
func ParseCaps(names []string) (Caps, error) {
	if len(names) == 0 {
		return 0, &InputError{Field: "capabilities", Reason: "at least one capability is required (" + strings.Join(capNames[:], ", ") + ")"}
	}
	var s Caps
	for i, n := range names {
		c, ok := parseCap(n)
		if !ok {
			return 0, &InputError{Field: fmt.Sprintf("capabilities[%d]", i),
				Reason: fmt.Sprintf("unknown capability %q (%s)", n, strings.Join(capNames[:], ", "))}
		}
		s |= Caps(c)
	}
	return s, nil
}

func parseCap(n string) (Capability, bool) {
	n = strings.ToLower(strings.TrimSpace(n))
	for i, name := range capNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// Principal is the identity behind a checked token.
type Principal struct {
	// ID is the token's public id ("" for the anonymous principal).
	ID   string
	Name string
	Caps Caps
	// Static is true for a token given on the command line.
	Static bool
	// Anonymous is true when the server runs without tokens (open mode).
	Anonymous bool
}

// Can reports whether the principal holds capability c.
func (p Principal) Can(c Capability) bool { return p.Caps.Has(c) }

// Require returns a *ForbiddenError unless the principal holds c.
func (p Principal) Require(c Capability) error {
	if p.Can(c) {
		return nil
	}
	return &ForbiddenError{Need: c, Name: p.Name}
}

var (
	// ErrMissing: the request carries no token.
	ErrMissing = errors.New("auth: missing API token")
	// ErrInvalid: the token is not known.
	ErrInvalid = errors.New("auth: invalid API token")
	// ErrForbidden is matched by every *ForbiddenError.
	ErrForbidden = errors.New("auth: insufficient capability")
	// ErrNotFound: a management operation names an unknown token.
	ErrNotFound = errors.New("auth: no such token")
	// ErrStatic: static tokens cannot be changed through the API.
	ErrStatic = errors.New("auth: static tokens are configured on the command line and cannot be changed through the API")
	// ErrLastAdmin: the change would leave no way to manage tokens.
	ErrLastAdmin = errors.New("auth: the change would leave no admin token")
)

// ForbiddenError is returned when a token lacks a capability.
type ForbiddenError struct {
	Need Capability
	Name string // token name
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("auth: token %q lacks the %q capability", e.Name, e.Need)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// InputError is an invalid argument of a management operation.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal stored by NewContext.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
