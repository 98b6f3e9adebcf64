package reconcile_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/xuri/excelize/v2"
)

// reportWorld is a month with two drifts in currencies of different
// exponents (AED 2 decimals, JPY none) and a run of it, reported in Dubai
// time, at a Fuse whose days are Dubai's too.
func reportWorld(t *testing.T) (*world, reconcile.Report) {
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, sandbox.Options{Seed: 31, HistoryZone: dubai})
	truth := w.month(4, 120)
	jpy, err := w.sb.OpenAccount(sandbox.AccountSpec{Currency: "JPY", Name: "Tokyo office", Balance: 900_000})
	if err != nil {
		t.Fatal(err)
	}
	w.ingest(without(w.sb.Truth().Transactions, nil)...)
	aed := truth.Accounts[0].AccountState
	for _, adj := range []sandbox.Adjustment{{AccountID: aed.AccountID, Amount: 12_34}, {AccountID: jpy.AccountID, Amount: 7}} {
		if _, err := w.sb.Adjust(adj); err != nil {
			t.Fatal(err)
		}
	}
	run := w.run(w.reconciler(func(o *reconcile.Options) { o.Location = dubai }))
	w.assertExactly(run, keys(drift(aed.AccountID, "AED"), drift(jpy.AccountID, "JPY")))
	rep, err := reconcile.NewStore(w.l).Report(context.Background(), 0, dubai)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.ID != run.ID {
		t.Fatalf("latest run %d, want %d", rep.Run.ID, run.ID)
	}
	return w, rep
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\r\n")) {
		t.Errorf("%s: lines do not end in CRLF (RFC 4180)", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// TestTheReportHasTheContractsSectionsInEveryFormat writes a run as CSV,
// JSON and XLSX and checks the columns, the amounts (decimal strings with
// the currency's decimals), the time zone, and that the XLSX (read back)
// holds the CSV's values, amounts as numbers.
func TestTheReportHasTheContractsSectionsInEveryFormat(t *testing.T) {
	t.Parallel()
	_, rep := reportWorld(t)
	dir := t.TempDir()
	paths, err := rep.WriteCSV(dir)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string][][]string{}
	for _, p := range paths {
		sections[strings.TrimSuffix(filepath.Base(p), ".csv")] = readCSV(t, p)
		// Private like the database: reports carry names and notes.
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", p, err, fi.Mode())
		}
	}
	for name, cols := range map[string][]string{"run": reconcile.RunColumns, "accounts": reconcile.AccountColumns, "breaks": reconcile.BreakColumns} {
		if got := sections[name]; len(got) == 0 || strings.Join(got[0], ",") != strings.Join(cols, ",") {
			t.Errorf("%s.csv header %v, want %v", name, got, cols)
		}
	}
	run := sections["run"][1]
	if run[3] != "Asia/Dubai" || !strings.HasSuffix(run[1], "+04:00") || !strings.HasSuffix(run[4], "+04:00") || run[5] != "BREAKS" {
		t.Errorf("run row %v: want Dubai times with their offset", run)
	}
	diffs := map[string]string{}
	for _, r := range sections["breaks"][1:] {
		diffs[r[5]] = r[8]
		if !strings.HasSuffix(r[9], "+04:00") || r[12] != "open" {
			t.Errorf("break row %v", r)
		}
	}
	if diffs["AED"] != "-12.34" || diffs["JPY"] != "-7" {
		t.Errorf("differences %v, want AED -12.34 and JPY -7", diffs)
	}
	for _, r := range sections["accounts"][1:] {
		if r[2] == "JPY" && (strings.Contains(r[3], ".") || r[6] != "-7") {
			t.Errorf("JPY account row %v: whole yen, drift -7", r)
		}
		if r[2] == "AED" && !strings.Contains(r[3], ".") {
			t.Errorf("AED account row %v: two decimals", r)
		}
	}

	// XLSX: the same cells, amounts as numbers with a number format.
	var xb bytes.Buffer
	if err := rep.WriteXLSX(&xb); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&xb)
	if err != nil {
		t.Fatalf("the workbook does not open: %v", err)
	}
	defer f.Close()
	if got := strings.Join(f.GetSheetList(), ","); got != "Run,Accounts,Breaks" {
		t.Errorf("sheets %s", got)
	}
	for sheet, name := range map[string]string{"Run": "run", "Accounts": "accounts", "Breaks": "breaks"} {
		rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		want := sections[name]
		if len(rows) != len(want) {
			t.Errorf("%s: %d rows, CSV has %d", sheet, len(rows), len(want))
			continue
		}
		for i := range want {
			for j := range want[i] {
				got := ""
				if j < len(rows[i]) {
					got = rows[i][j]
				}
				if got != want[i][j] {
					t.Errorf("%s row %d column %s: XLSX %q, CSV %q", sheet, i, want[0][j], got, want[i][j])
				}
			}
		}
		if p, err := f.GetPanes(sheet); err != nil || !p.Freeze || p.YSplit != 1 {
			t.Errorf("%s: header row not frozen: %+v %v", sheet, p, err)
		}
	}
	// Amount cells are numbers; their display follows the currency.
	for i, r := range sections["accounts"][1:] {
		ref, _ := excelize.CoordinatesToCellName(7, i+2) // drift
		if typ, _ := f.GetCellType("Accounts", ref); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
			t.Errorf("Accounts %s is of type %v, want a number", ref, typ)
		}
		shown, _ := f.GetCellValue("Accounts", ref)
		if r[2] == "AED" && r[6] == "-12.34" && shown != "-12.34" {
			t.Errorf("AED drift shown as %q", shown)
		}
	}

	// JSON: the same sections, amounts as decimal strings, ids as numbers.
	var jb bytes.Buffer
	if err := rep.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Run      map[string]any   `json:"run"`
		Accounts []map[string]any `json:"accounts"`
		Breaks   []map[string]any `json:"breaks"`
	}
	if err := json.Unmarshal(jb.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Run["verdict"] != "BREAKS" || doc.Run["id"] != float64(rep.Run.ID) || len(doc.Breaks) != 2 ||
		len(doc.Accounts) != len(sections["accounts"])-1 {
		t.Errorf("json report: %s", jb.String())
	}
	for _, b := range doc.Breaks {
		if _, ok := b["difference"].(string); !ok {
			t.Errorf("difference %v is not a string", b["difference"])
		}
	}
	// Keys come in column order, as in the CSV files, and the sections in
	// the order run, accounts, breaks.
	var order struct {
		Run      json.RawMessage   `json:"run"`
		Accounts []json.RawMessage `json:"accounts"`
		Breaks   []json.RawMessage `json:"breaks"`
	}
	if err := json.Unmarshal(jb.Bytes(), &order); err != nil {
		t.Fatal(err)
	}
	for name, obj := range map[string][]byte{"": jb.Bytes(), "run": order.Run, "accounts": order.Accounts[0], "breaks": order.Breaks[0]} {
		want := []string{"run", "accounts", "breaks"}
		if name != "" {
			want = sections[name][0]
		}
		if got := objectKeys(t, obj); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("json %q keys %v, want %v", name, got, want)
		}
	}
}

// objectKeys returns the keys of the JSON object in obj, in order.
func objectKeys(t *testing.T, obj []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", obj)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
