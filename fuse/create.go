package fuse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// The calls that create things (fuse-api.md §5). Every one is a POST
// under one Idempotency-Key for all its retries (the caller's, set with
// WithIdempotencyKey, or a new one). Fuse answers the money calls with
// the new transaction's id only (202 for a payment, 201 for a transfer
// or an exchange) and an account with its id (202): the client then
// reads the object back and returns it, so callers get the same objects
// as from GetAccount and GetTransaction.

// Routes of the create calls, also the metrics labels.
const (
	routeCreateBusiness   = "POST /customers/businesses"
	routeCreateIndividual = "POST /customers/individuals"
	routeGetCustomer      = "GET /customers/{id}"
	routeCreateAccount    = "POST /customers/{id}/accounts"
	routeCreatePayment    = "POST /accounts/{id}/payments"
	routeCreateTransfer   = "POST /internal-transfers"
	routeQuote            = "GET /exchange/quote"
	routeCreateExchange   = "POST /exchange"
)

// CreateBusiness adds a business customer and returns its id.
func (c *Client) CreateBusiness(ctx context.Context, req CreateBusinessRequest) (string, error) {
	return c.createCustomer(ctx, "create business", routeCreateBusiness, "/customers/businesses", req)
}

// CreateIndividual adds an individual customer and returns its id.
func (c *Client) CreateIndividual(ctx context.Context, req CreateIndividualRequest) (string, error) {
	return c.createCustomer(ctx, "create individual", routeCreateIndividual, "/customers/individuals", req)
}

// createCustomer POSTs a customer, answered with {id}.
func (c *Client) createCustomer(ctx context.Context, what, route, path string, req any) (string, error) {
	var out CreateCustomerResponse
	if err := c.post(ctx, route, path, req, &out); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("%s: %w: no id in the answer", what, ErrBadResponse)
	}
	return out.ID, nil
}

// GetCustomer returns one customer with its approval status.
func (c *Client) GetCustomer(ctx context.Context, customerID string) (Customer, error) {
	return getByID[Customer](ctx, c, "customer", routeGetCustomer, "/customers/", customerID)
}

// CreateAccount asks Fuse to open an account for a customer. Fuse
// accepts the request (202) with the new account's id and opens it
// asynchronously (account_opened follows); CreateAccount then reads the
// account until it appears and returns it.
func (c *Client) CreateAccount(ctx context.Context, customerID string, req CreateAccountRequest) (Account, error) {
	p, err := idPath("/customers/", customerID, "/accounts")
	if err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	var out CreateAccountResponse
	if err := c.post(ctx, routeCreateAccount, p, req, &out); err != nil {
		return Account{}, fmt.Errorf("create account for customer %s: %w", customerID, err)
	}
	if out.AccountID == "" {
		return Account{}, fmt.Errorf("create account for customer %s: %w: no account_id in the answer", customerID, ErrBadResponse)
	}
	a, err := readBack(ctx, c, func(ctx context.Context) (Account, error) { return c.GetAccount(ctx, out.AccountID) })
	if err != nil {
		return Account{}, fmt.Errorf("create account for customer %s: accepted as account %s, not read back: %w", customerID, out.AccountID, err)
	}
	return a, nil
}

// CreatePayment sends a local payment out of accountID, in its currency.
// Fuse accepts it (202) with the transaction's id; CreatePayment returns
// the transaction as GET /v1/transactions/{id} then shows it.
func (c *Client) CreatePayment(ctx context.Context, accountID string, req CreatePaymentRequest) (Transaction, error) {
	p, err := idPath("/accounts/", accountID, "/payments")
	if err != nil {
		return Transaction{}, fmt.Errorf("create payment: %w", err)
	}
	return c.createTransaction(ctx, "create payment from "+accountID, routeCreatePayment, p, req)
}

// CreateInternalTransfer moves money between two Fuse accounts in one
// currency. The result is the transaction Fuse names in its answer (201),
// read back.
func (c *Client) CreateInternalTransfer(ctx context.Context, req CreateInternalTransferRequest) (Transaction, error) {
	return c.createTransaction(ctx, "create internal transfer from "+req.FromAccountID, routeCreateTransfer, "/internal-transfers", req)
}

// Quote asks what converting between two accounts' currencies gives now.
// The reference does not say that a quote binds a later exchange, and no
// quote id exists to pass to one: treat it as information, and fix the
// amount that matters in CreateExchange.
func (c *Client) Quote(ctx context.Context, req QuoteRequest) (ExchangeQuote, error) {
	if req.FromAccountID == "" || req.ToAccountID == "" {
		return ExchangeQuote{}, errors.New("quote: both accounts are required")
	}
	if (req.FromAmount > 0) == (req.ToAmount > 0) || req.FromAmount < 0 || req.ToAmount < 0 {
		return ExchangeQuote{}, fmt.Errorf("quote: set exactly one of from amount (%d) and to amount (%d), positive", req.FromAmount, req.ToAmount)
	}
	q := url.Values{"from_account": {req.FromAccountID}, "to_account": {req.ToAccountID}}
	if req.FromAmount > 0 {
		q.Set("from_amount", strconv.FormatInt(req.FromAmount, 10))
	} else {
		q.Set("to_amount", strconv.FormatInt(req.ToAmount, 10))
	}
	var out ExchangeQuote
	if err := c.send(ctx, request{method: http.MethodGet, route: routeQuote, path: "/exchange/quote", query: q, out: &out}); err != nil {
		return ExchangeQuote{}, fmt.Errorf("quote %s to %s: %w", req.FromAccountID, req.ToAccountID, err)
	}
	return out, nil
}

// CreateExchange converts money from one account into another account's
// currency at Fuse's rate. Exactly one side carries the amount (see
// CreateExchangeRequest). The result is the transaction Fuse names in
// its answer (201), read back: the leg on the From account.
func (c *Client) CreateExchange(ctx context.Context, req CreateExchangeRequest) (Transaction, error) {
	if (req.From.Amount == nil) == (req.To.Amount == nil) {
		return Transaction{}, errors.New("create exchange: set exactly one of from.amount and to.amount")
	}
	return c.createTransaction(ctx, "create exchange from "+req.From.AccountID, routeCreateExchange, "/exchange", req)
}

// createTransaction POSTs a call answered with {transaction_id} and reads
// the transaction back.
func (c *Client) createTransaction(ctx context.Context, what, route, path string, req any) (Transaction, error) {
	var out CreateTransactionResponse
	if err := c.post(ctx, route, path, req, &out); err != nil {
		return Transaction{}, fmt.Errorf("%s: %w", what, err)
	}
	if out.TransactionID == "" {
		return Transaction{}, fmt.Errorf("%s: %w: no transaction_id in the answer", what, ErrBadResponse)
	}
	t, err := readBack(ctx, c, func(ctx context.Context) (Transaction, error) { return c.GetTransaction(ctx, out.TransactionID) })
	if err != nil {
		// The money may move: the caller retries with the same
		// Idempotency-Key to learn the transaction again, never with a
		// new one.
		return Transaction{}, fmt.Errorf("%s: accepted as transaction %s, not read back: %w", what, out.TransactionID, err)
	}
	return t, nil
}

// readBack reads what Fuse has just accepted. The reference does not say
// that an accepted resource can be read at once (an account is opened
// asynchronously), so a 404 is waited out with the client's backoff, at
// most MaxRetries times; any other error is final (get has retried
// what can be retried already).
func readBack[T any](ctx context.Context, c *Client, get func(context.Context) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := get(ctx)
		if err == nil || !errors.Is(err, ErrNotFound) || attempt >= c.cfg.MaxRetries {
			return v, err
		}
		if err := c.cfg.Sleep(ctx, backoff(attempt, c.cfg.BaseBackoff, c.cfg.MaxBackoff, c.jitter)); err != nil {
			return v, err
		}
	}
}
