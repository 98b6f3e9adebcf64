package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

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
// The bytes are what encoding/json makes of the leg's wire form
// (Leg.wire, Fuse's published Transaction).
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
	b, err := json.Marshal(t.Wire())
	if err != nil {
		return nil, err
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
