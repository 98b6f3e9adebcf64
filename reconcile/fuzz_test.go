package reconcile_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/reconcile"
)

// FuzzReportWriters writes reports whose text comes from the fuzzer (names,
// ids, details and notes with commas, quotes, newlines, unicode, formulas)
// and whose amounts are any int64, in every format: no writer panics; the
// CSV parses back with encoding/csv to the same cells, text that a
// spreadsheet would run as a formula neutralised; the JSON is valid and
// keeps every value; the XLSX opens again. The text goes wherever a report
// carries text from outside ledgerd: account name, ids, detail, note, and
// the time zone's name.
func FuzzReportWriters(f *testing.F) {
	f.Add("Ops, \"main\" account", "=HYPERLINK(\"http://x\",\"y\")", "+1+1", "@SUM(A1)", "line1\nline2\r\nline3", "Asia/Dubai", int64(-1234), int64(7), "JPY")
	f.Add("-2+3", "\t=cmd", "Zoë Ångström 🏦", "", "\x00\x1f\x7f", "UTC", int64(1<<62), int64(-1<<63), "BHD")
	f.Add("", "", "", "", "", "", int64(0), int64(0), "AED")
	f.Fuzz(func(t *testing.T, name, detail, note, id, txID, zone string, a1, a2 int64, cur string) {
		c := ledgerd.Currency(cur)
		if !c.Valid() {
			c = "AED"
		}
		loc := time.FixedZone(zone, 4*3600)
		at := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
		amt1, amt2 := ledgerd.Amount(a1), ledgerd.Amount(a2)
		rep := reconcile.Report{
			Location: loc,
			Run: reconcile.Run{ID: 7, StartedAt: at, FinishedAt: at.Add(time.Minute), AsOf: at, TimeZone: zone,
				Verdict: reconcile.Breaks, Detail: detail},
			Accounts: []reconcile.AccountResult{{FuseAccountID: id, Name: name, Currency: c, LedgerPosted: amt1,
				LedgerPending: amt2, FuseBalance: &amt2, Drift: amt1, GrossDrift: amt2}},
			Breaks: []reconcile.Break{{ID: 1, Category: reconcile.Category(detail), Severity: "high", FuseAccountID: id,
				FuseTransactionID: txID, Currency: c, LedgerAmount: &amt1, Difference: &amt2, Detail: detail,
				State: "open", FirstSeen: at, LastSeen: at, AckNote: note}},
		}

		// CSV.
		dir := t.TempDir()
		paths, err := rep.WriteCSV(dir)
		if err != nil {
			t.Fatalf("WriteCSV: %v", err)
		}
		sections := map[string][][]string{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil {
				t.Fatalf("%s does not parse back: %v\n%q", filepath.Base(p), err, b)
			}
			sections[strings.TrimSuffix(filepath.Base(p), ".csv")] = recs
		}
		for sec, cols := range map[string][]string{"run": reconcile.RunColumns, "accounts": reconcile.AccountColumns, "breaks": reconcile.BreakColumns} {
			recs := sections[sec]
			if len(recs) != 2 || strings.Join(recs[0], "\x00") != strings.Join(cols, "\x00") {
				t.Fatalf("%s.csv: %d records, header %q", sec, len(recs), recs[0])
			}
			for _, r := range recs {
				if len(r) != len(cols) {
					t.Fatalf("%s.csv: a record of %d fields, header has %d", sec, len(r), len(cols))
				}
			}
		}
		col := func(sec, name string) string {
			recs := sections[sec]
			for i, h := range recs[0] {
				if h == name {
					return recs[1][i]
				}
			}
			t.Fatalf("%s.csv has no column %s", sec, name)
			return ""
		}
		for _, chk := range []struct{ sec, col, want string }{
			{"run", "detail", detail}, {"run", "time_zone", zone},
			{"accounts", "name", name}, {"accounts", "fuse_account_id", id},
			{"breaks", "detail", detail}, {"breaks", "ack_note", note}, {"breaks", "fuse_transaction_id", txID},
			{"breaks", "category", detail},
		} {
			if got, want := col(chk.sec, chk.col), csvExpected(chk.want); got != want {
				t.Fatalf("%s.csv %s: %q, want %q", chk.sec, chk.col, got, want)
			}
		}
		// Amounts stay numbers, never neutralised, whatever their sign.
		if got := col("accounts", "ledger_posted"); got != amt1.Format(c) {
			t.Fatalf("ledger_posted %q, want %q", got, amt1.Format(c))
		}
		if got := col("breaks", "difference"); got != amt2.Format(c) {
			t.Fatalf("difference %q, want %q", got, amt2.Format(c))
		}

		// JSON: valid, and every value as encoding/json keeps a string.
		var jb bytes.Buffer
		if err := rep.WriteJSON(&jb); err != nil {
			t.Fatalf("WriteJSON: %v", err)
		}
		if !json.Valid(jb.Bytes()) {
			t.Fatalf("invalid JSON:\n%s", jb.String())
		}
		var doc struct {
			Run      map[string]any   `json:"run"`
			Accounts []map[string]any `json:"accounts"`
			Breaks   []map[string]any `json:"breaks"`
		}
		if err := json.Unmarshal(jb.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Accounts) != 1 || len(doc.Breaks) != 1 {
			t.Fatalf("json sections: %s", jb.String())
		}
		for _, chk := range []struct {
			got  any
			want string
		}{{doc.Run["detail"], detail}, {doc.Accounts[0]["name"], name}, {doc.Breaks[0]["ack_note"], note},
			{doc.Accounts[0]["ledger_posted"], amt1.Format(c)}} {
			if chk.want == "" {
				if chk.got != nil {
					t.Fatalf("json value %q, want null for an empty cell", chk.got)
				}
				continue
			}
			if chk.got != jsonExpected(chk.want) {
				t.Fatalf("json value %q, want %q", chk.got, jsonExpected(chk.want))
			}
		}

		// XLSX: written, and it opens again with its three sheets.
		var xb bytes.Buffer
		if err := rep.WriteXLSX(&xb); err != nil {
			if utf8.ValidString(name+detail+note+id+txID+zone) && len(name+detail+note+id+txID) < 32767 {
				t.Fatalf("WriteXLSX refused valid text: %v", err)
			}
			return
		}
		x, err := excelize.OpenReader(&xb)
		if err != nil {
			t.Fatalf("the workbook does not open: %v", err)
		}
		defer x.Close()
		if got := strings.Join(x.GetSheetList(), ","); got != "Run,Accounts,Breaks" {
			t.Fatalf("sheets %s", got)
		}
	})
}

// csvExpected is what a text cell reads back as from the CSV: a cell a
// spreadsheet would run as a formula gets an apostrophe in front, and
// carriage returns do not survive encoding/csv with CRLF line ends (the
// writer drops a lone CR and the reader turns CRLF into LF).
func csvExpected(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return strings.ReplaceAll(s, "\r", "")
}

func jsonExpected(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
