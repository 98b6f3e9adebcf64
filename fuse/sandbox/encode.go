package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// Transaction listings are the sandbox's hot path: a reconcile reads every
// transaction of every account in pages of 500. Encoding them with
// encoding/json (reflection, a copy of each transaction, a compaction pass
// per time.Time) cost about 2 µs per transaction, so the sandbox keeps
// each leg's JSON object ready in its account's index (txEntry.enc) and a
// page is those bytes appended into a pooled buffer: it reads the index
// and the encodings, not the legs.
//
// The bytes are exactly what encoding/json makes of the leg's
// fuse.Transaction: appendTransactionJSON writes the common case by hand
// and defers to encoding/json for any value it is not sure of (a string
// needing escapes, an unusual number or time), so that the two can never
// differ (TestTransactionJSONMatchesEncodingJSON, TestListingCache*).
//
// Cache discipline: txEntry.enc is nil or the encoding of the leg as it is
// now. A leg's wire fields are final when addTxLocked indexes it, except
// through touchLocked, which re-indexes the leg in a new entry without an
// encoding; any other change to an indexed leg would have to do the same.
// encodedLocked fills the cache on demand, under s.mu; Generate fills it
// for each leg of its history once the leg is final, while the leg is
// still in the processor's cache. Encodings are never modified in place,
// only replaced.
//
// The encodings of an account's legs are appended to blocks of the account
// (account.encArena), roughly in listing order, so that a page copies
// nearly contiguous memory: one allocation per block, not per leg, and no
// pointers for the garbage collector to scan.

// Blocks of cached encodings start at encArenaMin bytes and double up to
// encArenaMax, so that accounts with few legs waste little.
const (
	encArenaMin = 4 << 10
	encArenaMax = 64 << 10
)

// encodedLocked returns the JSON object of e's leg, from the cache or
// encoded now (and cached). An error is encoding/json's for a value it
// refuses.
func (s *Sandbox) encodedLocked(e *txEntry) ([]byte, error) {
	if e.enc != nil {
		return e.enc, nil
	}
	t := e.t
	b, ok := appendTransactionJSON(s.encScratch[:0], &t.Transaction)
	if !ok {
		var err error
		if b, err = json.Marshal(t.snapshot()); err != nil {
			return nil, err
		}
	} else {
		s.encScratch = b
	}
	a := t.acct
	if len(b) > cap(a.encArena)-len(a.encArena) {
		size := min(max(encArenaMin, 2*cap(a.encArena)), encArenaMax)
		a.encArena = make([]byte, 0, max(size, len(b)))
	}
	n := len(a.encArena)
	a.encArena = append(a.encArena, b...)
	e.enc = a.encArena[n:len(a.encArena):len(a.encArena)]
	return e.enc, nil
}

// cacheLegLocked encodes t, a leg that will not change again soon, into
// its index entry. The entry of a leg just made or moved is near the end
// of its account's index; one further back is left to encodedLocked.
func (s *Sandbox) cacheLegLocked(t *txn) {
	txs := t.acct.txs
	for i := len(txs) - 1; i >= max(0, len(txs)-64); i-- {
		if txs[i].t == t {
			// An error leaves the leg uncached: the listing reports it.
			_, _ = s.encodedLocked(&txs[i])
			return
		}
	}
}

// pageBufs recycles the buffers listings encode their pages into.
var pageBufs = sync.Pool{New: func() any { return new([]byte) }}

// pooledBody is an apiFunc answer already encoded, in a buffer from
// pageBufs: the API wrapper writes it as it is and then returns the buffer.
type pooledBody struct {
	buf *[]byte
}

// maxPooledPage bounds the buffers kept in pageBufs (a page of 500 usual
// transactions is about 300 KiB).
const maxPooledPage = 4 << 20

func releasePageBuf(buf *[]byte) {
	if cap(*buf) > maxPooledPage {
		return
	}
	*buf = (*buf)[:0]
	pageBufs.Put(buf)
}

// appendTransactionJSON appends t as json.Marshal encodes a
// fuse.Transaction (same fields, order, omitempty rules and escaping). It
// reports false, with dst in an unspecified state, when t holds a value it
// leaves to encoding/json.
func appendTransactionJSON(dst []byte, t *fuse.Transaction) ([]byte, bool) {
	ok := true
	str := func(key string, v string) {
		dst = append(dst, key...)
		var k bool
		dst, k = appendJSONString(dst, v)
		ok = ok && k
	}
	str(`{"transaction_id":`, t.TransactionID)
	str(`,"account_id":`, t.AccountID)
	str(`,"kind":`, t.Kind)
	str(`,"status":`, t.Status)
	str(`,"currency":`, t.Currency)
	dst = append(dst, `,"instructed_amount":`...)
	dst = strconv.AppendInt(dst, t.InstructedAmount, 10)
	dst = append(dst, `,"fee_amount":`...)
	dst = strconv.AppendInt(dst, t.FeeAmount, 10)
	dst = append(dst, `,"amount_with_fee":`...)
	dst = strconv.AppendInt(dst, t.AmountWithFee, 10)
	if t.CounterpartAccountID != "" {
		str(`,"counterpart_account_id":`, t.CounterpartAccountID)
	}
	if t.CounterpartCurrency != "" {
		str(`,"counterpart_currency":`, t.CounterpartCurrency)
	}
	if t.CounterpartAmount != nil {
		dst = append(dst, `,"counterpart_amount":`...)
		dst = strconv.AppendInt(dst, *t.CounterpartAmount, 10)
	}
	if t.Rate != "" {
		if !isValidNumber(string(t.Rate)) {
			return dst, false
		}
		dst = append(dst, `,"rate":`...)
		dst = append(dst, t.Rate...)
	}
	if t.Remitter != nil {
		str(`,"remitter":{"name":`, t.Remitter.Name)
		str(`,"iban":`, t.Remitter.IBAN)
		dst = append(dst, '}')
	}
	if t.Beneficiary != nil {
		str(`,"beneficiary":{"name":`, t.Beneficiary.Name)
		str(`,"iban":`, t.Beneficiary.IBAN)
		dst = append(dst, '}')
	}
	if t.Purpose != "" {
		str(`,"purpose":`, t.Purpose)
	}
	if t.Reference != "" {
		str(`,"reference":`, t.Reference)
	}
	if t.ExternalReference != "" {
		str(`,"external_reference":`, t.ExternalReference)
	}
	if t.ExternalID != "" {
		str(`,"external_id":`, t.ExternalID)
	}
	if t.FailureReason != "" {
		str(`,"failure_reason":`, t.FailureReason)
	}
	var k1, k2 bool
	dst = append(dst, `,"created_at":`...)
	dst, k1 = appendJSONTime(dst, t.CreatedAt)
	dst = append(dst, `,"updated_at":`...)
	dst, k2 = appendJSONTime(dst, t.UpdatedAt)
	dst = append(dst, '}')
	return dst, ok && k1 && k2
}

// plainJSON marks the bytes encoding/json copies into a string as they are
// (with its default HTML escaping): printable ASCII but " \ < > &.
var plainJSON = func() (set [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		set[c] = true
	}
	for _, c := range `"\<>&` {
		set[c] = false
	}
	return set
}()

// appendJSONString appends s as a JSON string the way encoding/json does;
// a string with anything but plain ASCII is handed to encoding/json. It
// reports false if encoding/json refused (it never does for a string).
func appendJSONString(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			b, err := json.Marshal(s)
			if err != nil {
				return dst, false
			}
			return append(dst, b...), true
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), true
}

// appendJSONTime appends t as time.Time.MarshalJSON does; false for the
// times it refuses (a year outside 0..9999, an offset of 24 h or more).
func appendJSONTime(dst []byte, t time.Time) ([]byte, bool) {
	dst = append(dst, '"')
	dst, err := t.AppendText(dst)
	return append(dst, '"'), err == nil
}

// isValidNumber is encoding/json's check of a json.Number: the JSON number
// grammar (RFC 7159, section 6).
func isValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// appendTxPageLocked appends a fuse.Page[fuse.Transaction] of txs with
// pages pi, as json.Marshal would.
func (s *Sandbox) appendTxPageLocked(dst []byte, txs []txEntry, pi fuse.PageInfo) ([]byte, error) {
	dst = append(dst, `{"results":[`...)
	for i := range txs {
		b, err := s.encodedLocked(&txs[i])
		if err != nil {
			return dst, fmt.Errorf("encode response: %w", err)
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, b...)
	}
	dst = append(dst, `],"pages":{"next":`...)
	if pi.Next == nil {
		dst = append(dst, "null"...)
	} else {
		var ok bool
		if dst, ok = appendJSONString(dst, *pi.Next); !ok {
			return dst, fmt.Errorf("encode response: cursor %q", *pi.Next)
		}
	}
	dst = append(dst, `,"size":`...)
	dst = strconv.AppendInt(dst, int64(pi.Size), 10)
	return append(dst, "}}"...), nil
}
