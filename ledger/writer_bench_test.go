package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// BenchmarkIngestLifecycle64 is webhook traffic as it mostly comes: each
// payment created (a new transaction, booked pending), then executed (a
// known one, its entry posted), from 64 concurrent callers; b.N events.
func BenchmarkIngestLifecycle64(b *testing.B) {
	l, err := Open(context.Background(), b.TempDir()+"/b.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	var s script
	obs := make([]ledgerd.Observation, b.N)
	for i := range obs {
		o := ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("91000000-0000-4000-8000-%012d", i/2),
			AccountID: fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", (i/2)%10), Kind: ledgerd.KindLocalPaymentOut,
			Status: ledgerd.StatusCreated, At: at(i), Currency: "AED", Amounts: amounts(int64(100+i/2), 1)}
		if i%2 == 1 {
			o.Status, o.Amounts = ledgerd.StatusExecuted, nil
		}
		obs[i] = s.tx(o)
	}
	b.ResetTimer()
	// Each caller sends one payment's two events in order.
	var wg sync.WaitGroup
	next := make(chan int, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				for j := i; j < min(i+2, b.N); j++ {
					if _, err := l.Ingest(context.Background(), obs[j]); err != nil {
						b.Error(err)
					}
				}
			}
		}()
	}
	for i := 0; i < b.N; i += 2 {
		next <- i
	}
	close(next)
	wg.Wait()
}
