package sandbox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// customer is a Fuse customer (business or individual), as GET
// /v1/customers/{id} answers it.
type customer struct {
	fuse.Customer
	// Name is the customer's legal name (business_name, or the first and
	// last names): the remitter of its accounts' payments.
	Name string
}

// account is a Fuse account with its balance and its transactions.
type account struct {
	fuse.Account // Balance is kept current here
	customer     *customer
	// adjustments is the sum of /sandbox/adjustments: the only part of the
	// balance no transaction explains.
	adjustments int64
	// txs holds the account's transactions sorted by (UpdatedAt,
	// TransactionID), the listing's order, so a page is a binary search
	// and a slice, never a scan of every transaction. Each entry carries
	// the leg's cached JSON (encode.go), so that a page reads this slice
	// and the encodings, not the legs themselves.
	txs []txEntry
	// encArena is the block the account's cached encodings are appended
	// to (encode.go).
	encArena []byte
}

// txEntry is a leg in its account's index, with its JSON object as the
// API serves it, or nil until encodedLocked makes it. A leg that changes
// is removed from the index and inserted again (touchLocked), which drops
// the encoding with the old entry.
type txEntry struct {
	t   *txn
	enc []byte
}

// txn is one leg of a Fuse transaction.
type txn struct {
	fuse.Transaction
	seq  int      // creation order
	acct *account // the account the leg belongs to
	// to is the destination account of an internal_transfer_out or
	// exchange_out leg; the inbound leg is created when the transfer
	// settles.
	to   *account
	pair *txn // the other leg of a transfer or exchange, once it exists
}

// cmpKey orders transactions by (UpdatedAt, TransactionID).
func cmpKey(t *txn, at time.Time, id string) int {
	if c := t.UpdatedAt.Compare(at); c != 0 {
		return c
	}
	return strings.Compare(t.TransactionID, id)
}

func (a *account) insertTx(t *txn) {
	i, _ := slices.BinarySearchFunc(a.txs, t, func(e txEntry, x *txn) int {
		return cmpKey(e.t, x.UpdatedAt, x.TransactionID)
	})
	a.txs = slices.Insert(a.txs, i, txEntry{t: t})
}

func (a *account) removeTx(t *txn) {
	i, found := slices.BinarySearchFunc(a.txs, t, func(e txEntry, x *txn) int {
		return cmpKey(e.t, x.UpdatedAt, x.TransactionID)
	})
	if !found || a.txs[i].t != t {
		panic(fmt.Sprintf("sandbox: transaction %s missing from its account index", t.TransactionID))
	}
	a.txs = slices.Delete(a.txs, i, i+1)
}

// addTxLocked records a new leg: in the id map, the creation list and its
// account's index. The leg's wire fields are final here: from now on only
// touchLocked changes them.
func (s *Sandbox) addTxLocked(t *txn) {
	t.seq = len(s.txnList)
	s.txns[t.TransactionID] = t
	s.txnList = append(s.txnList, t)
	t.acct.insertTx(t)
}

// touchLocked moves t to status at stamp, keeping its account's index in
// (UpdatedAt, TransactionID) order; its new index entry has no cached
// encoding. Every change to an indexed leg's wire fields goes through here
// (failLocked sets FailureReason just before).
func (s *Sandbox) touchLocked(t *txn, status string, stamp time.Time) {
	t.acct.removeTx(t)
	t.Status = status
	t.UpdatedAt = stamp
	t.acct.insertTx(t)
}

// snapshot returns a copy of the wire object that shares no pointers with
// the sandbox's state.
func (t *txn) snapshot() fuse.Transaction {
	c := t.Transaction
	if c.CounterpartAmount != nil {
		v := *c.CounterpartAmount
		c.CounterpartAmount = &v
	}
	if c.Remitter != nil {
		v := *c.Remitter
		c.Remitter = &v
	}
	if c.Beneficiary != nil {
		v := *c.Beneficiary
		c.Beneficiary = &v
	}
	return c
}

// newIBAN returns a UAE IBAN: "AE", two ISO 7064 mod-97 check digits, a
// three-digit bank code and a sixteen-digit account number (AE + 21
// digits), drawn from r.
func newIBAN(r *rand.Rand, bank string) string {
	var b strings.Builder
	b.WriteString(bank)
	for b.Len() < 19 {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	bban := b.String()
	// Check digits: move "AE00" to the end, letters to numbers (A=10,
	// E=14), and take 98 - (number mod 97).
	rem := 0
	for _, c := range bban + "101400" {
		rem = (rem*10 + int(c-'0')) % 97
	}
	return fmt.Sprintf("AE%02d%s", 98-rem, bban)
}
