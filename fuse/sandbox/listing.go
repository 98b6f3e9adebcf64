package sandbox

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// Listings answer Fuse's envelope {"results": [...], "pages": {"next",
// "size"}} [spec]. page_size is 0..2000 [spec]; 0 or absent is 100
// [model] (the default is unstated). A request with a cursor is answered
// from the cursor alone: page_size, updated_since and any other parameter
// are ignored [spec], so the cursor carries what the rest of the listing
// needs [model]. Cursors are opaque to clients; inside they are unpadded
// base64url of
//
//	transactions: "t2|<page size>|<updated_at as Unix nanoseconds>|<transaction_id>"
//	accounts:     "a2|<page size>|<position of the last account returned>"
//
// A transaction cursor names a position in the (updated_at,
// transaction_id) order, not an offset, so it stays valid while
// transactions change: the next page starts strictly after that key, and a
// transaction updated since reappears later in the order, as it should.
// updated_since needs no place in it: everything after the cursor's key
// was updated at or after the cursor's updated_at, itself at or after
// updated_since.

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

func encodeTxCursor(size int, t *txn) string {
	raw := "t2|" + strconv.Itoa(size) + "|" + strconv.FormatInt(t.UpdatedAt.UnixNano(), 10) + "|" + t.TransactionID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// cursorFields decodes a cursor into its n "|"-separated fields after
// prefix, the first of which is a valid page size.
func cursorFields(c, prefix string, n int) (int, []string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, nil, errCursor
	}
	v, ok := strings.CutPrefix(string(raw), prefix+"|")
	parts := strings.SplitN(v, "|", n)
	if !ok || len(parts) != n {
		return 0, nil, errCursor
	}
	size, err := strconv.Atoi(parts[0])
	if err != nil || size < 1 || size > fuse.MaxPageLimit {
		return 0, nil, errCursor
	}
	return size, parts[1:], nil
}

func decodeTxCursor(c string) (int, time.Time, string, error) {
	size, parts, err := cursorFields(c, "t2", 3)
	if err != nil {
		return 0, time.Time{}, "", err
	}
	ns, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || parts[1] == "" {
		return 0, time.Time{}, "", errCursor
	}
	return size, time.Unix(0, ns).UTC(), parts[1], nil
}

func encodeAccountCursor(size, pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a2|" + strconv.Itoa(size) + "|" + strconv.Itoa(pos)))
}

func decodeAccountCursor(c string) (int, int, error) {
	size, parts, err := cursorFields(c, "a2", 2)
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 0 {
		return 0, 0, errCursor
	}
	return size, n, nil
}

// listAccounts answers GET /accounts: accounts in the order they were
// opened.
func (s *Sandbox) listAccounts(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	cursor := q.Get("cursor")
	var limit, start int
	var err error
	if cursor != "" {
		var pos int
		if limit, pos, err = decodeAccountCursor(cursor); err != nil {
			return 0, nil, err
		}
		start = pos + 1
	} else if limit, err = parsePageSize(q); err != nil {
		return 0, nil, err
	}
	s.lockNow()
	defer s.mu.Unlock()
	start = min(start, len(s.acctList))
	end := min(start+limit, len(s.acctList))
	page := fuse.Page[fuse.Account]{Data: make([]fuse.Account, 0, end-start)}
	for _, a := range s.acctList[start:end] {
		page.Data = append(page.Data, a.Account)
	}
	var next *string
	if end < len(s.acctList) {
		c := encodeAccountCursor(limit, end-1)
		next = &c
	}
	if s.faults.RepeatCursor && cursor != "" {
		next = &cursor
	}
	page.Pages = pageInfo(limit, next)
	return http.StatusOK, page, nil
}

// listTransactions answers GET /accounts/{account_id}/transactions: the
// account's legs ordered by updated_at, then transaction_id, ascending.
// updated_since is inclusive: a transaction with updated_at equal to it is
// listed (>=), so a client resuming from its checkpoint's updated_at sees
// the checkpoint's own transaction again and must dedupe, but never misses
// one updated in the same instant. A page costs two binary searches and
// copying the page's cached JSON, whatever the number of transactions.
func (s *Sandbox) listTransactions(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	cursor := q.Get("cursor")
	var limit int
	var afterAt, since time.Time
	var afterID string
	var err error
	if cursor != "" {
		if limit, afterAt, afterID, err = decodeTxCursor(cursor); err != nil {
			return 0, nil, err
		}
	} else if limit, err = parsePageSize(q); err != nil {
		return 0, nil, err
	} else if v := q.Get("updated_since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return 0, nil, apiErr(http.StatusBadRequest, "invalid_updated_since", "updated_since must be an RFC 3339 timestamp")
		}
	}
	s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(r.PathValue("account_id"))
	if err != nil {
		return 0, nil, err
	}
	txs := a.txs
	start := 0
	if cursor != "" {
		start = sort.Search(len(txs), func(i int) bool { return cmpKey(txs[i].t, afterAt, afterID) > 0 })
	}
	if !since.IsZero() {
		start = max(start, sort.Search(len(txs), func(i int) bool { return !txs[i].t.UpdatedAt.Before(since) }))
	}
	end := min(start+limit, len(txs))
	var next *string
	if end < len(txs) {
		c := encodeTxCursor(limit, txs[end-1].t)
		next = &c
	}
	if s.faults.RepeatCursor && cursor != "" {
		next = &cursor
	}
	// The page is the entries' cached JSON objects (encode.go) appended
	// into a pooled buffer: the bytes json.Marshal makes of a
	// fuse.Page[fuse.Transaction] of the legs.
	buf := pageBufs.Get().(*[]byte)
	b, err := s.appendTxPageLocked((*buf)[:0], txs[start:end], pageInfo(limit, next))
	*buf = b
	if err != nil {
		releasePageBuf(buf)
		return 0, nil, err
	}
	return http.StatusOK, pooledBody{buf: buf}, nil
}
