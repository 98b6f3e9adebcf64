package reconcile

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// ExportFormat is a plain-text accounting format Export writes.
type ExportFormat string

// Export formats.
const (
	// Hledger is an hledger journal, which ledger-cli reads as well:
	// account and commodity declarations (so that `hledger check --strict`
	// passes), then one transaction per entry in date order, posted
	// entries cleared (*) on their final date, pending entries pending (!)
	// on their pending date; voided entries count in no balance and are
	// left out. Account names are ledgerd's own. `hledger balance -C`
	// gives ledgerd's posted balances, `hledger balance` posted + pending.
	Hledger ExportFormat = "hledger"
	// Beancount is a beancount file. Beancount wants capitalized root
	// types and components, so names are mapped (BeancountAccount):
	// bank:<id> → Assets:Bank:<ID>, clearing:… → Assets:Clearing:…,
	// world:payers → Income:Payers, world:payees → Expenses:Payees,
	// expense:fees → Expenses:Fees, fx:conversion → Equity:Conversion.
	Beancount ExportFormat = "beancount"
	// CSV is one row per posting, every entry state included.
	CSV ExportFormat = "csv"
)

// ExportCSVColumns are the columns of the CSV export.
var ExportCSVColumns = []string{"date", "entry_id", "transaction_id", "kind", "state", "ledger_account",
	"currency", "amount", "reference", "external_reference", "external_id"}

// exportRow is one posting with its entry.
type exportRow struct {
	entryID                  int64
	txID, state, kind        string
	pendingAt                string
	finalAt                  sql.NullString
	reference, extRef, extID sql.NullString
	account                  string
	currency                 ledgerd.Currency
	amount                   ledgerd.Amount
}

// date is when the entry counts: its final time once posted, its
// pending time while pending.
func (r *exportRow) date() string {
	if r.finalAt.Valid {
		return r.finalAt.String
	}
	return r.pendingAt
}

// Export writes the whole journal to w in format, dates in loc. It
// streams: memory does not grow with the journal.
func Export(ctx context.Context, l *ledger.Ledger, w io.Writer, format ExportFormat, loc *time.Location) error {
	db := l.Reader()
	if loc == nil {
		loc = time.UTC
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var err error
	switch format {
	case Hledger:
		err = exportHledger(ctx, db, bw, loc)
	case Beancount:
		err = exportBeancount(ctx, db, bw, loc)
	case CSV:
		err = exportCSV(ctx, db, bw, loc)
	default:
		return fmt.Errorf("export: unknown format %q", format)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// walk calls fn for every posting in date order, entry by entry.
func walk(ctx context.Context, db *sql.DB, withVoided bool, fn func(*exportRow) error) error {
	where := `WHERE e.state <> 'voided'`
	if withVoided {
		where = ``
	}
	rows, err := db.QueryContext(ctx, `SELECT e.id, e.transaction_id, e.state, e.pending_at, e.final_at, t.kind,
		t.reference, t.external_reference, t.external_id, p.ledger_account, p.currency, p.amount
		FROM entries e
		JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
		JOIN postings p ON p.entry_id = e.id `+where+`
		ORDER BY COALESCE(e.final_at, e.pending_at), e.id, p.id`)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	var r exportRow
	for rows.Next() {
		var cur string
		var a int64
		if err := rows.Scan(&r.entryID, &r.txID, &r.state, &r.pendingAt, &r.finalAt, &r.kind, &r.reference,
			&r.extRef, &r.extID, &r.account, &cur, &a); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		r.currency, r.amount = ledgerd.Currency(cur), ledgerd.Amount(a)
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func localDate(stored string, loc *time.Location) (string, error) {
	t, err := parseTS(stored)
	if err != nil {
		return "", err
	}
	return t.In(loc).Format("2006-01-02"), nil
}

// names returns every ledger account and every currency, sorted.
func names(ctx context.Context, db *sql.DB) (accounts []string, currencies []ledgerd.Currency, err error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM ledger_accounts ORDER BY name`)
	if err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("export: %w", err)
		}
		accounts = append(accounts, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	rows, err = db.QueryContext(ctx, `SELECT DISTINCT currency FROM balances ORDER BY currency`)
	if err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, nil, fmt.Errorf("export: %w", err)
		}
		currencies = append(currencies, ledgerd.Currency(c))
	}
	return accounts, currencies, rows.Err()
}

// commodityFormat is how a currency's amounts look: no digit groups in
// the amounts themselves, "." as decimal mark, the currency's decimals.
func commodityFormat(c ledgerd.Currency) string {
	return ledgerd.Amount(100000 * pow10(c.Exponent())).Format(c)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// description is the transaction line's text: kind and the references a
// person searches for. Characters that the formats treat specially are
// replaced.
func (r *exportRow) description() string {
	parts := []string{r.kind}
	for _, s := range []sql.NullString{r.reference, r.extRef} {
		if s.Valid && s.String != "" {
			parts = append(parts, s.String)
		}
	}
	d := strings.Join(parts, " ")
	// A backslash too: beancount reads it as an escape, and one at the end
	// ("INV-7\") would escape the closing quote.
	return strings.NewReplacer(";", ",", "|", "/", "\"", "'", "\\", "/", "\n", " ", "\r", " ").Replace(d)
}

func exportHledger(ctx context.Context, db *sql.DB, w *bufio.Writer, loc *time.Location) error {
	accounts, currencies, err := names(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; ledgerd journal export (hledger / ledger-cli). Posted entries are cleared (*),\n")
	fmt.Fprintf(w, "; pending entries pending (!), voided entries left out. Dates in %s.\n\n", loc)
	for _, c := range currencies {
		fmt.Fprintf(w, "commodity %s\n    format %s %s\n", c, commodityFormat(c), c)
	}
	w.WriteByte('\n')
	for _, a := range accounts {
		fmt.Fprintf(w, "account %s\n", a)
	}
	last := int64(-1)
	return walk(ctx, db, false, func(r *exportRow) error {
		if r.entryID != last {
			last = r.entryID
			d, flag, err := entryHead(r, loc)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\n%s %s %s\n    ; transaction_id: %s, entry: %d\n", d, flag, r.description(), r.txID, r.entryID)
		}
		_, err := fmt.Fprintf(w, "    %s  %s %s\n", r.account, r.amount.Format(r.currency), r.currency)
		return err
	})
}

var beancountBad = regexp.MustCompile(`[^A-Za-z0-9-]`)

// BeancountAccount maps a ledgerd account name to a beancount one.
func BeancountAccount(name string) string {
	parts := strings.Split(name, ":")
	root := map[string][]string{
		"bank":     {"Assets", "Bank"},
		"clearing": {"Assets", "Clearing"},
		"expense":  {"Expenses"},
		"fx":       {"Equity"},
	}[parts[0]]
	rest := parts[1:]
	switch name {
	case "world:payers":
		root, rest = []string{"Income", "Payers"}, nil
	case "world:payees":
		root, rest = []string{"Expenses", "Payees"}, nil
	}
	if root == nil {
		root = []string{"Equity", "Other", component(parts[0])}
	}
	out := append([]string(nil), root...)
	for _, p := range rest {
		out = append(out, component(p))
	}
	return strings.Join(out, ":")
}

// component makes a beancount account component: letters, digits and
// dashes, starting with a capital letter or a digit.
func component(s string) string {
	s = beancountBad.ReplaceAllString(s, "-")
	if s == "" {
		return "X"
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if s[0] == '-' {
		s = "X" + s
	}
	if len(s) > 1 && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") && isHex(s) {
		s = strings.ToUpper(s) // ids: one spelling
	}
	return s
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF-", r) {
			return false
		}
	}
	return true
}

func exportBeancount(ctx context.Context, db *sql.DB, w *bufio.Writer, loc *time.Location) error {
	accounts, currencies, err := names(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; ledgerd journal export (beancount). Posted entries are complete (*), pending entries\n")
	fmt.Fprintf(w, "; flagged (!), voided entries left out. Dates in %s.\n\n", loc)
	for _, c := range currencies {
		fmt.Fprintf(w, "1970-01-01 commodity %s\n", c)
	}
	w.WriteByte('\n')
	seen := map[string]bool{}
	for _, a := range accounts {
		b := BeancountAccount(a)
		if !seen[b] {
			seen[b] = true
			fmt.Fprintf(w, "1970-01-01 open %s\n", b)
		}
	}
	last := int64(-1)
	return walk(ctx, db, false, func(r *exportRow) error {
		if r.entryID != last {
			last = r.entryID
			d, flag, err := entryHead(r, loc)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "\n%s %s \"%s\"\n  transaction_id: \"%s\"\n", d, flag, r.description(), r.txID)
		}
		_, err := fmt.Fprintf(w, "  %s  %s %s\n", BeancountAccount(r.account), r.amount.Format(r.currency), r.currency)
		return err
	})
}

func exportCSV(ctx context.Context, db *sql.DB, w *bufio.Writer, loc *time.Location) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(ExportCSVColumns); err != nil {
		return err
	}
	rec := make([]string, len(ExportCSVColumns))
	err := walk(ctx, db, true, func(r *exportRow) error {
		t, err := parseTS(r.date())
		if err != nil {
			return err
		}
		rec[0] = t.In(loc).Format(time.RFC3339)
		rec[1] = strconv.FormatInt(r.entryID, 10)
		rec[2], rec[3], rec[4], rec[5] = r.txID, r.kind, r.state, r.account
		rec[6], rec[7] = string(r.currency), r.amount.Format(r.currency)
		rec[8], rec[9], rec[10] = csvText(r.reference.String), csvText(r.extRef.String), csvText(r.extID.String)
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// entryHead is what both journal formats put first for an entry: its date
// in loc, and "*" for a posted (cleared) entry or "!" for a pending one.
func entryHead(r *exportRow, loc *time.Location) (date, flag string, err error) {
	if date, err = localDate(r.date(), loc); err != nil {
		return "", "", err
	}
	if r.state == "pending" {
		return date, "!", nil
	}
	return date, "*", nil
}
