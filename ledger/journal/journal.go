// Package journal writes the whole book for plain-text accounting tools
// (hledger, ledger-cli, beancount) and as CSV, so that an accountant can
// check ledgerd's balances with their own. It is a read of the book: it
// streams the ledger's postings (ledger.JournalPostings) and writes them
// out, memory not growing with the journal.
package journal

import (
	"bufio"
	"context"
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

// Format is a plain-text accounting format Export writes.
type Format string

// Export formats.
const (
	// Hledger is an hledger journal, which ledger-cli reads as well:
	// account and commodity declarations (so that `hledger check --strict`
	// passes), then one transaction per entry in date order, posted
	// entries cleared (*) on their final date, pending entries pending (!)
	// on their pending date; voided entries count in no balance and are
	// left out. Account names are ledgerd's own. `hledger balance -C`
	// gives ledgerd's posted balances, `hledger balance` posted + pending.
	Hledger Format = "hledger"
	// Beancount is a beancount file. Beancount wants capitalized root
	// types and components, so names are mapped (BeancountAccount):
	// bank:<id> → Assets:Bank:<ID>, clearing:… → Assets:Clearing:…,
	// world:payers → Income:Payers, world:payees → Expenses:Payees,
	// expense:fees → Expenses:Fees, fx:conversion → Equity:Conversion.
	Beancount Format = "beancount"
	// CSV is one row per posting, every entry state included.
	CSV Format = "csv"
)

// CSVColumns are the columns of the CSV export.
var CSVColumns = []string{"date", "entry_id", "transaction_id", "kind", "state", "ledger_account",
	"currency", "amount", "reference", "external_reference", "external_id"}

// Export writes the whole journal of l to w in format, dates in loc. It
// streams: memory does not grow with the journal.
func Export(ctx context.Context, l *ledger.Ledger, w io.Writer, format Format, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var err error
	switch format {
	case Hledger:
		err = exportHledger(ctx, l, bw, loc)
	case Beancount:
		err = exportBeancount(ctx, l, bw, loc)
	case CSV:
		err = exportCSV(ctx, l, bw, loc)
	default:
		return fmt.Errorf("export: unknown format %q", format)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return bw.Flush()
}

// names returns every ledger account and every currency, sorted.
func names(ctx context.Context, l *ledger.Ledger) (accounts []string, currencies []ledgerd.Currency, err error) {
	if accounts, err = l.LedgerAccountNames(ctx); err != nil {
		return nil, nil, err
	}
	if currencies, err = l.BalanceCurrencies(ctx); err != nil {
		return nil, nil, err
	}
	return accounts, currencies, nil
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
func description(p *ledger.JournalPosting) string {
	parts := []string{p.Kind}
	for _, s := range []string{p.Reference, p.ExternalReference} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	d := strings.Join(parts, " ")
	// A backslash too: beancount reads it as an escape, and one at the end
	// ("INV-7\") would escape the closing quote.
	return strings.NewReplacer(";", ",", "|", "/", "\"", "'", "\\", "/", "\n", " ", "\r", " ").Replace(d)
}

// entries walks the postings of the entries that count in a journal
// (voided ones left out): head is called once for each entry, with its
// date in loc and its flag ("*" posted, "!" pending), before line is
// called for each of its postings.
func entries(ctx context.Context, l *ledger.Ledger, loc *time.Location,
	head func(p *ledger.JournalPosting, date, flag string), line func(p *ledger.JournalPosting) error) error {
	last := int64(-1)
	return l.JournalPostings(ctx, false, func(p *ledger.JournalPosting) error {
		if p.EntryID != last {
			last = p.EntryID
			flag := "*"
			if p.EntryState == "pending" {
				flag = "!"
			}
			head(p, p.At.In(loc).Format("2006-01-02"), flag)
		}
		return line(p)
	})
}

func exportHledger(ctx context.Context, l *ledger.Ledger, w *bufio.Writer, loc *time.Location) error {
	accounts, currencies, err := names(ctx, l)
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
	return entries(ctx, l, loc, func(p *ledger.JournalPosting, date, flag string) {
		fmt.Fprintf(w, "\n%s %s %s\n    ; transaction_id: %s, entry: %d\n", date, flag, description(p), p.TransactionID, p.EntryID)
	}, func(p *ledger.JournalPosting) error {
		_, err := fmt.Fprintf(w, "    %s  %s %s\n", p.LedgerAccount, p.Amount.Format(p.Currency), p.Currency)
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

func exportBeancount(ctx context.Context, l *ledger.Ledger, w *bufio.Writer, loc *time.Location) error {
	accounts, currencies, err := names(ctx, l)
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
	return entries(ctx, l, loc, func(p *ledger.JournalPosting, date, flag string) {
		fmt.Fprintf(w, "\n%s %s \"%s\"\n  transaction_id: \"%s\"\n", date, flag, description(p), p.TransactionID)
	}, func(p *ledger.JournalPosting) error {
		_, err := fmt.Fprintf(w, "  %s  %s %s\n", BeancountAccount(p.LedgerAccount), p.Amount.Format(p.Currency), p.Currency)
		return err
	})
}

func exportCSV(ctx context.Context, l *ledger.Ledger, w *bufio.Writer, loc *time.Location) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	rec := make([]string, len(CSVColumns))
	err := l.JournalPostings(ctx, true, func(p *ledger.JournalPosting) error {
		rec[0] = p.At.In(loc).Format(time.RFC3339)
		rec[1] = strconv.FormatInt(p.EntryID, 10)
		rec[2], rec[3], rec[4], rec[5] = p.TransactionID, p.Kind, p.EntryState, p.LedgerAccount
		rec[6], rec[7] = string(p.Currency), p.Amount.Format(p.Currency)
		rec[8], rec[9], rec[10] = ledgerd.SpreadsheetText(p.Reference), ledgerd.SpreadsheetText(p.ExternalReference),
			ledgerd.SpreadsheetText(p.ExternalID)
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
