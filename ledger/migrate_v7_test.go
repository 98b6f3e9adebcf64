package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// v6Tables are the tables of a version-6 file, parents before children,
// as a copy must fill them.
var v6Tables = []string{"events", "quarantine", "fuse_accounts", "fuse_transactions", "observation_conflicts",
	"ledger_accounts", "entries", "postings", "balances", "sync_checkpoints", "recon_runs", "breaks",
	"recon_run_accounts", "recon_run_breaks", "write_probe"}

// version6File is a version-6 file holding a month of traffic, booked by
// ledger.Ingest with a true hash chain, and a reconciliation run with a
// break: the rows of a ledger made now, copied column for column into a
// file built only up to version 6.
func version6File(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	src, err := Open(ctx, filepath.Join(t.TempDir(), "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ingestAll(t, src, scenario())
	if err := src.Update(ctx, func(tx *Tx) error {
		for _, s := range []string{
			`INSERT INTO recon_runs (id, started_at, finished_at, time_zone, as_of, verdict)
			 VALUES (1, '2026-11-03T02:00:00.000000000Z', '2026-11-03T02:00:01.000000000Z', 'UTC', '2026-11-03T02:00:00.000000000Z', 'BREAKS')`,
			`INSERT INTO breaks (id, category, subject, severity, state, first_seen, last_seen, first_run, last_run)
			 VALUES (1, 'stale_pending', '20000000-0000-4000-8000-000000000003', 'warning', 'open',
			         '2026-11-03T02:00:00.000000000Z', '2026-11-03T02:00:00.000000000Z', 1, 1)`,
			`INSERT INTO recon_run_breaks (run_id, break_id) VALUES (1, 1)`,
		} {
			if _, err := tx.Exec(s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	srcPath := src.Path()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	path := fileAtVersion(t, 6)
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS src", srcPath); err != nil {
		t.Fatal(err)
	}
	for _, table := range v6Tables {
		cols := strings.Join(columnsOf(t, conn, table), ", ")
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO main.%s (%s) SELECT %s FROM src.%s", table, cols, cols, table)); err != nil {
			t.Fatalf("copy %s: %v", table, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "DETACH DATABASE src"); err != nil {
		t.Fatal(err)
	}
	return path
}

// columnsOf names the stored columns of a table of the main database.
func columnsOf(t *testing.T, conn *sql.Conn, table string) []string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(),
		"SELECT name FROM pragma_table_xinfo(?, 'main') WHERE hidden = 0 ORDER BY cid", table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) == 0 {
		t.Fatalf("table %s has no columns", table)
	}
	return cols
}

// tableRows renders every row of each table, in the given columns, one
// line a row, to compare a file before and after an upgrade.
func tableRows(t *testing.T, conn *sql.Conn, cols map[string][]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table, cs := range cols {
		rows, err := conn.QueryContext(context.Background(),
			fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(cs, ", "), table, strings.Join(cs, ", ")))
		if err != nil {
			t.Fatal(err)
		}
		out[table] = dumpRows(t, rows)
	}
	return out
}

// v7Rows insert what version 7 admits and version 6 refused: a fee debit,
// both kinds of returned payment, a booked transfer, and the two new break
// categories; the ids end in suffix and the breaks' ids start at
// breakID, so that several connections can each insert them once.
func v7Rows(suffix string, breakID int) []string {
	tx := func(id, kind, status string) string {
		return fmt.Sprintf(`INSERT INTO fuse_transactions (transaction_id, kind, account_id, currency, instructed_amount,
		   fee_amount, amount_with_fee, status, first_seq, last_seq, source, fee_source, returned_id, fee_target_id)
		 VALUES ('%s-%s', '%s', 'aaaaaaaa-0000-4000-8000-000000000001', 'AED', 100, 0, 100, '%s', 1, 1, 'backfill',
		   'primary_account', 'returned-%s', 'target-%s')`, id, suffix, kind, status, suffix, suffix)
	}
	brk := func(id int, category string) string {
		return fmt.Sprintf(`INSERT INTO breaks (id, category, subject, severity, state, first_seen, last_seen, first_run, last_run)
		 VALUES (%d, '%s', '%s-%s', 'critical', 'open', '2026-11-04T02:00:00.000000000Z', '2026-11-04T02:00:00.000000000Z', 1, 1)`,
			id, category, category, suffix)
	}
	return []string{
		tx("fee", "fee_debit", "settled"),
		tx("return-in", "local_return_payment_in", "settled"),
		tx("return-out", "local_return_payment_out", "executed"),
		tx("transfer", "internal_transfer_out", "booked"),
		brk(breakID, "closing_balance_drift"),
		brk(breakID+1, "unknown_transaction"),
	}
}

// TestVersion6FileMigratesInPlaceAndAdmitsTheNewKinds: a version-6 file
// with a month of traffic upgrades to version 7 in place, keeping every
// row as it was and passing integrity_check and every check of verify;
// then the new kinds, the booked status and the new break categories are
// admitted on the connection that migrated (the writer), on a connection
// opened before the upgrade, and on one opened after it; an unknown kind
// is still refused. The payments booked with a fee inside say so in their
// new fee_source.
func TestVersion6FileMigratesInPlaceAndAdmitsTheNewKinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := version6File(t)

	// A connection open before the upgrade, its schema read.
	before, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	beforeConn, err := before.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer beforeConn.Close()
	cols := map[string][]string{}
	for _, table := range v6Tables {
		cols[table] = columnsOf(t, beforeConn, table)
	}
	was := tableRows(t, beforeConn, cols)
	for _, table := range []string{"events", "fuse_transactions", "entries", "postings", "balances", "breaks", "recon_run_breaks"} {
		if strings.Count(was[table], "\n") == 0 {
			t.Fatalf("version-6 file has no %s to keep", table)
		}
	}
	if _, err := beforeConn.ExecContext(ctx, v7Rows("before", 100)[0]); err == nil {
		t.Fatal("version 6 admitted a fee_debit: the test does not test the upgrade")
	}

	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open of a version-6 file: %v", err)
	}
	defer l.Close()
	var version int
	if err := l.Reader().QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion() {
		t.Fatalf("user_version %d (%v) after upgrade, want %d", version, err, SchemaVersion())
	}
	if now := tableRows(t, beforeConn, cols); fmt.Sprint(now) != fmt.Sprint(was) {
		for table := range was {
			if now[table] != was[table] {
				t.Errorf("%s changed in the upgrade:\nwas\n%s\nnow\n%s", table, was[table], now[table])
			}
		}
	}
	var integrity string
	if err := l.Reader().QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check after upgrade: %q (%v)", integrity, err)
	}
	mustVerify(t, l)
	// Nobody said where any fee came from: every fee_source is NULL (a
	// payment with a fee is booked with it inside, ledger/fees.go).
	sources := dumpQueries(t, l, []string{`SELECT count(*) FROM fuse_transactions WHERE fee_source IS NULL`})
	if want := fmt.Sprint(strings.Count(was["fuse_transactions"], "\n")) + "\n--\n"; sources != want {
		t.Errorf("fee sources after upgrade:\n%s\nwant\n%s", sources, want)
	}
	var newCols int
	if err := l.Reader().QueryRow(`SELECT count(*) FROM pragma_table_info('v_transactions')
		WHERE name IN ('fee_source', 'returned_id', 'fee_target_id')`).Scan(&newCols); err != nil || newCols != 3 {
		t.Errorf("v_transactions shows %d of fee_source, returned_id, fee_target_id (%v)", newCols, err)
	}

	// The writer's connection is the one that migrated.
	if err := l.Update(ctx, func(tx *Tx) error {
		for _, s := range v7Rows("writer", 100) {
			if _, err := tx.Exec(s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}); err != nil {
		t.Errorf("the migrating connection refuses a version-7 row: %v", err)
	}
	after, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	for i, c := range []struct {
		name string
		db   interface {
			ExecContext(context.Context, string, ...any) (sql.Result, error)
		}
	}{{"before", beforeConn}, {"after", after}} {
		name := c.name
		db := c.db
		for _, s := range v7Rows(name, 200+10*i) {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Errorf("a connection opened %s the upgrade refuses a version-7 row: %v\n%s", name, err, s)
			}
		}
		bad := strings.Replace(v7Rows(name+"-bad", 0)[0], "'fee_debit'", "'fee_credit'", 1)
		if _, err := db.ExecContext(ctx, bad); err == nil || !strings.Contains(err.Error(), "CHECK") {
			t.Errorf("a connection opened %s the upgrade admits kind fee_credit: %v", name, err)
		}
	}
	if err := l.Reader().QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check with version-7 rows: %q (%v)", integrity, err)
	}
	mustVerify(t, l)
}
