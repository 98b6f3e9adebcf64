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
				s.failed(ctx, r, []string{id}, fmt.Errorf("read account: %w", err))
				r.done(i)
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
				s.failed(ctx, r, []string{a.ID}, errs[k])
				r.done(i)
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

// succeeded records that a run read these accounts to the end.
func (s *Syncer) succeeded(ctx context.Context, ids []string) error {
	at := s.now()
	if err := s.l.RecordSyncResult(context.WithoutCancel(ctx), ids, at, ""); err != nil {
		return err
	}
	for _, id := range ids {
		s.m.success(id, at)
	}
	return nil
}

// failed records why a run could not read these accounts (one account, or
// every account sharing the organisation's listing): in their results, in
// sync_checkpoints.last_error, in the metrics and in the log. A run
// stopped by ctx is not the accounts' failure and is not recorded.
func (s *Syncer) failed(ctx context.Context, r *run, ids []string, err error) {
	for _, id := range ids {
		r.update(id, func(res *AccountResult) { res.Err = err })
	}
	if ctx.Err() != nil {
		return
	}
	s.m.error(err)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := s.l.RecordSyncResult(rctx, ids, s.now(), err.Error()); rerr != nil {
		s.log.Error("backfill: record account failure", "accounts", len(ids), "err", rerr)
	}
	if len(ids) == 1 {
		s.log.Warn("backfill account failed", "account_id", ids[0], "kind", errKind(err), "err", err)
		return
	}
	s.log.Warn("backfill listing failed", "accounts", len(ids), "kind", errKind(err), "err", err)
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
	case errors.Is(err, ledger.ErrWindowMoved):
		return "concurrent_run"
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
