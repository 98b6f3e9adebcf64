package webhook_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	syncer "github.com/ledgerd/ledgerd/sync"
	"github.com/ledgerd/ledgerd/webhook"
)

// The returned payments and fee debits end to end: the sandbox sends its
// webhooks to the real listener in front of a ledger file, and the
// backfill reads the same sandbox into it; either way the book ends equal
// to the sandbox's truth.

// truthRow is what the ledger keeps of a Fuse transaction, in the
// sandbox's terms; ledgerRows reads the same from the ledger.
type truthRow struct {
	Kind, Account, Status, Entry string
	Instructed, Fee, WithFee     int64
	ReturnedID, FeeTargetID      string
}

func ledgerRows(t *testing.T, l *ledger.Ledger) map[string]truthRow {
	t.Helper()
	rows, err := l.Reader().Query(`SELECT transaction_id, kind, account_id, status, entry_state,
		COALESCE(instructed_amount, -1), COALESCE(fee_amount, -1), COALESCE(amount_with_fee, -1),
		COALESCE(returned_id, ''), COALESCE(fee_target_id, '') FROM v_transactions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]truthRow{}
	for rows.Next() {
		var id string
		var r truthRow
		if err := rows.Scan(&id, &r.Kind, &r.Account, &r.Status, &r.Entry, &r.Instructed, &r.Fee, &r.WithFee,
			&r.ReturnedID, &r.FeeTargetID); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// differences lists how the ledger differs from the truth: each
// transaction, each account's posted balance against Fuse's current one
// (every leg is final, so nothing is pending), and any observation
// conflict. Empty means equal.
func differences(t *testing.T, l *ledger.Ledger, truth sandbox.Truth) []string {
	t.Helper()
	var diffs []string
	got := ledgerRows(t, l)
	for _, x := range truth.Transactions {
		entry := map[ledgerd.Status]string{ledgerd.StatusExecuted: "posted", ledgerd.StatusSettled: "posted",
			ledgerd.StatusFailed: "voided"}[x.Status]
		want := truthRow{string(x.Kind), x.AccountID, string(x.Status), entry, x.InstructedAmount, x.FeeAmount,
			x.AmountWithFee, x.ReturnedID, x.FeeTargetID}
		if g := got[x.TransactionID]; g != want {
			diffs = append(diffs, fmt.Sprintf("transaction %s:\n  ledger %+v\n  fuse   %+v", x.TransactionID, g, want))
		}
		delete(got, x.TransactionID)
	}
	for id := range got {
		diffs = append(diffs, "transaction "+id+": in the ledger, not at Fuse")
	}
	bals, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bank := map[string]ledger.Balance{}
	for _, b := range bals {
		bank[b.LedgerAccount] = b
	}
	for _, a := range truth.Accounts {
		b := bank["bank:"+a.AccountID]
		if int64(b.Posted) != a.Balance.Current || b.Pending != 0 {
			diffs = append(diffs, fmt.Sprintf("account %s (%s): ledger posted %d pending %d, Fuse current %d",
				a.AccountID, a.AccountType, b.Posted, b.Pending, a.Balance.Current))
		}
	}
	var conflicts []string
	rows, err := l.Reader().Query(`SELECT subject || ' ' || field || ': ' || kept || ' -> ' || observed FROM observation_conflicts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		conflicts = append(conflicts, "conflict "+c)
	}
	return append(diffs, conflicts...)
}

// history is a sandbox delivering to a real listener in front of a new
// ledger file, with a month of history on two accounts of one customer
// (payments, transfers between them, some failed), two of its payments
// returned today, and every webhook delivered. With primary, the accounts
// are a primary and a virtual one, whose payments' fees the primary
// account pays by fee debits; without, two payment accounts, whose
// payments carry their fees.
func history(t *testing.T, primary bool) (*sandbox.Sandbox, *httptest.Server, *ledger.Ledger) {
	t.Helper()
	ls := startListener(t, "", webhook.Options{})
	sb := sandbox.New(sandbox.Options{Seed: 1616, WebhookURL: ls.url, FeesFromPrimary: primary})
	t.Cleanup(sb.Close)
	first, second := sandbox.AccountSpec{Name: "Operating", Balance: 5_000_000_00}, sandbox.AccountSpec{Name: "Suppliers", Balance: 5_000_000_00}
	if primary {
		first.Type, second.Type = "primary", "virtual"
	}
	a, err := sb.OpenAccount(first)
	if err != nil {
		t.Fatal(err)
	}
	second.CustomerID = a.CustomerID
	b, err := sb.OpenAccount(second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Generate(sandbox.GenerateOptions{AccountIDs: []string{b.AccountID, a.AccountID},
		Transactions: 60, FailureRate: 0.1, Webhooks: true}); err != nil {
		t.Fatal(err)
	}
	var returned, fees int
	for _, x := range sb.Truth().Transactions {
		switch {
		case x.Kind == ledgerd.KindFeeDebit:
			fees++
		case x.Kind == ledgerd.KindLocalPaymentOut && x.Status == ledgerd.StatusExecuted && returned < 2:
			if _, err := sb.ReturnPayment(x.TransactionID, ""); err != nil {
				t.Fatal(err)
			}
			returned++
		}
	}
	if returned != 2 || primary != (fees > 0) {
		t.Fatalf("set-up: %d payments returned, %d fee debits", returned, fees)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv, ls.l
}

// backfill reads every account of the sandbox at srv into l.
func backfill(t *testing.T, srv *httptest.Server, l *ledger.Ledger) {
	t.Helper()
	c, err := fuse.New(fuse.Config{BaseURL: srv.URL + "/v1", AuthURL: srv.URL + sandbox.TokenPath,
		ClientID: "sandbox", ClientSecret: "sandbox", RateLimit: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	s, err := syncer.New(syncer.Options{Ledger: l, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), syncer.RunOptions{Full: true}); err != nil {
		t.Fatal(err)
	}
}

// TestReturnsThroughWebhooksEqualTheTruth: the sandbox's webhooks alone
// (outbound_local_payment_returned for each return) give the book Fuse
// has; a backfill afterwards changes nothing.
func TestReturnsThroughWebhooksEqualTheTruth(t *testing.T) {
	t.Parallel()
	sb, srv, l := history(t, false)
	if d := differences(t, l, sb.Truth()); len(d) > 0 {
		t.Errorf("after the webhooks, the ledger differs from Fuse:\n%s", strings.Join(d, "\n"))
	}
	backfill(t, srv, l)
	if d := differences(t, l, sb.Truth()); len(d) > 0 {
		t.Errorf("after a backfill, the ledger differs from Fuse:\n%s", strings.Join(d, "\n"))
	}
}

// TestReturnsAndFeeDebitsThroughTheBackfillEqualTheTruth: a ledger that
// heard no webhook reads the book from the API: payments whose fee_source
// is primary_account book no fee, the fee debits book it on the primary
// account, the returns come back linked to their payments.
func TestReturnsAndFeeDebitsThroughTheBackfillEqualTheTruth(t *testing.T) {
	t.Parallel()
	sb, srv, _ := history(t, true)
	l := openLedger(t)
	backfill(t, srv, l)
	if d := differences(t, l, sb.Truth()); len(d) > 0 {
		t.Errorf("after a backfill, the ledger differs from Fuse:\n%s", strings.Join(d, "\n"))
	}
}

// TestAFeeDebitHeardAfterItsPaymentMovesItsFee: a payment's webhooks
// never say its fee_source, so the ledger books its fee inside when it
// hears outbound_local_payment_created (ledger/fees.go); the fee_debited
// that follows its execution gives the fee back to the payment's account
// and takes it from the primary account, as Fuse did. The ledger equals
// the truth through the webhooks alone, and again after a backfill.
func TestAFeeDebitHeardAfterItsPaymentMovesItsFee(t *testing.T) {
	t.Parallel()
	sb, srv, l := history(t, true)
	truth := sb.Truth()
	debits := 0
	for _, x := range truth.Transactions {
		if x.Kind == ledgerd.KindFeeDebit {
			debits++
		}
	}
	if debits == 0 {
		t.Fatal("the history has no fee debit")
	}
	for i, when := range []string{"after the webhooks", "after a backfill"} {
		if i > 0 {
			backfill(t, srv, l)
		}
		if got := differences(t, l, truth); len(got) > 0 {
			t.Errorf("%s (%d fee debits), the ledger differs from Fuse:\n%s", when, debits, strings.Join(got, "\n"))
		}
	}
}

// TestOnboardingEventsAreStoredWithNothingBooked: Fuse's onboarding events
// are acknowledged once stored, in the hash-chained events table, as
// events that change nothing in the book.
func TestOnboardingEventsAreStoredWithNothingBooked(t *testing.T) {
	ls := startListener(t, "", webhook.Options{})
	for _, typ := range []string{"onboarding_completed", "onboarding_failed"} {
		if code, body := post(t, ls.url, seedBody(t, "model", typ)); code != 200 || body != "{\"received\":true}\n" {
			t.Errorf("%s: %d %s", typ, code, body)
		}
	}
	var events, handled int
	if err := ls.l.Reader().QueryRow(`SELECT count(*), COALESCE(sum(handled), 0) FROM events
		WHERE type IN ('onboarding_completed', 'onboarding_failed')`).Scan(&events, &handled); err != nil {
		t.Fatal(err)
	}
	if events != 2 || handled != 0 {
		t.Errorf("%d onboarding events stored, %d of them changing the book; want 2 and 0", events, handled)
	}
	for _, table := range []string{"fuse_transactions", "entries", "quarantine"} {
		if n := rows(t, ls.l, table); n != 0 {
			t.Errorf("%s has %d rows, want none", table, n)
		}
	}
}
