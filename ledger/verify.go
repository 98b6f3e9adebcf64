package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Check is one verification and its outcome.
type Check struct {
	Name    string   `json:"name"`
	OK      bool     `json:"ok"`
	Details []string `json:"details,omitempty"` // what is wrong, at most maxDetails lines
}

// Report is the outcome of Verify.
type Report struct {
	Checks []Check `json:"checks"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

const maxDetails = 20

// Verify checks the file's invariants: its files private to their owner
// (as Open found them: an Open that may write makes them so, a ReadOnly
// one only looks), SQLite's integrity_check and foreign keys, every entry
// balancing per currency, no posting on an unknown ledger account, the
// running balances equal to the postings, entry states and accounts
// consistent with their Fuse transactions, and the events hash chain. The
// error is for a failure to run the checks, not for a failed check: that
// is in the Report.
func (l *Ledger) Verify(ctx context.Context) (Report, error) {
	conn, err := l.reader.Conn(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	defer conn.Close()
	// One read transaction: every check sees the same snapshot even while
	// webhooks keep arriving.
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only

	var rep Report
	checks := []struct {
		name string
		run  func() ([]string, error)
	}{
		{"database files private to their owner", func() ([]string, error) {
			var lines []string
			for _, x := range l.exposed {
				lines = append(lines, fmt.Sprintf("%s is mode %04o, readable by others: `ledgerd migrate` or `ledgerd serve` makes it private (or chmod 600 it); verify leaves it as it is",
					x.path, x.mode))
			}
			return lines, nil
		}},
		{"sqlite integrity_check", func() ([]string, error) {
			lines, err := column(ctx, tx, "PRAGMA integrity_check")
			if len(lines) == 1 && lines[0] == "ok" {
				return nil, err
			}
			return lines, err
		}},
		{"foreign keys", func() ([]string, error) {
			return column(ctx, tx, `SELECT "table" || ' row ' || rowid || ' -> ' || parent FROM pragma_foreign_key_check`)
		}},
		{"every entry balances per currency", func() ([]string, error) {
			return column(ctx, tx, `SELECT 'entry ' || entry_id || ': ' || currency || ' sums to ' || imbalance
				FROM v_unbalanced_entries`)
		}},
		{"no posting on an unknown account", func() ([]string, error) {
			return column(ctx, tx, `SELECT 'posting ' || p.id || ' on ' || p.ledger_account FROM postings p
				LEFT JOIN ledger_accounts a ON a.name = p.ledger_account WHERE a.name IS NULL`)
		}},
		{"running balances equal the postings", func() ([]string, error) {
			bad, err := column(ctx, tx, balanceMismatchSQL)
			if len(bad) > 0 {
				// First, so that it survives the cut at maxDetails.
				bad = append([]string{"(derived data: `ledgerd migrate` rewrites them from the postings)"}, bad...)
			}
			return bad, err
		}},
		{"entries follow their Fuse transactions (state, account)", func() ([]string, error) {
			return column(ctx, tx, `SELECT 'entry ' || e.id || ' is ' || e.state || ' but ' || t.transaction_id || ' is ' || t.status
				FROM entries e JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
				WHERE NOT ((e.state = 'posted' AND t.status IN ('executed', 'settled'))
				        OR (e.state = 'voided' AND t.status = 'failed')
				        OR (e.state = 'pending' AND t.status IN ('created', 'submitted', 'booked')))
				UNION ALL
				SELECT 'entry ' || e.id || ' names account ' || COALESCE(e.account_id, 'none') || ' but '
				       || t.transaction_id || ' is on ' || t.account_id
				FROM entries e JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
				WHERE e.account_id IS NOT t.account_id`)
		}},
		{"events hash chain", func() ([]string, error) { return verifyChain(ctx, tx) }},
	}
	for _, c := range checks {
		details, err := c.run()
		if err != nil {
			return rep, fmt.Errorf("verify %s: %w", c.name, err)
		}
		if len(details) > maxDetails {
			details = append(details[:maxDetails], fmt.Sprintf("… and %d more", len(details)-maxDetails))
		}
		rep.Checks = append(rep.Checks, Check{Name: c.name, OK: len(details) == 0, Details: details})
	}
	return rep, nil
}

// balanceMismatchSQL lists running balances that differ from a fresh sum
// of postings, in either direction (a row missing on one side counts). A
// missing row is a zero balance: an account whose only postings belong to
// voided entries (a payment first seen already failed) has none, and that
// is right.
const balanceMismatchSQL = `
WITH fresh AS (` + freshBalancesSQL + `)
SELECT b.ledger_account || ' ' || b.currency || ': kept ' || b.posted || '/' || b.pending_debits || '/' || b.pending_credits
       || ', postings say ' || COALESCE(f.posted, 0) || '/' || COALESCE(f.pd, 0) || '/' || COALESCE(f.pc, 0)
  FROM balances b LEFT JOIN fresh f ON f.ledger_account = b.ledger_account AND f.currency = b.currency
 WHERE b.posted <> COALESCE(f.posted, 0) OR b.pending_debits <> COALESCE(f.pd, 0) OR b.pending_credits <> COALESCE(f.pc, 0)
UNION ALL
SELECT f.ledger_account || ' ' || f.currency || ': no running balance'
  FROM fresh f LEFT JOIN balances b ON b.ledger_account = f.ledger_account AND b.currency = f.currency
 WHERE b.ledger_account IS NULL AND (f.posted <> 0 OR f.pd <> 0 OR f.pc <> 0)`

// freshBalancesSQL sums the postings into running balances, as the writer
// keeps them: posted entries in posted, pending ones by sign, voided ones
// not at all.
const freshBalancesSQL = `
  SELECT p.ledger_account, p.currency,
         SUM(CASE WHEN e.state = 'posted' THEN p.amount ELSE 0 END) AS posted,
         SUM(CASE WHEN e.state = 'pending' AND p.amount > 0 THEN p.amount ELSE 0 END) AS pd,
         SUM(CASE WHEN e.state = 'pending' AND p.amount < 0 THEN p.amount ELSE 0 END) AS pc
    FROM postings p JOIN entries e ON e.id = p.entry_id
   WHERE true
   GROUP BY p.ledger_account, p.currency`

// verifyChain recomputes every event's hash from its predecessor and body.
func verifyChain(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT seq, raw, prev_hash, hash FROM events ORDER BY seq")
	if err != nil {
		return nil, err
	}
	var c chainWalk
	err = c.scan(rows)
	return c.bad, err
}

// chainWalk checks events in seq order, in one query or in several
// consecutive ones: each prev_hash is the hash of the event before it
// (32 zero bytes for the first), and each hash is SHA-256(prev_hash || raw).
type chainWalk struct {
	prev []byte // hash of the last event walked; nil: none yet
	last int64  // seq of the last event walked
	n    int64  // events walked
	bad  []string
}

// scan walks rows of (seq, raw, prev_hash, hash) in seq order, and closes
// them.
func (c *chainWalk) scan(rows *sql.Rows) error {
	defer rows.Close()
	if c.prev == nil {
		c.prev = genesisHash
	}
	for rows.Next() {
		var seq int64
		var raw, prevHash, hash []byte
		if err := rows.Scan(&seq, &raw, &prevHash, &hash); err != nil {
			return err
		}
		if !bytes.Equal(prevHash, c.prev) {
			c.bad = append(c.bad, fmt.Sprintf("event %d: prev_hash does not match event before it", seq))
		}
		if !bytes.Equal(chain(prevHash, raw), hash) {
			c.bad = append(c.bad, fmt.Sprintf("event %d: hash does not match its body", seq))
		}
		c.prev, c.last = hash, seq
		c.n++
	}
	return rows.Err()
}

// column runs a query returning one text column and collects it.
func column(ctx context.Context, tx *sql.Tx, q string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(s.String))
	}
	return out, rows.Err()
}
