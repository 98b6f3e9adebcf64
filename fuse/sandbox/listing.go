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

// Listings [model]. limit is 1..500, default 100. Cursors are opaque to
// clients; inside they are unpadded base64url of
//
//	transactions: "t1|<updated_at as Unix nanoseconds>|<transaction_id>"
//	accounts:     "a1|<position of the last account returned>"
//
// A transaction cursor names a position in the (updated_at,
// transaction_id) order, not an offset, so it stays valid while
// transactions change: the next page starts strictly after that key, and a
// transaction updated since reappears later in the order, as it should.

// DefaultPageLimit is the page size when a listing has no limit.
const DefaultPageLimit = 100

func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > fuse.MaxPageLimit {
		return 0, apiErr(http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to %d", fuse.MaxPageLimit)
	}
	return n, nil
}

var errCursor = apiErr(http.StatusBadRequest, "invalid_cursor", "cursor is not one this server issued")

func encodeTxCursor(t *txn) string {
	raw := "t1|" + strconv.FormatInt(t.UpdatedAt.UnixNano(), 10) + "|" + t.TransactionID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeTxCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", errCursor
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != "t1" || parts[2] == "" {
		return time.Time{}, "", errCursor
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return time.Time{}, "", errCursor
	}
	return time.Unix(0, ns).UTC(), parts[2], nil
}

func encodeAccountCursor(pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a1|" + strconv.Itoa(pos)))
}

func decodeAccountCursor(c string) (int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errCursor
	}
	v, ok := strings.CutPrefix(string(raw), "a1|")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 0 {
		return 0, errCursor
	}
	return n, nil
}

// listAccounts answers GET /accounts: accounts in the order they were
// opened.
func (s *Sandbox) listAccounts(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		return 0, nil, err
	}
	cursor := q.Get("cursor")
	start := 0
	if cursor != "" {
		pos, err := decodeAccountCursor(cursor)
		if err != nil {
			return 0, nil, err
		}
		start = pos + 1
	}
	s.lockNow()
	defer s.mu.Unlock()
	start = min(start, len(s.acctList))
	end := min(start+limit, len(s.acctList))
	page := fuse.Page[fuse.Account]{Data: make([]fuse.Account, 0, end-start)}
	for _, a := range s.acctList[start:end] {
		page.Data = append(page.Data, a.Account)
	}
	if end < len(s.acctList) {
		next := encodeAccountCursor(end - 1)
		page.NextCursor = &next
	}
	if s.faults.RepeatCursor && cursor != "" {
		page.NextCursor = &cursor
	}
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
	limit, err := parseLimit(q)
	if err != nil {
		return 0, nil, err
	}
	cursor := q.Get("cursor")
	var afterAt time.Time
	var afterID string
	if cursor != "" {
		if afterAt, afterID, err = decodeTxCursor(cursor); err != nil {
			return 0, nil, err
		}
	}
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
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
		c := encodeTxCursor(txs[end-1].t)
		next = &c
	}
	if s.faults.RepeatCursor && cursor != "" {
		next = &cursor
	}
	// The page is the entries' cached JSON objects (encode.go) appended
	// into a pooled buffer: the bytes json.Marshal makes of a
	// fuse.Page[fuse.Transaction] of the legs.
	buf := pageBufs.Get().(*[]byte)
	b, err := s.appendTxPageLocked((*buf)[:0], txs[start:end], next)
	*buf = b
	if err != nil {
		releasePageBuf(buf)
		return 0, nil, err
	}
	return http.StatusOK, pooledBody{buf: buf}, nil
}
