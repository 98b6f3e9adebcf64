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
// distinct observations.
func benchSetup(b *testing.B) (*Ledger, []ledgerd.Observation) {
	b.Helper()
	l, err := Open(context.Background(), b.TempDir()+"/b.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	var s script
	obs := make([]ledgerd.Observation, b.N)
	for i := range obs {
		obs[i] = benchObs(&s, i)
	}
	return l, obs
}

// BenchmarkIngestSerial is one durable commit per observation.
func BenchmarkIngestSerial(b *testing.B) {
	l, obs := benchSetup(b)
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Ingest(context.Background(), obs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestConcurrent64 is 64 concurrent callers sharing commits.
func BenchmarkIngestConcurrent64(b *testing.B) {
	l, obs := benchSetup(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan int, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := l.Ingest(context.Background(), obs[i]); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkIngestAllPage100 is the backfill's shape: pages of 100 in one unit.
func BenchmarkIngestAllPage100(b *testing.B) {
	l, obs := benchSetup(b)
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		if _, err := l.IngestAll(context.Background(), obs[i:min(i+100, b.N)], nil); err != nil {
			b.Fatal(err)
		}
	}
}
