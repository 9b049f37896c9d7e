package server

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimiter is a token bucket per API token, shared by the gRPC and the
// HTTP API: every call of a token takes one unit from its bucket, which
// refills at the rate, up to the burst. A nil *RateLimiter allows every
// call.
type RateLimiter struct {
	rate  float64 // units per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxIdleBuckets bounds the map: full buckets of idle keys are dropped
// when it grows beyond this (a dropped bucket is full when it comes back,
// which is what it would have been anyway).
const maxIdleBuckets = 4096

// NewRateLimiter returns a limiter of perSecond calls per second with the
// given burst (at least 1); perSecond <= 0 returns nil, which allows every
// call.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &RateLimiter{rate: perSecond, burst: float64(burst), now: time.Now, buckets: map[string]*bucket{}}
}

// SetClock replaces the clock (tests).
func (l *RateLimiter) SetClock(now func() time.Time) { l.now = now }

// String describes the limit ("10 calls/s, burst 20").
func (l *RateLimiter) String() string {
	if l == nil {
		return "unlimited"
	}
	return strconv.FormatFloat(l.rate, 'g', -1, 64) + " calls/s, burst " + strconv.FormatFloat(l.burst, 'f', 0, 64)
}

// Allow takes one unit from key's bucket. When the bucket is empty it
// returns false and how long until a unit is available.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// prune drops the buckets that are full by now.
func (l *RateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// ErrRateLimited is matched by every *RateLimitError.
var ErrRateLimited = errors.New("rate limit exceeded")

// RateLimitError is a call refused by the rate limit: gRPC answers
// ResourceExhausted, HTTP 429 with Retry-After.
type RateLimitError struct {
	Token      string // the token's name (never its secret)
	Limit      string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit exceeded for token %q (%s); retry in %s", e.Token, e.Limit,
		e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfterSeconds is the Retry-After header value: whole seconds, at
// least 1.
func (e *RateLimitError) RetryAfterSeconds() string {
	return strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds()))))
}

// Check takes one unit for the principal named by id (bucket key) and
// name (for the message); it returns a *RateLimitError when refused.
func (l *RateLimiter) Check(id, name string) error {
	if l == nil {
		return nil
	}
	ok, wait := l.Allow(id)
	if ok {
		return nil
	}
	return &RateLimitError{Token: name, Limit: l.String(), RetryAfter: wait}
}

// ParseRate parses a rate: "N" or "N/s" per second, "N/m" per minute,
// "N/h" per hour; "0" or "" disables the limit.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%q is not a rate such as 100/s", s)
	}
	switch strings.TrimSpace(unit) {
	case "", "s", "sec", "second":
		return n, nil
	case "m", "min", "minute":
		return n / 60, nil
	case "h", "hour":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("%q: unit %q is not s, m or h", s, unit)
}
