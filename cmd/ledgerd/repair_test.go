package main

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"
)

// TestMigrateRewritesTheRunningBalancesVerifyFoundWrong: a file damaged
// by the old bug (serve writing balances over a command's commit) fails
// verify, which names the repair; `ledgerd migrate` rewrites the balances
// from the postings and says so; verify then passes.
func TestMigrateRewritesTheRunningBalancesVerifyFoundWrong(t *testing.T) {
	path := seedFile(t)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE balances SET posted = posted - 12345 WHERE ledger_account LIKE 'bank:%'`)
	if err != nil {
		t.Fatal(err)
	}
	damaged, err := res.RowsAffected()
	if err != nil || damaged == 0 {
		t.Fatalf("damaged %d rows (%v)", damaged, err)
	}
	env := map[string]string{"LEDGERD_DB": path}
	code, out, _ := ledgerdRun(t, env, "verify")
	if code != 1 || !strings.Contains(out, "FAIL running balances equal the postings") || !strings.Contains(out, "ledgerd migrate") {
		t.Fatalf("verify of a damaged file: exit %d\n%s\nwant 1, the balances check failing and naming migrate", code, out)
	}
	code, out, errOut := ledgerdRun(t, env, "migrate")
	if code != 0 || !strings.Contains(out, "rewrote "+strconv.FormatInt(damaged, 10)+" running balances from the postings") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := ledgerdRun(t, env, "verify"); code != 0 {
		t.Errorf("verify after migrate: exit %d\n%s", code, out)
	}
	if code, out, _ := ledgerdRun(t, env, "migrate"); code != 0 || strings.Contains(out, "rewrote") {
		t.Errorf("migrate of a sound file: exit %d\n%s", code, out)
	}
}
