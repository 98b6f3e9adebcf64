package ledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestRepairBalancesRewritesThemFromThePostings: a file whose running
// balances were left wrong (as a command beside an older serve could
// leave them) fails verify, which names the repair; RepairBalances
// rewrites exactly those rows, verify passes, and the writer goes on from
// the repaired values.
func TestRepairBalancesRewritesThemFromThePostings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	obs := scenario()
	want := openTest(t, Options{})
	ingestAll(t, want, obs)
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ingestAll(t, l, obs[:len(obs)-1])

	other, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`UPDATE balances SET posted = posted + 777 WHERE ledger_account = ?`,
		BankAccount("aaaaaaaa-0000-4000-8000-000000000001")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(`INSERT INTO ledger_accounts (name, type, created_seq) VALUES ('world:nobody', 'world', 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(`INSERT INTO balances (ledger_account, currency, posted) VALUES ('world:nobody', 'AED', 5)`); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var check Check
	for _, c := range rep.Checks {
		if c.Name == "running balances equal the postings" {
			check = c
		}
	}
	if check.OK || len(check.Details) != 3 || check.Details[0] != "(derived data: `ledgerd migrate` rewrites them from the postings)" {
		t.Fatalf("verify of damaged balances: %+v, want the balances check failing on two rows with the repair named", check)
	}
	if n, err := l.RepairBalances(ctx); err != nil || n != 2 {
		t.Fatalf("RepairBalances = %d, %v; want 2 rows rewritten", n, err)
	}
	ingestAll(t, l, obs[len(obs)-1:])
	mustVerify(t, l)
	if n, err := l.RepairBalances(ctx); err != nil || n != 0 {
		t.Errorf("RepairBalances of a sound file = %d, %v; want 0", n, err)
	}
	bs, err := l.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := want.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, w := balanceMap(bs), balanceMap(wb)
	if got["world:nobody AED"] != "0/0/0" {
		t.Errorf("balance with no postings: %q, want 0/0/0", got["world:nobody AED"])
	}
	delete(got, "world:nobody AED")
	if len(got) != len(w) {
		t.Errorf("balances %v, want %v", got, w)
	}
	for k, v := range w {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
}
