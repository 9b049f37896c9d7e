package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Tokens checks API tokens in constant time. The zero value accepts
// nothing; a nil *Tokens accepts everything (loopback-only deployments).
type Tokens struct {
	hashes [][32]byte
}

// NewTokens returns a checker for the given tokens (empty ones ignored).
func NewTokens(tokens []string) *Tokens {
	t := &Tokens{}
	for _, tok := range tokens {
		if tok = strings.TrimSpace(tok); tok != "" {
			t.hashes = append(t.hashes, sha256.Sum256([]byte(tok)))
		}
	}
	return t
}

// Len is the number of configured tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.hashes)
}

// Valid reports whether tok is one of the tokens. Comparing fixed-size
// hashes keeps the time independent of the token and of where it differs.
func (t *Tokens) Valid(tok string) bool {
	if t == nil {
		return true
	}
	h := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range t.hashes {
		ok |= subtle.ConstantTimeCompare(h[:], t.hashes[i][:])
	}
	return ok == 1
}

// tokenFrom reads the token from "authorization" metadata: the raw token
// (as LoRa Cloud clients send it) or "Bearer <token>".
func tokenFrom(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("authorization")
	if len(v) == 0 {
		return ""
	}
	tok := strings.TrimSpace(v[0])
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	return tok
}

// exempt methods need no token (health checks and reflection).
func exempt(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

func (t *Tokens) check(ctx context.Context, method string) error {
	if t == nil || exempt(method) {
		return nil
	}
	tok := tokenFrom(ctx)
	if tok == "" {
		return status.Error(codes.Unauthenticated, "missing API token in the authorization metadata")
	}
	if !t.Valid(tok) {
		return status.Error(codes.Unauthenticated, "invalid API token")
	}
	return nil
}

// UnaryInterceptor checks the token of every unary call.
func (t *Tokens) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := t.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// StreamInterceptor checks the token of every streaming call.
func (t *Tokens) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := t.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}
