package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

// migratedFile is the bytes of a file that Open created, migrated to the
// latest version and closed, made once per test binary: openTest copies
// it rather than wait for every migration's commit again (about 1.5 s of
// fsyncs on a busy disk and 0.3 s of CPU under -race, against 0.1 s for
// a copy). The tests of creating and migrating a file call Open on
// files of their own.
var migratedFile = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "ledger-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ledgerd.db")
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		return nil, err
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

// freshFile writes at path a fresh file at the latest schema version, a
// copy of migratedFile.
func freshFile(t *testing.T, path string) {
	t.Helper()
	b, err := migratedFile()
	if err != nil {
		t.Fatalf("make the migrated file: %v", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openTest opens a fresh ledger file in a temp dir and closes it at the end.
func openTest(t *testing.T, opts Options) *Ledger {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	l, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// script builds observations with distinct event ids and raw bodies.
type script struct{ n int }

func (s *script) event(typ string, at time.Time, payload any) ledgerd.Event {
	s.n++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.n)
	raw, err := json.Marshal(map[string]any{"type": typ, "event_id": id, "payload": payload})
	if err != nil {
		panic(err)
	}
	return ledgerd.Event{ID: id, Type: typ, Version: 1, Source: ledgerd.SourceWebhook, FuseTime: at, ReceivedAt: at, Raw: raw}
}

func (s *script) account(id string, cur ledgerd.Currency) ledgerd.Observation {
	a := &ledgerd.AccountObservation{AccountID: id, Name: "Account " + id, Type: "payment", Currency: cur}
	return ledgerd.Observation{Event: s.event("account_opened", t0, a), Account: a}
}

func (s *script) tx(o ledgerd.TransactionObservation) ledgerd.Observation {
	return ledgerd.Observation{Event: s.event(string(o.Kind)+"."+string(o.Status), o.At, o), Transaction: &o}
}

func amounts(instructed, fee int64) *ledgerd.TxAmounts {
	return &ledgerd.TxAmounts{Instructed: ledgerd.Amount(instructed), Fee: ledgerd.Amount(fee),
		WithFee: ledgerd.Amount(instructed + fee)}
}

func amt(a int64) *ledgerd.Amount { x := ledgerd.Amount(a); return &x }

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// scenario is a small month of traffic over three accounts, covering every
// kind and every lifecycle: AED accounts A and B, USD account U.
func scenario() []ledgerd.Observation {
	var s script
	const A, B, U = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "cccccccc-0000-4000-8000-000000000003"
	tx := func(id string, kind ledgerd.Kind, acct string, st ledgerd.Status, min int, f func(*ledgerd.TransactionObservation)) ledgerd.Observation {
		o := ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: kind, Status: st, At: at(min)}
		if f != nil {
			f(&o)
		}
		return s.tx(o)
	}
	withAmounts := func(cur ledgerd.Currency, instructed, fee int64) func(*ledgerd.TransactionObservation) {
		return func(o *ledgerd.TransactionObservation) { o.Currency, o.Amounts = cur, amounts(instructed, fee) }
	}
	out := ledgerd.KindLocalPaymentOut
	return []ledgerd.Observation{
		s.account(A, "AED"), s.account(B, "AED"), s.account(U, "USD"),
		// Funding: inbound payments, settled on arrival.
		tx("10000000-0000-4000-8000-000000000001", ledgerd.KindLocalPaymentIn, A, ledgerd.StatusSettled, 1, withAmounts("AED", 100000, 0)),
		tx("10000000-0000-4000-8000-000000000002", ledgerd.KindLocalPaymentIn, U, ledgerd.StatusSettled, 2, withAmounts("USD", 50000, 0)),
		// A payment out with a fee, executed.
		tx("20000000-0000-4000-8000-000000000001", out, A, ledgerd.StatusCreated, 10, withAmounts("AED", 20000, 100)),
		tx("20000000-0000-4000-8000-000000000001", out, A, ledgerd.StatusSubmitted, 11, nil),
		tx("20000000-0000-4000-8000-000000000001", out, A, ledgerd.StatusExecuted, 15, nil),
		// A payment out that fails.
		tx("20000000-0000-4000-8000-000000000002", out, A, ledgerd.StatusCreated, 20, withAmounts("AED", 5000, 0)),
		tx("20000000-0000-4000-8000-000000000002", out, A, ledgerd.StatusFailed, 21, func(o *ledgerd.TransactionObservation) {
			o.FailureReason = "bank_error: Manual failure in Portal"
		}),
		// An internal transfer A → B: two legs, two transaction ids.
		tx("30000000-0000-4000-8000-000000000001", ledgerd.KindInternalTransferOut, A, ledgerd.StatusCreated, 30, func(o *ledgerd.TransactionObservation) {
			o.Amounts, o.CounterpartAccountID, o.Reference = amounts(30000, 0), B, "rent"
		}),
		tx("30000000-0000-4000-8000-000000000001", ledgerd.KindInternalTransferOut, A, ledgerd.StatusSettled, 31, nil),
		tx("30000000-0000-4000-8000-000000000002", ledgerd.KindInternalTransferIn, B, ledgerd.StatusSettled, 31, func(o *ledgerd.TransactionObservation) {
			o.Amounts, o.CounterpartAccountID, o.Reference = amounts(30000, 0), A, "rent"
		}),
		// An exchange of 100.00 USD from U into 367.25 AED on A.
		tx("40000000-0000-4000-8000-000000000001", ledgerd.KindExchangeOut, U, ledgerd.StatusCreated, 40, func(o *ledgerd.TransactionObservation) {
			o.Currency, o.Amounts, o.CounterpartAccountID = "USD", amounts(10000, 0), A
			o.CounterpartCurrency, o.CounterpartAmount, o.Rate = "AED", amt(36725), "3.6725"
		}),
		tx("40000000-0000-4000-8000-000000000001", ledgerd.KindExchangeOut, U, ledgerd.StatusExecuted, 41, nil),
		tx("40000000-0000-4000-8000-000000000002", ledgerd.KindExchangeIn, A, ledgerd.StatusSettled, 41, func(o *ledgerd.TransactionObservation) {
			o.Currency, o.Amounts, o.CounterpartAccountID = "AED", amounts(36725, 0), U
			o.CounterpartCurrency, o.CounterpartAmount, o.Rate = "USD", amt(10000), "3.6725"
		}),
		// A payment out from B, still pending at the end.
		tx("20000000-0000-4000-8000-000000000003", out, B, ledgerd.StatusCreated, 50, withAmounts("AED", 1000, 0)),
	}
}

// balanceMap renders balances as "account currency" → "posted/pending/available".
func balanceMap(bs []Balance) map[string]string {
	m := map[string]string{}
	for _, b := range bs {
		m[b.LedgerAccount+" "+string(b.Currency)] = fmt.Sprintf("%d/%d/%d", b.Posted, b.Pending, b.Available)
	}
	return m
}

// dump renders the book and the Fuse state canonically, leaving out what
// depends on arrival order by nature (ingest sequence numbers, surrogate
// ids, received times), so that two files can be compared byte for byte.
func dump(t *testing.T, l *Ledger) string {
	t.Helper()
	return dumpQueries(t, l, bookQueries())
}

// dumpOrderFree is dump without the lines of fee debits and of the
// payments they are for, which depend on which came first (fees.go: the
// fee is moved by the fee debit, or left out of the payment), and with
// each balance whole rather than split into posted and pending (a fee
// moved by a fee debit is posted while its payment may still be pending);
// every other line is compared as dump does.
func dumpOrderFree(t *testing.T, l *Ledger) string {
	t.Helper()
	qs := bookQueries()
	for i, q := range qs {
		if strings.Contains(q, "FROM balances") {
			qs[i] = `SELECT ledger_account, currency, posted + pending_debits + pending_credits FROM balances ORDER BY 1, 2`
		}
		if strings.Contains(q, "FROM postings") {
			qs[i] = strings.Replace(q, "ORDER BY", `WHERE e.transaction_id NOT IN (
			  SELECT transaction_id FROM fuse_transactions WHERE kind = 'fee_debit'
			  UNION SELECT fee_target_id FROM fuse_transactions WHERE fee_target_id IS NOT NULL) ORDER BY`, 1)
		}
	}
	return dumpQueries(t, l, qs)
}

// bookQueries are dump's queries.
func bookQueries() []string {
	return []string{
		`SELECT ledger_account, currency, posted, pending_debits, pending_credits FROM balances ORDER BY 1, 2`,
		`SELECT e.transaction_id, e.state, e.pending_at, COALESCE(e.final_at, '') FROM entries e ORDER BY 1`,
		`SELECT e.transaction_id, p.ledger_account, p.currency, p.amount, p.effective_at
		   FROM postings p JOIN entries e ON e.id = p.entry_id ORDER BY 1, 2, 3, 4`,
		`SELECT transaction_id, kind, account_id, COALESCE(counterpart_account_id, ''), COALESCE(currency, ''),
		        COALESCE(instructed_amount, -1), COALESCE(fee_amount, -1), COALESCE(amount_with_fee, -1),
		        COALESCE(counterpart_currency, ''), COALESCE(counterpart_amount, -1), COALESCE(rate, ''),
		        status, COALESCE(status_at, ''), COALESCE(created_at, ''), COALESCE(reference, ''),
		        COALESCE(failure_reason, ''), COALESCE(fee_source, ''), COALESCE(returned_id, ''),
		        COALESCE(fee_target_id, '') FROM fuse_transactions ORDER BY 1`,
		`SELECT account_id, COALESCE(name, ''), COALESCE(currency, '') FROM fuse_accounts ORDER BY 1`,
		`SELECT name, type, COALESCE(fuse_account_id, '') FROM ledger_accounts ORDER BY 1`,
		`SELECT subject, field, kept, observed FROM observation_conflicts ORDER BY 1, 2, 4`,
	}
}

// dumpQueries renders the rows of each query, every column, one line a
// row, "--" after each query.
func dumpQueries(t *testing.T, l *Ledger, queries []string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range queries {
		rows, err := l.Reader().Query(q)
		if err != nil {
			t.Fatalf("dump %s: %v", q, err)
		}
		b.WriteString(dumpRows(t, rows))
		b.WriteString("--\n")
	}
	return b.String()
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func mustVerify(t *testing.T, l *Ledger) {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Verify failed: %+v", rep.Checks)
	}
}

func ingestAll(t *testing.T, l *Ledger, obs []ledgerd.Observation) {
	t.Helper()
	for _, o := range obs {
		if _, err := l.Ingest(context.Background(), o); err != nil {
			t.Fatalf("Ingest %s (%s): %v", o.Event.ID, o.Event.Type, err)
		}
	}
}

// fileAtVersion makes a database file at schema version v holding what
// stmts write, as an older ledgerd would have left it, and returns its path.
func fileAtVersion(t *testing.T, v int, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", v))
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrateTo(context.Background(), db, ledgerd.SchemaSQL, v); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// eventAndAccount are the rows a hand-made older file needs under its
// transactions: event 1 (with no real hash: only verify's chain check
// fails on it) and the AED account acct-1.
func eventAndAccount() []string {
	return []string{
		`INSERT INTO events (event_id, type, source, received_at, handled, raw, prev_hash, hash)
		 VALUES ('e1', 'inbound_local_payment_settled', 'webhook', '2026-01-01T00:00:00.000000000Z', 1, x'7b7d', zeroblob(32), zeroblob(32))`,
		`INSERT INTO fuse_accounts (account_id, currency, first_seq, last_seq) VALUES ('acct-1', 'AED', 1, 1)`,
	}
}

// longTests reports whether LEDGERD_LONG_TESTS=1 asks for the long
// variants of the order-permutation and failure-injection loops (make
// soak runs them); make test runs each loop at the size that proves its
// property.
func longTests() bool { return os.Getenv("LEDGERD_LONG_TESTS") == "1" }

// dumpRows renders rows, every column, one line a row, and closes them.
func dumpRows(t *testing.T, rows *sql.Rows) string {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
