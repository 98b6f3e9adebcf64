package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ledgerd/ledgerd"
)

func TestOpenMakesAPrivateWALFileAtTheLatestVersion(t *testing.T) {
	l := openTest(t, Options{})
	fi, err := os.Stat(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %o, want 600", mode)
	}
	var mode string
	var version, fk int
	db := l.Reader()
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion() || version < 2 {
		t.Errorf("user_version %d (%v), want %d", version, err, SchemaVersion())
	}
	if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d (%v), want 1", fk, err)
	}
	// The reader pool cannot write.
	if _, err := db.Exec("INSERT INTO recon_runs (started_at, time_zone, as_of) VALUES ('x', 'UTC', 'x')"); err == nil {
		t.Error("the reader pool accepted a write")
	}
}

func TestEveryTableIsStrictAndEveryObjectIsCommented(t *testing.T) {
	l := openTest(t, Options{})
	rows, err := l.Reader().Query(`SELECT type, name, sql FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var typ, name, ddl string
		if err := rows.Scan(&typ, &name, &ddl); err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.Contains(ddl, "--") {
			t.Errorf("%s %s has no comment in its definition", typ, name)
		}
		if typ == "table" && !strings.Contains(ddl, "STRICT") {
			t.Errorf("table %s is not STRICT", name)
		}
	}
	if n < 15 {
		t.Errorf("only %d tables and views", n)
	}
	for _, v := range []string{"v_balances", "v_journal", "v_open_breaks", "v_transactions", "v_unbalanced_entries"} {
		if _, err := l.Reader().Exec("SELECT * FROM " + v + " LIMIT 1"); err != nil {
			t.Errorf("view %s: %v", v, err)
		}
	}
}

func TestOlderFileIsMigratedInPlace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := migrateTo(ctx, db, ledgerd.SchemaSQL, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO events (event_id, type, source, received_at, handled, raw, prev_hash, hash)
		VALUES ('e1', 'account_opened', 'webhook', '2026-01-01T00:00:00.000000000Z', 1, x'7b7d', zeroblob(32), zeroblob(32))`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open of a version-1 file: %v", err)
	}
	defer l.Close()
	var version int
	if err := l.Reader().QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion() {
		t.Errorf("user_version %d after upgrade, want %d", version, SchemaVersion())
	}
	if n := count(t, l.Reader(), "events"); n != 1 {
		t.Errorf("events after upgrade: %d, want the 1 row kept", n)
	}
	if n := count(t, l.Reader(), "breaks"); n != 0 {
		t.Errorf("breaks table of version 2: %d rows", n)
	}
}

func TestNewerFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "99") {
		t.Errorf("err = %v, want ErrNewerSchema naming version 99", err)
	}
}

func TestPostingsEntriesAndEventsCannotBeRewritten(t *testing.T) {
	l := openTest(t, Options{})
	ingestAll(t, l, scenario())
	for _, stmt := range []string{
		"UPDATE postings SET amount = amount + 1",
		"DELETE FROM postings",
		"UPDATE events SET raw = x'00'",
		"DELETE FROM events",
		"DELETE FROM entries",
		"UPDATE entries SET state = 'pending' WHERE state = 'posted'",
		"UPDATE entries SET state = 'voided' WHERE state = 'posted'",
		"UPDATE entries SET pending_at = '2000-01-01T00:00:00.000000000Z'",
	} {
		err := l.w.do(context.Background(), func(tx *wtx) error {
			_, err := tx.exec(stmt)
			return err
		})
		if err == nil {
			t.Errorf("%s: accepted", stmt)
		}
	}
	mustVerify(t, l)
}

func TestFailureAtAnyStatementLeavesNoPartialEntry(t *testing.T) {
	t.Parallel()
	obs := scenario()
	// Count the write statements of the whole scenario, then fail each one
	// in turn: every time, the observation being applied must vanish whole
	// and the file must verify.
	var total int
	counting := openTest(t, Options{failAfter: func(string) error { total++; return nil }})
	ingestAll(t, counting, obs)
	if total < 50 {
		t.Fatalf("only %d statements counted", total)
	}
	errInjected := errors.New("injected failure")
	// Each k on a file of its own: the runs are independent.
	for k := 1; k <= total; k += 3 {
		t.Run(fmt.Sprintf("statement %d", k), func(t *testing.T) {
			t.Parallel()
			n := 0
			l := openTest(t, Options{failAfter: func(string) error {
				n++
				if n == k {
					return errInjected
				}
				return nil
			}})
			failed := -1
			for i, o := range obs {
				before := dump(t, l)
				if _, err := l.Ingest(context.Background(), o); err != nil {
					if !errors.Is(err, errInjected) {
						t.Fatalf("k=%d: unexpected error %v", k, err)
					}
					if after := dump(t, l); after != before {
						t.Fatalf("k=%d: failed observation %d left changes behind", k, i)
					}
					failed = i
				}
			}
			if failed < 0 {
				t.Fatalf("k=%d: no observation failed", k)
			}
			mustVerify(t, l)
			// Redelivering the failed observation completes the book.
			if _, err := l.Ingest(context.Background(), obs[failed]); err != nil {
				t.Fatalf("k=%d: redelivery: %v", k, err)
			}
			mustVerify(t, l)
		})
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	l := openTest(t, Options{})
	ingestAll(t, l, scenario())
	mustVerify(t, l)
	// Someone with sqlite3 drops the guard and edits history.
	err := l.w.do(context.Background(), func(tx *wtx) error {
		for _, s := range []string{
			"DROP TRIGGER events_append_only_update",
			"UPDATE events SET raw = CAST('{\"forged\":true}' AS BLOB) WHERE seq = 4",
			"DROP TRIGGER postings_immutable_update",
			"UPDATE postings SET amount = amount + 1 WHERE id = 1",
		} {
			if _, err := tx.exec(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, c := range rep.Checks {
		if !c.OK {
			failed[c.Name] = true
		}
	}
	for _, name := range []string{"events hash chain", "every entry balances per currency", "running balances equal the postings"} {
		if !failed[name] {
			t.Errorf("check %q did not fail; report %+v", name, rep.Checks)
		}
	}
}

func TestBalancesAsOfEffectiveTimeAndSequence(t *testing.T) {
	l := openTest(t, Options{})
	ingestAll(t, l, scenario())
	ctx := context.Background()
	const A = "bank:aaaaaaaa-0000-4000-8000-000000000001 AED"
	cases := []struct {
		minute int
		want   string
	}{
		{0, ""},                     // nothing yet
		{1, "100000/0/100000"},      // funded
		{12, "100000/-20100/79900"}, // payment in flight
		{15, "79900/0/79900"},       // executed
		{20, "79900/-5000/74900"},   // second payment pending
		{21, "79900/0/79900"},       // … failed: voided
		{60, "86625/0/86625"},       // the end
	}
	for _, c := range cases {
		bs, err := l.BalancesAsOf(ctx, at(c.minute))
		if err != nil {
			t.Fatal(err)
		}
		if got := balanceMap(bs)[A]; got != c.want {
			t.Errorf("as of minute %d: %q, want %q", c.minute, got, c.want)
		}
	}
	// By ingest sequence: after the first four events only the funding of A
	// had arrived (three account_opened events, then the inbound payment).
	bs, err := l.BalancesAsOfSeq(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := balanceMap(bs)[A]; got != "100000/0/100000" {
		t.Errorf("as of seq 4: %q", got)
	}
	// The end by sequence equals the current balances.
	now, _ := l.Balances(ctx)
	last, _ := l.BalancesAsOfSeq(ctx, 1<<40)
	for k, v := range balanceMap(last) {
		if balanceMap(now)[k] != v {
			t.Errorf("%s: as of last seq %s, current %s", k, v, balanceMap(now)[k])
		}
	}
}

// TestSqlite3CLIReadsViewsWhileWriting opens the file with the real sqlite3
// program while ledgerd keeps writing, as operators do.
func TestSqlite3CLIReadsViewsWhileWriting(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sqlite3 not installed; .ci/run installs it")
		}
		t.Skip("sqlite3 not installed (scripts/install-deps installs it)")
	}
	l := openTest(t, Options{})
	obs := scenario()
	ingestAll(t, l, obs[:3])
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var s script
		s.n = 1000
		for i := range 300 {
			o := ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("50000000-0000-4000-8000-%012d", i),
				AccountID: "aaaaaaaa-0000-4000-8000-000000000001", Kind: ledgerd.KindLocalPaymentIn,
				Status: ledgerd.StatusSettled, At: at(i), Currency: "AED", Amounts: amounts(int64(i+1), 0)}
			if _, err := l.Ingest(context.Background(), s.tx(o)); err != nil {
				t.Errorf("ingest while sqlite3 reads: %v", err)
				return
			}
		}
	}()
	for range 5 {
		out, err := exec.Command(bin, "-readonly", l.Path(),
			"SELECT count(*) FROM v_balances; SELECT count(*) FROM v_journal; SELECT count(*) FROM v_transactions; SELECT count(*) FROM v_unbalanced_entries; SELECT count(*) FROM v_open_breaks;").CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3: %v\n%s", err, out)
		}
		lines := strings.Fields(string(out))
		if len(lines) != 5 || lines[3] != "0" {
			t.Fatalf("sqlite3 output %q: want 5 counts, v_unbalanced_entries 0", out)
		}
	}
	wg.Wait()
	out, err := exec.Command(bin, l.Path(), "SELECT posted FROM v_balances WHERE ledger_account = 'bank:aaaaaaaa-0000-4000-8000-000000000001'").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "45150" {
		t.Errorf("sqlite3 read posted %q (%v), want 45150 (1+2+…+300)", out, err)
	}
}

// TestFullDatabaseIsUnavailableNotRejected fills the file to its page limit:
// the failure is the storage's, so callers are told to retry (the webhook
// answers 503), not that the input was bad.
func TestFullDatabaseIsUnavailableNotRejected(t *testing.T) {
	l := openTest(t, Options{})
	ingestAll(t, l, scenario()[:3])
	var pages int64
	if err := l.Reader().QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := l.w.do(context.Background(), func(tx *wtx) error {
		_, err := tx.tx.ExecContext(tx.ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var s script
	var err error
	for i := 0; i < 10_000 && err == nil; i++ {
		o := ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("80000000-0000-4000-8000-%012d", i),
			AccountID: "aaaaaaaa-0000-4000-8000-000000000001", Kind: ledgerd.KindLocalPaymentIn,
			Status: ledgerd.StatusSettled, At: at(i), Currency: "AED", Amounts: amounts(1, 0)}
		_, err = l.Ingest(context.Background(), s.tx(o))
	}
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrUnavailable (database full)", err)
	}
	mustVerify(t, l)
	if err := l.w.do(context.Background(), func(tx *wtx) error {
		_, err := tx.tx.ExecContext(tx.ctx, "PRAGMA max_page_count = 1073741823")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenMakesAnExistingWorldReadableFilePrivate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ingestAll(t, l, scenario()[:2])
	l.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err = Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ingestAll(t, l, scenario()[2:3])
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // -wal and -shm exist only while open
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %o, want no access for group or others", p, fi.Mode().Perm())
		}
	}
}

// A version-3 file's entries get their Fuse account on upgrade, and the
// reconciler's index over them; verify then holds, and catches an entry
// whose account is edited afterwards.
func TestVersion3EntriesGetTheirAccountOnUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := fileAtVersion(t, 3, append(eventAndAccount(),
		`INSERT INTO fuse_transactions (transaction_id, kind, account_id, currency, instructed_amount, fee_amount,
		   amount_with_fee, status, status_at, created_at, first_seq, last_seq, source)
		 VALUES ('tx-1', 'local_payment_in', 'acct-1', 'AED', 100, 0, 100, 'settled',
		   '2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:00.000000000Z', 1, 1, 'webhook')`,
		`INSERT INTO entries (transaction_id, state, pending_at, final_at, created_seq, final_seq)
		 VALUES ('tx-1', 'posted', '2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:00.000000000Z', 1, 1)`)...)
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open of a version-3 file: %v", err)
	}
	defer l.Close()
	var acct sql.NullString
	if err := l.Reader().QueryRow("SELECT account_id FROM entries WHERE transaction_id = 'tx-1'").Scan(&acct); err != nil || acct.String != "acct-1" {
		t.Fatalf("entry account after upgrade: %v %v, want acct-1", acct, err)
	}
	plan := explain(t, l.Reader(), `SELECT transaction_id, state FROM entries WHERE account_id = 'acct-1' ORDER BY transaction_id`)
	if !strings.Contains(plan, "COVERING INDEX entries_account") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("an account's entries are not read in order from entries_account: %q", plan)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		// The hand-made event has no real hash: only the chain may fail.
		if !c.OK && c.Name != "events hash chain" {
			t.Errorf("check %q failed after upgrade: %v", c.Name, c.Details)
		}
	}

	// Someone moves the entry to no account: verify says so.
	if err := l.w.do(ctx, func(tx *wtx) error {
		for _, s := range []string{"DROP TRIGGER entries_two_phase", "UPDATE entries SET account_id = NULL"} {
			if _, err := tx.exec(s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rep, err = l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if c.Name == "entries follow their Fuse transactions (state, account)" {
			if c.OK || !strings.Contains(strings.Join(c.Details, "\n"), "names account none but tx-1 is on acct-1") {
				t.Errorf("moved entry not caught: %+v", c)
			}
			return
		}
	}
	t.Error("no entry check in the report")
}

// explain is the query plan of q, its details joined.
func explain(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN " + q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var details []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		details = append(details, detail)
	}
	return strings.Join(details, "; ")
}

// A path with the characters a file: URI gives a meaning (#, ?, %) names
// that very file, private, and no other.
func TestPathsWithURICharactersOpenThatFile(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a#b.db", "q?x.db", "x%41y.db", "sp ace.db"} {
		dir := t.TempDir()
		path := filepath.Join(dir, name)
		l, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := l.Ingest(context.Background(), scenario()[0]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, size %d, mode %v", name, err, fi.Size(), fi.Mode())
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != name && !strings.HasPrefix(e.Name(), name+"-") {
				t.Errorf("%s: another file %q appeared", name, e.Name())
			}
		}
	}
}
