package syncer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// discover finds the accounts of the run, records each with its balance,
// and hands each to the workers through send (false: stop). It returns why
// the account listing stopped early, if it did.
func (r *run) discover(ctx context.Context, send func(i int) bool) error {
	s := r.s
	if len(r.opts.AccountIDs) > 0 {
		for _, id := range r.opts.AccountIDs {
			a, err := s.c.GetAccount(ctx, id)
			if err == nil {
				err = s.recordAccounts(ctx, []fuse.Account{a})[0]
			}
			if ctx.Err() != nil {
				return nil
			}
			i := r.add(id)
			if err != nil {
				r.finish(i, s.failed(ctx, AccountResult{AccountID: id}, fmt.Errorf("read account: %w", err)))
				continue
			}
			if !send(i) {
				return nil
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for page, err := range s.c.AccountPages(ctx, s.pageSize) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.m.error(err)
			s.log.Warn("backfill account listing failed", "err", err)
			return fmt.Errorf("list accounts: %w", err)
		}
		var fresh []fuse.Account
		for _, a := range page.Data {
			if !seen[a.ID] {
				seen[a.ID] = true
				fresh = append(fresh, a)
			}
		}
		errs := s.recordAccounts(ctx, fresh)
		if ctx.Err() != nil {
			return nil
		}
		for k, a := range fresh {
			i := r.add(a.ID)
			if errs[k] != nil {
				r.finish(i, s.failed(ctx, AccountResult{AccountID: a.ID}, errs[k]))
				continue
			}
			if !send(i) {
				return nil
			}
		}
	}
	return nil
}

// recordAccounts ingests accounts as read from Fuse, with their balances,
// in one transaction; an account that cannot be converted is left out and
// gets its own error. errs has one entry per account.
func (s *Syncer) recordAccounts(ctx context.Context, accts []fuse.Account) (errs []error) {
	errs = make([]error, len(accts))
	now := s.now()
	var obs []ledgerd.Observation
	var idx []int
	for k, a := range accts {
		o, err := accountObservation(ctx, s.l, a, now)
		if err != nil {
			errs[k] = err
			continue
		}
		obs = append(obs, o)
		idx = append(idx, k)
	}
	if len(obs) == 0 {
		return errs
	}
	_, err := s.l.IngestAll(ctx, obs, nil)
	switch {
	case err == nil:
	case errors.Is(err, ledger.ErrRejected) && len(obs) > 1:
		// One account the ledger refuses must not hold back the others:
		// find it by recording them one by one.
		for n, o := range obs {
			if _, err := s.l.IngestAll(ctx, []ledgerd.Observation{o}, nil); err != nil {
				errs[idx[n]] = fmt.Errorf("record account: %w", err)
			}
		}
	default:
		for _, k := range idx {
			errs[k] = fmt.Errorf("record account: %w", err)
		}
	}
	return errs
}

// position is a place in a transaction listing's order.
type position struct {
	at time.Time
	id string
}

func (p position) before(q position) bool {
	if c := p.at.Compare(q.at); c != 0 {
		return c < 0
	}
	return p.id < q.id
}

// syncAccount pages through one account's transactions from its
// checkpoint (less the overlap), from opts.Since, or from the start.
func (s *Syncer) syncAccount(ctx context.Context, r *run, id string) AccountResult {
	res := AccountResult{AccountID: id}
	start := time.Now()
	cp, have, err := s.l.Checkpoint(ctx, id)
	if err != nil {
		return s.failed(ctx, res, err)
	}
	switch {
	case r.opts.Full:
	case !r.opts.Since.IsZero():
		res.From = r.opts.Since
	case have:
		res.From = cp.UpdatedAt.Add(-s.overlap)
	}
	if err := s.walk(ctx, r, &res); err != nil {
		return s.failed(ctx, res, err)
	}
	at := s.now()
	if err := s.l.RecordSyncResult(context.WithoutCancel(ctx), id, at, ""); err != nil {
		return s.failed(ctx, res, err)
	}
	s.m.success(id, at)
	res.Checkpoint, _, _ = s.l.Checkpoint(ctx, id)
	s.log.Info("backfill account done", "account_id", id, "pages", res.Pages,
		"transactions", res.Transactions, "new_events", res.NewEvents, "from", startOr(res.From),
		"checkpoint", timeOrNone(res.Checkpoint.UpdatedAt), "duration", time.Since(start).Round(time.Millisecond))
	return res
}

// failed records why an account's run stopped: in its checkpoint row
// (which keeps its position), in the metrics and in the log. A run
// stopped by ctx is not the account's failure and is not recorded.
func (s *Syncer) failed(ctx context.Context, res AccountResult, err error) AccountResult {
	res.Err = err
	res.Checkpoint, _, _ = s.l.Checkpoint(context.WithoutCancel(ctx), res.AccountID)
	if ctx.Err() != nil {
		return res
	}
	s.m.error(err)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := s.l.RecordSyncResult(rctx, res.AccountID, s.now(), err.Error()); rerr != nil {
		s.log.Error("backfill: record account failure", "account_id", res.AccountID, "err", rerr)
	}
	s.log.Warn("backfill account failed", "account_id", res.AccountID, "kind", errKind(err), "err", err,
		"pages_committed", res.Pages, "checkpoint", timeOrNone(res.Checkpoint.UpdatedAt))
	return res
}

// walk reads the listing page by page and commits each page's
// observations with the checkpoint of its last item, in one transaction.
// Every page is checked before it is committed: a pages.next already used
// in this walk, an item out of order or of another account, or an object
// the ledger cannot take stops the walk with nothing of that page written.
func (s *Syncer) walk(ctx context.Context, r *run, res *AccountResult) error {
	acct := res.AccountID
	params := fuse.ListTransactionsParams{Limit: s.pageSize, From: res.From}
	pages := prefetch(ctx, func(ctx context.Context) iter.Seq2[fuse.CursorPage[fuse.Transaction], error] {
		return s.c.TransactionPages(ctx, acct, params)
	})
	used := map[string]bool{"": true}
	var last position
	empty, n := 0, 0
	for p, err := range pages {
		n++
		if err != nil {
			return err // the client says which page
		}
		s.m.pageFetched()
		if next := p.Pages.Next; next != nil {
			if used[*next] {
				return fmt.Errorf("page %d: %w: pages.next %q was already used in this listing", n, fuse.ErrRepeatedCursor, *next)
			}
			used[*next] = true
			if len(p.Data) == 0 {
				if empty++; empty > maxEmptyPages {
					return fmt.Errorf("page %d: %w: %d empty pages in a row and still a pages.next", n, ErrBrokenListing, empty)
				}
			}
		}
		if len(p.Data) > 0 {
			empty = 0
		}
		obs := make([]ledgerd.Observation, 0, len(p.Data))
		now := s.now()
		for _, t := range p.Data {
			if t.AccountID != acct {
				return fmt.Errorf("page %d: %w: transaction %s belongs to account %q", n, ErrBrokenListing, t.ID, t.AccountID)
			}
			if pos := (position{t.Created(), t.ID}); last.before(pos) {
				last = pos
			}
			o, unknown, err := transactionObservation(t, now)
			if err != nil {
				return fmt.Errorf("page %d: %w", n, err)
			}
			if unknown {
				res.Unknown++
				s.log.Warn("backfill: transaction of an unknown type or state kept unbooked",
					"account_id", acct, "transaction_id", t.ID, "type", t.Type, "state", t.State)
			}
			obs = append(obs, o)
		}
		if len(obs) == 0 {
			continue
		}
		cp := ledger.Checkpoint{AccountID: acct, UpdatedAt: last.at, TransactionID: last.id}
		results, err := s.l.IngestAll(ctx, obs, func(tx *ledger.Tx) error { return tx.SaveCheckpoint(cp) })
		if err != nil {
			return fmt.Errorf("page %d: commit: %w", n, err)
		}
		fresh := 0
		for _, x := range results {
			if !x.Duplicate {
				fresh++
			}
		}
		res.Pages++
		res.Transactions += len(obs)
		res.NewEvents += fresh
		r.page(len(obs), fresh)
	}
	return nil
}

// prefetch runs a page walk one page ahead of its consumer, so that the
// next page crosses the network while this one commits. Stopping early
// cancels the fetch in flight and waits for it.
func prefetch[T any](ctx context.Context, walk func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		type item struct {
			v   T
			err error
		}
		ch := make(chan item, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(ch)
			for v, err := range walk(ctx) {
				select {
				case ch <- item{v, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
		defer func() {
			cancel()
			<-done
		}()
		for it := range ch {
			if !yield(it.v, it.err) {
				return
			}
		}
	}
}

// errKind names an error for the errors-by-kind metric and the logs.
func errKind(err error) string {
	var api *fuse.APIError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, fuse.ErrRepeatedCursor):
		return "repeated_cursor"
	case errors.Is(err, fuse.ErrTooManyPages), errors.Is(err, ErrBrokenListing):
		return "broken_listing"
	case errors.Is(err, ErrInvalidObject):
		return "invalid_object"
	case errors.Is(err, ledger.ErrRejected):
		return "rejected"
	case errors.Is(err, ledger.ErrUnavailable):
		return "storage"
	case errors.Is(err, fuse.ErrUnauthorized), errors.Is(err, fuse.ErrCredentialsRefused):
		return "unauthorized"
	case errors.Is(err, fuse.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, fuse.ErrServer):
		return "server_error"
	case errors.Is(err, fuse.ErrNotFound):
		return "not_found"
	case errors.Is(err, fuse.ErrBadResponse):
		return "bad_response"
	case errors.As(err, &api):
		return "api_error"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "timeout"
		}
		return "network"
	}
	return "other"
}
