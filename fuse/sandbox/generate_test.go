package sandbox

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

func TestGenerateIsDeterministicBalancedAndCoversEveryKind(t *testing.T) {
	gen := func() (Truth, GenerateResult, int) {
		sb := New(Options{Seed: 42, Now: func() time.Time { return t0 }})
		defer sb.Close()
		res, err := sb.Generate(GenerateOptions{Transactions: 3000, FailureRate: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		return sb.Truth(), res, len(sb.Events())
	}
	tr1, res, events := gen()
	tr2, _, _ := gen()
	if !reflect.DeepEqual(tr1, tr2) {
		t.Fatal("same seed, different histories")
	}
	if res.Transactions != 3000 || len(tr1.Transactions) != 3000 || len(res.AccountIDs) != 8 {
		t.Fatalf("result %+v, %d transactions", res, len(tr1.Transactions))
	}
	for _, k := range []ledgerd.Kind{ledgerd.KindLocalPaymentOut, ledgerd.KindLocalPaymentIn, ledgerd.KindInternalTransferOut,
		ledgerd.KindInternalTransferIn, ledgerd.KindExchangeOut, ledgerd.KindExchangeIn} {
		if res.ByKind[string(k)] == 0 {
			t.Errorf("no %s generated: %v", k, res.ByKind)
		}
	}
	if res.ByStatus[string(ledgerd.StatusFailed)] == 0 || res.ByStatus[string(ledgerd.StatusCreated)] != 0 || res.ByStatus[string(ledgerd.StatusSubmitted)] != 0 {
		t.Errorf("statuses %v: want failures and nothing in flight", res.ByStatus)
	}
	if events != 0 {
		t.Errorf("Generate emitted %d events without Webhooks", events)
	}
	for _, x := range tr1.Transactions {
		if x.UpdatedAt.After(t0) || x.CreatedAt.Before(t0.Add(-30*24*time.Hour)) {
			t.Fatalf("transaction %s dated %s..%s, outside the history", x.TransactionID, x.CreatedAt, x.UpdatedAt)
		}
	}
	checkBalancesFollow(t, tr1)
}

func TestGenerateWithWebhooksEmitsTheHistory(t *testing.T) {
	e := newEnv(t, Options{Seed: 3})
	res, err := e.sb.Generate(GenerateOptions{Transactions: 40, Accounts: 2, Currencies: []string{"AED"}, Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	types := e.receivedTypes()
	if len(types) < 42 || types[0] != "account_opened" {
		t.Errorf("%d webhooks for %d transactions: %v", len(types), res.Transactions, types)
	}
	// Later operations are scheduled on the clock again.
	p := e.pay(res.AccountIDs[0], 1)
	e.sb.Advance(PaymentExecuteDelay)
	if got := e.getTx(p.TransactionID).State; got != fuse.StateExecuted {
		t.Errorf("payment after Generate: %s", got)
	}
}

// TestGenerateLargeHistoryPagesWhole generates a large history (20k
// transactions, 100k with LEDGERD_LONG_TESTS=1) and pages one account
// whole. How fast is make bench's business (BENCHMARKS.md), not a
// test's: a loaded CI machine must not fail it.
func TestGenerateLargeHistoryPagesWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	// 20k transactions page one account over dozens of pages of 500 and
	// check the balances of a history past any page boundary as 100k do,
	// in a fifth of the time; make soak generates the 100k.
	n := 20_000
	if os.Getenv("LEDGERD_LONG_TESTS") == "1" {
		n = 100_000
	}
	e := newEnv(t, Options{Seed: 7})
	start := time.Now()
	res, err := e.sb.Generate(GenerateOptions{Transactions: n, Accounts: 4, Currencies: []string{"AED", "USD"}, FailureRate: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Generate(%d) took %s", n, time.Since(start))
	acct := res.AccountIDs[0]
	start = time.Now()
	got := e.listAll(acct, 500)
	t.Logf("paged %d transactions in %s", len(got), time.Since(start))
	tr := e.sb.Truth()
	if want := inCreationOrder(tr, onAccount(acct)); len(got) != len(want) || got[len(got)-1].ID != want[len(want)-1] {
		t.Errorf("paged %d, truth has %d", len(got), len(want))
	}
	checkBalancesFollow(t, tr)
}

func BenchmarkGenerate100k(b *testing.B) {
	for range b.N {
		sb := New(Options{Seed: 1, Now: func() time.Time { return t0 }})
		if _, err := sb.Generate(GenerateOptions{Transactions: 100_000}); err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}
