package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// benchBody is the body internal/bench posts (issue 4): a distinct, valid
// inbound_local_payment_settled event.
func benchBody(i int) []byte {
	return fmt.Appendf(nil, `{"type":"inbound_local_payment_settled","event_id":"%08x-0000-4000-8000-%012x","event_version":1,`+
		`"inbound_local_payment_settled":{"account_id":"aaaaaaaa-0000-4000-8000-%012x","transaction_id":"%08x-1111-4000-8000-%012x",`+
		`"instructed_amount":%d,"amount_with_fee":%d,"fee_amount":0,"remitter":{"name":"Topup","identifier":{"iban":"AE080070000000785666509"}},`+
		`"external_reference":"bench","timestamp":"2026-11-02T09:00:00Z","purpose":"none","currency":"AED"}}`,
		2, i, i%16, 2, i, 100+i%1000, 100+i%1000)
}

// BenchmarkDecode decodes the load generator's body and, as a mix, every
// valid seed example in turn.
func BenchmarkDecode(b *testing.B) {
	h := Header{ReceivedAt: receivedAt}
	b.Run("bench-body", func(b *testing.B) {
		raw := benchBody(7)
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(raw, h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seeds", func(b *testing.B) {
		bodies := benchSeeds(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := Decode(bodies[i%len(bodies)], h); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// benchSeeds returns the seed examples that decode, in a fixed order.
func benchSeeds(b *testing.B) [][]byte {
	b.Helper()
	paths, err := filepath.Glob("testdata/seed*/*.json")
	if err != nil {
		b.Fatal(err)
	}
	sort.Strings(paths)
	var bodies [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(raw, Header{}); err == nil {
			bodies = append(bodies, raw)
		}
	}
	return bodies
}

// memStore is a Store that keeps nothing: the handler's own cost, without
// the ledger's.
type memStore struct{ ingested, quarantined atomic.Int64 }

func (s *memStore) Ingest(_ context.Context, obs ledgerd.Observation) (ledger.Result, error) {
	s.ingested.Add(1)
	return ledger.Result{}, nil
}

func (s *memStore) Quarantine(context.Context, ledger.Quarantined) (int64, error) {
	return s.quarantined.Add(1), nil
}

// discardWriter is a ResponseWriter that costs as little as possible, so
// that the benchmark measures the handler rather than the recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header               { return w.h }
func (w *discardWriter) Write(p []byte) (int, error)       { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)            { w.status = status }
func (w *discardWriter) reset()                            { clear(w.h); w.status = 0 }
func (w *discardWriter) WriteString(s string) (int, error) { return len(s), nil }

// BenchmarkHandler serves the load generator's request through the
// handler over a Store that keeps nothing: everything the handler costs
// per request but the ledger write and the HTTP server.
func BenchmarkHandler(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"plain", Options{}},
		{"metrics+signature", Options{Metrics: NewMetrics(prometheus.NewRegistry()), Secret: []byte("bench-secret")}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := &memStore{}
			tc.opts.Store = st
			h := NewHandler(tc.opts)
			raw := benchBody(7)
			sig := Sign(tc.opts.Secret, raw)
			body := bytes.NewReader(raw)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/fuse", body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Fuse-Timestamp", time.Now().UTC().Format(time.RFC3339))
			req.Header.Set("X-Ledgerd-Signature", sig)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(raw)
				req.Body = io.NopCloser(body)
				w.reset()
				h.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
			if st.quarantined.Load() != 0 {
				b.Fatal("quarantined")
			}
		})
	}
}
