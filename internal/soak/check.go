package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the checks read the file with plain SQL

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// finish ends the soak: faults off, every webhook copy delivered, serve
// stopped cleanly, then the binary's own backfill, reconcile and verify,
// and the checks against the sandbox's truth.
func (s *soak) finish(ctx context.Context) (summary, error) {
	sum := summary{Seed: s.o.seed, StartedAt: s.started.UTC(), DurationSeconds: s.o.duration.Seconds(),
		SimulatedHours: s.o.simulated.Hours(), Kills: int(s.kills.Load()), MinKills: s.o.minKills}
	fail := func(format string, args ...any) {
		sum.Failures = append(sum.Failures, fmt.Sprintf(format, args...))
	}
	if !s.d.alive() {
		if err := s.d.startProcess(ctx); err != nil {
			return sum, err
		}
	}
	s.sb.SetFaults(sandbox.Faults{})
	// Payments in flight finish, held events go out, retries fall due.
	step := time.Minute
	for i := 0; ; i++ {
		s.sb.Advance(step)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := s.sb.WaitIdle(wctx)
		cancel()
		if err != nil {
			return sum, fmt.Errorf("deliveries did not drain: %w", err)
		}
		if s.outstanding() == 0 {
			break
		}
		if i == 40 {
			fail("%d webhook copies never delivered after the faults were cleared", s.outstanding())
			break
		}
		step = min(step*2, sandbox.RetryCap)
	}
	drained := time.Now()
	if err := s.d.stop(); err != nil {
		fail("serve did not stop cleanly on SIGTERM: %v", err)
	} else {
		sum.CleanStop = true
	}

	// The final heal and the proofs, with the binary's own commands.
	code, _, errOut, err := s.d.command(ctx, "backfill")
	if err != nil {
		return sum, err
	}
	sum.BackfillExit = code
	if code != 0 {
		fail("ledgerd backfill exited %d: %s", code, strings.TrimSpace(errOut))
	}
	code, out, errOut, err := s.d.command(ctx, "reconcile", "--json")
	if err != nil {
		return sum, err
	}
	sum.ReconcileExit = code
	var run struct {
		Verdict string `json:"verdict"`
		Detail  string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		fail("ledgerd reconcile --json printed no run (%v): %s", err, strings.TrimSpace(errOut))
	}
	sum.ReconcileVerdict = run.Verdict
	if run.Verdict != "RECONCILED" && run.Verdict != "RECONCILED_WITH_PENDING" {
		fail("reconciliation says %s (%s)", run.Verdict, run.Detail)
	}
	code, out, _, err = s.d.command(ctx, "verify")
	if err != nil {
		return sum, err
	}
	sum.VerifyExit = code
	if code != 0 {
		fail("ledgerd verify exited %d:\n%s", code, out)
	}
	code, out, _, err = s.d.command(ctx, "balances", "--json")
	if err != nil {
		return sum, err
	}
	if code != 0 {
		fail("ledgerd balances exited %d", code)
	}

	truth := s.sb.Truth()
	st := s.sb.Stats()
	deliveries := s.sb.Deliveries()
	s.figures(&sum, truth, st, deliveries)
	if err := s.checkBalances(&sum, truth, out); err != nil {
		fail("%v", err)
	}
	if err := s.checkFile(ctx, &sum, truth, deliveries); err != nil {
		return sum, err
	}
	if sum.Lost > 0 {
		fail("%d acknowledged webhooks are not in the file", sum.Lost)
	}
	if sum.Duplicates > 0 {
		fail("%d duplicate events or entries", sum.Duplicates)
	}
	if sum.TransactionMismatches > 0 {
		fail("%d transactions differ from the sandbox's truth: %s", sum.TransactionMismatches, strings.Join(sum.Examples, "; "))
	}
	if sum.BalanceMismatches > 0 {
		fail("%d account balances differ from the sandbox's truth", sum.BalanceMismatches)
	}
	if sum.Kills < s.o.minKills {
		fail("only %d kills, want at least %d", sum.Kills, s.o.minKills)
	}
	s.mu.Lock()
	for _, f := range s.cliFailures[:min(len(s.cliFailures), 5)] {
		fail("beside serve: %s", f)
	}
	for _, f := range s.verifyFailures[:min(len(s.verifyFailures), 3)] {
		fail("%s", f)
	}
	s.mu.Unlock()
	sum.DrainSeconds = drained.Sub(s.started).Seconds() - s.o.duration.Seconds()
	sum.FinishedAt = time.Now().UTC()
	sum.Passed = len(sum.Failures) == 0
	return sum, nil
}

// figures copies what the sandbox counted into the summary.
func (s *soak) figures(sum *summary, truth sandbox.Truth, st sandbox.Stats, deliveries []sandbox.Delivery) {
	s.mu.Lock()
	sum.Operations = map[string]int{}
	for k, v := range s.ops {
		sum.Operations[k] = v
		if !strings.HasSuffix(k, "_refused") {
			sum.OperationsTotal += v
		}
	}
	s.mu.Unlock()
	s.mu.Lock()
	sum.CLIWrites = map[string]int{}
	for k, v := range s.cliRuns {
		sum.CLIWrites[k] = v
		sum.CLIWritesTotal += v
	}
	sum.CLIFailed = len(s.cliFailures)
	sum.VerifyAfterKill, sum.VerifyAfterKillFailed = s.verifyRuns, len(s.verifyFailures)
	s.mu.Unlock()
	sum.TrafficErrors = int(s.trafficErrors.Load())
	sum.Accounts = len(truth.Accounts)
	sum.Transactions = len(truth.Transactions)
	sum.SandboxSpan = truth.Now.Sub(truth.Accounts[0].OpenedAt).Round(time.Minute).String()
	sum.EventsEmitted = st.EventsEmitted
	sum.WebhookAttempts = st.WebhookAttempts
	sum.WebhookAttemptsFailed = st.WebhooksFailed
	sum.WebhooksDropped = st.WebhooksDropped
	sum.WebhooksDuplicated = st.WebhooksDuplicated
	sum.WebhooksReordered = st.WebhooksReordered
	sum.WebhooksGivenUp = st.WebhooksGivenUp
	sum.API429 = st.Injected429
	sum.API5xx = st.Injected5xx
	sum.TokenRequests = st.TokenRequests
	sum.Unauthorized = st.Unauthorized
	acked := map[string]bool{}
	for _, d := range deliveries {
		if d.StatusCode >= 200 && d.StatusCode < 300 {
			sum.AcknowledgedCopies++
			acked[d.EventID] = true
		}
	}
	sum.Acknowledged = len(acked)
	s.d.mu.Lock()
	rt := slices.Clone(s.d.readyTimes)
	s.d.mu.Unlock()
	sum.Starts = len(rt)
	if len(rt) > 0 {
		slices.Sort(rt)
		sum.StartToListenMedianMS = float64(rt[len(rt)/2].Microseconds()) / 1000
		sum.StartToListenMaxMS = float64(rt[len(rt)-1].Microseconds()) / 1000
	}
}

// checkBalances compares `ledgerd balances --json` with Fuse's balances:
// posted with current, available with available, for every account.
func (s *soak) checkBalances(sum *summary, truth sandbox.Truth, out string) error {
	var rows []struct {
		FuseAccountID *string `json:"fuse_account_id"`
		Currency      string  `json:"currency"`
		Posted        int64   `json:"posted"`
		Available     int64   `json:"available"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		return fmt.Errorf("ledgerd balances --json: %w", err)
	}
	type bal struct{ posted, available int64 }
	got := map[string]bal{}
	for _, r := range rows {
		if r.FuseAccountID != nil {
			got[*r.FuseAccountID+" "+r.Currency] = bal{r.Posted, r.Available}
		}
	}
	for _, a := range truth.Accounts {
		g := got[a.AccountID+" "+a.Currency]
		if g.posted != a.Balance.Current || g.available != a.Balance.Available {
			sum.BalanceMismatches++
			sum.Examples = append(sum.Examples, fmt.Sprintf("account %s %s: ledger %d/%d, Fuse %d/%d",
				a.AccountID, a.Currency, g.posted, g.available, a.Balance.Current, a.Balance.Available))
		}
	}
	return nil
}

// checkFile reads the database with plain SQL: acknowledged events present,
// nothing twice, every transaction as Fuse has it.
func (s *soak) checkFile(ctx context.Context, sum *summary, truth sandbox.Truth, deliveries []sandbox.Delivery) error {
	path := filepath.Join(s.o.workDir, "ledgerd.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	// event_id → how many times the file holds it.
	stored := map[string]int{}
	rows, err := db.QueryContext(ctx, `SELECT event_id, count(*) FROM events GROUP BY event_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return err
		}
		stored[id] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	sum.EventsStored = len(stored)
	checked := map[string]bool{}
	for _, d := range deliveries {
		if d.StatusCode < 200 || d.StatusCode >= 300 || checked[d.EventID] {
			continue
		}
		checked[d.EventID] = true
		if stored[d.EventID] == 0 {
			sum.Lost++
			if len(sum.Examples) < 5 {
				sum.Examples = append(sum.Examples, "acknowledged event "+d.EventID+" ("+d.Type+") missing")
			}
		}
	}
	for _, n := range stored {
		if n > 1 {
			sum.Duplicates += n - 1
		}
	}
	var dupEntries, entries int
	if err := db.QueryRowContext(ctx, `SELECT count(*) - count(DISTINCT transaction_id), count(*) FROM entries`).Scan(&dupEntries, &entries); err != nil {
		return err
	}
	sum.Duplicates += dupEntries
	sum.Entries = entries
	var postings int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM postings`).Scan(&postings); err != nil {
		return err
	}
	sum.Postings = postings
	var quarantined int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM quarantine`).Scan(&quarantined); err != nil {
		return err
	}
	sum.Quarantined = quarantined

	type txRow struct {
		kind, account, currency, status, entry string
		instructed, fee, withFee               int64
	}
	got := map[string]txRow{}
	rows, err = db.QueryContext(ctx, `SELECT t.transaction_id, t.kind, t.account_id, COALESCE(t.currency, ''), t.status,
		COALESCE(t.instructed_amount, -1), COALESCE(t.fee_amount, -1), COALESCE(t.amount_with_fee, -1), COALESCE(e.state, 'none')
		FROM fuse_transactions t LEFT JOIN entries e ON e.transaction_id = t.transaction_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var r txRow
		if err := rows.Scan(&id, &r.kind, &r.account, &r.currency, &r.status, &r.instructed, &r.fee, &r.withFee, &r.entry); err != nil {
			rows.Close()
			return err
		}
		got[id] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read fuse_transactions: %w", err)
	}
	for _, x := range truth.Transactions {
		entry := "pending"
		switch x.Status {
		case ledgerd.StatusExecuted, ledgerd.StatusSettled:
			entry = "posted"
		case ledgerd.StatusFailed:
			entry = "voided"
		}
		want := txRow{string(x.Kind), x.AccountID, x.Currency, string(x.Status), entry, x.InstructedAmount, x.FeeAmount, x.AmountWithFee}
		g, ok := got[x.TransactionID]
		if !ok || g != want {
			sum.TransactionMismatches++
			if len(sum.Examples) < 5 {
				sum.Examples = append(sum.Examples, fmt.Sprintf("transaction %s: ledger %+v, Fuse %+v", x.TransactionID, g, want))
			}
		}
		delete(got, x.TransactionID)
	}
	sum.TransactionMismatches += len(got) // in the ledger, not at Fuse
	return nil
}
