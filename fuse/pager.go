package fuse

import (
	"context"
	"fmt"
	"iter"
)

// CursorPage is one page of a listing walk together with the cursor that
// fetched it ("" for the first page), so that a caller can commit the page
// and the position it came from in one step.
type CursorPage[T any] struct {
	Page[T]
	Cursor string
}

// walk fetches pages from start until a null or absent pages.next. It stops with
// ErrRepeatedCursor when Fuse hands back a cursor already used in this
// walk (a loop), and with ErrTooManyPages past the page cap. An error is
// yielded once, with a zero page, and ends the walk.
func walk[T any](ctx context.Context, maxPages int, start string, fetch func(ctx context.Context, cursor string) (Page[T], error)) iter.Seq2[CursorPage[T], error] {
	return func(yield func(CursorPage[T], error) bool) {
		seen := map[string]bool{start: true}
		cursor := start
		for n := 1; ; n++ {
			if n > maxPages {
				yield(CursorPage[T]{}, fmt.Errorf("%w: more than %d pages", ErrTooManyPages, maxPages))
				return
			}
			page, err := fetch(ctx, cursor)
			if err != nil {
				yield(CursorPage[T]{}, fmt.Errorf("page %d: %w", n, err))
				return
			}
			if !yield(CursorPage[T]{Page: page, Cursor: cursor}, nil) {
				return
			}
			if page.Pages.Next == nil {
				return
			}
			next := *page.Pages.Next
			if seen[next] {
				yield(CursorPage[T]{}, fmt.Errorf("%w: page %d pointed back to cursor %q", ErrRepeatedCursor, n, next))
				return
			}
			seen[next] = true
			cursor = next
		}
	}
}

// items flattens a page walk into its items.
func items[T any](pages iter.Seq2[CursorPage[T], error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for p, err := range pages {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Data {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// AccountPages walks every account, limit per page, one page at a time.
func (c *Client) AccountPages(ctx context.Context, limit int) iter.Seq2[CursorPage[Account], error] {
	return walk(ctx, c.cfg.MaxPages, "", func(ctx context.Context, cursor string) (Page[Account], error) {
		return c.ListAccounts(ctx, limit, cursor)
	})
}

// AllAccounts walks every account, limit per page. It stops at the first
// error, which it yields.
func (c *Client) AllAccounts(ctx context.Context, limit int) iter.Seq2[Account, error] {
	return items(c.AccountPages(ctx, limit))
}

// TransactionPages walks an account's transactions from params.Cursor
// ("" for the start), one page at a time, each with the cursor that
// fetched it; the filters go with the first page only, since a follow-up
// page sends its cursor alone. A page may be empty and still not be the
// last.
func (c *Client) TransactionPages(ctx context.Context, accountID string, params ListTransactionsParams) iter.Seq2[CursorPage[Transaction], error] {
	return walk(ctx, c.cfg.MaxPages, params.Cursor, func(ctx context.Context, cursor string) (Page[Transaction], error) {
		p := params
		p.Cursor = cursor
		return c.ListTransactions(ctx, accountID, p)
	})
}

// OrgTransactionPages walks the organisation's transactions as
// TransactionPages walks an account's.
func (c *Client) OrgTransactionPages(ctx context.Context, params ListTransactionsParams) iter.Seq2[CursorPage[Transaction], error] {
	return walk(ctx, c.cfg.MaxPages, params.Cursor, func(ctx context.Context, cursor string) (Page[Transaction], error) {
		p := params
		p.Cursor = cursor
		return c.ListOrgTransactions(ctx, p)
	})
}

// AllTransactions walks an account's transactions item by item. It stops
// at the first error, which it yields.
func (c *Client) AllTransactions(ctx context.Context, accountID string, params ListTransactionsParams) iter.Seq2[Transaction, error] {
	return items(c.TransactionPages(ctx, accountID, params))
}
