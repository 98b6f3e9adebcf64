package journal_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger/journal"
)

// tool finds a command-line tool the project installs
// (scripts/install-deps.sh): a test needing it fails under CI without it
// and is skipped elsewhere.
func tool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed; .ci/run installs it (scripts/install-deps.sh)", name)
		}
		t.Skipf("%s not installed (scripts/install-deps.sh installs it)", name)
	}
	return bin
}

// monthWithPending is a booked month plus two payments still in flight.
func monthWithPending(t *testing.T) *world {
	w := newWorld(t, 21)
	truth := w.month(8, 400)
	w.pay(truth.Accounts[0].AccountID, 12_34)
	w.pay(truth.Accounts[1].AccountID, 5_00)
	return w
}

func export(t *testing.T, w *world, f journal.Format, loc *time.Location) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export."+string(f))
	var buf bytes.Buffer
	if err := journal.Export(context.Background(), w.l, &buf, f, loc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ledgerdBalances renders ledgerd's balances as "account currency amount"
// lines, zero balances left out, posted or posted + pending.
func ledgerdBalances(t *testing.T, w *world, withPending bool) []string {
	t.Helper()
	bs, err := w.l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		a := b.Posted
		if withPending {
			a += b.Pending
		}
		if a != 0 {
			out = append(out, b.LedgerAccount+" "+string(b.Currency)+" "+a.Format(b.Currency))
		}
	}
	sort.Strings(out)
	return out
}

// hledgerBalances runs `hledger balance` as CSV and renders it the same
// way.
func hledgerBalances(t *testing.T, bin, path string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-f", path, "balance", "--flat", "--no-total", "-O", "csv"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderrOf(err))
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("hledger csv: %v\n%s", err, out)
	}
	var lines []string
	for _, r := range recs[1:] {
		for _, a := range strings.Split(r[1], ", ") {
			amount, cur, ok := strings.Cut(strings.TrimSpace(a), " ")
			if !ok || strings.Trim(amount, "-0.") == "" {
				continue
			}
			lines = append(lines, r[0]+" "+cur+" "+amount)
		}
	}
	sort.Strings(lines)
	return lines
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestTheHledgerExportPassesCheckAndGivesLedgerdsBalances: an accountant
// with hledger gets the same balances as `ledgerd balances`, cleared
// postings alone giving the posted balances, all of them posted + pending.
func TestTheHledgerExportPassesCheckAndGivesLedgerdsBalances(t *testing.T) {
	t.Parallel()
	bin := tool(t, "hledger")
	w := monthWithPending(t)
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	path := export(t, w, journal.Hledger, dubai)
	if out, err := exec.Command(bin, "-f", path, "check", "--strict", "ordereddates").CombinedOutput(); err != nil {
		t.Fatalf("hledger check: %v\n%s", err, out)
	}
	posted := ledgerdBalances(t, w, false)
	if len(posted) < 10 {
		t.Fatalf("only %d balances: the month did not book", len(posted))
	}
	if got := hledgerBalances(t, bin, path, "--cleared"); strings.Join(got, "\n") != strings.Join(posted, "\n") {
		t.Errorf("hledger balance --cleared:\n%s\nledgerd posted:\n%s", strings.Join(got, "\n"), strings.Join(posted, "\n"))
	}
	all := ledgerdBalances(t, w, true)
	if got := hledgerBalances(t, bin, path); strings.Join(got, "\n") != strings.Join(all, "\n") {
		t.Errorf("hledger balance:\n%s\nledgerd posted + pending:\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
	}
}

// TestLedgerCLIReadsTheExport: ledger-cli (3.x) reads the same journal and
// balances every account to the same totals.
func TestLedgerCLIReadsTheExport(t *testing.T) {
	t.Parallel()
	bin := tool(t, "ledger")
	w := monthWithPending(t)
	path := export(t, w, journal.Hledger, time.UTC)
	out, err := exec.Command(bin, "-f", path, "--cleared", "balance", "--flat", "--no-total", "--format",
		"%(account)\t%(scrub(display_total))\n").CombinedOutput()
	if err != nil {
		t.Fatalf("ledger balance: %v\n%s", err, out)
	}
	// A multi-currency total continues on lines of its own.
	var got []string
	acct := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		amount := line
		if a, rest, ok := strings.Cut(line, "\t"); ok {
			acct, amount = a, rest
		}
		if n, cur, ok := strings.Cut(strings.TrimSpace(amount), " "); ok && strings.Trim(n, "-0.") != "" {
			got = append(got, acct+" "+cur+" "+n)
		}
	}
	sort.Strings(got)
	if want := ledgerdBalances(t, w, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ledger --cleared balance:\n%s\nledgerd posted:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTheBeancountExportUsesBeancountNames checks the mapping and the
// file's shape (beancount itself is not a Debian package the project
// installs).
func TestTheBeancountExportUsesBeancountNames(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"bank:0a1b2c3d-0000-4000-8000-00000000000f": "Assets:Bank:0A1B2C3D-0000-4000-8000-00000000000F",
		"clearing:fx:USD":   "Assets:Clearing:Fx:USD",
		"clearing:internal": "Assets:Clearing:Internal",
		"world:payers":      "Income:Payers",
		"world:payees":      "Expenses:Payees",
		"expense:fees":      "Expenses:Fees",
		"fx:conversion":     "Equity:Conversion",
	} {
		if got := journal.BeancountAccount(in); got != want {
			t.Errorf("BeancountAccount(%q) = %q, want %q", in, got, want)
		}
	}
	w := monthWithPending(t)
	b, err := os.ReadFile(export(t, w, journal.Beancount, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"1970-01-01 open Assets:Bank:", "1970-01-01 commodity AED", " * \"local_payment_in",
		" ! \"local_payment_out", "  Income:Payers  -"} {
		if !strings.Contains(s, want) {
			t.Errorf("beancount export lacks %q", want)
		}
	}
}

// TestTheCSVExportHasEveryPosting: one row per posting, voided ones too.
func TestTheCSVExportHasEveryPosting(t *testing.T) {
	t.Parallel()
	w := monthWithPending(t)
	f, err := os.Open(export(t, w, journal.CSV, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := w.l.Reader().QueryRow(`SELECT count(*) FROM postings`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || strings.Join(recs[0], ",") != strings.Join(journal.CSVColumns, ",") {
		t.Fatalf("%d rows for %d postings; header %v", len(recs), n, recs[0])
	}
	sums := map[string]ledgerd.Amount{}
	for _, r := range recs[1:] {
		if r[4] == "voided" {
			continue
		}
		a, err := ledgerd.ParseMajor(r[7], ledgerd.Currency(r[6]))
		if err != nil {
			t.Fatal(err)
		}
		sums[r[6]] += a
	}
	for c, s := range sums {
		if s != 0 {
			t.Errorf("%s postings sum to %d, want 0", c, s)
		}
	}
}
