package reconcile_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/reconcile"
)

// Text in a report comes partly from outside ledgerd (account names set
// at Fuse, references chosen by payers, notes typed by people). A CSV cell
// that starts like a formula would be run by the spreadsheet finance opens
// it in; it is written with an apostrophe in front. Amounts stay numbers,
// negative ones included.
func TestCSVReportCellsNeverStartAFormula(t *testing.T) {
	neg := ledgerd.Amount(-1234)
	at := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	cases := map[string]string{
		`=HYPERLINK("http://evil.example","x")`: `'=HYPERLINK("http://evil.example","x")`,
		"+1+1":                                  "'+1+1",
		"-2-2":                                  "'-2-2",
		"@SUM(A1)":                              "'@SUM(A1)",
		"\t=1":                                  "'\t=1",
		"Ops = main":                            "Ops = main",
		"":                                      "",
	}
	for name, want := range cases {
		rep := reconcile.Report{Location: time.UTC, Run: reconcile.Run{ID: 1, StartedAt: at, FinishedAt: at, AsOf: at},
			Accounts: []reconcile.AccountResult{{FuseAccountID: "a1", Name: name, Currency: "AED", LedgerPosted: neg, Drift: neg}}}
		dir := t.TempDir()
		if _, err := rep.WriteCSV(dir); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "accounts.csv"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		row := recs[1]
		if row[1] != want {
			t.Errorf("name %q written as %q, want %q", name, row[1], want)
		}
		if row[3] != "-12.34" || row[6] != "-12.34" {
			t.Errorf("amounts %q and %q, want -12.34 untouched", row[3], row[6])
		}
	}
}
