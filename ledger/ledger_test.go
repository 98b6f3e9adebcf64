package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/ledgerd/ledgerd"
)

func TestScenarioBalancesEqualHandComputed(t *testing.T) {
	l := openTest(t, Options{})
	ingestAll(t, l, scenario())
	bs, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const A, B, U = "bank:aaaaaaaa-0000-4000-8000-000000000001", "bank:bbbbbbbb-0000-4000-8000-000000000002", "bank:cccccccc-0000-4000-8000-000000000003"
	// posted/pending/available, worked out by hand:
	//   A: +100000 inbound −20100 payment (fee 100) −30000 transfer +36725 exchange = 86625
	//   B: +30000 transfer, 1000 pending out → available 29000
	//   U: +50000 inbound −10000 exchange = 40000 USD
	want := map[string]string{
		A + " AED":              "86625/0/86625",
		B + " AED":              "30000/-1000/29000",
		U + " USD":              "40000/0/40000",
		"world:payers AED":      "-100000/0/-100000",
		"world:payers USD":      "-50000/0/-50000",
		"world:payees AED":      "20000/1000/20000",
		"expense:fees AED":      "100/0/100",
		"clearing:internal AED": "0/0/0",
		"clearing:fx:USD USD":   "0/0/0",
		"fx:conversion AED":     "-36725/0/-36725",
		"fx:conversion USD":     "10000/0/10000",
	}
	if got := balanceMap(bs); !reflect.DeepEqual(got, want) {
		t.Errorf("balances\n got %v\nwant %v", got, want)
	}
	// Per currency, the whole book sums to zero.
	sums := map[ledgerd.Currency]ledgerd.Amount{}
	for _, b := range bs {
		sums[b.Currency] += b.Posted + b.Pending
	}
	for c, s := range sums {
		if s != 0 {
			t.Errorf("book does not sum to zero in %s: %d", c, s)
		}
	}
	for _, b := range bs {
		if b.LedgerAccount == A && (b.FuseAccountID == nil || *b.FuseAccountID != A[len("bank:"):]) {
			t.Errorf("bank balance without its fuse_account_id: %+v", b)
		}
		if b.LedgerAccount == "world:payees" && b.FuseAccountID != nil {
			t.Errorf("non-bank account with a fuse_account_id: %+v", b)
		}
	}
	var voided string
	if err := l.Reader().QueryRow(`SELECT state FROM entries WHERE transaction_id = '20000000-0000-4000-8000-000000000002'`).Scan(&voided); err != nil || voided != "voided" {
		t.Errorf("failed payment entry: state %q, err %v; want voided", voided, err)
	}
	mustVerify(t, l)
}

// TestEveryOrderGivesTheSameBook is the property of DESIGN.md's ingest rules:
// whatever the order of arrival, and however many duplicates, the book ends
// byte-identical (apart from ingest sequence numbers, which record the order
// itself).
func TestEveryOrderGivesTheSameBook(t *testing.T) {
	t.Parallel()
	// Each run is a fresh random order of the whole scenario with
	// redeliveries; 12 orders already put every pair of its observations
	// both ways round many times over (the scenario has a few dozen), so
	// 40 found nothing 12 miss and cost a minute and a half under -race.
	// make soak runs 200.
	runs := 12
	if testing.Short() {
		runs = 8
	} else if longTests() {
		runs = 200
	}
	everyOrderGivesTheSameBook(t, scenario(), rand.New(rand.NewPCG(42, 7)), runs)
}

// everyOrderGivesTheSameBook ingests obs in runs random orders, each with a
// quarter of the events redelivered at random places, and fails unless
// each gives the book obs gives in order.
func everyOrderGivesTheSameBook(t *testing.T, obs []ledgerd.Observation, rng *rand.Rand, runs int) {
	t.Helper()
	everyOrderGives(t, obs, rng, runs, dump)
}

// everyOrderGives is everyOrderGivesTheSameBook with what is compared
// rendered by dump.
func everyOrderGives(t *testing.T, obs []ledgerd.Observation, rng *rand.Rand, runs int, dump func(*testing.T, *Ledger) string) {
	t.Helper()
	ref := openTest(t, Options{})
	ingestAll(t, ref, obs)
	want := dump(t, ref)
	for run := range runs {
		shuffled := append([]ledgerd.Observation(nil), obs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		// Redeliver a random quarter of the events at random places.
		for range len(obs) / 4 {
			dup := obs[rng.IntN(len(obs))]
			pos := rng.IntN(len(shuffled) + 1)
			shuffled = append(shuffled[:pos], append([]ledgerd.Observation{dup}, shuffled[pos:]...)...)
		}
		// The orders are drawn here, in turn; each is ingested into a
		// file of its own, independently of the others.
		t.Run(fmt.Sprintf("run %d", run), func(t *testing.T) {
			t.Parallel()
			l := openTest(t, Options{})
			ingestAll(t, l, shuffled)
			if got := dump(t, l); got != want {
				order := make([]string, len(shuffled))
				for i, o := range shuffled {
					order[i] = o.Event.Type
				}
				t.Fatalf("run %d: order %v gives a different book:\n%s\nwant:\n%s", run, order, got, want)
			}
			mustVerify(t, l)
		})
	}
}

func TestOutOfOrderExecutedBeforeCreatedPostsOnce(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	id, acct := "20000000-0000-4000-8000-0000000000aa", "aaaaaaaa-0000-4000-8000-000000000001"
	base := ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: ledgerd.KindLocalPaymentOut}
	executed, created := base, base
	executed.Status, executed.At = ledgerd.StatusExecuted, at(5)
	created.Status, created.At, created.Currency, created.Amounts = ledgerd.StatusCreated, at(1), "AED", amounts(700, 0)

	ingestAll(t, l, []ledgerd.Observation{s.tx(executed)})
	if n := count(t, l.Reader(), "entries"); n != 0 {
		t.Fatalf("executed without amounts booked %d entries, want 0 (it waits)", n)
	}
	var status string
	if err := l.Reader().QueryRow("SELECT status FROM fuse_transactions WHERE transaction_id = ?", id).Scan(&status); err != nil || status != "executed" {
		t.Fatalf("status %q (%v), want executed recorded while waiting", status, err)
	}
	ingestAll(t, l, []ledgerd.Observation{s.tx(created)})
	var state, pendingAt, finalAt string
	if err := l.Reader().QueryRow("SELECT state, pending_at, final_at FROM entries WHERE transaction_id = ?", id).Scan(&state, &pendingAt, &finalAt); err != nil {
		t.Fatal(err)
	}
	if state != "posted" || pendingAt != at(1).Format(timeLayout) || finalAt != at(5).Format(timeLayout) {
		t.Errorf("entry %s %s→%s; want posted %s→%s", state, pendingAt, finalAt, at(1).Format(timeLayout), at(5).Format(timeLayout))
	}
	if err := l.Reader().QueryRow("SELECT status FROM fuse_transactions WHERE transaction_id = ?", id).Scan(&status); err != nil || status != "executed" {
		t.Errorf("late created moved status back to %q", status)
	}
	if n := count(t, l.Reader(), "postings"); n != 2 {
		t.Errorf("postings: %d, want 2 (bank, payees; no zero fee line)", n)
	}
	mustVerify(t, l)
}

func TestDuplicateEventChangesNothing(t *testing.T) {
	l := openTest(t, Options{})
	obs := scenario()
	ingestAll(t, l, obs)
	before := dump(t, l)
	events := count(t, l.Reader(), "events")
	for _, o := range obs {
		r, err := l.Ingest(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Duplicate || r.Seq == 0 {
			t.Errorf("redelivered %s: %+v, want Duplicate with the original seq", o.Event.ID, r)
		}
	}
	if after := dump(t, l); after != before {
		t.Errorf("duplicates changed the book")
	}
	if n := count(t, l.Reader(), "events"); n != events {
		t.Errorf("events: %d after duplicates, want %d", n, events)
	}
}

// TestEventIDAgainWithAnotherBodyIsReportedAndChangesNothing: a stored
// event_id with another body is a duplicate that says OtherBody (the
// caller keeps the body as evidence); with the same body it does not. The
// book does not change either way, one observation at a time or in a
// page applied by bulk.go, and a quarantined body of a reused event_id is
// not replayed.
func TestEventIDAgainWithAnotherBodyIsReportedAndChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	obs := scenario()
	other := func(o ledgerd.Observation) ledgerd.Observation {
		o.Event.Raw = append(bytes.Clone(o.Event.Raw), ' ')
		return o
	}
	page := []ledgerd.Observation{other(obs[3]), obs[4], other(obs[5]), obs[6], obs[7]}
	want := []Result{{Seq: 4, Duplicate: true, OtherBody: true}, {Seq: 5, Duplicate: true},
		{Seq: 6, Duplicate: true, OtherBody: true}, {Seq: 7, Duplicate: true}, {Seq: 8, Duplicate: true}}
	for _, noBulk := range []bool{true, false} {
		l := openTest(t, Options{noBulk: noBulk})
		ingestAll(t, l, obs)
		before := fullDump(t, l)
		got, err := l.IngestAll(ctx, page, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("noBulk=%v: page results %+v, want %+v", noBulk, got, want)
		}
		for i, o := range page {
			r, err := l.Ingest(ctx, o)
			if err != nil || r != want[i] {
				t.Errorf("noBulk=%v: Ingest of page[%d]: %+v, %v; want %+v", noBulk, i, r, err, want[i])
			}
		}
		if after := fullDump(t, l); after != before {
			t.Errorf("noBulk=%v: a repeated event_id changed the file", noBulk)
		}

		id, err := l.Quarantine(ctx, Quarantined{Reason: "event_id_reused", Detail: "test", Raw: page[0].Event.Raw})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReplayQuarantined(ctx, id, page[0]); !errors.Is(err, ErrEventIDReused) {
			t.Errorf("noBulk=%v: replay of a reused event_id: %v, want ErrEventIDReused", noBulk, err)
		}
		if q, err := l.QuarantineGet(ctx, id); err != nil || q.State != "held" {
			t.Errorf("noBulk=%v: after the refused replay: %+v, %v; want held", noBulk, q, err)
		}
		if after := fullDump(t, l); after != before {
			t.Errorf("noBulk=%v: the refused replay changed the file", noBulk)
		}
	}
}

func TestTerminalConflictIsKeptAsEvidenceNotFlipped(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	id, acct := "20000000-0000-4000-8000-0000000000bb", "aaaaaaaa-0000-4000-8000-000000000001"
	o := ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: ledgerd.KindLocalPaymentOut,
		Status: ledgerd.StatusCreated, At: at(1), Currency: "AED", Amounts: amounts(900, 0)}
	executed, failed, other := o, o, o
	executed.Status, executed.At, executed.Amounts, executed.Currency = ledgerd.StatusExecuted, at(2), nil, ""
	failed.Status, failed.At, failed.Amounts, failed.Currency = ledgerd.StatusFailed, at(3), nil, ""
	other.Amounts = amounts(901, 0) // a second created that disagrees on the amount
	ingestAll(t, l, []ledgerd.Observation{s.tx(o), s.tx(executed), s.tx(failed), s.tx(other)})

	var state, status string
	if err := l.Reader().QueryRow(`SELECT e.state, t.status FROM entries e JOIN fuse_transactions t USING (transaction_id)
		WHERE transaction_id = ?`, id).Scan(&state, &status); err != nil {
		t.Fatal(err)
	}
	if state != "posted" || status != "executed" {
		t.Errorf("after executed then failed: entry %s, status %s; want posted, executed (no silent flip)", state, status)
	}
	rows, err := l.Reader().Query("SELECT field, kept, observed FROM observation_conflicts WHERE subject = ? ORDER BY field", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var f, k, ob string
		if err := rows.Scan(&f, &k, &ob); err != nil {
			t.Fatal(err)
		}
		got = append(got, f+":"+k+"→"+ob)
	}
	want := []string{"amounts:900/0/900→901/0/901", "status:executed→failed"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conflicts %v, want %v", got, want)
	}
	mustVerify(t, l)
}

// TestPaymentInAnotherCurrencyThanItsAccountIsHeldNotBooked: a USD
// payment on an AED account is not booked into bank:<acct> as a USD
// balance. The transaction is recorded (status and amounts), the
// contradiction is kept as evidence naming the event that brought it, no
// entry is written at that event or any later one, and the book stays
// balanced and verified.
func TestPaymentInAnotherCurrencyThanItsAccountIsHeldNotBooked(t *testing.T) {
	const acct = "aaaaaaaa-0000-4000-8000-000000000001"
	const id = "20000000-0000-4000-8000-0000000000dd"
	var s script
	o := ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: ledgerd.KindLocalPaymentOut,
		Status: ledgerd.StatusCreated, Currency: "USD", Amounts: amounts(100_00, 1_00), At: at(1)}
	created := s.tx(o)
	o.Status, o.Currency, o.Amounts, o.At = ledgerd.StatusExecuted, "", nil, at(2)
	executed := s.tx(o)
	obs := []ledgerd.Observation{s.account(acct, "AED"), created, executed}
	for _, noBulk := range []bool{true, false} {
		l := openTest(t, Options{noBulk: noBulk})
		if _, err := l.IngestAll(context.Background(), obs, nil); err != nil {
			t.Fatal(err)
		}
		if n := count(t, l.Reader(), "entries"); n != 0 {
			t.Errorf("noBulk=%v: %d entries, want none for a payment in another currency than its account", noBulk, n)
		}
		var n int
		if err := l.Reader().QueryRow(`SELECT count(*) FROM balances WHERE currency = 'USD'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("noBulk=%v: %d USD balances (%v), want none", noBulk, n, err)
		}
		var status, cur string
		if err := l.Reader().QueryRow(`SELECT status, currency FROM fuse_transactions WHERE transaction_id = ?`, id).Scan(&status, &cur); err != nil ||
			status != "executed" || cur != "USD" {
			t.Errorf("noBulk=%v: transaction %s %s (%v), want executed USD, recorded", noBulk, status, cur, err)
		}
		got := dumpQueries(t, l, []string{`SELECT c.subject, c.field, c.kept, c.observed, e.event_id
			FROM observation_conflicts c JOIN events e ON e.seq = c.event_seq`})
		want := fmt.Sprintf("%s %s AED USD %s\n--\n", id, FieldAccountCurrency, created.Event.ID)
		if got != want {
			t.Errorf("noBulk=%v: conflicts\n%s\nwant\n%s", noBulk, got, want)
		}
		mustVerify(t, l)
	}
}

func TestStatusNeverMovesBack(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	id := "20000000-0000-4000-8000-0000000000cc"
	o := ledgerd.TransactionObservation{TransactionID: id, AccountID: "aaaaaaaa-0000-4000-8000-000000000001",
		Kind: ledgerd.KindLocalPaymentOut, Currency: "AED", Amounts: amounts(100, 0)}
	for _, st := range []ledgerd.Status{ledgerd.StatusSubmitted, ledgerd.StatusCreated} {
		o.Status, o.At = st, at(len(st))
		ingestAll(t, l, []ledgerd.Observation{s.tx(o)})
	}
	var status string
	if err := l.Reader().QueryRow("SELECT status FROM fuse_transactions WHERE transaction_id = ?", id).Scan(&status); err != nil || status != "submitted" {
		t.Errorf("status %q after submitted then a late created; want submitted", status)
	}
}

func TestTransferWaitsForAccountCurrency(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	from := "dddddddd-0000-4000-8000-000000000004"
	// internal_transfer_created carries no currency and the account is new.
	o := ledgerd.TransactionObservation{TransactionID: "30000000-0000-4000-8000-0000000000dd", AccountID: from,
		Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusCreated, At: at(1), Amounts: amounts(500, 0)}
	ingestAll(t, l, []ledgerd.Observation{s.tx(o)})
	if n := count(t, l.Reader(), "entries"); n != 0 {
		t.Fatalf("booked %d entries without knowing the currency", n)
	}
	ingestAll(t, l, []ledgerd.Observation{s.account(from, "GHS")})
	bs, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := balanceMap(bs)["bank:"+from+" GHS"]; got != "0/-500/-500" {
		t.Errorf("bank balance after account_opened: %q, want 0/-500/-500", got)
	}
	mustVerify(t, l)
}

func TestBadObservationIsRefusedAndNothingIsWritten(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	acct := "aaaaaaaa-0000-4000-8000-000000000001"
	good := ledgerd.TransactionObservation{TransactionID: "20000000-0000-4000-8000-0000000000ee", AccountID: acct,
		Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusCreated, At: at(1), Currency: "AED", Amounts: amounts(100, 1)}
	cases := map[string]func(o *ledgerd.TransactionObservation){
		"with_fee is not instructed+fee": func(o *ledgerd.TransactionObservation) { o.Amounts.WithFee = 100 },
		"amount above MaxAmount": func(o *ledgerd.TransactionObservation) {
			o.Amounts = &ledgerd.TxAmounts{Instructed: ledgerd.MaxAmount + 1, WithFee: ledgerd.MaxAmount + 1}
		},
		"negative amount":  func(o *ledgerd.TransactionObservation) { o.Amounts = &ledgerd.TxAmounts{Instructed: -5, WithFee: -5} },
		"unknown currency": func(o *ledgerd.TransactionObservation) { o.Currency = "XYZ" },
		"unknown kind":     func(o *ledgerd.TransactionObservation) { o.Kind = "card_payment" },
		"unknown status":   func(o *ledgerd.TransactionObservation) { o.Status = "pending" },
		"no account":       func(o *ledgerd.TransactionObservation) { o.AccountID = "" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			o := good
			a := *good.Amounts
			o.Amounts = &a
			mutate(&o)
			_, err := l.Ingest(context.Background(), s.tx(o))
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("err = %v, want ErrRejected", err)
			}
			for _, table := range []string{"events", "fuse_transactions", "fuse_accounts", "entries", "postings", "balances"} {
				if n := count(t, l.Reader(), table); n != 0 {
					t.Errorf("%s has %d rows after a refused observation", table, n)
				}
			}
		})
	}
}

func TestUnbalancedPostingsAreRefusedBeforeSQL(t *testing.T) {
	err := checkBalanced([]Posting{{"bank:x", "AED", -100}, {"world:payees", "AED", 99}})
	if !errors.Is(err, ErrUnbalanced) || !errors.Is(err, ErrRejected) {
		t.Errorf("err = %v, want ErrUnbalanced and ErrRejected", err)
	}
	if err := checkBalanced([]Posting{{"a", "AED", -5}, {"b", "AED", 5}, {"c", "USD", 1}, {"d", "USD", -1}}); err != nil {
		t.Errorf("balanced postings refused: %v", err)
	}
	// A sum that would overflow is refused, not wrapped to a "balanced" zero.
	huge := ledgerd.Amount(1<<62 + 1<<61)
	if err := checkBalanced([]Posting{{"a", "AED", huge}, {"b", "AED", huge}, {"c", "AED", -huge}, {"d", "AED", -huge}}); !errors.Is(err, ledgerd.ErrOverflow) {
		t.Errorf("overflowing sum: err = %v, want ErrOverflow", err)
	}
}

func TestBalanceOverflowIsRefusedNotWrapped(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	acct := "aaaaaaaa-0000-4000-8000-000000000001"
	in := func(id string, a int64) ledgerd.Observation {
		return s.tx(ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: ledgerd.KindLocalPaymentIn,
			Status: ledgerd.StatusSettled, At: at(1), Currency: "AED", Amounts: amounts(a, 0)})
	}
	ingestAll(t, l, []ledgerd.Observation{in("10000000-0000-4000-8000-0000000000f1", 1)})
	// Bring the bank balance to the edge of int64, as if after a very long
	// history, then try to add one more unit.
	err := l.w.do(context.Background(), func(tx *wtx) error {
		_, err := tx.exec(`UPDATE balances SET posted = 9223372036854775807 - 10 WHERE ledger_account = ?`, BankAccount(acct))
		tx.w.cache.reset(tx.w.cache.lastHash) // an edit behind the writer's back: forget what it cached
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := count(t, l.Reader(), "entries")
	_, err = l.Ingest(context.Background(), in("10000000-0000-4000-8000-0000000000f2", 11))
	if !errors.Is(err, ErrRejected) || !errors.Is(err, ledgerd.ErrOverflow) {
		t.Fatalf("err = %v, want ErrRejected wrapping ErrOverflow", err)
	}
	if n := count(t, l.Reader(), "entries"); n != entries {
		t.Errorf("entries %d, want %d: a refused entry left rows", n, entries)
	}
	var posted int64
	if err := l.Reader().QueryRow(`SELECT posted FROM balances WHERE ledger_account = ?`, BankAccount(acct)).Scan(&posted); err != nil {
		t.Fatal(err)
	}
	if posted != 9223372036854775807-10 {
		t.Errorf("balance moved to %d", posted)
	}
}

// TestRefusedUnitsDoNotSinkTheirBatch sends concurrent observations, every
// fifth of them refused, so that refusals land inside shared group
// commits: the refused ones leave nothing, every other one is committed.
func TestRefusedUnitsDoNotSinkTheirBatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var batches, maxBatch int
	l := openTest(t, Options{OnBatch: func(n int) {
		mu.Lock()
		batches++
		maxBatch = max(maxBatch, n)
		mu.Unlock()
	}})
	var s script
	const n = 400
	obs := make([]ledgerd.Observation, n)
	for i := range obs {
		o := ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("a0000000-0000-4000-8000-%012d", i),
			AccountID: "aaaaaaaa-0000-4000-8000-000000000001", Kind: ledgerd.KindLocalPaymentOut,
			Status: ledgerd.StatusCreated, At: at(i), Currency: "AED", Amounts: amounts(int64(10+i), 1)}
		if i%5 == 0 {
			o.Amounts.WithFee++ // inconsistent: refused by the ledger
		}
		obs[i] = s.tx(o)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range obs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = l.Ingest(context.Background(), obs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%5 == 0 && !errors.Is(err, ErrRejected) {
			t.Errorf("observation %d: err %v, want ErrRejected", i, err)
		}
		if i%5 != 0 && err != nil {
			t.Errorf("observation %d: %v", i, err)
		}
	}
	if got := count(t, l.Reader(), "events"); got != n-n/5 {
		t.Errorf("events %d, want %d", got, n-n/5)
	}
	if got := count(t, l.Reader(), "entries"); got != n-n/5 {
		t.Errorf("entries %d, want %d", got, n-n/5)
	}
	mustVerify(t, l)
	t.Logf("%d accepted in %d commits (largest %d)", n-n/5, batches, maxBatch)
}

// TestBackfilledTransactionIsPendingFromItsCreation: an API object carries
// both its creation time and its final status; the entry is pending from
// the first and posted from the second.
func TestBackfilledTransactionIsPendingFromItsCreation(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	o := ledgerd.TransactionObservation{TransactionID: "b0000000-0000-4000-8000-000000000001",
		AccountID: "aaaaaaaa-0000-4000-8000-000000000001", Kind: ledgerd.KindLocalPaymentOut,
		Status: ledgerd.StatusExecuted, At: at(15), CreatedAt: at(10), Currency: "AED", Amounts: amounts(500, 0)}
	ingestAll(t, l, []ledgerd.Observation{s.tx(o)})
	var pendingAt, finalAt string
	if err := l.Reader().QueryRow(`SELECT pending_at, final_at FROM entries`).Scan(&pendingAt, &finalAt); err != nil {
		t.Fatal(err)
	}
	if pendingAt != at(10).Format(timeLayout) || finalAt != at(15).Format(timeLayout) {
		t.Errorf("entry pending %s → final %s; want %s → %s", pendingAt, finalAt, at(10).Format(timeLayout), at(15).Format(timeLayout))
	}
	bs, _ := l.BalancesAsOf(context.Background(), at(12))
	if got := balanceMap(bs)["bank:aaaaaaaa-0000-4000-8000-000000000001 AED"]; got != "0/-500/-500" {
		t.Errorf("as of minute 12: %q, want the payment in flight", got)
	}
}
