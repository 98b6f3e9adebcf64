package ledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// The run's cost at a million transactions rests on how SQLite reads the
// book: every bulk query walks one index in the order the run consumes,
// holds every column it reads (no look-up in the table per row) and needs
// no sort. A schema or query change that loses this is a regression of
// minutes, not a failure any other test would see.
func TestBulkQueriesWalkCoveringIndexesInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"an account's transactions", accountTxSQL, []any{"a"}, []string{"COVERING INDEX fuse_transactions_account_id (account_id=?)"}},
		{"an account's entries", accountEntriesSQL, []any{"a"}, []string{"COVERING INDEX entries_account (account_id=?)"}},
		{"unpaired legs", unpairedLegsSQL, []any{sql.Named("as_of", "z"), sql.Named("grace", "z")},
			// SQLite does not call an index of generated columns covering,
			// but the bytecode reads nothing from the table (a deferred
			// seek that never happens): checked with EXPLAIN.
			[]string{"SCAN fuse_transactions USING INDEX fuse_transactions_legs"}},
		{"unbalanced entries", "SELECT * FROM v_unbalanced_entries", nil, []string{"SCAN postings USING COVERING INDEX postings_entry"}},
		{"duplicates", duplicatesSQL, nil, []string{"COVERING INDEX fuse_transactions_external_id"}},
	} {
		rows, err := l.reader.Query("EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var steps []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, detail)
		}
		rows.Close()
		plan := strings.Join(steps, "; ")
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan %q lacks %q", c.name, plan, w)
			}
		}
		if strings.Contains(plan, "TEMP B-TREE") && c.name != "duplicates" {
			t.Errorf("%s: plan %q sorts", c.name, plan)
		}
	}
}
