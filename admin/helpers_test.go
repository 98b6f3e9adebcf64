package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// Fixed clocks: the seed webhooks are received on 2024-10-10 from 08:00:00
// UTC; the admin listener looks at the file a day later.
var (
	receivedAt = time.Date(2024, 10, 10, 8, 0, 0, 0, time.UTC)
	adminNow   = time.Date(2024, 10, 11, 6, 30, 0, 0, time.UTC)
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

// Accounts of the seed examples.
const (
	merchantID = "018bfd91-ea86-a787-9d72-754cddfbc294" // AED
)

func openLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	ledgertest.NewFile(t, path)
	l, err := ledger.Open(context.Background(), path, ledger.Options{
		Now: func() time.Time { return receivedAt },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ingestSeed ingests Fuse's webhook examples, one a second from receivedAt,
// as the listener would.
func ingestSeed(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	for i, typ := range seedOrder {
		path := filepath.Join("..", "webhook", "testdata", "seed-fixed", typ+".json")
		if _, err := os.Stat(path); err != nil {
			path = filepath.Join("..", "webhook", "testdata", "seed", typ+".json")
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		o, err := webhook.Decode(raw, webhook.Header{ReceivedAt: receivedAt.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		if _, err := l.Ingest(context.Background(), o); err != nil {
			t.Fatalf("ingest %s: %v", typ, err)
		}
	}
}

// reportBalance ingests Fuse's balance of an account as the backfill does
// when it reads the account from the API.
func reportBalance(t *testing.T, l *ledger.Ledger, accountID string, cur ledgerd.Currency, current ledgerd.Amount, at time.Time) {
	t.Helper()
	o := ledgerd.Observation{
		Event: ledgerd.Event{
			ID: "balance-" + accountID + "-" + at.Format(time.RFC3339), Type: "backfill.account",
			Source: ledgerd.SourceBackfill, ReceivedAt: at, Raw: []byte(`{}`),
		},
		Account: &ledgerd.AccountObservation{
			AccountID: accountID, Currency: cur,
			Balance: &ledgerd.AccountBalance{Current: current, Available: current, AsOf: at},
		},
	}
	if _, err := l.Ingest(context.Background(), o); err != nil {
		t.Fatalf("report balance of %s: %v", accountID, err)
	}
}

// serve starts the admin handler on a loopback listener.
func serve(t *testing.T, l *ledger.Ledger, opts admin.Options) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	opts.Ledger = l
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return adminNow }
	}
	srv := httptest.NewServer(admin.New(opts))
	t.Cleanup(srv.Close)
	return srv, opts.Registry
}

// get fetches path and returns the status and body.
func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, []byte) {
	t.Helper()
	return do(t, srv, http.MethodGet, path)
}

func do(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	return resp, body
}

// Seeded reconciliation history (see seedRecon).
const (
	usdID      = "01917542-1b7a-7c0c-a39b-17c96d0c7b53" // USD, never reported by Fuse here
	payoutsID  = "018c355c-2413-16df-509f-40e71b142eb3" // AED, Fuse agrees
	missingTx  = "0190d2c5-0d9e-7a1f-8e1e-6a4c58bd3b51"
	hostileTxt = `<script>alert("x")</script> & "quotes"`
)

// seedScenario ingests the seed webhooks, has Fuse report the merchant's
// balance 5.00 AED below the ledger's and the payouts account's equal to
// it, and records three reconciliation runs with four breaks, as the
// reconciler would.
func seedScenario(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	ingestSeed(t, l)
	reportBalance(t, l, merchantID, "AED", 98_999_500, receivedAt.Add(time.Hour))
	reportBalance(t, l, payoutsID, "AED", 948_761, receivedAt.Add(time.Hour))
	seedRecon(t, l)
}

func seedRecon(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	err := l.Update(context.Background(), func(tx *ledger.Tx) error {
		stmts := []struct {
			q    string
			args []any
		}{
			{`INSERT INTO recon_runs (id, started_at, finished_at, time_zone, as_of, verdict, accounts_checked,
				transactions_checked, breaks_open, breaks_new, breaks_resolved, pending, detail) VALUES
				(1, '2024-10-09T02:00:00.000000000Z', '2024-10-09T02:00:03.000000000Z', 'Asia/Dubai', '2024-10-09T02:00:00.000000000Z', 'RECONCILED', 5, 10, 0, 0, 0, 0, ''),
				(2, '2024-10-10T02:00:00.000000000Z', '2024-10-10T02:00:04.000000000Z', 'Asia/Dubai', '2024-10-10T02:00:00.000000000Z', 'BREAKS', 5, 12, 2, 2, 1, 0, ''),
				(3, '2024-10-11T02:00:00.000000000Z', '2024-10-11T02:00:09.000000000Z', 'Asia/Dubai', '2024-10-11T02:00:00.000000000Z', 'INCOMPLETE', 4, 12, 2, 0, 0, 1, 'fuse: accounts page 2: 503')`, nil},
			{`INSERT INTO recon_run_accounts (run_id, fuse_account_id, name, currency, ledger_posted, ledger_pending,
				fuse_balance, drift, gross_drift) VALUES
				(1, ?1, NULL, 'AED', 99000000, 0, 99000000, 0, 0),
				(1, ?2, NULL, 'USD', -10000, 0, -10000, 0, 0),
				(2, ?1, NULL, 'AED', 99000000, 0, 98999500, 500, 1750),
				(2, ?2, NULL, 'USD', -10000, 0, -10000, 0, 0),
				(3, ?1, NULL, 'AED', 99000000, 0, 98999500, 500, 1750)`, []any{merchantID, usdID}},
			{`INSERT INTO breaks (id, category, subject, severity, fuse_account_id, fuse_transaction_id, currency,
				ledger_amount, fuse_amount, difference, detail, state, first_seen, last_seen, first_run, last_run,
				resolved_at, ack_note, ack_at) VALUES
				(1, 'balance_drift', ?1, 'critical', ?1, NULL, 'AED', 99000000, 98999500, 500,
				 'ledger posted 990000.00, Fuse 989995.00', 'open', '2024-10-10T02:00:04.000000000Z', '2024-10-11T02:00:09.000000000Z', 2, 3, NULL, NULL, NULL),
				(2, 'missing_at_fuse', ?2, 'warning', ?1, ?2, 'AED', 1250, NULL, 1250,
				 ?3, 'open', '2024-10-10T02:00:04.000000000Z', '2024-10-11T02:00:09.000000000Z', 2, 3, NULL, NULL, NULL),
				(3, 'stale_pending', 'entry:7', 'info', ?1, NULL, 'AED', 300, NULL, NULL,
				 'pending 9 days', 'acknowledged', '2024-10-01T02:00:00.000000000Z', '2024-10-10T02:00:04.000000000Z', 1, 2, NULL, 'Fuse ticket 4411', '2024-10-10T09:00:00.000000000Z'),
				(4, 'status_mismatch', 'txn-resolved', 'warning', ?1, 'txn-resolved', 'AED', NULL, NULL, NULL,
				 'executed at Fuse, failed here', 'resolved', '2024-10-09T02:00:03.000000000Z', '2024-10-09T02:00:03.000000000Z', 1, 1, '2024-10-10T02:00:04.000000000Z', NULL, NULL)`,
				[]any{merchantID, missingTx, hostileTxt}},
			{`INSERT INTO recon_run_breaks (run_id, break_id) VALUES (1, 4), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2)`, nil},
		}
		for _, s := range stmts {
			if _, err := tx.Exec(s.q, s.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed reconciliation history: %v", err)
	}
}
