package fuse

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

type idempotencyKeyCtx struct{}

// WithIdempotencyKey makes the next POST made with ctx carry key as its
// Idempotency-Key instead of a fresh UUIDv4, so that the caller can send
// the same logical operation more than once (certify does, to prove that
// Fuse runs it once). Use a derived ctx per operation: two different
// bodies under one key are refused with ErrIdempotencyConflict.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

// IdempotencyKeyFrom returns the key set by WithIdempotencyKey, if any.
func IdempotencyKeyFrom(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(idempotencyKeyCtx{}).(string)
	return k, ok
}

// NewIdempotencyKey returns a fresh UUIDv4 for WithIdempotencyKey.
func NewIdempotencyKey() string { return newIdempotencyKey() }

func newIdempotencyKey() string { return uuid.NewString() }

// idempotencyKey is the key for one logical POST: the caller's, checked
// to be a UUID (Fuse refuses anything else with 400), or a new one.
func idempotencyKey(ctx context.Context) (string, error) {
	k, ok := IdempotencyKeyFrom(ctx)
	if !ok {
		return newIdempotencyKey(), nil
	}
	if _, err := uuid.Parse(k); err != nil || len(k) != 36 {
		return "", fmt.Errorf("idempotency key %q is not a UUID", k)
	}
	return k, nil
}
