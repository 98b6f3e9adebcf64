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
	routeListAccounts         = "GET /accounts"
	routeGetAccount           = "GET /accounts/{id}"
	routeGetTransaction       = "GET /transactions/{id}"
	routeListTransactions     = "GET /accounts/{id}/transactions"
	routeListOrgTransactions  = "GET /transactions"
	routeListCustomerAccounts = "GET /customers/{id}/accounts"
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
	return getByID[Account](ctx, c, "account", routeGetAccount, "/accounts/", accountID)
}

// GetTransaction returns one transaction in its latest state.
func (c *Client) GetTransaction(ctx context.Context, transactionID string) (Transaction, error) {
	var out Transaction
	if err := getInto(ctx, c, "transaction", routeGetTransaction, "/transactions/", transactionID, (*transactionObject)(&out)); err != nil {
		return Transaction{}, err
	}
	return out, nil
}

// getByID reads the one object at prefix+id; what names it in errors.
func getByID[T any](ctx context.Context, c *Client, what, route, prefix, id string) (T, error) {
	var out T
	if err := getInto(ctx, c, what, route, prefix, id, &out); err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// getInto decodes the object at prefix+id into out.
func getInto(ctx context.Context, c *Client, what, route, prefix, id string, out any) error {
	p, err := idPath(prefix, id, "")
	if err != nil {
		return fmt.Errorf("get %s: %w", what, err)
	}
	if err := c.send(ctx, request{method: http.MethodGet, route: route, path: p, out: out}); err != nil {
		return fmt.Errorf("get %s %s: %w", what, id, err)
	}
	return nil
}

// ListTransactionsParams selects a page of a transaction listing. Every
// field but Cursor goes with the first page only: a follow-up page sends
// its cursor alone, and Fuse ignores everything else then [spec].
type ListTransactionsParams struct {
	// Limit is the page size (page_size), 1..MaxPageLimit; 0 leaves it
	// to Fuse.
	Limit int
	// Cursor continues a listing; "" starts it.
	Cursor string
	// From and To, when not zero, bound the listing in time (from, to).
	// Which time they compare is undocumented (fuse-api.md §8): callers
	// must not depend on it.
	From, To time.Time
	// State, when not "", lists only transactions in that state
	// (transaction_state; the reference has no Booked filter).
	State string
	// AccountID, on the organisation's listing only, keeps one account's
	// transactions (customer_account_id).
	AccountID string
	// SkipRaw leaves Transaction.Raw nil, for a caller that keeps nothing
	// of the objects but what it reads from their fields (a
	// reconciliation): it spares a copy of every page. It is not sent.
	SkipRaw bool
}

// pageOut is what a listing's page decodes into, as params ask.
func (params ListTransactionsParams) pageOut(out *Page[Transaction]) any {
	if params.SkipRaw {
		return (*rawlessTransactionPage)(out)
	}
	return (*transactionPage)(out)
}

// query is params as a listing's query string.
func (params ListTransactionsParams) query() (url.Values, error) {
	if params.Limit > MaxPageLimit {
		return nil, fmt.Errorf("limit %d over %d", params.Limit, MaxPageLimit)
	}
	q, err := pageQuery(params.Limit, params.Cursor)
	if err != nil || params.Cursor != "" {
		return q, err
	}
	if !params.From.IsZero() {
		q.Set("from", params.From.UTC().Format(time.RFC3339Nano))
	}
	if !params.To.IsZero() {
		q.Set("to", params.To.UTC().Format(time.RFC3339Nano))
	}
	if params.State != "" {
		q.Set("transaction_state", params.State)
	}
	if params.AccountID != "" {
		q.Set("customer_account_id", params.AccountID)
	}
	return q, nil
}

// ListTransactions returns one page of an account's transactions
// (GET /v1/accounts/{id}/transactions). Their order is undocumented.
func (c *Client) ListTransactions(ctx context.Context, accountID string, params ListTransactionsParams) (Page[Transaction], error) {
	p, err := idPath("/accounts/", accountID, "/transactions")
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list transactions: %w", err)
	}
	params.AccountID = ""
	q, err := params.query()
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list transactions: %w", err)
	}
	var out Page[Transaction]
	err = c.send(ctx, request{method: http.MethodGet, route: routeListTransactions, path: p, query: q, out: params.pageOut(&out)})
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list transactions of %s: %w", accountID, err)
	}
	return out, nil
}

// ListOrgTransactions returns one page of the organisation's
// transactions, every account's (GET /v1/transactions). Their order is
// undocumented.
func (c *Client) ListOrgTransactions(ctx context.Context, params ListTransactionsParams) (Page[Transaction], error) {
	q, err := params.query()
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list organisation transactions: %w", err)
	}
	var out Page[Transaction]
	err = c.send(ctx, request{method: http.MethodGet, route: routeListOrgTransactions, path: "/transactions", query: q, out: params.pageOut(&out)})
	if err != nil {
		return Page[Transaction]{}, fmt.Errorf("list organisation transactions: %w", err)
	}
	return out, nil
}

// ListCustomerAccounts returns one page of a customer's accounts
// (GET /v1/customers/{id}/accounts, which takes no filter).
func (c *Client) ListCustomerAccounts(ctx context.Context, customerID string, limit int, cursor string) (Page[Account], error) {
	p, err := idPath("/customers/", customerID, "/accounts")
	if err != nil {
		return Page[Account]{}, fmt.Errorf("list customer accounts: %w", err)
	}
	q, err := pageQuery(limit, cursor)
	if err != nil {
		return Page[Account]{}, fmt.Errorf("list customer accounts: %w", err)
	}
	var out Page[Account]
	err = c.send(ctx, request{method: http.MethodGet, route: routeListCustomerAccounts, path: p, query: q, out: &out})
	if err != nil {
		return Page[Account]{}, fmt.Errorf("list accounts of customer %s: %w", customerID, err)
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
