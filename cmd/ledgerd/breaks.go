package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/reconcile"
)

func cmdBreaks(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "breaks", "list [--state STATE] [--json] | ack ID --note TEXT",
		`Shows and acknowledges reconciliation breaks. A break is one row per
category and subject across runs: open when a run first sees it, resolved
when a complete run no longer does (reopened if it comes back),
acknowledged by a person with a note; an acknowledged break keeps its note
and stays acknowledged while runs still see it.

  list [--state open|acknowledged|resolved|all] [--json] [--db PATH]
      breaks oldest first; by default the open and the acknowledged ones
  ack ID --note TEXT [--db PATH]
      acknowledge break ID with a note saying why it is accepted or what
      is being done about it (again: replace the note)`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageErrorf("name a subcommand: list or ack")
	}
	switch sub, rest := fs.Arg(0), fs.Args()[1:]; sub {
	case "list":
		return cmdBreaksList(ctx, e, rest)
	case "ack":
		return cmdBreaksAck(ctx, e, rest)
	default:
		return usageErrorf("unknown subcommand %q: want list or ack", sub)
	}
}

func cmdBreaksList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "breaks list", "[--state open|acknowledged|resolved|all] [--json] [--db PATH]",
		`Lists reconciliation breaks, oldest first: by default those that need a
person (open and acknowledged). Amounts are in major units in the table,
integer minor units in --json; times in LEDGERD_TZ.`)
	state := fs.String("state", "", "open, acknowledged, resolved or all (default: open and acknowledged)")
	asJSON := fs.Bool("json", false, "print a JSON array, amounts in minor units")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	var states []reconcile.State
	switch *state {
	case "":
		states = []reconcile.State{reconcile.Open, reconcile.Acknowledged}
	case "all":
	case string(reconcile.Open), string(reconcile.Acknowledged), string(reconcile.Resolved):
		states = []reconcile.State{reconcile.State(*state)}
	default:
		return usageErrorf("--state %q: want open, acknowledged, resolved or all", *state)
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	cfg, l := o.cfg, o.ledger
	defer l.Close()
	bs, err := reconcile.NewStore(l).Breaks(ctx, states...)
	if err != nil {
		return err
	}
	return printList(e.stdout, bs, *asJSON, "no breaks", func(w io.Writer, bs []reconcile.Break) error {
		printBreaks(w, bs, cfg.Location)
		return nil
	})
}

func cmdBreaksAck(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "breaks ack", "ID --note TEXT [--db PATH]",
		`Acknowledges break ID: a person has seen it, and the note says why it is
accepted or what is being done. The break stays acknowledged, with its note,
while runs still see it, and resolves when its condition clears. A resolved
break cannot be acknowledged.`)
	note := fs.String("note", "", "why the break is accepted or what is being done (required)")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	// The id may come before, between or after the flags.
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var idArg string
	switch len(rest) {
	case 0:
	case 1:
		idArg = rest[0]
	default:
		return usageErrorf("unexpected argument %q: ack takes one break id", rest[1])
	}
	id, err := strconv.ParseInt(idArg, 10, 64)
	if err != nil || id <= 0 {
		return usageErrorf("want a break id (see ledgerd breaks list), got %q", idArg)
	}
	if strings.TrimSpace(*note) == "" {
		return usageErrorf("--note is required: say why the break is accepted or what is being done")
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	cfg, l := o.cfg, o.ledger
	defer l.Close()
	b, err := reconcile.NewStore(l).AckBreak(ctx, id, *note, time.Now())
	switch {
	case errors.Is(err, reconcile.ErrNotFound), errors.Is(err, reconcile.ErrResolved):
		return usageErrorf("%v", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "break %d (%s %s) acknowledged at %s: %s\n", b.ID, b.Category, b.Subject,
		b.AckAt.In(cfg.Location).Format(time.RFC3339), b.AckNote)
	return nil
}
