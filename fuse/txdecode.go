package fuse

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd/internal/jsonscan"
)

// Transaction listings are the bulk of what ledgerd reads from Fuse (a
// backfill or a reconciliation reads every transaction of every account),
// and encoding/json spends most of its time there on reflection, on
// allocation (a pointer per optional field), and on Transaction's
// UnmarshalJSON, which runs a second Unmarshal and a compaction per
// object. The decoder below reads exactly the JSON that encoding/json
// would read into a Page[Transaction] or a Transaction, Raw included,
// without either. It takes the common shape only, and gives up (ok false)
// on anything else: a string with escapes or invalid UTF-8, a key that is
// not one of the fields spelled exactly (encoding/json also matches keys
// without regard to case), a key given twice, a value of another type, a
// number that is not a plain integer where an integer goes, a rate given
// as a string. decode then runs encoding/json on the same bytes, so
// results and errors are always encoding/json's.

// transactionPage is Page[Transaction] with the fast path.
type transactionPage Page[Transaction]

// UnmarshalJSON is Page's strict decoding, which the conversion drops.
func (p *transactionPage) UnmarshalJSON(b []byte) error {
	return decodePage(b, (*Page[Transaction])(p))
}

func (p *transactionPage) decodeFast(b []byte) bool {
	return decodePageFast(b, (*Page[Transaction])(p), false)
}

// rawlessTransactionPage is transactionPage for a caller that does not keep
// the objects (ListTransactionsParams.SkipRaw): every Transaction.Raw is
// nil, which spares a copy of the page's bytes.
type rawlessTransactionPage Page[Transaction]

// UnmarshalJSON is Page's strict decoding, without Raw.
func (p *rawlessTransactionPage) UnmarshalJSON(b []byte) error {
	if err := decodePage(b, (*Page[Transaction])(p)); err != nil {
		return err
	}
	for i := range p.Data {
		p.Data[i].Raw = nil
	}
	return nil
}

func (p *rawlessTransactionPage) decodeFast(b []byte) bool {
	return decodePageFast(b, (*Page[Transaction])(p), true)
}

// decodePageFast is the fast path of both page types: *p is set only when
// it reads the whole of b.
func decodePageFast(b []byte, p *Page[Transaction], noRaw bool) bool {
	d := newTxDecoder(b)
	d.noRaw = noRaw
	var out transactionPage
	if !d.page(&out) || !d.End() {
		return false
	}
	*p = Page[Transaction](out)
	return true
}

// transactionObject is Transaction with the fast path.
type transactionObject Transaction

// UnmarshalJSON is Transaction's, which the conversion drops.
func (t *transactionObject) UnmarshalJSON(b []byte) error {
	return (*Transaction)(t).UnmarshalJSON(b)
}

func (t *transactionObject) decodeFast(b []byte) bool {
	d := newTxDecoder(b)
	var out Transaction
	if !d.transaction(&out) || !d.End() {
		return false
	}
	*t = transactionObject(out)
	return true
}

// maxDepth bounds the nesting of the values the fast path skips or keeps
// raw (encoding/json allows 10000; deeper bodies go to it).
const maxDepth = 32

// txDecoder reads B from I. Its methods return false to give up.
type txDecoder struct {
	jsonscan.Scanner
	// intern keeps one copy of the strings that repeat across a page
	// (accounts, types, states, directions, currencies, purposes, parties).
	intern map[string]string
	// raw holds the compacted objects (Transaction.Raw), each a slice of
	// it: no object is longer compacted than in B, so it never grows
	// past its first allocation and earlier slices stay put. With noRaw,
	// nothing is kept and Raw stays nil.
	raw   []byte
	noRaw bool
	// Slabs for what the optional fields point to: a few allocations per
	// page instead of one per field.
	times   slab[time.Time]
	ints    slab[int64]
	strs    slab[string]
	parties slab[PartyDetails]
}

func newTxDecoder(b []byte) *txDecoder {
	return &txDecoder{Scanner: jsonscan.Scanner{B: b}}
}

// slab hands out pointers to elements of blocks that double up to 256
// elements.
type slab[T any] struct{ block []T }

func (s *slab[T]) alloc() *T {
	if len(s.block) == cap(s.block) {
		s.block = make([]T, 0, min(max(8, 2*cap(s.block)), 256))
	}
	s.block = s.block[:len(s.block)+1]
	return &s.block[len(s.block)-1]
}

// rawString returns the contents of a string without escapes, which the
// caller must copy if it keeps them.
func (d *txDecoder) rawString() ([]byte, bool) {
	if d.Peek() != '"' {
		return nil, false
	}
	start := d.I + 1
	ascii := true
	for j := start; j < len(d.B); j++ {
		switch c := d.B[j]; {
		case c == '"':
			s := d.B[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			d.I = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// null consumes a null and reports true, or reports false and consumes
// nothing when the value is not one; ok is false for a broken literal.
func (d *txDecoder) null() (isNull, ok bool) {
	if d.Peek() != 'n' {
		return false, true
	}
	return true, d.Literal("null")
}

// str reads a string into *dst; null leaves it as it is, as encoding/json
// does.
func (d *txDecoder) str(dst *string) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	s, ok := d.rawString()
	*dst = string(s)
	return ok
}

// interned reads a string as str does, from the intern table.
func (d *txDecoder) interned(dst *string) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	s, ok := d.rawString()
	if !ok {
		return false
	}
	if v, ok := d.intern[string(s)]; ok {
		*dst = v
		return true
	}
	if d.intern == nil {
		d.intern = map[string]string{}
	}
	v := string(s)
	d.intern[v] = v
	*dst = v
	return true
}

// strPtr reads a string or null into a *string field.
func (d *txDecoder) strPtr(dst **string) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	p := d.strs.alloc()
	*dst = p
	return d.str(p)
}

// int64Ptr reads a plain integer (what encoding/json puts in an int64) or
// null into an *int64 field.
func (d *txDecoder) int64Ptr(dst **int64) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	n, ok := d.Number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return false
	}
	p := d.ints.alloc()
	*p, *dst = v, p
	return true
}

// int reads a plain integer that fits an int, as encoding/json does.
func (d *txDecoder) int(dst *int) bool {
	n, ok := d.Number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(n), 10, strconv.IntSize)
	*dst = int(v)
	return err == nil
}

// timePtr reads an RFC 3339 string, as time.Time's UnmarshalJSON does, or
// null into a *time.Time field.
func (d *txDecoder) timePtr(dst **time.Time) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	start := d.I
	if _, ok := d.rawString(); !ok {
		return false
	}
	p := d.times.alloc()
	*dst = p
	return p.UnmarshalJSON(d.B[start:d.I]) == nil
}

// object reads an object, calling field for each key; field reads the
// value and reports whether it knew the key (ok false gives up). Unknown
// keys are skipped unless they match a known one but for case (fields
// lists the known ones), which encoding/json would decode into it. A key
// given twice gives up: seen has a bit per field's position in fields.
func (d *txDecoder) object(fields []string, field func(n int) bool) bool {
	if !d.Consume('{') {
		return false
	}
	if d.Consume('}') {
		return true
	}
	var seen uint64
	for {
		key, ok := d.rawString()
		if !ok || !d.Consume(':') {
			return false
		}
		n := index(fields, key)
		switch {
		case n >= 0:
			if seen&(1<<n) != 0 || !field(n) {
				return false
			}
			seen |= 1 << n
		case foldsTo(string(key), fields) || !d.Skip(0, maxDepth):
			return false
		}
		if d.Consume('}') {
			return true
		}
		if !d.Consume(',') {
			return false
		}
	}
}

// index is the position of key in fields, or -1.
func index(fields []string, key []byte) int {
	for i, f := range fields {
		if f == string(key) {
			return i
		}
	}
	return -1
}

// foldsTo reports whether key equals, but for case, one of names.
func foldsTo(key string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

var (
	pageFields     = []string{"results", "pages"}
	pageInfoFields = []string{"next", "size"}
)

// page reads the listing envelope. Like Page's UnmarshalJSON it needs
// results, pages and pages.size; it gives up when one is missing or null,
// and encoding/json then reports the error.
func (d *txDecoder) page(p *transactionPage) bool {
	var seen [2]bool
	if !d.noRaw {
		// A page's objects, compacted, are shorter than the page.
		d.raw = make([]byte, 0, len(d.B))
	}
	ok := d.object(pageFields, func(n int) bool {
		seen[n] = true
		if n == 1 {
			return d.pageInfo(&p.Pages)
		}
		if !d.Consume('[') {
			return false
		}
		// Every transaction has one account_id: counting them spares the
		// slice of large structs its regrowths (a hint, nothing more).
		p.Data = make([]Transaction, 0, min(bytes.Count(d.B, []byte(`"account_id"`)), MaxPageLimit+1))
		if d.Consume(']') {
			return true
		}
		for {
			p.Data = append(p.Data, Transaction{})
			if !d.transaction(&p.Data[len(p.Data)-1]) {
				return false
			}
			if d.Consume(']') {
				return true
			}
			if !d.Consume(',') {
				return false
			}
		}
	})
	return ok && seen[0] && seen[1]
}

func (d *txDecoder) pageInfo(pi *PageInfo) bool {
	sizeSeen := false
	ok := d.object(pageInfoFields, func(n int) bool {
		if n == 0 {
			return d.strPtr(&pi.Next)
		}
		sizeSeen = true
		return d.int(&pi.Size) // null gives up: pages.size is required
	})
	return ok && sizeSeen
}

// transactionFields are Transaction's JSON names, in the order of the
// cases of transaction's switch.
var transactionFields = []string{
	"id", "type", "account_id", "currency", "direction", "state", // 0-5
	"created_at", "external_reference", "instructed_amount", "external_id", // 6-9
	"remitter", "beneficiary", "purpose", "fee_amount", "amount_with_fee", // 10-14
	"fee_source", "scheme", "batch", "authorised_at", "submitted_at", // 15-19
	"executed_at", "failed_at", "settled_at", "failure_reason", // 20-23
	"counterpart_account_id", "counterpart_amount", "counterpart_currency", "rate", // 24-27
	"reason", "returned_id", "amount", "timestamp", "fee_target", // 28-32
}

// transaction reads one transaction object into t, which must be zero,
// and keeps its bytes, compacted, in t.Raw (unless noRaw).
func (d *txDecoder) transaction(t *Transaction) bool {
	d.WS()
	start := d.I
	ok := d.object(transactionFields, func(n int) bool {
		switch n {
		case 0:
			return d.str(&t.ID)
		case 1:
			return d.interned(&t.Type)
		case 2:
			return d.interned(&t.AccountID)
		case 3:
			return d.interned(&t.Currency)
		case 4:
			return d.interned(&t.Direction)
		case 5:
			return d.interned(&t.State)
		case 6:
			return d.timePtr(&t.CreatedAt)
		case 7:
			return d.strPtr(&t.ExternalReference)
		case 8:
			return d.int64Ptr(&t.InstructedAmount)
		case 9:
			return d.strPtr(&t.ExternalID)
		case 10:
			return d.party(&t.Remitter)
		case 11:
			return d.party(&t.Beneficiary)
		case 12:
			return d.interned(&t.Purpose)
		case 13:
			return d.int64Ptr(&t.FeeAmount)
		case 14:
			return d.int64Ptr(&t.AmountWithFee)
		case 15:
			return d.typeRef(&t.FeeSource)
		case 16:
			return d.strPtr(&t.Scheme)
		case 17:
			return d.batch(&t.Batch)
		case 18:
			return d.timePtr(&t.AuthorisedAt)
		case 19:
			return d.timePtr(&t.SubmittedAt)
		case 20:
			return d.timePtr(&t.ExecutedAt)
		case 21:
			return d.timePtr(&t.FailedAt)
		case 22:
			return d.timePtr(&t.SettledAt)
		case 23:
			return d.rawValue(&t.FailureReason)
		case 24:
			return d.interned(&t.CounterpartAccountID)
		case 25:
			return d.int64Ptr(&t.CounterpartAmount)
		case 26:
			return d.interned(&t.CounterpartCurrency)
		case 27:
			return d.rate(&t.Rate)
		case 28:
			return d.str(&t.Reason)
		case 29:
			return d.str(&t.ReturnedID)
		case 30:
			return d.int64Ptr(&t.Amount)
		case 31:
			return d.timePtr(&t.Timestamp)
		case 32:
			return d.feeTarget(&t.FeeTarget)
		}
		return false
	})
	if !ok {
		return false
	}
	if d.noRaw {
		return true
	}
	n := len(d.raw)
	d.raw = appendCompact(d.raw, d.B[start:d.I])
	t.Raw = d.raw[n:len(d.raw):len(d.raw)]
	return true
}

// rate reads a JSON number, kept as its text; null leaves it "". A rate
// given as a string, which encoding/json also takes, gives up.
func (d *txDecoder) rate(dst *json.Number) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	num, ok := d.Number()
	*dst = json.Number(num)
	return ok
}

// rawValue keeps any value as its bytes, as json.RawMessage does (null
// included: it is "null", not nil).
func (d *txDecoder) rawValue(dst *json.RawMessage) bool {
	d.WS()
	start := d.I
	if !d.Skip(0, maxDepth) {
		return false
	}
	*dst = bytes.Clone(d.B[start:d.I])
	return true
}

var (
	partyFields      = []string{"name", "identifier"}
	identifierFields = []string{"iban", "wire", "scan"}
	numberFields     = []string{"account_number", "routing_number", "sort_code"}
	typeRefFields    = []string{"type"}
	batchFields      = []string{"batch_id", "batch_sequence_no"}
	feeTargetFields  = []string{"type", "reference"}
)

func (d *txDecoder) party(dst **PartyDetails) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	p := d.parties.alloc()
	*dst = p
	return d.object(partyFields, func(n int) bool {
		if n == 0 {
			// Payers and payees repeat across a page.
			return d.interned(&p.Name)
		}
		return d.identifier(&p.Identifier)
	})
}

// identifier reads an Identifier; null leaves it zero (a struct, not a
// pointer).
func (d *txDecoder) identifier(id *Identifier) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	return d.object(identifierFields, func(n int) bool {
		switch n {
		case 0:
			return d.interned(&id.IBAN)
		case 1:
			return d.numbers(&id.Wire, nil)
		}
		return d.numbers(nil, &id.SCAN)
	})
}

// numbers reads US wire details into *wire, or UK sort code and account
// number into *scan (the other nil). A key of the other kind is skipped,
// as encoding/json skips it.
func (d *txDecoder) numbers(wire **WireDetails, scan **SCANDetails) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	var account, routing, sort *string
	fields := numberFields
	if wire != nil {
		w := new(WireDetails)
		*wire, account, routing = w, &w.AccountNumber, &w.RoutingNumber
	} else {
		s := new(SCANDetails)
		*scan, account, sort = s, &s.AccountNumber, &s.SortCode
	}
	return d.object(fields, func(n int) bool {
		dst := [3]*string{account, routing, sort}[n]
		if dst == nil {
			// The other kind's field, spelled exactly: not this struct's.
			return d.Skip(0, maxDepth)
		}
		return d.str(dst)
	})
}

func (d *txDecoder) typeRef(dst **TypeRef) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	r := new(TypeRef)
	*dst = r
	return d.object(typeRefFields, func(int) bool { return d.interned(&r.Type) })
}

func (d *txDecoder) batch(dst **Batch) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	b := new(Batch)
	*dst = b
	return d.object(batchFields, func(n int) bool {
		if n == 0 {
			return d.str(&b.BatchID)
		}
		if isNull, ok := d.null(); isNull || !ok {
			return ok
		}
		return d.int(&b.BatchSequenceNo)
	})
}

func (d *txDecoder) feeTarget(dst **FeeTarget) bool {
	if isNull, ok := d.null(); isNull || !ok {
		return ok
	}
	f := new(FeeTarget)
	*dst = f
	return d.object(feeTargetFields, func(n int) bool {
		if n == 0 {
			return d.interned(&f.Type)
		}
		return d.str(&f.Reference)
	})
}

// appendCompact appends src, one valid JSON value, without the white
// space outside its strings, as json.Compact does. A value without such
// space, the usual case, is copied in one go.
func appendCompact(dst, src []byte) []byte {
	last := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '"':
			// Jump to the closing quote: one not escaped by an odd
			// number of backslashes.
			for j := i + 1; ; j++ {
				k := bytes.IndexByte(src[j:], '"')
				if k < 0 {
					return append(dst, src[last:]...)
				}
				j += k
				b := j - 1
				for b > i && src[b] == '\\' {
					b--
				}
				if (j-1-b)%2 == 0 {
					i = j
					break
				}
			}
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[last:i]...)
			last = i + 1
		}
	}
	return append(dst, src[last:]...)
}
