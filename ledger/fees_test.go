package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// The accounts of the fee and return scenarios: a payment account P and
// the organisation's primary account M, both AED.
const (
	acctP = "aaaaaaaa-0000-4000-8000-00000000000p"
	acctM = "bbbbbbbb-0000-4000-8000-00000000000m"
)

// balancesOf is balanceMap of l's balances.
func balancesOf(t *testing.T, l *Ledger) map[string]string {
	t.Helper()
	bs, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return balanceMap(bs)
}

// conflictsOf lists l's observation conflicts as "subject field kept→observed".
func conflictsOf(t *testing.T, l *Ledger) []string {
	t.Helper()
	rows, err := l.Reader().Query("SELECT subject, field, kept, observed FROM observation_conflicts ORDER BY subject, field, observed")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s, f, k, o string
		if err := rows.Scan(&s, &f, &k, &o); err != nil {
			t.Fatal(err)
		}
		got = append(got, s+" "+f+" "+k+"→"+o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// entryState is the state of txID's entry, "none" without one.
func entryState(t *testing.T, l *Ledger, txID string) string {
	t.Helper()
	var state string
	if err := l.Reader().QueryRow(`SELECT entry_state FROM v_transactions WHERE transaction_id = ?`, txID).Scan(&state); err != nil {
		t.Fatalf("entry of %s: %v", txID, err)
	}
	return state
}

// feeDebit is a fee debit of fee on the primary account for target, as
// the mapping of Fuse's fee_debit gives it: settled (it has no state).
func feeDebit(id, target string, fee int64, minute int) ledgerd.TransactionObservation {
	return ledgerd.TransactionObservation{TransactionID: id, AccountID: acctM, Kind: ledgerd.KindFeeDebit,
		Status: ledgerd.StatusSettled, Currency: "AED", Amounts: amounts(fee, 0), FeeTargetID: target, At: at(minute)}
}

// payment is a payment of instructed with fee on P, created.
func payment(id string, kind ledgerd.Kind, instructed, fee int64, source string, minute int) ledgerd.TransactionObservation {
	return ledgerd.TransactionObservation{TransactionID: id, AccountID: acctP, Kind: kind,
		Status: ledgerd.StatusCreated, Currency: "AED", Amounts: amounts(instructed, fee), FeeSource: source, At: at(minute)}
}

// returned is a returned payment of amount on P, created, returning of.
func returned(id string, kind ledgerd.Kind, amount int64, of string, minute int) ledgerd.TransactionObservation {
	return ledgerd.TransactionObservation{TransactionID: id, AccountID: acctP, Kind: kind, Status: ledgerd.StatusCreated,
		Currency: "AED", Amounts: amounts(amount, 0), ReturnedID: of, At: at(minute)}
}

// moved is o again, with status st at minute and nothing else.
func moved(o ledgerd.TransactionObservation, st ledgerd.Status, minute int) ledgerd.TransactionObservation {
	o.Status, o.At, o.Amounts, o.Currency, o.FeeSource, o.FeeTargetID, o.ReturnedID = st, at(minute), nil, "", "", "", ""
	return o
}

func TestFeeDebitPostsAtOnceFromTheBankToFees(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	ingestAll(t, l, []ledgerd.Observation{s.account(acctM, "AED"),
		s.tx(feeDebit("50000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-00000000ffff", 250, 1))})
	if st := entryState(t, l, "50000000-0000-4000-8000-000000000001"); st != "posted" {
		t.Errorf("fee debit entry %s, want posted at once", st)
	}
	want := map[string]string{"bank:" + acctM + " AED": "-250/0/-250", "expense:fees AED": "250/0/250"}
	if got := balancesOf(t, l); !reflect.DeepEqual(got, want) {
		t.Errorf("balances\n got %v\nwant %v", got, want)
	}
	var target string
	if err := l.Reader().QueryRow(`SELECT fee_target_id FROM v_transactions WHERE kind = 'fee_debit'`).Scan(&target); err != nil ||
		target != "20000000-0000-4000-8000-00000000ffff" {
		t.Errorf("fee_target_id %q (%v)", target, err)
	}
	if c := conflictsOf(t, l); c != nil {
		t.Errorf("conflicts %v for a fee debit whose payment is not known", c)
	}
	mustVerify(t, l)
}

// TestReturnedPaymentsArePendingUntilTheySucceed: money of a payment we
// sent comes back (in: Dr bank, Cr world:payees), money we received goes
// back (out: Cr bank, Dr world:payers), each pending until Fuse says it
// succeeded, voided if it fails, and linked by returned_id to the payment
// it returns.
func TestReturnedPaymentsArePendingUntilTheySucceed(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	const sent, received = "20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002"
	const back, sentBack, failedBack = "60000000-0000-4000-8000-000000000001", "60000000-0000-4000-8000-000000000002", "60000000-0000-4000-8000-000000000003"
	in := payment(received, ledgerd.KindLocalPaymentIn, 50000, 0, "", 1)
	in.Status = ledgerd.StatusSettled
	out := payment(sent, ledgerd.KindLocalPaymentOut, 20000, 100, ledgerd.FeeSourceIncluded, 2)
	retIn := returned(back, ledgerd.KindReturnIn, 20000, sent, 10)
	retOut := returned(sentBack, ledgerd.KindReturnOut, 50000, received, 11)
	failing := returned(failedBack, ledgerd.KindReturnOut, 700, received, 11)
	ingestAll(t, l, []ledgerd.Observation{s.account(acctP, "AED"), s.tx(in), s.tx(out), s.tx(moved(out, ledgerd.StatusExecuted, 3)),
		s.tx(retIn), s.tx(retOut), s.tx(failing)})
	for _, id := range []string{back, sentBack, failedBack} {
		if st := entryState(t, l, id); st != "pending" {
			t.Errorf("return %s entry %s, want pending until it succeeds", id, st)
		}
	}
	bank := "bank:" + acctP + " AED"
	// 50000 in − 20100 out = 29900 posted; +20000 coming back, −50700 going back.
	if got := balancesOf(t, l)[bank]; got != "29900/-30700/-20800" {
		t.Errorf("bank while the returns are pending: %s, want 29900/-30700/-20800", got)
	}

	ingestAll(t, l, []ledgerd.Observation{s.tx(moved(retIn, ledgerd.StatusSettled, 20)),
		s.tx(moved(retOut, ledgerd.StatusExecuted, 21)), s.tx(moved(failing, ledgerd.StatusFailed, 22)),
		// A late created moves nothing back.
		s.tx(moved(retIn, ledgerd.StatusCreated, 23))})
	for id, want := range map[string]string{back: "posted", sentBack: "posted", failedBack: "voided"} {
		if st := entryState(t, l, id); st != want {
			t.Errorf("return %s entry %s, want %s", id, st, want)
		}
	}
	// What went out and came back nets to nothing but the fee.
	want := map[string]string{bank: "-100/0/-100", "world:payees AED": "0/0/0", "world:payers AED": "0/0/0",
		"expense:fees AED": "100/0/100"}
	if got := balancesOf(t, l); !reflect.DeepEqual(got, want) {
		t.Errorf("balances\n got %v\nwant %v", got, want)
	}
	rows := dumpQueries(t, l, []string{`SELECT transaction_id, kind, status, returned_id FROM v_transactions
		WHERE returned_id IS NOT NULL ORDER BY 1`})
	wantRows := back + " local_return_payment_in settled " + sent + "\n" +
		sentBack + " local_return_payment_out executed " + received + "\n" +
		failedBack + " local_return_payment_out failed " + received + "\n--\n"
	if rows != wantRows {
		t.Errorf("returns\n%s\nwant\n%s", rows, wantRows)
	}
	if c := conflictsOf(t, l); c != nil {
		t.Errorf("conflicts %v", c)
	}
	mustVerify(t, l)
}

// TestBookedTransferIsPendingUntilSettled: an internal transfer Fuse has
// booked is pending like a submitted payment; a late created or a
// duplicate booked does not move it back; settled posts it.
func TestBookedTransferIsPendingUntilSettled(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	const id = "30000000-0000-4000-8000-000000000001"
	o := ledgerd.TransactionObservation{TransactionID: id, AccountID: acctP, CounterpartAccountID: acctM,
		Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusCreated, Amounts: amounts(3000, 0), At: at(1)}
	booked := moved(o, ledgerd.StatusBooked, 2)
	ingestAll(t, l, []ledgerd.Observation{s.account(acctP, "AED"), s.account(acctM, "AED"), s.tx(booked), s.tx(o)})
	status := func() string {
		var st string
		if err := l.Reader().QueryRow(`SELECT status FROM fuse_transactions WHERE transaction_id = ?`, id).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st, e := status(), entryState(t, l, id); st != "booked" || e != "pending" {
		t.Errorf("booked, then a late created: status %s, entry %s; want booked, pending", st, e)
	}
	if got := balancesOf(t, l)["bank:"+acctP+" AED"]; got != "0/-3000/-3000" {
		t.Errorf("bank while booked: %s, want 0/-3000/-3000", got)
	}
	mustVerify(t, l)
	ingestAll(t, l, []ledgerd.Observation{s.tx(moved(o, ledgerd.StatusSettled, 3)), s.tx(moved(o, ledgerd.StatusBooked, 4))})
	if st, e := status(), entryState(t, l, id); st != "settled" || e != "posted" {
		t.Errorf("settled, then booked again: status %s, entry %s; want settled, posted", st, e)
	}
	if got := balancesOf(t, l)["bank:"+acctP+" AED"]; got != "-3000/0/-3000" {
		t.Errorf("bank once settled: %s, want -3000/0/-3000", got)
	}
	mustVerify(t, l)
}

// TestPrimaryAccountFeeIsBookedOnceByItsFeeDebit: a payment whose fee
// Fuse takes from the primary account books no fee in its own entry (out:
// Cr bank instructed, Dr world:payees instructed; in: Dr bank instructed,
// Cr world:payers instructed); the fee debit books it, on the primary
// account, whichever arrives first; nothing is a conflict.
func TestPrimaryAccountFeeIsBookedOnceByItsFeeDebit(t *testing.T) {
	const out, in = "20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002"
	const feeOut, feeIn = "50000000-0000-4000-8000-000000000001", "50000000-0000-4000-8000-000000000002"
	var s script
	pOut := payment(out, ledgerd.KindLocalPaymentOut, 20000, 100, ledgerd.FeeSourcePrimary, 1)
	pIn := payment(in, ledgerd.KindLocalPaymentIn, 9000, 40, ledgerd.FeeSourcePrimary, 2)
	pIn.Status = ledgerd.StatusSettled
	obs := []ledgerd.Observation{s.account(acctP, "AED"), s.account(acctM, "AED"),
		s.tx(pOut), s.tx(moved(pOut, ledgerd.StatusExecuted, 5)), s.tx(feeDebit(feeOut, out, 100, 6)),
		// The fee debit of the inbound payment first.
		s.tx(feeDebit(feeIn, in, 40, 3)), s.tx(pIn)}
	for _, noBulk := range []bool{true, false} {
		l := openTest(t, Options{noBulk: noBulk})
		if _, err := l.IngestAll(context.Background(), obs, nil); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"bank:" + acctP + " AED": "-11000/0/-11000", // −20000 + 9000
			"bank:" + acctM + " AED": "-140/0/-140",
			"world:payees AED":       "20000/0/20000",
			"world:payers AED":       "-9000/0/-9000",
			"expense:fees AED":       "140/0/140",
		}
		if got := balancesOf(t, l); !reflect.DeepEqual(got, want) {
			t.Errorf("noBulk=%v: balances\n got %v\nwant %v", noBulk, got, want)
		}
		if c := conflictsOf(t, l); c != nil {
			t.Errorf("noBulk=%v: conflicts %v, want none", noBulk, c)
		}
		mustVerify(t, l)
	}
}

// TestAFeeDebitTakesTheFeeOutOfItsPaymentInEitherOrder: a payment whose
// fee source nobody said (webhooks do not) is booked with its fee inside;
// a fee debit for it then gives the fee back to the payment's account, so
// the fee is booked once; the fee debit first, the payment is booked
// without its fee. A payment Fuse said included its fee, with a fee debit
// all the same, keeps both (the money did leave twice, as far as the
// ledger can tell) and the contradiction as evidence. Once the payments
// have executed, every order, bulk or not, gives the same balances and
// conflicts; a later observation saying primary_account agrees.
func TestAFeeDebitTakesTheFeeOutOfItsPaymentInEitherOrder(t *testing.T) {
	t.Parallel()
	const said, unsaid = "20000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000002"
	var s script
	pSaid := payment(said, ledgerd.KindLocalPaymentOut, 20000, 100, ledgerd.FeeSourceIncluded, 1)
	pUnsaid := payment(unsaid, ledgerd.KindLocalPaymentOut, 10000, 50, "", 2)
	later := pUnsaid
	later.FeeSource, later.At = ledgerd.FeeSourcePrimary, at(9)
	d1 := feeDebit("50000000-0000-4000-8000-000000000001", said, 100, 5)
	d2 := feeDebit("50000000-0000-4000-8000-000000000002", unsaid, 50, 6)
	done := []ledgerd.Observation{s.tx(moved(pSaid, ledgerd.StatusExecuted, 10)), s.tx(moved(pUnsaid, ledgerd.StatusExecuted, 10))}
	want := map[string]string{
		"bank:" + acctP + " AED": "-30100/0/-30100",
		"bank:" + acctM + " AED": "-150/0/-150",
		"world:payees AED":       "30000/0/30000",
		"expense:fees AED":       "250/0/250",
	}
	wantC := []string{said + " fee_source included_in_payment→primary_account"}
	for i, order := range [][]ledgerd.Observation{
		{s.tx(pSaid), s.tx(pUnsaid), s.tx(d1), s.tx(d2), s.tx(later)},
		{s.tx(d1), s.tx(d2), s.tx(pSaid), s.tx(pUnsaid), s.tx(later)},
		{s.tx(pSaid), s.tx(d2), s.tx(pUnsaid), s.tx(later), s.tx(d1)},
		{s.tx(pUnsaid), s.tx(later), s.tx(pSaid), s.tx(d1), s.tx(d2)},
	} {
		for _, noBulk := range []bool{true, false} {
			l := openTest(t, Options{noBulk: noBulk})
			obs := append([]ledgerd.Observation{s.account(acctP, "AED"), s.account(acctM, "AED")}, order...)
			if _, err := l.IngestAll(context.Background(), append(obs, done...), nil); err != nil {
				t.Fatal(err)
			}
			if got := balancesOf(t, l); !reflect.DeepEqual(got, want) {
				t.Errorf("order %d, noBulk=%v: balances\n got %v\nwant %v", i, noBulk, got, want)
			}
			if got := conflictsOf(t, l); !reflect.DeepEqual(got, wantC) {
				t.Errorf("order %d, noBulk=%v: conflicts %v, want %v", i, noBulk, got, wantC)
			}
			for id, source := range map[string]string{said: ledgerd.FeeSourceIncluded, unsaid: ledgerd.FeeSourcePrimary} {
				var got string
				if err := l.Reader().QueryRow(`SELECT fee_source FROM v_transactions WHERE transaction_id = ?`, id).Scan(&got); err != nil ||
					got != source {
					t.Errorf("order %d, noBulk=%v: fee_source of %s: %q (%v), want %s", i, noBulk, id, got, err, source)
				}
			}
			mustVerify(t, l)
		}
	}
}

// TestLinksAreKeptAsFirstSaid: returned_id and fee_target_id, like every
// other field, keep their first value; another is evidence.
func TestLinksAreKeptAsFirstSaid(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	fd := feeDebit("50000000-0000-4000-8000-000000000001", "target-1", 10, 1)
	ret := returned("60000000-0000-4000-8000-000000000001", ledgerd.KindReturnIn, 10, "paid-1", 1)
	fd2, ret2 := fd, ret
	fd2.FeeTargetID, ret2.ReturnedID = "target-2", "paid-2"
	ingestAll(t, l, []ledgerd.Observation{s.tx(fd), s.tx(ret), s.tx(fd2), s.tx(ret2)})
	want := []string{fd.TransactionID + " fee_target_id target-1→target-2", ret.TransactionID + " returned_id paid-1→paid-2"}
	if got := conflictsOf(t, l); !reflect.DeepEqual(got, want) {
		t.Errorf("conflicts %v, want %v", got, want)
	}
	mustVerify(t, l)
}

// TestFeeDebitsAndReturnsCarryOneAmount: a fee, or a total other than the
// amount, on a fee debit or a return is refused (quarantined upstream),
// as is an unknown fee_source.
func TestFeeDebitsAndReturnsCarryOneAmount(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	withFee := feeDebit("50000000-0000-4000-8000-000000000001", "t", 10, 1)
	withFee.Amounts = amounts(10, 1)
	ret := returned("60000000-0000-4000-8000-000000000001", ledgerd.KindReturnOut, 10, "paid-1", 1)
	ret.Amounts.WithFee = 11
	odd := payment("20000000-0000-4000-8000-000000000001", ledgerd.KindLocalPaymentOut, 10, 1, "from_the_moon", 1)
	for _, o := range []ledgerd.TransactionObservation{withFee, ret, odd} {
		if _, err := l.Ingest(context.Background(), s.tx(o)); !errors.Is(err, ErrRejected) {
			t.Errorf("%s %s: %v, want ErrRejected", o.Kind, o.TransactionID, err)
		}
	}
	if n := count(t, l.Reader(), "events"); n != 0 {
		t.Errorf("%d events written by refused observations", n)
	}
}

// feesAndReturns is a small month with every new kind and status: fee
// debits for payments whose fee is taken apart and for one whose fee was
// included, returns both ways, a booked transfer.
func feesAndReturns() []ledgerd.Observation {
	var s script
	pOut := payment("20000000-0000-4000-8000-000000000001", ledgerd.KindLocalPaymentOut, 20000, 100, ledgerd.FeeSourcePrimary, 1)
	pInc := payment("20000000-0000-4000-8000-000000000002", ledgerd.KindLocalPaymentOut, 7000, 30, "", 2)
	pIn := payment("20000000-0000-4000-8000-000000000003", ledgerd.KindLocalPaymentIn, 90000, 0, "", 3)
	pIn.Status = ledgerd.StatusSettled
	retIn := returned("60000000-0000-4000-8000-000000000001", ledgerd.KindReturnIn, 20000, pOut.TransactionID, 20)
	retOut := returned("60000000-0000-4000-8000-000000000002", ledgerd.KindReturnOut, 1000, pIn.TransactionID, 21)
	tr := ledgerd.TransactionObservation{TransactionID: "30000000-0000-4000-8000-000000000001", AccountID: acctP,
		CounterpartAccountID: acctM, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusCreated,
		Amounts: amounts(500, 0), At: at(30)}
	return []ledgerd.Observation{s.account(acctP, "AED"), s.account(acctM, "AED"),
		s.tx(pOut), s.tx(moved(pOut, ledgerd.StatusExecuted, 5)), s.tx(feeDebit("50000000-0000-4000-8000-000000000001", pOut.TransactionID, 100, 6)),
		s.tx(pInc), s.tx(moved(pInc, ledgerd.StatusExecuted, 7)), s.tx(feeDebit("50000000-0000-4000-8000-000000000002", pInc.TransactionID, 30, 8)),
		s.tx(pIn), s.tx(retIn), s.tx(moved(retIn, ledgerd.StatusSettled, 25)), s.tx(retOut),
		s.tx(tr), s.tx(moved(tr, ledgerd.StatusBooked, 31)), s.tx(moved(tr, ledgerd.StatusSettled, 32))}
}

// TestEveryOrderGivesTheSameBookWithFeesAndReturns is
// TestEveryOrderGivesTheSameBook over the new kinds: whatever the order of
// arrival, and with repeats, the book (balances, entries, fee_source, links
// and conflicts) ends the same. Only the lines of fee debits and their
// payments differ (dumpOrderFree): a fee debit heard after the payment
// whose fee was booked inside moves the fee in lines of its own, one heard
// before leaves the fee out of the payment's (fees.go); the balances are
// the same either way.
func TestEveryOrderGivesTheSameBookWithFeesAndReturns(t *testing.T) {
	t.Parallel()
	everyOrderGives(t, feesAndReturns(), rand.New(rand.NewPCG(16, 7)), 12, dumpOrderFree)
}

// TestBankAmountIsWhatTheEntryPostsOnTheBank: the reconciler's view of
// what an entry does to its bank account (BankAmount) is what plan books
// there, for every kind and fee source.
func TestBankAmountIsWhatTheEntryPostsOnTheBank(t *testing.T) {
	for _, kind := range ledgerd.Kinds {
		for _, source := range []string{"", ledgerd.FeeSourceIncluded, ledgerd.FeeSourcePrimary} {
			a := *amounts(10000, 0)
			if kind == ledgerd.KindLocalPaymentOut || kind == ledgerd.KindLocalPaymentIn {
				a = *amounts(10000, 75)
			}
			in := entryInput{Kind: kind, AccountID: "x", Currency: "AED", Amounts: a, FeeSource: source,
				CounterpartCurrency: "USD", CounterpartAmount: amt(2723)}
			ps, err := plan(in)
			if err != nil {
				t.Fatalf("%s %q: %v", kind, source, err)
			}
			var onBank ledgerd.Amount
			for _, p := range ps {
				if p.Account == BankAccount("x") {
					onBank += p.Amount
				}
			}
			got, err := BankAmount(kind, source, a)
			if err != nil || got != onBank {
				t.Errorf("%s %q: BankAmount %d (%v), plan posts %d on the bank", kind, source, got, err, onBank)
			}
		}
	}
	if _, err := BankAmount("fee_credit", "", *amounts(1, 0)); !errors.Is(err, ErrRejected) {
		t.Errorf("unknown kind: %v, want ErrRejected", err)
	}
}

// TestAPaymentFailedAfterItsFeeDebitIsEvidence: Fuse takes a fee debit
// when a payment executes; a payment that fails after a fee debit moved
// its fee leaves those lines (postings never change) and is kept as
// evidence for the reconciler.
func TestAPaymentFailedAfterItsFeeDebitIsEvidence(t *testing.T) {
	const id = "20000000-0000-4000-8000-000000000001"
	var s script
	l := openTest(t, Options{})
	p := payment(id, ledgerd.KindLocalPaymentOut, 10000, 50, "", 1)
	failed := moved(p, ledgerd.StatusFailed, 7)
	ingestAll(t, l, []ledgerd.Observation{s.account(acctP, "AED"), s.account(acctM, "AED"), s.tx(p),
		s.tx(feeDebit("50000000-0000-4000-8000-000000000001", id, 50, 5)), s.tx(failed)})
	want := []string{id + " fee_source primary_account→failed after its fee debit"}
	if got := conflictsOf(t, l); !reflect.DeepEqual(got, want) {
		t.Errorf("conflicts %v, want %v", got, want)
	}
	mustVerify(t, l)
}
