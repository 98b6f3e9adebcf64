package fuse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Routes of fuse-api.md [model], also the metrics labels.
const (
	routeListAccounts     = "GET /accounts"
	routeGetAccount       = "GET /accounts/{id}"
	routeGetTransaction   = "GET /transactions/{id}"
	routeListTransactions = "GET /accounts/{id}/transactions"
)

// ListAccounts returns one page of accounts; cursor "" asks for the first
// and limit 0 leaves the page size to Fuse.
func (c *Client) ListAccounts(ctx context.Context, limit int, cursor string) (Page[Account], error) {
	q, err := pageQuery(limit, cursor)
	if err != nil {
		return Page[Account]{}, fmt.Errorf("list accounts: %w", err)
	}
	var out Page[Account]
	err = c.send(ctx, request{method: http.MethodGet, route: routeListAccounts, path: "/accounts", query: q, out: &out})
	if err != nil {
		return Page[Account]{}, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// GetAccount returns one account with its balance.
func (c *Client) GetAccount(ctx context.Context, accountID string) (Account, error) {
	p, err := idPath("/accounts/", accountID, "")
	if err != nil {
		return Account{}, fmt.Errorf("get account: %w", err)
	}
	var out Account
	if err := c.send(ctx, request{method: http.MethodGet, route: routeGetAccount, path: p, out: &out}); err != nil {
		return Account{}, fmt.Errorf("get account %s: %w", accountID, err)
	}
	return out, nil
}

// GetTransaction returns one transaction in its latest state.
func (c *Client) GetTransaction(ctx context.Context, transactionID string) (Transaction, error) {
	p, err := idPath("/transactions/", transactionID, "")
	if err != nil {
		return Transaction{}, fmt.Errorf("get transaction: %w", err)
	}
	var out Transaction
	if err := c.send(ctx, request{method: http.MethodGet, route: routeGetTransaction, path: p, out: (*transactionObject)(&out)}); err != nil {
		return Transaction{}, fmt.Errorf("get transaction %s: %w", transactionID, err)
	}
	return out, nil
}

// ListTransactionsParams selects a page of an account's transactions.
type ListTransactionsParams struct {
	// Limit is the page size (page_size), 1..MaxPageLimit; 0 leaves it
	// to Fuse. Not sent with a Cursor.
	Limit int
	// Cursor continues a listing; "" starts it. When it is set it is
	// sent alone: Fuse ignores every other parameter then [spec].
	Cursor string
	// UpdatedSince, when not zero, skips transactions last updated
	// before it (the backfill's checkpoint). Not sent with a Cursor.
	UpdatedSince time.Time
}

// ListTransactions returns one page of an account's transactions,
// ordered by updated_at then transaction_id, ascending.
func (c *Client) ListTransactions(ctx context.Context, accountID string, params ListTransactionsParams) (Page[Transaction], error) {
	p, err := idPath("/accounts/", accountID, "/transactions")
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list transactions: %w", err)
	}
	if params.Limit > MaxPageLimit {
		return Page[Transaction]{}, fmt.Errorf("list transactions: limit %d over %d", params.Limit, MaxPageLimit)
	}
	q, err := pageQuery(params.Limit, params.Cursor)
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list transactions: %w", err)
	}
	if params.Cursor == "" && !params.UpdatedSince.IsZero() {
		q.Set("updated_since", params.UpdatedSince.UTC().Format(time.RFC3339Nano))
	}
	var out Page[Transaction]
	err = c.send(ctx, request{method: http.MethodGet, route: routeListTransactions, path: p, query: q, out: (*transactionPage)(&out)})
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list transactions of %s: %w", accountID, err)
	}
	return out, nil
}

// post sends one logical POST under the context's Idempotency-Key or a
// new one; every retry reuses it.
func (c *Client) post(ctx context.Context, route, path string, body, out any) error {
	key, err := idempotencyKey(ctx)
	if err != nil {
		return err
	}
	return c.send(ctx, request{method: http.MethodPost, route: route, path: path, body: body, out: out, key: key})
}

// pageQuery is a listing's page_size on the first page, or its cursor
// alone on a follow-up page (Fuse ignores everything else then [spec]).
func pageQuery(limit int, cursor string) (url.Values, error) {
	if limit < 0 {
		return nil, fmt.Errorf("negative page size %d", limit)
	}
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
		return q, nil
	}
	if limit > 0 {
		q.Set("page_size", strconv.Itoa(limit))
	}
	return q, nil
}

// idPath builds prefix+id+suffix with id escaped as one path segment.
func idPath(prefix, id, suffix string) (string, error) {
	if id == "" {
		return "", errors.New("empty id")
	}
	return prefix + url.PathEscape(id) + suffix, nil
}
