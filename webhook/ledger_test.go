package webhook_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/webhook"
)

// seedOrder is the order of the examples in Fuse's webhook reference.
var seedOrder = []string{
	"account_opened", "account_updated",
	"outbound_local_payment_created", "outbound_local_payment_submitted",
	"outbound_local_payment_executed", "outbound_local_payment_failed",
	"inbound_local_payment_settled",
	"internal_transfer_created", "inbound_internal_transfer_settled",
	"internal_transfer_settled", "internal_transfer_failed",
	"outbound_exchange_transfer_created", "outbound_exchange_transfer_executed",
	"inbound_exchange_transfer_settled", "outbound_exchange_transfer_failed",
}

// seedObservations decodes every seed example; the two that are not valid
// JSON are taken from their corrected copies (the listener quarantines the
// originals: see the listener's tests).
func seedObservations(t *testing.T) []ledgerd.Observation {
	t.Helper()
	var obs []ledgerd.Observation
	for i, typ := range seedOrder {
		path := filepath.Join("testdata", "seed-fixed", typ+".json")
		if _, err := os.Stat(path); err != nil {
			path = filepath.Join("testdata", "seed", typ+".json")
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		o, err := webhook.Decode(raw, webhook.Header{ReceivedAt: time.Date(2024, 10, 10, 8, 0, i, 0, time.UTC)})
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		if !o.Handled() {
			t.Fatalf("%s decoded as unhandled", typ)
		}
		obs = append(obs, o)
	}
	return obs
}

func openLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	ledgertest.NewFile(t, path)
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// journal returns, per Fuse transaction id, its entry state and postings
// as "account currency amount" lines sorted.
func journal(t *testing.T, l *ledger.Ledger) map[string]string {
	t.Helper()
	rows, err := l.Reader().Query(`SELECT transaction_id, state, ledger_account, currency, amount FROM v_journal
		ORDER BY transaction_id, ledger_account, currency`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, state, acct, cur string
		var amount int64
		if err := rows.Scan(&id, &state, &acct, &cur, &amount); err != nil {
			t.Fatal(err)
		}
		if out[id] == "" {
			out[id] = state + ":"
		}
		out[id] += fmt.Sprintf(" %s %s %d;", acct, cur, amount)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func balances(t *testing.T, l *ledger.Ledger) map[string]string {
	t.Helper()
	bs, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, b := range bs {
		m[b.LedgerAccount+" "+string(b.Currency)] = fmt.Sprintf("%d/%d/%d", b.Posted, b.Pending, b.Available)
	}
	return m
}

// TestSeedWebhooksGiveTheDesignPostings applies Fuse's own examples of all
// 15 event types and checks each transaction's postings against DESIGN.md's
// table and the balances against a hand computation.
func TestSeedWebhooksGiveTheDesignPostings(t *testing.T) {
	l := openLedger(t)
	for _, o := range seedObservations(t) {
		if _, err := l.Ingest(context.Background(), o); err != nil {
			t.Fatalf("ingest %s: %v", o.Event.Type, err)
		}
	}
	const (
		merchant   = "bank:018bfd91-ea86-a787-9d72-754cddfbc294" // AED, funded by the inbound payment
		payer      = "bank:018c355c-2413-16df-509f-40e71b142eb3" // AED, pays out, receives the transfer
		usd        = "bank:01917542-1b7a-7c0c-a39b-17c96d0c7b53" // USD, source of the exchange
		aedFX      = "bank:019342ec-af92-7470-9af9-7543cc6daf71" // AED, destination of the exchange
		contractor = "bank:018c35aa-4279-83e7-a90f-4b2901246c51" // opened, renamed, never used
	)
	wantJournal := map[string]string{
		// outbound local payment: Cr bank amount_with_fee; Dr world:payees instructed (fee 0: no fee line)
		"018c35b3-def2-e645-1d5b-86be6746537b": "posted: " + payer + " AED -51239; world:payees AED 51239;",
		// inbound local payment: Dr bank instructed − fee; Cr world:payers instructed
		"018c35bc-9086-638d-0e9a-f1f46ea6146a": "posted: " + merchant + " AED 100000000; world:payers AED -100000000;",
		// internal transfer, sending leg: Cr bank:<from>; Dr clearing:internal (settled; the later
		// internal_transfer_failed for the same id is a conflict, not a flip)
		"018c35ad-e939-eea5-d179-495d3fe1a783": "posted: " + merchant + " AED -1000000; clearing:internal AED 1000000;",
		// internal transfer, receiving leg: Dr bank:<to>; Cr clearing:internal
		"018c35ad-e9ab-ae02-28a0-ebc9d3b70a89": "posted: " + payer + " AED 1000000; clearing:internal AED -1000000;",
		// exchange, sending leg: Cr bank:<from> (USD); Dr clearing:fx:USD
		"019482b0-57d7-765c-bd23-2235f5d5aaab": "posted: " + usd + " USD -10000; clearing:fx:USD USD 10000;",
		// exchange, receiving leg: Dr bank:<to> (AED); conversion; Cr clearing:fx:USD
		"019482b0-873e-7f40-9ffe-1e3e298cbb10": "posted: " + aedFX + " AED 36615; clearing:fx:USD USD -10000; fx:conversion AED -36615; fx:conversion USD 10000;",
	}
	if got := journal(t, l); !reflect.DeepEqual(got, wantJournal) {
		t.Errorf("journal\n got %v\nwant %v", got, wantJournal)
	}
	wantBalances := map[string]string{
		merchant + " AED":       "99000000/0/99000000",
		payer + " AED":          "948761/0/948761",
		usd + " USD":            "-10000/0/-10000",
		aedFX + " AED":          "36615/0/36615",
		contractor + " AED":     "0/0/0",
		"world:payers AED":      "-100000000/0/-100000000",
		"world:payees AED":      "51239/0/51239",
		"clearing:internal AED": "0/0/0",
		"clearing:fx:USD USD":   "0/0/0",
		"fx:conversion AED":     "-36615/0/-36615",
		"fx:conversion USD":     "10000/0/10000",
	}
	if got := balances(t, l); !reflect.DeepEqual(got, wantBalances) {
		t.Errorf("balances\n got %v\nwant %v", got, wantBalances)
	}

	// What the examples say but the book cannot hold yet: statuses of
	// transactions whose amounts never arrived, a conflicting terminal
	// status, and the account's new name.
	var name string
	if err := l.Reader().QueryRow(`SELECT name FROM fuse_accounts WHERE account_id = '018c35aa-4279-83e7-a90f-4b2901246c51'`).Scan(&name); err != nil || name != "Contractors Ltd." {
		t.Errorf("account name %q (%v), want the account_updated name", name, err)
	}
	waiting := map[string]string{
		"018c35b9-8f58-9b36-370d-b5e3f00705ff": "failed", // outbound_local_payment_failed, no created seen
		"019482c7-b534-7e55-a2f8-37ddb441866f": "failed", // outbound_exchange_transfer_failed, no created seen
	}
	for id, status := range waiting {
		var got, entry string
		if err := l.Reader().QueryRow(`SELECT status, entry_state FROM v_transactions WHERE transaction_id = ?`, id).Scan(&got, &entry); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got != status || entry != "none" {
			t.Errorf("%s: status %s entry %s, want %s with no entry (amounts never arrived)", id, got, entry, status)
		}
	}
	var conflict string
	if err := l.Reader().QueryRow(`SELECT kept || '→' || observed FROM observation_conflicts
		WHERE subject = '018c35ad-e939-eea5-d179-495d3fe1a783' AND field = 'status'`).Scan(&conflict); err != nil || conflict != "settled→failed" {
		t.Errorf("status conflict %q (%v), want settled→failed kept as evidence", conflict, err)
	}
	rep, err := l.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep.Checks)
	}
}

// TestSeedWebhooksInAnyOrderGiveTheSameBook shuffles the examples, with
// redeliveries, and expects the book of the in-order delivery. The
// examples contradict themselves once (internal_transfer_failed names the
// transfer that internal_transfer_settled settled): with both, the first
// terminal status to arrive is kept and the other is evidence, so that one
// is left out here; the in-order test above covers it.
func TestSeedWebhooksInAnyOrderGiveTheSameBook(t *testing.T) {
	t.Parallel()
	var obs []ledgerd.Observation
	for _, o := range seedObservations(t) {
		if o.Event.Type != "internal_transfer_failed" {
			obs = append(obs, o)
		}
	}
	ref := openLedger(t)
	for _, o := range obs {
		if _, err := ref.Ingest(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	want, wantJournal := balances(t, ref), journal(t, ref)
	rng := rand.New(rand.NewPCG(2, 3))
	for run := range 10 {
		order := append([]ledgerd.Observation{}, obs...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = append(order, order[:5]...) // redeliver five
		// The orders are drawn here, in turn; each is ingested into a file
		// of its own, independently of the others.
		t.Run(fmt.Sprintf("run %d", run), func(t *testing.T) {
			t.Parallel()
			l := openLedger(t)
			var types []string
			for _, o := range order {
				types = append(types, o.Event.Type)
				if _, err := l.Ingest(context.Background(), o); err != nil {
					t.Fatal(err)
				}
			}
			if got := balances(t, l); !reflect.DeepEqual(got, want) {
				t.Errorf("run %d (%s): balances %v, want %v", run, strings.Join(types, ","), got, want)
			}
			if got := journal(t, l); !reflect.DeepEqual(got, wantJournal) {
				t.Errorf("run %d (%s): journal %v, want %v", run, strings.Join(types, ","), got, wantJournal)
			}
		})
	}
}
