package fuse

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd/internal/jsonscan"
)

// Transaction listings are the bulk of what ledgerd reads from Fuse (a
// reconciliation run reads every transaction of every account), and
// encoding/json spends most of its time there on reflection and
// allocation. The decoder below reads exactly the JSON that encoding/json
// would read into a Page[Transaction] or a Transaction, without either.
// It takes the common shape only, and gives up (ok false) on anything
// else: a string with escapes or invalid UTF-8, a key that is not one of
// the fields spelled exactly (encoding/json also matches keys without
// regard to case), a key given twice, a null where a value is expected, a
// value of another type, a number that is not a plain integer. decode then
// runs encoding/json on the same bytes, so results and errors are always
// encoding/json's.

// fastDecoder is implemented by response types that have a fast path.
type fastDecoder interface {
	// decodeFast decodes b whole and reports true, or reports false and
	// leaves the receiver unchanged.
	decodeFast(b []byte) bool
}

// transactionPage is Page[Transaction] with the fast path.
type transactionPage Page[Transaction]

// UnmarshalJSON is Page's strict decoding, which the conversion drops.
func (p *transactionPage) UnmarshalJSON(b []byte) error {
	return decodePage(b, (*Page[Transaction])(p))
}

func (p *transactionPage) decodeFast(b []byte) bool {
	d := txDecoder{Scanner: jsonscan.Scanner{B: b}}
	var out transactionPage
	if !d.page(&out) || !d.End() {
		return false
	}
	*p = out
	return true
}

// transactionObject is Transaction with the fast path.
type transactionObject Transaction

func (t *transactionObject) decodeFast(b []byte) bool {
	d := txDecoder{Scanner: jsonscan.Scanner{B: b}}
	var out Transaction
	if !d.transaction(&out) || !d.End() {
		return false
	}
	*t = transactionObject(out)
	return true
}

// maxDepth bounds the nesting of the values the fast path skips.
const maxDepth = 32

// txDecoder reads b from i. Its methods return false to give up.
type txDecoder struct {
	jsonscan.Scanner
	// intern keeps one copy of the strings that repeat across a page
	// (the account, kinds, statuses, currencies).
	intern map[string]string
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

func (d *txDecoder) str() (string, bool) {
	s, ok := d.rawString()
	return string(s), ok
}

func (d *txDecoder) interned() (string, bool) {
	s, ok := d.rawString()
	if !ok {
		return "", false
	}
	if v, ok := d.intern[string(s)]; ok {
		return v, true
	}
	if d.intern == nil {
		d.intern = map[string]string{}
	}
	v := string(s)
	d.intern[v] = v
	return v, true
}

// int64 reads a plain integer (what encoding/json puts in an int64).
func (d *txDecoder) int64() (int64, bool) {
	n, ok := d.Number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	return v, err == nil
}

// time reads an RFC 3339 string as time.Time's UnmarshalJSON does.
func (d *txDecoder) time(t *time.Time) bool {
	d.WS()
	start := d.I
	if _, ok := d.rawString(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.B[start:d.I]) == nil
}

// object reads an object, calling field for each key; field reads the
// value, or returns false to give up. Unknown keys are skipped unless
// they match a known one but for case (known reports that).
func (d *txDecoder) object(field func(key []byte) (handled, ok bool), known func(key string) bool) bool {
	if !d.Consume('{') {
		return false
	}
	if d.Consume('}') {
		return true
	}
	for {
		key, ok := d.rawString()
		if !ok || !d.Consume(':') {
			return false
		}
		handled, ok := field(key)
		if !ok {
			return false
		}
		if !handled {
			if known(string(key)) || !d.Skip(0, maxDepth) {
				return false
			}
		}
		if d.Consume('}') {
			return true
		}
		if !d.Consume(',') {
			return false
		}
	}
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
	ok := d.object(func(key []byte) (bool, bool) {
		switch string(key) {
		case "results":
			if seen[0] {
				return true, false
			}
			seen[0] = true
			if !d.Consume('[') {
				return true, false
			}
			p.Data = make([]Transaction, 0, 16)
			if d.Consume(']') {
				return true, true
			}
			for {
				p.Data = append(p.Data, Transaction{})
				if !d.transaction(&p.Data[len(p.Data)-1]) {
					return true, false
				}
				if d.Consume(']') {
					return true, true
				}
				if !d.Consume(',') {
					return true, false
				}
			}
		case "pages":
			if seen[1] {
				return true, false
			}
			seen[1] = true
			return true, d.pageInfo(&p.Pages)
		}
		return false, true
	}, func(key string) bool { return foldsTo(key, pageFields) })
	return ok && seen[0] && seen[1]
}

func (d *txDecoder) pageInfo(pi *PageInfo) bool {
	var seen [2]bool
	ok := d.object(func(key []byte) (bool, bool) {
		switch string(key) {
		case "next":
			if seen[0] {
				return true, false
			}
			seen[0] = true
			if d.Peek() == 'n' {
				return true, d.Literal("null")
			}
			s, ok := d.str()
			pi.Next = &s
			return true, ok
		case "size":
			if seen[1] {
				return true, false
			}
			seen[1] = true
			n, ok := d.Number()
			if !ok {
				return true, false
			}
			v, err := strconv.ParseInt(string(n), 10, strconv.IntSize)
			pi.Size = int(v)
			return true, err == nil
		}
		return false, true
	}, func(key string) bool { return foldsTo(key, pageInfoFields) })
	return ok && seen[1]
}

var transactionFields = []string{"transaction_id", "account_id", "kind", "status", "currency",
	"instructed_amount", "fee_amount", "amount_with_fee", "counterpart_account_id", "counterpart_currency",
	"counterpart_amount", "rate", "remitter", "beneficiary", "purpose", "reference", "external_reference",
	"external_id", "failure_reason", "created_at", "updated_at"}

func (d *txDecoder) transaction(t *Transaction) bool {
	var seen uint32
	return d.object(func(key []byte) (bool, bool) {
		n := -1
		switch string(key) {
		case "transaction_id":
			n = 0
		case "account_id":
			n = 1
		case "kind":
			n = 2
		case "status":
			n = 3
		case "currency":
			n = 4
		case "instructed_amount":
			n = 5
		case "fee_amount":
			n = 6
		case "amount_with_fee":
			n = 7
		case "counterpart_account_id":
			n = 8
		case "counterpart_currency":
			n = 9
		case "counterpart_amount":
			n = 10
		case "rate":
			n = 11
		case "remitter":
			n = 12
		case "beneficiary":
			n = 13
		case "purpose":
			n = 14
		case "reference":
			n = 15
		case "external_reference":
			n = 16
		case "external_id":
			n = 17
		case "failure_reason":
			n = 18
		case "created_at":
			n = 19
		case "updated_at":
			n = 20
		default:
			return false, true
		}
		if seen&(1<<n) != 0 {
			return true, false
		}
		seen |= 1 << n
		var ok bool
		switch n {
		case 0:
			t.TransactionID, ok = d.str()
		case 1:
			t.AccountID, ok = d.interned()
		case 2:
			t.Kind, ok = d.interned()
		case 3:
			t.Status, ok = d.interned()
		case 4:
			t.Currency, ok = d.interned()
		case 5:
			t.InstructedAmount, ok = d.int64()
		case 6:
			t.FeeAmount, ok = d.int64()
		case 7:
			t.AmountWithFee, ok = d.int64()
		case 8:
			t.CounterpartAccountID, ok = d.interned()
		case 9:
			t.CounterpartCurrency, ok = d.interned()
		case 10:
			if d.Peek() == 'n' {
				return true, d.Literal("null")
			}
			var v int64
			v, ok = d.int64()
			t.CounterpartAmount = &v
		case 11:
			if d.Peek() == 'n' {
				return true, d.Literal("null")
			}
			var num []byte
			num, ok = d.Number()
			t.Rate = json.Number(num)
		case 12:
			t.Remitter, ok = d.party()
		case 13:
			t.Beneficiary, ok = d.party()
		case 14:
			t.Purpose, ok = d.str()
		case 15:
			t.Reference, ok = d.str()
		case 16:
			t.ExternalReference, ok = d.str()
		case 17:
			t.ExternalID, ok = d.str()
		case 18:
			t.FailureReason, ok = d.str()
		case 19:
			ok = d.time(&t.CreatedAt)
		case 20:
			ok = d.time(&t.UpdatedAt)
		}
		return true, ok
	}, func(key string) bool { return foldsTo(key, transactionFields) })
}

var partyFields = []string{"name", "iban"}

func (d *txDecoder) party() (*Party, bool) {
	if d.Peek() == 'n' {
		return nil, d.Literal("null")
	}
	var p Party
	var seen [2]bool
	ok := d.object(func(key []byte) (bool, bool) {
		var dst *string
		var n int
		switch string(key) {
		case "name":
			dst, n = &p.Name, 0
		case "iban":
			dst, n = &p.IBAN, 1
		default:
			return false, true
		}
		if seen[n] {
			return true, false
		}
		seen[n] = true
		var ok bool
		*dst, ok = d.str()
		return true, ok
	}, func(key string) bool { return foldsTo(key, partyFields) })
	return &p, ok
}
