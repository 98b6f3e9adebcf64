package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// Listings answer Fuse's envelope {"results": [...], "pages": {"next",
// "size"}} [spec]. page_size is 0..2000 [spec]; 0 or absent is 100
// [model] (the default is unstated). A request with a cursor is answered
// from the cursor alone: page_size, from, to and every other parameter
// are ignored [spec], so the cursor carries what the rest of the listing
// needs [model]. Cursors are opaque to clients; inside they are unpadded
// base64url of a small JSON object (txCursor, or
// "a4|size|position|customer|external_id" for accounts).
//
// Where the reference is silent the sandbox chooses [model]:
//   - transactions are listed in the order they were created (an account's
//     own, or the organisation's), and a leg never moves in that order when
//     its state changes, so a cursor is a position: nothing is skipped,
//     and a leg created during a walk is listed at its end;
//   - from and to compare created_at (a fee debit's timestamp), both
//     inclusive;
//   - transaction_state compares the state as the API spells it.
// The ListOrder fault lists in reverse or in a shuffled order instead,
// for clients that must not depend on the order.

// DefaultPageLimit is the page size when a listing has no page_size.
const DefaultPageLimit = 100

func parsePageSize(q url.Values) (int, error) {
	v := q.Get("page_size")
	if v == "" {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > fuse.MaxPageLimit {
		return 0, apiErr(http.StatusBadRequest, "invalid_page_size", "page_size must be an integer from 0 to %d", fuse.MaxPageLimit)
	}
	if n == 0 {
		return DefaultPageLimit, nil
	}
	return n, nil
}

// pageInfo is a page's "pages" object. Size is the page size the listing
// uses [model]: the reference requires pages.size but leaves its meaning
// unstated.
func pageInfo(size int, next *string) fuse.PageInfo {
	return fuse.PageInfo{Next: next, Size: size}
}

var errCursor = apiErr(http.StatusBadRequest, "invalid_cursor", "cursor is not one this server issued")

// txCursor is a transaction listing's state between pages: the page size,
// the filters of its first request, the order, and the position of the
// next leg to consider in that order.
type txCursor struct {
	V       int       `json:"v"` // 3
	Size    int       `json:"s"`
	Pos     int       `json:"p"`
	Account string    `json:"a,omitempty"` // the account listed or filtered on
	Org     bool      `json:"o,omitempty"` // the organisation's listing
	From    time.Time `json:"f,omitzero"`
	To      time.Time `json:"t,omitzero"`
	State   string    `json:"st,omitempty"`
	Type    string    `json:"pt,omitempty"` // payment_type
	ExtID   string    `json:"x,omitempty"`
	Order   string    `json:"ord,omitempty"` // the ListOrder fault when the listing began

	// What the filters mean for a leg, worked out once per request
	// (prepare) rather than per leg.
	status ledgerd.Status
	kinds  map[ledgerd.Kind]bool
}

// prepare works out the filters in the leg's own terms.
func (c *txCursor) prepare() {
	c.status = ledgerd.Status(strings.ToLower(c.State))
	if c.Type == "" {
		return
	}
	c.kinds = map[ledgerd.Kind]bool{}
	for _, k := range ledgerd.Kinds {
		if typ, _, ok := fuse.WireType(k); ok && typ == c.Type {
			c.kinds[k] = true
		}
	}
}

func (c txCursor) encode() string {
	b, _ := json.Marshal(c) // a struct of strings, ints and times
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeTxCursor(s string) (txCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return txCursor{}, errCursor
	}
	var c txCursor
	if json.Unmarshal(raw, &c) != nil || c.V != 3 || c.Size < 1 || c.Size > fuse.MaxPageLimit || c.Pos < 0 {
		return txCursor{}, errCursor
	}
	return c, nil
}

// paymentTypes maps the organisation listing's payment_type to the
// transaction type [spec].
var paymentTypes = map[string]string{
	"Local": fuse.TypeLocalPayment, "InternalTransfer": fuse.TypeInternalTransfer,
	"FXTransfer": fuse.TypeFXTransfer, "LocalReturnPayment": fuse.TypeLocalReturnPayment, "Fee": fuse.TypeFeeDebit,
}

// parseTxFilters reads a first request's filters into c.
func parseTxFilters(q url.Values, c *txCursor) error {
	var err error
	at := func(name string) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, apiErr(http.StatusBadRequest, "invalid_"+name, "%s must be a date-time with a time zone (RFC 3339)", name)
		}
		return t, nil
	}
	if c.From, err = at("from"); err != nil {
		return err
	}
	if c.To, err = at("to"); err != nil {
		return err
	}
	c.State = q.Get("transaction_state")
	switch c.State {
	case "", fuse.StateCreated, fuse.StateSubmitted, fuse.StateExecuted, fuse.StateFailed, fuse.StateSettled:
	default:
		return apiErr(http.StatusBadRequest, "invalid_transaction_state", "transaction_state must be Created, Submitted, Executed, Failed or Settled")
	}
	if c.Org {
		c.Account = q.Get("customer_account_id")
		if v := q.Get("payment_type"); v != "" {
			t, ok := paymentTypes[v]
			if !ok {
				return apiErr(http.StatusBadRequest, "invalid_payment_type", "payment_type must be Local, InternalTransfer, FXTransfer, LocalReturnPayment or Fee")
			}
			c.Type = t
		}
		c.ExtID = q.Get("external_id")
	}
	return nil
}

// matches reports whether leg t passes c's filters.
func (c *txCursor) matches(t *txn) bool {
	if c.Org && c.Account != "" && t.AccountID != c.Account {
		return false
	}
	if (!c.From.IsZero() && t.CreatedAt.Before(c.From)) || (!c.To.IsZero() && t.CreatedAt.After(c.To)) {
		return false
	}
	if c.State != "" && t.Status != c.status {
		return false
	}
	if c.Type != "" && !c.kinds[t.Kind] {
		return false
	}
	// Only payments and transfers show an external_id (Leg.Wire).
	return c.ExtID == "" || (t.ExternalID == c.ExtID && t.showsExternalID())
}

// listTransactions answers GET /accounts/{account_id}/transactions.
func (s *Sandbox) listTransactions(r *http.Request, _ []byte) (int, any, error) {
	return s.listTx(r, false)
}

// listOrgTransactions answers GET /transactions: every account's.
func (s *Sandbox) listOrgTransactions(r *http.Request, _ []byte) (int, any, error) {
	return s.listTx(r, true)
}

func (s *Sandbox) listTx(r *http.Request, org bool) (int, any, error) {
	q := r.URL.Query()
	var c txCursor
	var err error
	if cur := q.Get("cursor"); cur != "" {
		if c, err = decodeTxCursor(cur); err != nil {
			return 0, nil, err
		}
		if c.Org != org || (!org && c.Account != r.PathValue("account_id")) {
			return 0, nil, errCursor
		}
	} else {
		c = txCursor{V: 3, Org: org}
		if c.Size, err = parsePageSize(q); err != nil {
			return 0, nil, err
		}
		if !org {
			c.Account = r.PathValue("account_id")
		}
		if err := parseTxFilters(q, &c); err != nil {
			return 0, nil, err
		}
	}
	c.prepare()
	s.lockNow()
	defer s.mu.Unlock()
	if cur := q.Get("cursor"); cur == "" {
		c.Order = s.faults.ListOrder
	}
	// seq is the listing's legs in creation order: the organisation's or
	// the account's.
	var seq func(i int) *txn
	var n int
	if org {
		seq, n = func(i int) *txn { return s.txnList[i] }, len(s.txnList)
	} else {
		a, err := s.accountLocked(c.Account)
		if err != nil {
			return 0, nil, err
		}
		seq, n = func(i int) *txn { return a.txs[i].t }, len(a.txs)
	}
	var page []*txn
	end := n
	if c.Order == "" {
		i := c.Pos
		for ; i < n && len(page) < c.Size; i++ {
			if t := seq(i); c.matches(t) {
				page = append(page, t)
			}
		}
		// The page is the last when nothing after it matches.
		c.Pos = i
		for ; i < n && !c.matches(seq(i)); i++ {
		}
		end = i
		if end == n {
			c.Pos = n
		}
	} else {
		var all []*txn
		for i := range n {
			if t := seq(i); c.matches(t) {
				all = append(all, t)
			}
		}
		s.orderLocked(all, c.Order)
		lo := min(c.Pos, len(all))
		hi := min(lo+c.Size, len(all))
		page = all[lo:hi]
		c.Pos, n, end = hi, len(all), hi
	}
	var next *string
	if end < n {
		v := c.encode()
		next = &v
	}
	if next == nil && len(page) > 0 && s.faults.EmptyLastPage {
		v := c.encode() // at the end: the next page is empty and the last
		next = &v
	}
	if s.faults.RepeatCursor && q.Get("cursor") != "" {
		v := q.Get("cursor")
		next = &v
	}
	buf := pageBufs.Get().(*[]byte)
	b, err := s.appendTxPageLocked((*buf)[:0], page, pageInfo(c.Size, next))
	*buf = b
	if err != nil {
		releasePageBuf(buf)
		return 0, nil, err
	}
	return http.StatusOK, pooledBody{buf: buf}, nil
}

// orderLocked puts legs in the ListOrder fault's order: "reverse" (newest
// first) or "shuffle" (by a hash of the id and the seed: the same on every
// page of a walk; a leg created meanwhile only pushes others later).
func (s *Sandbox) orderLocked(legs []*txn, order string) {
	switch order {
	case "reverse":
		slices.Reverse(legs)
	case "shuffle":
		key := func(t *txn) uint64 {
			h := fnv.New64a()
			h.Write([]byte(strconv.FormatInt(s.opts.Seed, 10) + "|" + t.TransactionID))
			return h.Sum64()
		}
		slices.SortStableFunc(legs, func(a, b *txn) int {
			ka, kb := key(a), key(b)
			switch {
			case ka < kb:
				return -1
			case ka > kb:
				return 1
			}
			return 0
		})
	}
}

// encodeAccountCursor is an account listing's cursor: the page size, the
// position of the last account returned, the customer listed ("" for
// every account) and the external_id filter of the first request.
func encodeAccountCursor(size, pos int, customerID, ext string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a4|" + strconv.Itoa(size) + "|" + strconv.Itoa(pos) + "|" + customerID + "|" + ext))
}

// decodeAccountCursor reads a cursor of the account listing of customerID
// ("" for every account); one of another listing is refused.
func decodeAccountCursor(c, customerID string) (size, pos int, ext string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, 0, "", errCursor
	}
	parts := strings.SplitN(string(raw), "|", 5)
	if len(parts) != 5 || parts[0] != "a4" || parts[3] != customerID {
		return 0, 0, "", errCursor
	}
	size, err1 := strconv.Atoi(parts[1])
	pos, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || size < 1 || size > fuse.MaxPageLimit || pos < 0 {
		return 0, 0, "", errCursor
	}
	return size, pos, parts[4], nil
}

// listAccounts answers GET /accounts: accounts in the order they were
// opened.
func (s *Sandbox) listAccounts(r *http.Request, _ []byte) (int, any, error) {
	return s.listAccountsOf(r, "")
}

// listCustomerAccounts answers GET /customers/{customer_id}/accounts.
func (s *Sandbox) listCustomerAccounts(r *http.Request, _ []byte) (int, any, error) {
	return s.listAccountsOf(r, r.PathValue("customer_id"))
}

// listAccountsOf lists every account, or a customer's ("" for every
// one). A cursor is the position of the last account returned in the
// list of the accounts listed.
func (s *Sandbox) listAccountsOf(r *http.Request, customerID string) (int, any, error) {
	q := r.URL.Query()
	cursor := q.Get("cursor")
	var limit, start int
	ext := q.Get("external_id")
	var err error
	if cursor != "" {
		var pos int
		if limit, pos, ext, err = decodeAccountCursor(cursor, customerID); err != nil {
			return 0, nil, err
		}
		start = pos + 1
	} else if limit, err = parsePageSize(q); err != nil {
		return 0, nil, err
	}
	s.lockNow()
	defer s.mu.Unlock()
	accts := s.acctList
	if customerID != "" {
		if _, ok := s.customers[customerID]; !ok {
			return 0, nil, apiErr(http.StatusNotFound, "customer_not_found", "no customer %q", customerID)
		}
		accts = nil
		for _, a := range s.acctList {
			if a.CustomerID == customerID {
				accts = append(accts, a)
			}
		}
	} else if ext != "" {
		accts = nil
		for _, a := range s.acctList {
			if a.ExternalID == ext {
				accts = append(accts, a)
			}
		}
	}
	start = min(start, len(accts))
	end := min(start+limit, len(accts))
	page := fuse.Page[fuse.Account]{Data: make([]fuse.Account, 0, end-start)}
	for _, a := range accts[start:end] {
		page.Data = append(page.Data, a.wire())
	}
	var next *string
	if end < len(accts) {
		c := encodeAccountCursor(limit, end-1, customerID, ext)
		next = &c
	}
	if s.faults.RepeatCursor && cursor != "" {
		next = &cursor
	}
	page.Pages = pageInfo(limit, next)
	return http.StatusOK, page, nil
}
