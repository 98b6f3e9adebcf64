package ledger

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd"
)

// Bulk ingest. Most observations are a transaction seen for the first time,
// with its amounts and currency, on an account already known: the usual
// way (ingest) books each with four one-row INSERTs (events,
// fuse_transactions, entries, postings), and the cost of a statement is
// mostly the same whatever its row count (binding, cursors, the constraint
// checks' set-up). So when a group commit carries several such
// observations, the writer plans them in Go, in order, exactly as the usual
// way would, and writes them with multi-row INSERTs: the same rows, with
// the same values, seqs and ids, in the same order (rowids are handed out
// one after the other within a statement).
//
// An observation qualifies only if the usual way would issue nothing but
// those four INSERTs for it and change no cache but the running balances:
// its event_id and transaction_id are in neither the file (looked up for
// the whole group at once) nor anything applied before it in the group;
// its accounts and the ledger accounts of its postings are cached, with
// their currencies known; it carries a currency and amounts, and its entry
// can be booked now. Any other observation is applied the usual way, at its
// place in the order, after what qualified before it has been written.
// Everything runs in the group commit's transaction, in the optimistic
// pass only: if anything fails, the batch is rolled back and run again one
// unit at a time, the usual way (writer.go).

// bulkMin is the fewest observations for which a group of ingest units is
// applied together rather than one unit at a time.
const bulkMin = 4

// bulkChunks are the row counts of the multi-row INSERTs, largest first: a
// run is written in chunks of these sizes, so that a handful of statement
// texts (prepared once) serve every run length.
var bulkChunks = [...]int{64, 32, 16, 8, 4, 2, 1}

// lookupSlots is the number of ids one existence look-up takes (unused
// slots are NULL).
const lookupSlots = 64

// ingestUnit is the work of Ingest or IngestAll: observations applied in
// order, all or nothing, then after (IngestAll's fn), if any.
type ingestUnit struct {
	obs   []ledgerd.Observation
	all   bool // IngestAll: an error names the observation
	after func(*Tx) error
	res   []Result
}

// wrap names observation i in err, as IngestAll reports it.
func (iu *ingestUnit) wrap(i int, err error) error {
	if !iu.all {
		return err
	}
	return fmt.Errorf("observation %d (event %s): %w", i, iu.obs[i].Event.ID, err)
}

// apply is the unit applied on its own, the usual way.
func (t *wtx) apply(iu *ingestUnit) error {
	iu.res = iu.res[:0]
	for i, o := range iu.obs {
		r, err := t.ingest(o)
		if err != nil {
			return iu.wrap(i, err)
		}
		iu.res = append(iu.res, r)
	}
	if iu.after != nil {
		return iu.after(&Tx{t: t})
	}
	return nil
}

// errBulk reports a failed multi-row INSERT whose rows came from more than
// one unit: which one is at fault is not known, so the batch is run again
// unit by unit.
var errBulk = errors.New("bulk write failed")

// bulkItem is one qualifying observation, planned.
type bulkItem struct {
	unit        int // index in the group
	iu          *ingestUnit
	k           int // index in iu.obs
	ev          ledgerd.Event
	handled     bool
	o           ledgerd.TransactionObservation
	at, created sql.NullString
	prev, sum   []byte // the hash chain
	entry       *entryPlan
}

// bulkGroup applies the observations of consecutive ingest units.
type bulkGroup struct {
	t *wtx
	// events and txs map every event_id and transaction_id looked up or
	// applied so far to whether it exists; an id absent from the map has
	// not been looked up.
	events, txs map[string]bool
	// feeTargets holds the payments with a fee that a fee debit names, in
	// the file (looked up with the rest) or applied so far: booking one
	// records the fee booked twice (feeDebitFor), which only the usual way
	// does.
	feeTargets map[string]bool
	run        []*bulkItem // planned, not written yet
}

// ingestGroup applies units in order, as apply would one by one. On error,
// failed is the index of the unit at fault, or -1 when it is not known
// (errBulk); the caller rolls the whole transaction back either way.
func (t *wtx) ingestGroup(units []*ingestUnit) (failed int, err error) {
	g := &bulkGroup{t: t, events: map[string]bool{}, txs: map[string]bool{}, feeTargets: map[string]bool{}}
	for _, iu := range units {
		iu.res = nil
		if len(iu.obs) > 0 {
			iu.res = make([]Result, len(iu.obs))
		}
	}
	if err := g.lookup(units); err != nil {
		return -1, err
	}
	for ui, iu := range units {
		for k, obs := range iu.obs {
			it, err := g.plan(ui, iu, k, obs)
			if err != nil {
				return ui, iu.wrap(k, err)
			}
			if it != nil {
				g.run = append(g.run, it)
				continue
			}
			if failed, err := g.flush(); err != nil {
				return failed, err
			}
			if obs.Transaction != nil && g.txs[obs.Transaction.TransactionID] {
				t.known = obs.Transaction.TransactionID
			}
			r, err := t.ingest(obs)
			t.known = ""
			g.events[obs.Event.ID] = true
			if obs.Transaction != nil {
				g.txs[obs.Transaction.TransactionID] = true
				if id := obs.Transaction.FeeTargetID; id != "" {
					g.feeTargets[id] = true
				}
			}
			if err != nil {
				return ui, iu.wrap(k, err)
			}
			iu.res[k] = r
		}
		if iu.after != nil {
			if failed, err := g.flush(); err != nil {
				return failed, err
			}
			if err := iu.after(&Tx{t: t}); err != nil {
				return ui, err
			}
			// The callback may have written anything: look again.
			clear(g.events)
			clear(g.txs)
			clear(g.feeTargets)
			if err := g.lookup(units[ui+1:]); err != nil {
				return -1, err
			}
		}
	}
	return g.flush()
}

// candidate reports whether obs could qualify, by what it says alone.
func candidate(obs ledgerd.Observation) bool {
	ev := obs.Event
	if ev.ID == "" || ev.Type == "" || !ev.Source.Valid() || len(ev.Raw) == 0 ||
		obs.Account != nil || obs.Transaction == nil {
		return false
	}
	o := obs.Transaction
	// A fee debit's target is looked at when it is recorded
	// (checkFeeTarget): the usual way.
	return o.Currency != "" && o.Amounts != nil && o.FeeTargetID == "" && validateTx(*o) == nil
}

// lookup finds which event_ids and transaction_ids of the candidates among
// the units' observations exist in the file.
func (g *bulkGroup) lookup(units []*ingestUnit) error {
	var evs, txs, fees []string
	for _, iu := range units {
		for _, obs := range iu.obs {
			// Every transaction, so that those known are applied without
			// a failed insert first (t.known).
			if obs.Transaction != nil && obs.Transaction.TransactionID != "" {
				if _, ok := g.txs[obs.Transaction.TransactionID]; !ok {
					g.txs[obs.Transaction.TransactionID] = false
					txs = append(txs, obs.Transaction.TransactionID)
				}
			}
			if !candidate(obs) {
				continue
			}
			if o := obs.Transaction; feeInside(stateOf(*o, sql.NullString{}, sql.NullString{})) {
				fees = append(fees, o.TransactionID)
			}
			if _, ok := g.events[obs.Event.ID]; !ok {
				g.events[obs.Event.ID] = false
				evs = append(evs, obs.Event.ID)
			}
		}
	}
	if err := g.exist(g.events, evs, "SELECT event_id FROM events WHERE event_id IN "); err != nil {
		return fmt.Errorf("look up events: %w", err)
	}
	if err := g.exist(g.txs, txs, "SELECT transaction_id FROM fuse_transactions WHERE transaction_id IN "); err != nil {
		return fmt.Errorf("look up transactions: %w", err)
	}
	if err := g.exist(g.feeTargets, fees, "SELECT fee_target_id FROM fuse_transactions WHERE fee_target_id IN "); err != nil {
		return fmt.Errorf("look up fee debits: %w", err)
	}
	return nil
}

// exist marks in known the ids that query (… IN, followed by lookupSlots
// placeholders) finds.
func (g *bulkGroup) exist(known map[string]bool, ids []string, query string) error {
	q := query + lookupList
	args := make([]any, lookupSlots)
	for len(ids) > 0 {
		n := min(len(ids), lookupSlots)
		for i := range args {
			args[i] = nil
			if i < n {
				args[i] = ids[i]
			}
		}
		ids = ids[n:]
		rows, err := g.t.query(q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			known[id] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// lookupList is "(?, ?, …)" with lookupSlots placeholders.
var lookupList = func() string {
	q := insertRows("", "?", lookupSlots)
	return "(" + q + ")"
}()

// plan returns obs planned for a multi-row write if it qualifies, else nil
// (apply it the usual way). Planning does what the usual way does besides
// the INSERTs, in the same order: it extends the hash chain and adds the
// postings to the running balances, and so fails where the usual way would
// (a balance overflow).
func (g *bulkGroup) plan(ui int, iu *ingestUnit, k int, obs ledgerd.Observation) (*bulkItem, error) {
	t := g.t
	if !candidate(obs) {
		return nil, nil
	}
	ev, o := obs.Event, *obs.Transaction
	if exists, ok := g.events[ev.ID]; !ok || exists {
		return nil, nil
	}
	if exists, ok := g.txs[o.TransactionID]; !ok || exists || g.feeTargets[o.TransactionID] {
		return nil, nil
	}
	// applyAccount would change nothing: the accounts are known, and so is
	// any currency the observation gives them.
	if c, ok := t.w.cache.accounts[o.AccountID]; !ok || !c.Valid {
		return nil, nil
	}
	if id := o.CounterpartAccountID; id != "" {
		if c, ok := t.w.cache.accounts[id]; !ok || (!c.Valid && o.CounterpartCurrency != "") {
			return nil, nil
		}
	}
	at, created := txTimes(o)
	entry, err := t.planEntry(o.TransactionID, stateOf(o, at, created))
	if entry == nil || err != nil {
		return nil, nil // waiting or refused: the usual way says which
	}
	for _, p := range entry.postings {
		if !t.w.cache.ledgerAccounts[p.Account] {
			return nil, nil
		}
	}
	g.events[ev.ID], g.txs[o.TransactionID] = true, true
	it := &bulkItem{unit: ui, iu: iu, k: k, ev: ev, handled: obs.Handled(), o: o, at: at, created: created,
		prev: t.w.cache.lastHash, entry: entry}
	it.sum = chain(it.prev, ev.Raw)
	t.w.cache.lastHash = it.sum
	for _, p := range entry.postings {
		if err := t.addToBalance(p, entry.want, 1); err != nil {
			return nil, fmt.Errorf("book transaction %s: %w", o.TransactionID, err)
		}
	}
	return it, nil
}

// flush writes the planned run. A failure is put on the run's unit if it
// has only one, else on no unit (errBulk).
func (g *bulkGroup) flush() (failed int, err error) {
	run := g.run
	g.run = g.run[:0]
	for len(run) > 0 {
		n := chunk(len(run))
		if err := g.write(run[:n]); err != nil {
			first := run[0]
			for _, it := range run[1:n] {
				if it.unit != first.unit {
					return -1, fmt.Errorf("%w: %w", errBulk, err)
				}
			}
			return first.unit, first.iu.wrap(first.k, err)
		}
		run = run[n:]
	}
	return -1, nil
}

// chunk is the largest of bulkChunks not above n.
func chunk(n int) int {
	for _, c := range bulkChunks {
		if c <= n {
			return c
		}
	}
	return 1
}

// write inserts the rows of the items: their events, then their
// transactions, entries and postings, each table in one statement per
// chunk of rows, every row as the usual way writes it.
func (g *bulkGroup) write(items []*bulkItem) error {
	t := g.t
	n := len(items)
	args := make([]any, 0, 25*n)
	for _, it := range items {
		args = t.eventArgs(args, it.ev, it.handled, it.prev, it.sum)
	}
	first, err := t.insert(t.insertRows(eventInsertHead, eventInsertRow, n), n, args)
	if err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	args = args[:0]
	for i, it := range items {
		args = txArgs(args, it.o, it.ev.Source, first+int64(i), it.at, it.created)
	}
	if _, err := t.insert(t.insertRows(txInsertHead, txInsertRow, n), n, args); err != nil {
		return fmt.Errorf("record transactions: %w", err)
	}
	args = args[:0]
	for i, it := range items {
		args = entryArgs(args, it.o.TransactionID, it.o.AccountID, it.entry, first+int64(i))
	}
	firstEntry, err := t.insert(t.insertRows(entryInsertHead, entryInsertRow, n), n, args)
	if err != nil {
		return fmt.Errorf("book transactions: %w", err)
	}
	// The postings, in entry order, also in chunks.
	args = args[:0]
	rows := 0
	for i, it := range items {
		for _, p := range it.entry.postings {
			args = postingArgs(args, firstEntry+int64(i), p, it.entry, first+int64(i))
			rows++
		}
	}
	for rows > 0 {
		m := chunk(rows)
		if _, err := t.insert(t.insertRows(postingInsertHead, postingInsertRow, m), m, args[:6*m]); err != nil {
			return fmt.Errorf("post transactions: %w", err)
		}
		args, rows = args[6*m:], rows-m
	}
	for i, it := range items {
		it.iu.res[it.k] = Result{Seq: first + int64(i)}
		t.noteNew(it.ev.Source, &it.o, it.at, it.created)
	}
	return nil
}

// insert runs a multi-row INSERT of n rows into a rowid table and returns
// the rowid of its first row: rows get consecutive rowids, in order.
func (t *wtx) insert(query string, n int, args []any) (int64, error) {
	res, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	got, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if got != int64(n) {
		return 0, fmt.Errorf("inserted %d rows of %d", got, n)
	}
	last, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return last - int64(n) + 1, nil
}
