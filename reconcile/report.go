package reconcile

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Report is one run laid out for finance: the three sections of
// DESIGN.md's external contract (run, accounts, breaks). Every format
// writes the same sections with the same columns, in this order; amounts
// are decimal strings in major units with the currency's exponent (numbers
// with that many decimals in XLSX), timestamps RFC 3339 in the report's
// time zone (LEDGERD_TZ) with their offset.
type Report struct {
	Run      Run
	Location *time.Location
	Accounts []AccountResult
	Breaks   []Break
}

// Report sections and their columns: the external contract. Columns
// after those DESIGN.md names (detail of a run, gross_drift, ack_note) are
// appended at the end so that readers by position keep working.
var (
	RunColumns = []string{"id", "started_at", "finished_at", "time_zone", "as_of", "verdict",
		"accounts_checked", "transactions_checked", "breaks_open", "breaks_new", "breaks_resolved", "pending", "detail"}
	AccountColumns = []string{"fuse_account_id", "name", "currency", "ledger_posted", "ledger_pending",
		"fuse_balance", "drift", "gross_drift"}
	BreakColumns = []string{"break_id", "category", "severity", "fuse_account_id", "fuse_transaction_id",
		"currency", "ledger_amount", "fuse_amount", "difference", "first_seen", "last_seen", "age_days", "state",
		"detail", "ack_note"}
)

// Report reads run id (0: the latest finished run) for a report in loc:
// the run, its accounts and its breaks, in one read transaction so that
// the three parts agree.
func (s *Store) Report(ctx context.Context, id int64, loc *time.Location) (Report, error) {
	if loc == nil {
		loc = time.UTC
	}
	tx, err := s.l.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Report{}, fmt.Errorf("read run %d: %w", id, err)
	}
	defer tx.Rollback()
	run, err := getRun(ctx, tx, id)
	if err != nil {
		return Report{}, err
	}
	accts, err := runAccounts(ctx, tx, run.ID)
	if err != nil {
		return Report{}, err
	}
	bs, err := runBreaks(ctx, tx, run.ID)
	if err != nil {
		return Report{}, err
	}
	return Report{Run: run, Location: loc, Accounts: accts, Breaks: bs}, nil
}

// cell is one report value: text, or an amount (minor units in a
// currency) that XLSX writes as a number, or an integer.
type cell struct {
	text     string
	amount   *ledgerd.Amount
	currency ledgerd.Currency
	integer  *int64
}

func (c cell) String() string {
	switch {
	case c.amount != nil:
		return c.amount.Format(c.currency)
	case c.integer != nil:
		return strconv.FormatInt(*c.integer, 10)
	}
	return c.text
}

func text(s string) cell { return cell{text: s} }

func money(a *ledgerd.Amount, c ledgerd.Currency) cell {
	if a == nil {
		return cell{}
	}
	return cell{amount: a, currency: c}
}

func integer(n int64) cell { return cell{integer: &n} }

func (r Report) time(t time.Time) cell {
	if t.IsZero() {
		return cell{}
	}
	return text(t.In(r.Location).Format(time.RFC3339))
}

// table is one section: its name, columns and rows.
type table struct {
	name    string
	columns []string
	rows    [][]cell
}

func (r Report) tables() []table {
	run := r.Run
	runT := table{name: "run", columns: RunColumns, rows: [][]cell{{
		integer(run.ID), r.time(run.StartedAt), r.time(run.FinishedAt), text(r.Location.String()), r.time(run.AsOf),
		text(string(run.Verdict)), integer(int64(run.AccountsChecked)), integer(int64(run.TransactionsChecked)),
		integer(int64(run.BreaksOpen)), integer(int64(run.BreaksNew)), integer(int64(run.BreaksResolved)),
		integer(int64(run.Pending)), text(run.Detail),
	}}}
	acctT := table{name: "accounts", columns: AccountColumns}
	for _, a := range r.Accounts {
		c := a.Currency
		acctT.rows = append(acctT.rows, []cell{text(a.FuseAccountID), text(a.Name), text(string(c)),
			money(&a.LedgerPosted, c), money(&a.LedgerPending, c), money(a.FuseBalance, c), money(&a.Drift, c),
			money(&a.GrossDrift, c)})
	}
	brkT := table{name: "breaks", columns: BreakColumns}
	for _, b := range r.Breaks {
		c := b.Currency
		brkT.rows = append(brkT.rows, []cell{integer(b.ID), text(string(b.Category)), text(string(b.Severity)),
			text(b.FuseAccountID), text(b.FuseTransactionID), text(string(c)), money(b.LedgerAmount, c),
			money(b.FuseAmount, c), money(b.Difference, c), r.time(b.FirstSeen), r.time(b.LastSeen),
			integer(int64(AgeDays(b, run.FinishedAt))), text(string(b.State)), text(b.Detail), text(b.AckNote)})
	}
	return []table{runT, acctT, brkT}
}

// WriteCSV writes one file per section into dir (created if needed):
// run.csv, accounts.csv, breaks.csv, RFC 4180 (CRLF line ends), UTF-8, a
// header row first. Text cells are made safe for spreadsheets
// (ledgerd.SpreadsheetText); amounts and counts are written as they are.
// It returns the paths written.
func (r Report) WriteCSV(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("report directory: %w", err)
	}
	var paths []string
	for _, t := range r.tables() {
		p := filepath.Join(dir, t.name+".csv")
		if err := writeCSVFile(p, t); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// writeCSVFile writes one section, private (0600) like the database:
// reports carry account names and notes.
func writeCSVFile(path string, t table) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	w.UseCRLF = true // RFC 4180
	if err := w.Write(t.columns); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	rec := make([]string, len(t.columns))
	for _, row := range t.rows {
		for i, c := range row {
			rec[i] = c.String()
			if c.amount == nil && c.integer == nil {
				rec[i] = ledgerd.SpreadsheetText(c.text)
			}
		}
		if err := w.Write(rec); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes the report as one object with the three sections:
// {"run": {...}, "accounts": [...], "breaks": [...]}, keys the column
// names in column order, amounts and times as strings (amounts decimal, so
// that no reader parses money into a float), ids and counts as numbers,
// absent values as null.
func (r Report) WriteJSON(w io.Writer) error {
	var out jsonObject
	for _, t := range r.tables() {
		objs := []jsonObject{}
		for _, row := range t.rows {
			o := jsonObject{keys: t.columns, vals: make([]any, len(row))}
			for i, c := range row {
				switch {
				case c.integer != nil:
					o.vals[i] = *c.integer
				case c == (cell{}):
					o.vals[i] = nil
				default:
					o.vals[i] = c.String()
				}
			}
			objs = append(objs, o)
		}
		out.keys = append(out.keys, t.name)
		if t.name == "run" {
			out.vals = append(out.vals, objs[0])
		} else {
			out.vals = append(out.vals, objs)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// jsonObject is a JSON object whose keys keep their order (a Go map's
// would come out sorted): a report's columns read in the same order in
// every format.
type jsonObject struct {
	keys []string
	vals []any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		kv, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kv...), ':'), v...)
	}
	return append(b, '}'), nil
}
