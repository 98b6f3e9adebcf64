package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// v7Checkpoints are the rows of a version-7 file that a per-account
// backfill has read: an event, the accounts, and their checkpoints
// (account id, updated_at, last_success_at, last_error; "" for NULL).
func v7Checkpoints(accounts []string, checkpoints [][4]string) []string {
	// The event's hash chains from 32 zero bytes, as verify checks.
	sum := sha256.Sum256(append(make([]byte, 32), "{}"...))
	stmts := []string{fmt.Sprintf(`INSERT INTO events (event_id, type, source, received_at, handled, raw, prev_hash, hash)
		VALUES ('e1', 'account_opened', 'webhook', '2026-01-01T00:00:00.000000000Z', 1, x'7b7d', zeroblob(32), x'%x')`, sum)}
	for _, a := range accounts {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO fuse_accounts (account_id, currency, first_seq, last_seq) VALUES ('%s', 'AED', 1, 1)`, a))
	}
	null := func(s string) string {
		if s == "" {
			return "NULL"
		}
		return "'" + s + "'"
	}
	for _, c := range checkpoints {
		txID := "NULL"
		if c[1] != "" {
			txID = "'tx-" + c[0] + "'"
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO sync_checkpoints (account_id, updated_at, transaction_id, last_success_at, last_error)
			VALUES ('%s', %s, %s, %s, %s)`, c[0], null(c[1]), txID, null(c[2]), null(c[3])))
	}
	return stmts
}

// TestVersion7CheckpointsBecomeSyncWindows: a version-7 file upgrades in
// place; the organisation's window starts at the earliest of its
// accounts' positions (an account with no position but a run finished
// without error counts from that run), or from the start when an
// account the ledger knows has neither; each account's own window starts
// at its position; sync_checkpoints keeps every row as it was.
func TestVersion7CheckpointsBecomeSyncWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		early   = "2026-10-01T08:00:00.000000000Z"
		middle  = "2026-10-03T08:00:00.000000000Z"
		late    = "2026-10-05T08:00:00.000000000Z"
		success = "2026-10-02T08:00:00.000000000Z"
	)
	parse := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name        string
		accounts    []string
		checkpoints [][4]string
		org         string // "-": no row; "": from the start
		own         map[string]string
	}{
		{
			name:     "every account placed",
			accounts: []string{"A", "B", "C", "D"},
			checkpoints: [][4]string{
				{"A", late, late, ""},
				{"B", middle, "", "fuse: 503"}, // failing since, its position still holds
				{"C", "", success, ""},         // had nothing when it last ran
				{"D", early, early, ""},
			},
			org: early,
			own: map[string]string{"A": late, "B": middle, "C": success, "D": early},
		},
		{
			name:        "an account never read",
			accounts:    []string{"A", "B", "C"},
			checkpoints: [][4]string{{"A", late, late, ""}, {"B", "", "", "fuse: 503"}}, // C: no row
			org:         "",
			own:         map[string]string{"A": late},
		},
		{
			name:     "never backfilled",
			accounts: []string{"A"},
			org:      "-",
			own:      map[string]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fileAtVersion(t, 7, v7Checkpoints(tc.accounts, tc.checkpoints)...)
			before, err := sql.Open("sqlite", dsn(path, false))
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()
			conn, err := before.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cols := map[string][]string{"sync_checkpoints": columnsOf(t, conn, "sync_checkpoints")}
			was := tableRows(t, conn, cols)

			l, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatalf("Open of a version-7 file: %v", err)
			}
			defer l.Close()
			if now := tableRows(t, conn, cols); now["sync_checkpoints"] != was["sync_checkpoints"] {
				t.Errorf("sync_checkpoints changed in the upgrade:\nwas\n%s\nnow\n%s", was["sync_checkpoints"], now["sync_checkpoints"])
			}
			org, err := l.SyncWindow(ctx, ScopeOrg)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.org == "-" && !org.UpdatedAt.IsZero():
				t.Errorf("organisation window %+v, want none", org)
			case tc.org == "" && (org.UpdatedAt.IsZero() || !org.NextFrom.IsZero()):
				t.Errorf("organisation window %+v, want one from the start", org)
			case tc.org != "-" && tc.org != "" && !org.NextFrom.Equal(parse(tc.org)):
				t.Errorf("organisation window from %s, want %s", org.NextFrom, tc.org)
			}
			if org.Listing != nil {
				t.Errorf("organisation window has a listing in progress: %+v", org.Listing)
			}
			for _, a := range tc.accounts {
				w, err := l.SyncWindow(ctx, AccountScope(a))
				if err != nil {
					t.Fatal(err)
				}
				want, ok := tc.own[a]
				switch {
				case !ok && !w.UpdatedAt.IsZero():
					t.Errorf("account %s: window %+v, want none", a, w)
				case ok && (!w.NextFrom.Equal(parse(want)) || w.Listing != nil):
					t.Errorf("account %s: window %+v, want from %s", a, w, want)
				}
				if ok && time.Since(w.UpdatedAt) > time.Hour {
					t.Errorf("account %s: window written at %s, want about now", a, w.UpdatedAt)
				}
			}
			var integrity string
			if err := l.Reader().QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
				t.Fatalf("integrity_check after upgrade: %q (%v)", integrity, err)
			}
			mustVerify(t, l)
		})
	}
}
