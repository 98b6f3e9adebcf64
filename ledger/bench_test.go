package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// benchObs is a payment's created event with amounts, unique per i.
func benchObs(s *script, i int) ledgerd.Observation {
	return s.tx(ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("90000000-0000-4000-8000-%012d", i),
		AccountID: fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i%10), Kind: ledgerd.KindLocalPaymentIn,
		Status: ledgerd.StatusSettled, At: at(i), Currency: "AED", Amounts: amounts(int64(100+i), 0)})
}

// benchSetup opens a fresh file (closed at the end) and makes b.N
// observations with mk (benchObs: distinct ones).
func benchSetup(b *testing.B, mk func(s *script, i int) ledgerd.Observation) (*Ledger, []ledgerd.Observation) {
	b.Helper()
	l, err := Open(context.Background(), b.TempDir()+"/b.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	var s script
	obs := make([]ledgerd.Observation, b.N)
	for i := range obs {
		obs[i] = mk(&s, i)
	}
	return l, obs
}

// ingest64 ingests obs from 64 concurrent callers sharing commits, each
// taking step consecutive observations in order.
func ingest64(b *testing.B, l *Ledger, obs []ledgerd.Observation, step int) {
	b.Helper()
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan int, 64)
	for range 64 {
		wg.Go(func() {
			for i := range next {
				for _, o := range obs[i:min(i+step, len(obs))] {
					if _, err := l.Ingest(context.Background(), o); err != nil {
						b.Error(err)
					}
				}
			}
		})
	}
	for i := 0; i < len(obs); i += step {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkIngestSerial is one durable commit per observation.
func BenchmarkIngestSerial(b *testing.B) {
	l, obs := benchSetup(b, benchObs)
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Ingest(context.Background(), obs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestConcurrent64 is 64 concurrent callers sharing commits.
func BenchmarkIngestConcurrent64(b *testing.B) {
	l, obs := benchSetup(b, benchObs)
	ingest64(b, l, obs, 1)
}

// BenchmarkIngestLifecycle64 is webhook traffic as it mostly comes: each
// payment created (a new transaction, booked pending), then executed (a
// known one, its entry posted), from 64 concurrent callers, each sending
// one payment's two events in order; b.N events.
func BenchmarkIngestLifecycle64(b *testing.B) {
	l, obs := benchSetup(b, func(s *script, i int) ledgerd.Observation {
		o := ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("91000000-0000-4000-8000-%012d", i/2),
			AccountID: fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", (i/2)%10), Kind: ledgerd.KindLocalPaymentOut,
			Status: ledgerd.StatusCreated, At: at(i), Currency: "AED", Amounts: amounts(int64(100+i/2), 1)}
		if i%2 == 1 {
			o.Status, o.Amounts = ledgerd.StatusExecuted, nil
		}
		return s.tx(o)
	})
	ingest64(b, l, obs, 2)
}

// BenchmarkIngestAllPage100 is the backfill's shape: pages of 100 in one unit.
func BenchmarkIngestAllPage100(b *testing.B) {
	l, obs := benchSetup(b, benchObs)
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		if _, err := l.IngestAll(context.Background(), obs[i:min(i+100, b.N)], nil); err != nil {
			b.Fatal(err)
		}
	}
}
