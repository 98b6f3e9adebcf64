package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ledgerd/ledgerd/internal/term"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
)

func cmdQuarantine(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "quarantine", "list [--state held|replayed|discarded|all] [--json] [--db PATH] | replay ID [--db PATH]",
		`Webhook bodies that could not be accepted (malformed JSON, missing fields,
amounts out of range) are kept in the quarantine table with the reason,
never dropped. "list" shows them; "replay ID" decodes the stored body again
(after a fix to ledgerd) and, if it is now acceptable, ingests it and marks
it replayed, in one transaction. A body over 64 KiB is kept truncated, with
its length and SHA-256: list shows BYTES as "kept/received" for it (--json:
length, kept, truncated, sha256), and replay refuses it (exit 1). A body
kept because its event_id came before with another body (reason
event_id_reused; the first body was applied and stands) cannot be replayed
either: replay says so, exits 1, and the body stays held.`)
	state := fs.String("state", "held", "which bodies to list: held, replayed, discarded or all")
	asJSON := fs.Bool("json", false, "list as JSON")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageErrorf("say list or replay ID")
	}
	switch rest[0] {
	case "list":
		if len(rest) != 1 {
			return usageErrorf("unexpected argument %q: list takes flags only", rest[1])
		}
		switch *state {
		case "held", "replayed", "discarded", "all":
		default:
			return usageErrorf("--state %q: want held, replayed, discarded or all", *state)
		}
		o, err := openLedger(ctx, e, *db)
		if err != nil {
			return err
		}
		l := o.ledger
		defer l.Close()
		st := *state
		if st == "all" {
			st = ""
		}
		qs, err := l.QuarantineList(ctx, st)
		if err != nil {
			return err
		}
		if qs == nil {
			qs = []ledger.Quarantined{} // [], like breaks list --json
		}
		return printList(e.stdout, qs, *asJSON, fmt.Sprintf("no %s bodies in quarantine", *state), printQuarantined)
	case "replay":
		if len(rest) != 2 {
			return usageErrorf("replay takes one quarantine ID")
		}
		id, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil {
			return usageErrorf("quarantine ID %q is not a number", rest[1])
		}
		o, err := openLedger(ctx, e, *db)
		if err != nil {
			return err
		}
		l := o.ledger
		defer l.Close()
		q, err := l.QuarantineGet(ctx, id)
		if errors.Is(err, ledger.ErrNotFound) {
			return usageErrorf("no quarantined body %d", id)
		}
		if err != nil {
			return err
		}
		if q.Truncated {
			fmt.Fprintf(e.stderr, "ledgerd quarantine replay: body %d was kept truncated (%d of %d bytes, sha256 %s): "+
				"what is stored is not what was sent, and it is never replayed\n", id, q.Kept, q.Length, q.SHA256)
			return errProblem
		}
		obs, err := webhook.Decode(q.Raw, webhook.Header{ReceivedAt: q.ReceivedAt, Source: q.Source})
		if err != nil {
			fmt.Fprintf(e.stderr, "ledgerd quarantine replay: body %d is still not acceptable: %v\n", id, err)
			return errProblem
		}
		res, err := l.ReplayQuarantined(ctx, id, obs)
		if errors.Is(err, ledger.ErrEventIDReused) {
			fmt.Fprintf(e.stderr, "ledgerd quarantine replay: body %d: %v; the stored body stands, "+
				"and this one cannot be ingested under the same event_id: it stays held as evidence\n", id, err)
			return errProblem
		}
		if err != nil {
			return err
		}
		if res.Duplicate {
			fmt.Fprintf(e.stdout, "body %d: event %s was already stored (seq %d); marked replayed\n", id, obs.Event.ID, res.Seq)
		} else {
			fmt.Fprintf(e.stdout, "body %d: ingested as event %s (seq %d)\n", id, obs.Event.ID, res.Seq)
		}
		return nil
	}
	return usageErrorf("unknown quarantine action %q: say list or replay ID", rest[0])
}

// printQuarantined writes quarantined bodies as a table.
func printQuarantined(w io.Writer, qs []ledger.Quarantined) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSTATE\tREASON\tBYTES\tDETAIL")
	for _, q := range qs {
		size := strconv.FormatInt(q.Length, 10)
		if q.Truncated {
			size = fmt.Sprintf("%d/%d", q.Kept, q.Length)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.ReceivedAt.Format(time.RFC3339), q.State,
			term.Printable(q.Reason), size, term.Printable(q.Detail))
	}
	return tw.Flush()
}
