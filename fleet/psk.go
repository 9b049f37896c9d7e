package fleet

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/openmgs/openmgs/store"
)

// DTLS pre-shared key limits: RFC 4279 allows identities up to 2^16 bytes
// and keys up to 2^16 bytes, but the Quectel modules take at most 64-byte
// keys (AT+QSETPSK / AT+QLWCONFIG), and short printable identities are
// what they send.
const (
	MaxPSKBytes    = 64
	MaxPSKIdentity = 128
)

// ParsePSK decodes a key given as hex digits (an optional 0x prefix and
// ':' or '-' separators are accepted) and validates it.
func ParsePSK(s string) ([]byte, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	t = strings.NewReplacer(":", "", "-", "").Replace(t)
	key, err := hex.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("%w: psk: not hex digits: %v", ErrInvalid, err)
	}
	return key, ValidatePSK(key)
}

// ValidatePSK checks a key: 1..64 bytes (16 or 32 random bytes are
// recommended).
func ValidatePSK(key []byte) error {
	if len(key) == 0 || len(key) > MaxPSKBytes {
		return fmt.Errorf("%w: psk: must be 1..%d bytes (16 or 32 random bytes recommended), got %d", ErrInvalid, MaxPSKBytes, len(key))
	}
	return nil
}

// ValidatePSKIdentity checks an identity: 1..128 printable ASCII
// characters.
func ValidatePSKIdentity(id string) error {
	if id == "" || len(id) > MaxPSKIdentity {
		return fmt.Errorf("%w: psk_identity: must have 1..%d characters, got %d", ErrInvalid, MaxPSKIdentity, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < ' ' || c > '~' {
			return fmt.Errorf("%w: psk_identity %q: only printable ASCII characters are allowed", ErrInvalid, id)
		}
	}
	return nil
}

// Credential is the pre-shared key of a PSK identity.
type Credential struct {
	Identity string
	Endpoint string
	Key      []byte
}

// PSK returns the key of a PSK identity for the DTLS handshake, through
// the identity index (two point reads). It returns ErrUnknownPSKIdentity
// when no endpoint has the identity.
func (f *Fleet) PSK(ctx context.Context, identity string) (Credential, error) {
	b, _, err := f.eps.Get(ctx, identityKey(identity))
	if errors.Is(err, store.ErrNotFound) {
		return Credential{}, fmt.Errorf("%w: %q", ErrUnknownPSKIdentity, identity)
	}
	if err != nil {
		return Credential{}, err
	}
	name := string(b)
	rec, ok, err := f.record(ctx, name)
	if err != nil {
		return Credential{}, err
	}
	// The index and the record are written together; a mismatch would be a
	// stale index entry, never a reason to hand out another key.
	if !ok || rec.PSKIdentity != identity || len(rec.PSK) == 0 {
		return Credential{}, fmt.Errorf("%w: %q", ErrUnknownPSKIdentity, identity)
	}
	return Credential{Identity: identity, Endpoint: name, Key: bytes.Clone(rec.PSK)}, nil
}
