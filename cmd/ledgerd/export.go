package main

import (
	"context"
	"io"

	"github.com/ledgerd/ledgerd/ledger/journal"
)

func cmdExport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "export", "--format hledger|beancount|csv [--out PATH] [--db PATH]",
		`Writes the whole journal for plain-text accounting tools, so that an
accountant can check ledgerd's balances with their own:

  hledger    an hledger journal that ledger-cli also reads: accounts and
             commodities declared, one transaction per entry in date order,
             posted entries cleared (*), pending ones pending (!), voided ones
             left out. "hledger -f FILE balance -C" shows ledgerd's posted
             balances; without -C, posted plus pending.
  beancount  the same for beancount, account names mapped to its rules:
             bank:<id> → Assets:Bank:<ID>, clearing:… → Assets:Clearing:…,
             world:payers → Income:Payers, world:payees → Expenses:Payees,
             expense:fees → Expenses:Fees, fx:conversion → Equity:Conversion
  csv        one row per posting (every state, voided included):
             date, entry_id, transaction_id, kind, state, ledger_account,
             currency, amount, reference, external_reference, external_id

Amounts are exact decimals in major units; dates are in LEDGERD_TZ.`)
	format := fs.String("format", "", "hledger, beancount or csv")
	out := fs.String("out", "-", `file to write ("-": standard output)`)
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	f := journal.Format(*format)
	switch f {
	case journal.Hledger, journal.Beancount, journal.CSV:
	case "":
		return usageErrorf("--format is required: hledger, beancount or csv")
	default:
		return usageErrorf("--format %q: want hledger, beancount or csv", *format)
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	cfg, l := o.cfg, o.ledger
	defer l.Close()
	write := func(w io.Writer) error { return journal.Export(ctx, l, w, f, cfg.Location) }
	if *out == "-" {
		return write(e.stdout)
	}
	return writeFile(*out, l.Path(), write)
}
