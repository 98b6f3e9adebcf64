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
// The bytes are exactly what encoding/json makes of the leg's wire form
// (Leg.Wire, Fuse's published Transaction): appendTransactionJSON writes
// the common case by hand and defers to encoding/json for any value it is
// not sure of (a string needing escapes, an unusual number, time or
// failure reason), so that the two can never differ
// (TestTransactionJSONMatchesEncodingJSON, TestListing*).
//
// Cache discipline: txEntry.enc is nil or the encoding of the leg as it is
// now. A leg's fields are final when addTxLocked indexes it, except
// through touchLocked, which drops the entry's encoding; any other change
// to an indexed leg would have to do the same.
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
	w := t.Wire()
	b, ok := appendTransactionJSON(s.encScratch[:0], &w)
	if ok {
		s.encScratch = b
	} else {
		var err error
		if b, err = json.Marshal(w); err != nil {
			return nil, err
		}
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
// its index entry.
func (s *Sandbox) cacheLegLocked(t *txn) {
	// An error leaves the leg uncached: the listing reports it.
	_, _ = s.encodedLocked(&t.acct.txs[t.pos])
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

// appendTxPageLocked appends a fuse.Page[fuse.Transaction] of txs with
// pages pi, as json.Marshal would.
func (s *Sandbox) appendTxPageLocked(dst []byte, txs []*txn, pi fuse.PageInfo) ([]byte, error) {
	dst = append(dst, `{"results":[`...)
	for i, t := range txs {
		b, err := s.encodedLocked(&t.acct.txs[t.pos])
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

// txEncoder appends JSON to dst; ok turns false at the first value it
// leaves to encoding/json.
type txEncoder struct {
	dst []byte
	ok  bool
}

// str appends key (the JSON text before the value) and s.
func (e *txEncoder) str(key, s string) {
	e.dst = append(e.dst, key...)
	var ok bool
	e.dst, ok = appendJSONString(e.dst, s)
	e.ok = e.ok && ok
}

// optStr is str for an omitempty string field.
func (e *txEncoder) optStr(key, s string) {
	if s != "" {
		e.str(key, s)
	}
}

// strPtr is str for an omitempty *string field.
func (e *txEncoder) strPtr(key string, s *string) {
	if s != nil {
		e.str(key, *s)
	}
}

// int appends an omitempty *int64 field.
func (e *txEncoder) int(key string, v *int64) {
	if v != nil {
		e.dst = append(e.dst, key...)
		e.dst = strconv.AppendInt(e.dst, *v, 10)
	}
}

// time appends an omitempty *time.Time field as time.Time.MarshalJSON
// does; a time it refuses (a year outside 0..9999, an offset of 24 h or
// more) is left to encoding/json, which reports it.
func (e *txEncoder) time(key string, t *time.Time) {
	if t == nil {
		return
	}
	e.dst = append(e.dst, key...)
	e.dst = append(e.dst, '"')
	var err error
	e.dst, err = t.AppendText(e.dst)
	e.dst = append(e.dst, '"')
	e.ok = e.ok && err == nil
}

// party appends an omitempty *fuse.PartyDetails field.
func (e *txEncoder) party(key string, p *fuse.PartyDetails) {
	if p == nil {
		return
	}
	e.str(key+`{"name":`, p.Name)
	e.dst = append(e.dst, `,"identifier":{`...)
	sep := ""
	if p.Identifier.IBAN != "" {
		e.str(`"iban":`, p.Identifier.IBAN)
		sep = ","
	}
	if w := p.Identifier.Wire; w != nil {
		e.str(sep+`"wire":{"account_number":`, w.AccountNumber)
		e.str(`,"routing_number":`, w.RoutingNumber)
		e.dst = append(e.dst, '}')
		sep = ","
	}
	if s := p.Identifier.SCAN; s != nil {
		e.str(sep+`"scan":{"account_number":`, s.AccountNumber)
		e.str(`,"sort_code":`, s.SortCode)
		e.dst = append(e.dst, '}')
	}
	e.dst = append(e.dst, "}}"...)
}

// appendTransactionJSON appends t as json.Marshal encodes a
// fuse.Transaction (same fields, order, omitempty rules and escaping). It
// reports false, with dst in an unspecified state, when t holds a value it
// leaves to encoding/json.
func appendTransactionJSON(dst []byte, t *fuse.Transaction) ([]byte, bool) {
	e := txEncoder{dst: dst, ok: true}
	e.str(`{"id":`, t.ID)
	e.str(`,"type":`, t.Type)
	e.str(`,"account_id":`, t.AccountID)
	e.str(`,"currency":`, t.Currency)
	e.optStr(`,"direction":`, t.Direction)
	e.optStr(`,"state":`, t.State)
	e.time(`,"created_at":`, t.CreatedAt)
	e.strPtr(`,"external_reference":`, t.ExternalReference)
	e.int(`,"instructed_amount":`, t.InstructedAmount)
	e.strPtr(`,"external_id":`, t.ExternalID)
	e.party(`,"remitter":`, t.Remitter)
	e.party(`,"beneficiary":`, t.Beneficiary)
	e.optStr(`,"purpose":`, t.Purpose)
	e.int(`,"fee_amount":`, t.FeeAmount)
	e.int(`,"amount_with_fee":`, t.AmountWithFee)
	if t.FeeSource != nil {
		e.str(`,"fee_source":{"type":`, t.FeeSource.Type)
		e.dst = append(e.dst, '}')
	}
	e.strPtr(`,"scheme":`, t.Scheme)
	if t.Batch != nil {
		e.str(`,"batch":{"batch_id":`, t.Batch.BatchID)
		e.dst = append(e.dst, `,"batch_sequence_no":`...)
		e.dst = strconv.AppendInt(e.dst, int64(t.Batch.BatchSequenceNo), 10)
		e.dst = append(e.dst, '}')
	}
	e.time(`,"authorised_at":`, t.AuthorisedAt)
	e.time(`,"submitted_at":`, t.SubmittedAt)
	e.time(`,"executed_at":`, t.ExecutedAt)
	e.time(`,"failed_at":`, t.FailedAt)
	e.time(`,"settled_at":`, t.SettledAt)
	if len(t.FailureReason) > 0 {
		// encoding/json checks and compacts a RawMessage, escaping HTML:
		// a reason it would copy as it is (the sandbox's, a plain string
		// or {"bank_error": plain string}) is copied here, anything else
		// is left to it.
		e.dst = append(e.dst, `,"failure_reason":`...)
		e.dst = append(e.dst, t.FailureReason...)
		e.ok = e.ok && isPlainFailure(t.FailureReason)
	}
	e.optStr(`,"counterpart_account_id":`, t.CounterpartAccountID)
	e.int(`,"counterpart_amount":`, t.CounterpartAmount)
	e.optStr(`,"counterpart_currency":`, t.CounterpartCurrency)
	if t.Rate != "" {
		e.dst = append(e.dst, `,"rate":`...)
		e.dst = append(e.dst, t.Rate...)
		e.ok = e.ok && isValidNumber(string(t.Rate))
	}
	e.optStr(`,"reason":`, t.Reason)
	e.optStr(`,"returned_id":`, t.ReturnedID)
	e.int(`,"amount":`, t.Amount)
	e.time(`,"timestamp":`, t.Timestamp)
	if t.FeeTarget != nil {
		e.str(`,"fee_target":{"type":`, t.FeeTarget.Type)
		e.str(`,"reference":`, t.FeeTarget.Reference)
		e.dst = append(e.dst, '}')
	}
	e.dst = append(e.dst, '}')
	return e.dst, e.ok
}

// isPlainFailure reports whether b is a failure reason encoding/json
// copies as it is: a JSON string of plainJSON bytes, or an object of one
// member whose key and value are such strings, without white space.
func isPlainFailure(b []byte) bool {
	if n := plainStringLen(b); n > 0 {
		return n == len(b)
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	b = b[1 : len(b)-1]
	k := plainStringLen(b)
	if k == 0 || k >= len(b) || b[k] != ':' {
		return false
	}
	return plainStringLen(b[k+1:]) == len(b)-k-1
}

// plainStringLen is the length of the JSON string of plainJSON bytes that
// b starts with, or 0.
func plainStringLen(b []byte) int {
	if len(b) < 2 || b[0] != '"' {
		return 0
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case !plainJSON[c]:
			return 0
		}
	}
	return 0
}

// isValidNumber is encoding/json's check of a json.Number: the JSON number
// grammar (RFC 8259, section 6).
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
