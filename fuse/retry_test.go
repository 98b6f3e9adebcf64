package fuse

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffFullJitterStaysUnderTheExponentialCeiling(t *testing.T) {
	base, maxD := 100*time.Millisecond, 1*time.Second
	top := func(n int64) int64 { return n - 1 } // the largest draw
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for attempt, w := range want {
		got := backoff(attempt, base, maxD, top)
		if got != w*time.Millisecond-1 {
			t.Errorf("attempt %d: ceiling %v, want just under %v", attempt, got, w*time.Millisecond)
		}
		if low := backoff(attempt, base, maxD, func(int64) int64 { return 0 }); low != 0 {
			t.Errorf("attempt %d: smallest draw %v, want 0 (full jitter)", attempt, low)
		}
	}
	if got := backoff(10_000, base, maxD, top); got >= maxD {
		t.Errorf("huge attempt: %v, want under %v", got, maxD)
	}
}

func TestParseRetryAfterAcceptsSecondsAndHTTPDates(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"99999999999999", 365 * 24 * time.Hour, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestOnlyThrottlingConflictAndServerErrorsAreRetried(t *testing.T) {
	for status, want := range map[int]bool{
		400: false, 401: false, 403: false, 404: false, 422: false,
		409: true, 429: true, 500: true, 502: true, 503: true,
	} {
		if _, got := retryReason(status); got != want {
			t.Errorf("status %d retried = %v, want %v", status, got, want)
		}
	}
}
