package ledger

import (
	"context"
	"fmt"
)

// RepairBalances rewrites the running balances that differ from the sum
// of the postings, and returns how many it rewrote. The balances table is
// derived data (the postings are the book); before ledgerd noticed other
// processes' commits, a command run from the shell beside serve could
// leave it wrong, and `ledgerd verify` says so. The check reads the
// postings without the write lock; only a file that needs the repair is
// rewritten, through the writer, so a running serve picks it up.
func (l *Ledger) RepairBalances(ctx context.Context) (int, error) {
	var n int
	if err := l.reader.QueryRowContext(ctx, `SELECT count(*) FROM (`+balanceMismatchSQL+`)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("check running balances: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	err := l.w.do(ctx, func(t *wtx) error {
		var err error
		n, err = t.repairBalances()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("repair running balances: %w", err)
	}
	return n, nil
}

// repairBalances rewrites, in the transaction, every running balance that
// differs from the postings, the writer's cache with them.
func (t *wtx) repairBalances() (int, error) {
	// The table first takes what earlier units of the batch have only in
	// the cache; if this unit is rolled back, so is that write, and the
	// cache and the dirty set come back as they were.
	if err := t.w.cache.dropBalances(t.flushBalances); err != nil {
		return 0, err
	}
	var n int
	if err := t.queryRow(`SELECT count(*) FROM (` + balanceMismatchSQL + `)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("check running balances: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if _, err := t.exec(`UPDATE balances SET posted = 0, pending_debits = 0, pending_credits = 0
		WHERE (posted, pending_debits, pending_credits) <> (0, 0, 0)
		  AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.ledger_account = balances.ledger_account AND p.currency = balances.currency)`); err != nil {
		return 0, fmt.Errorf("repair running balances: %w", err)
	}
	if _, err := t.exec(`INSERT INTO balances (ledger_account, currency, posted, pending_debits, pending_credits)
		SELECT ledger_account, currency, posted, pd, pc FROM (` + freshBalancesSQL + `) WHERE true
		ON CONFLICT (ledger_account, currency) DO UPDATE SET
		  posted = excluded.posted, pending_debits = excluded.pending_debits, pending_credits = excluded.pending_credits
		WHERE (posted, pending_debits, pending_credits) <> (excluded.posted, excluded.pending_debits, excluded.pending_credits)`); err != nil {
		return 0, fmt.Errorf("repair running balances: %w", err)
	}
	return n, nil
}
