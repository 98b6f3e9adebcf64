package syncer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	gosync "sync"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// How a scope is read (fuse-api.md §8): Fuse has no update stamp, so a
// listing is a window on creation time (which time from/to compare is
// undocumented), walked in an undocumented order with an opaque cursor.
//
//  1. A new listing's window ends at this host's clock (to) and starts at
//     where the last complete one ended, less the overlap (from); none
//     for the first, or --full; --since chooses from. It then starts
//     earlier if that covers, for fewer requests than reading them one by
//     one, some of the transactions created before it that the ledger
//     does not hold final (plan).
//  2. Every page commits with the window's new cursor (sync_windows), so
//     an interrupted listing resumes from its cursor alone, whatever its
//     order; a cursor Fuse refuses (400) lists the same window again.
//  3. The last page also moves the window on: the next listing starts at
//     this one's end (advance).
//  4. Every transaction the ledger did not hold final when the listing
//     began and that the listing did not show is read one by one
//     (GET /v1/transactions/{id}): whatever from and to compare, whatever
//     the order, nothing that can still change is left behind (reread).
//
// Nothing depends on the order; an item listed twice is one event
// (content-addressed ids); an item of another account on an account's
// listing is a broken listing.

// syncScope reads one scope: the organisation's listing (acct "") or one
// account's.
func (s *Syncer) syncScope(ctx context.Context, r *run, scope, acct string) error {
	w, err := s.l.SyncWindow(ctx, scope)
	if err != nil {
		return err
	}
	open, err := s.l.OpenTransactions(ctx, acct)
	if err != nil {
		return err
	}
	resumed := w.Listing != nil && !r.opts.Full && r.opts.Since.IsZero()
	var lst ledger.WindowListing
	if resumed {
		lst = *w.Listing
	} else if lst, err = s.plan(ctx, w, open, acct, r.opts); err != nil {
		return err
	}
	record := func(res *AccountResult) { res.From, res.To, res.Resumed = lst.From, lst.To, resumed }
	if acct != "" {
		r.update(acct, record)
	} else {
		r.updateAll(record)
	}
	s.log.Info("backfill listing started", "scope", scope, "from", startOr(lst.From), "to", timeOrNone(lst.To),
		"resumed", resumed, "pages_before", lst.Pages, "not_final", len(open))

	l := &listing{s: s, r: r, scope: scope, acct: acct, prev: w, lst: lst,
		open: make(map[string]bool, len(open)), seen: map[string]bool{}}
	for _, o := range open {
		l.open[o.TransactionID] = true
	}
	err = l.walk(ctx)
	if refused := (*cursorRefused)(nil); errors.As(err, &refused) {
		s.log.Warn("backfill: Fuse refused the listing's cursor; listing the same window again",
			"scope", scope, "from", startOr(lst.From), "to", timeOrNone(lst.To), "err", err)
		l.lst.Cursor, l.lst.Pages = "", 0
		err = l.walk(ctx)
	}
	if err != nil {
		return err
	}
	return s.reread(ctx, r, acct, open, l.seen)
}

// plan chooses a new listing's window (step 1 above): to is now; from is
// where the last complete listing ended less the overlap (or Since, or
// none), moved earlier to the k-th newest of the transactions created
// before it that the ledger does not hold final, for the k that costs
// fewest requests: the pages of everything the ledger knows created since
// then, plus one request for each older one left to read one by one.
func (s *Syncer) plan(ctx context.Context, w ledger.SyncWindow, open []ledger.OpenTransaction, acct string, opts RunOptions) (ledger.WindowListing, error) {
	lst := ledger.WindowListing{To: s.now()}
	switch {
	case opts.Full:
		return lst, nil
	case !opts.Since.IsZero():
		lst.From = opts.Since
	case w.NextFrom.IsZero():
		return lst, nil
	default:
		lst.From = w.NextFrom.Add(-s.overlap)
	}
	// open is newest first; a transaction without a creation time cannot
	// be windowed and is read one by one.
	cuts := []time.Time{lst.From}
	for _, o := range open {
		if !o.CreatedAt.IsZero() && o.CreatedAt.Before(lst.From) {
			cuts = append(cuts, o.CreatedAt)
		}
	}
	if len(cuts) == 1 {
		return lst, nil
	}
	counts, err := s.l.CreatedSince(ctx, acct, cuts)
	if err != nil {
		return lst, err
	}
	older := len(cuts) - 1
	pages := func(n int) int { return max(1, (n+s.pageSize-1)/s.pageSize) } // a listing costs one request at least
	best, bestK := pages(counts[0])+older, 0
	for k := 1; k <= older; k++ {
		if c := pages(counts[k]) + older - k; c < best {
			best, bestK = c, k
		}
	}
	if bestK > 0 {
		s.log.Info("backfill: window widened over transactions not final", "scope", scopeOf(acct),
			"from", startOr(lst.From), "widened_to", cuts[bestK].UTC().Format(time.RFC3339Nano),
			"covered", bestK, "read_one_by_one", older-bestK, "requests_planned", best)
		lst.From = cuts[bestK]
	}
	return lst, nil
}

// advance is where the next listing starts once lst is complete (step 3
// above): its end, the earlier of its to (this host's clock) and the
// latest created_at it showed (Fuse's), so that a host clock ahead of
// Fuse's skips nothing. A listing that started after prev leaves the gap
// before it to be read, and one that showed nothing says nothing of
// Fuse's clock: prev stays. It never moves back.
func advance(prev time.Time, lst ledger.WindowListing) time.Time {
	if (!lst.From.IsZero() && (prev.IsZero() || lst.From.After(prev))) || lst.Latest.IsZero() {
		return prev
	}
	end := lst.To
	if lst.Latest.Before(end) {
		end = lst.Latest
	}
	if end.After(prev) {
		return end
	}
	return prev
}

func scopeOf(acct string) string {
	if acct == "" {
		return ledger.ScopeOrg
	}
	return ledger.AccountScope(acct)
}

// cursorRefused is a listing page refused (400) for its cursor: a cursor
// saved by an earlier run that Fuse no longer takes, or one it expired.
type cursorRefused struct{ err error }

func (e *cursorRefused) Error() string { return "cursor refused: " + e.err.Error() }
func (e *cursorRefused) Unwrap() error { return e.err }

// listing is one walk of a scope's listing, committing page by page.
type listing struct {
	s           *Syncer
	r           *run
	scope, acct string
	prev        ledger.SyncWindow    // the window as stored
	lst         ledger.WindowListing // the listing, as far as committed
	open        map[string]bool      // ids the ledger did not hold final when the run began
	seen        map[string]bool      // of those, the ones the listing showed
}

// walk reads the listing from its cursor (or its first page) to the end.
// Every page is checked before it is committed: a pages.next already used
// in this walk, an item of another account, or an object the ledger
// cannot take stops the walk with nothing of that page written.
func (l *listing) walk(ctx context.Context) error {
	s := l.s
	params := fuse.ListTransactionsParams{Limit: s.pageSize, From: l.lst.From, To: l.lst.To, Cursor: l.lst.Cursor}
	pages := prefetch(ctx, func(ctx context.Context) iter.Seq2[fuse.CursorPage[fuse.Transaction], error] {
		if l.acct != "" {
			return s.c.TransactionPages(ctx, l.acct, params)
		}
		return s.c.OrgTransactionPages(ctx, params)
	})
	used := map[string]bool{params.Cursor: true}
	var last map[string]bool // the ids of the previous page
	stale, n := 0, 0
	for p, err := range pages {
		n++
		if err != nil {
			var api *fuse.APIError
			if (n > 1 || params.Cursor != "") && errors.As(err, &api) && api.Status == http.StatusBadRequest {
				return &cursorRefused{err}
			}
			return err // the client says which page
		}
		s.m.pageFetched()
		ids := make(map[string]bool, len(p.Data))
		fresh := false
		for _, t := range p.Data {
			ids[t.ID] = true
			fresh = fresh || !last[t.ID]
		}
		last = ids
		if next := p.Pages.Next; next != nil {
			if used[*next] {
				return fmt.Errorf("page %d: %w: pages.next %q was already used in this listing", n, fuse.ErrRepeatedCursor, *next)
			}
			used[*next] = true
			if !fresh {
				if stale++; stale > maxStalePages {
					return fmt.Errorf("page %d: %w: %d pages in a row brought nothing new and still a pages.next", n, ErrBrokenListing, stale)
				}
			}
		}
		if fresh {
			stale = 0
		}
		if err := l.commit(ctx, n, p.Data, p.Pages.Next); err != nil {
			return err
		}
	}
	return nil
}

// tally is what a page or a batch did for one account.
type tally struct{ txs, fresh, unknown int }

// commit writes one page's observations and the window's advance in one
// transaction: the new cursor, or on the last page (next nil) the end of
// the listing.
func (l *listing) commit(ctx context.Context, n int, items []fuse.Transaction, next *string) error {
	s := l.s
	now := s.now()
	lst := l.lst
	lst.Pages++
	obs := make([]ledgerd.Observation, 0, len(items))
	for _, t := range items {
		if l.acct != "" && t.AccountID != l.acct {
			return fmt.Errorf("page %d: %w: transaction %s belongs to account %q", n, ErrBrokenListing, t.ID, t.AccountID)
		}
		o, err := s.observe(t, now)
		if err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		if c := t.Created(); c.After(lst.Latest) {
			lst.Latest = c
		}
		obs = append(obs, o)
	}
	w := ledger.SyncWindow{Scope: l.scope, NextFrom: l.prev.NextFrom, UpdatedAt: now}
	if next != nil {
		lst.Cursor = *next
		w.Listing = &lst
	} else {
		w.NextFrom = advance(l.prev.NextFrom, lst)
	}
	results, err := s.l.IngestAll(ctx, obs, func(tx *ledger.Tx) error { return tx.SaveSyncWindow(l.prev, w) })
	if err != nil {
		return fmt.Errorf("page %d: commit: %w", n, err)
	}
	l.prev, l.lst = w, lst
	for _, t := range items {
		if l.open[t.ID] {
			l.seen[t.ID] = true
		}
	}
	fresh := l.r.record(items, obs, results, false)
	if l.acct != "" {
		l.r.update(l.acct, func(res *AccountResult) { res.Pages++ })
	}
	l.r.page(1, len(obs), fresh)
	if next == nil {
		s.log.Info("backfill listing done", "scope", l.scope, "pages", lst.Pages,
			"next_from", timeOrNone(w.NextFrom))
	}
	return nil
}

// observe converts one transaction object, logging one the reference does
// not describe.
func (s *Syncer) observe(t fuse.Transaction, now time.Time) (ledgerd.Observation, error) {
	o, unknown, err := transactionObservation(t, now)
	if err != nil {
		return o, err
	}
	if unknown {
		s.log.Warn("backfill: transaction of an unknown type or state kept unbooked",
			"account_id", t.AccountID, "transaction_id", t.ID, "type", t.Type, "state", t.State)
	}
	return o, nil
}

// record adds committed transactions to their accounts' results (reread:
// read one by one) and returns how many changed the ledger.
func (r *run) record(items []fuse.Transaction, obs []ledgerd.Observation, results []ledger.Result, reread bool) int {
	per := map[string]*tally{}
	fresh := 0
	for k, t := range items {
		a := per[t.AccountID]
		if a == nil {
			a = &tally{}
			per[t.AccountID] = a
		}
		a.txs++
		if obs[k].Transaction == nil {
			a.unknown++
		}
		if !results[k].Duplicate {
			a.fresh++
			fresh++
		}
	}
	for id, a := range per {
		r.update(id, func(res *AccountResult) {
			res.Transactions += a.txs
			res.NewEvents += a.fresh
			res.Unknown += a.unknown
			if reread {
				res.Reread += a.txs
			}
		})
	}
	return fresh
}

// reread reads one by one (step 4 above) the transactions that were open
// (not final in the ledger) when the listing began, that the listing did
// not show and that the ledger still does not hold final (a webhook may
// have finished them meanwhile), Concurrency at
// a time, committing them rereadBatch at a time. One that Fuse does not
// know (404) is reported and left for the reconciler; any other error
// stops the run's re-reads (the next run reads them again).
func (s *Syncer) reread(ctx context.Context, r *run, acct string, open []ledger.OpenTransaction, seen map[string]bool) error {
	if len(open) == len(seen) {
		return nil
	}
	var unseen []string
	for _, o := range open {
		if !seen[o.TransactionID] {
			unseen = append(unseen, o.TransactionID)
		}
	}
	// A webhook may have brought some to their end meanwhile.
	stillOpen, err := s.l.StillOpen(ctx, unseen)
	if err != nil {
		return err
	}
	var todo []ledger.OpenTransaction
	for _, o := range open {
		if stillOpen[o.TransactionID] {
			todo = append(todo, o)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	start := time.Now()
	type got struct {
		o   ledger.OpenTransaction
		t   fuse.Transaction
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in, out := make(chan ledger.OpenTransaction), make(chan got)
	var wg gosync.WaitGroup
	for range min(s.concurrency, len(todo)) {
		wg.Go(func() {
			for o := range in {
				t, err := s.c.GetTransaction(ctx, o.TransactionID)
				select {
				case out <- got{o, t, err}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		defer close(in)
		for _, o := range todo {
			select {
			case in <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()

	var items []fuse.Transaction
	var obs []ledgerd.Observation
	var firstErr error
	notFound := 0
	flush := func() error {
		if len(obs) == 0 {
			return nil
		}
		results, err := s.l.IngestAll(ctx, obs, nil)
		if err != nil {
			return fmt.Errorf("commit transactions read one by one: %w", err)
		}
		r.page(0, len(obs), r.record(items, obs, results, true))
		items, obs = items[:0], obs[:0]
		return nil
	}
	for g := range out {
		if firstErr != nil {
			continue // draining
		}
		err := g.err
		switch {
		case errors.Is(err, fuse.ErrNotFound):
			notFound++
			r.update(g.o.AccountID, func(res *AccountResult) { res.NotFound++ })
			s.log.Warn("backfill: a transaction the ledger does not hold final is unknown to Fuse",
				"transaction_id", g.o.TransactionID, "account_id", g.o.AccountID)
			continue
		case err == nil:
			var o ledgerd.Observation
			if o, err = s.observe(g.t, s.now()); err == nil {
				items, obs = append(items, g.t), append(obs, o)
				if len(obs) >= rereadBatch {
					err = flush()
				}
			}
		}
		if err != nil {
			firstErr = fmt.Errorf("read transaction %s one by one: %w", g.o.TransactionID, err)
			cancel()
		}
	}
	if firstErr == nil {
		firstErr = flush()
	}
	s.log.Info("backfill: transactions not final read one by one", "scope", scopeOf(acct), "transactions", len(todo),
		"not_found", notFound, "duration", time.Since(start).Round(time.Millisecond))
	return firstErr
}
