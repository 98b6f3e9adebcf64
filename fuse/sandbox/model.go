package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
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
	AccountState // Balance is kept current here
	customer     *customer
	// adjustments is the sum of /sandbox/adjustments: the only part of the
	// balance no transaction explains.
	adjustments int64
	// txs holds the account's transactions in the order they were
	// created, the listings' order [model]: an entry never moves, so a
	// cursor is a position and a page is a slice. Each entry carries the
	// leg's cached JSON (encode.go), so that a page reads this slice and
	// the encodings, not the legs themselves.
	txs []txEntry
	// encArena is the block the account's cached encodings are appended
	// to (encode.go).
	encArena []byte
}

// wire is the account as the API shows it.
func (a *account) wire() fuse.Account {
	owner := a.AccountName
	if a.customer != nil {
		owner = a.customer.Name
	}
	return a.AccountState.wire(owner)
}

// txEntry is a leg in its account's index, with its JSON object as the
// API serves it, or nil until encodedLocked makes it. A leg that changes
// drops its entry's encoding (touchLocked).
type txEntry struct {
	t   *txn
	enc []byte
}

// txn is one leg of a Fuse transaction.
type txn struct {
	Leg
	seq  int      // creation order, the position in Sandbox.txnList
	pos  int      // the position in acct.txs
	acct *account // the account the leg belongs to
	// to is the destination account of an internal_transfer_out or
	// exchange_out leg; the inbound leg is created when the transfer
	// settles.
	to   *account
	pair *txn // the other leg of a transfer or exchange, once it exists
	// feePayer is the primary account that pays a payment's fee
	// (fee_source primary_account, fees.go), or nil.
	feePayer *account
}

// addTxLocked records a new leg: in the id map, the creation list and its
// account's index. Its fields change afterwards only through touchLocked.
func (s *Sandbox) addTxLocked(t *txn) {
	t.seq = len(s.txnList)
	s.txns[t.TransactionID] = t
	s.txnList = append(s.txnList, t)
	t.pos = len(t.acct.txs)
	t.acct.txs = append(t.acct.txs, txEntry{t: t})
}

// touchLocked moves t to status at stamp and drops its cached encoding.
// Every change to an indexed leg goes through here (failLocked sets
// FailureReason just before).
func (s *Sandbox) touchLocked(t *txn, status ledgerd.Status, stamp time.Time) {
	t.Status = status
	t.UpdatedAt = stamp
	switch {
	case status == ledgerd.StatusSubmitted:
		t.SubmittedAt = stamp
	case status.Terminal():
		t.FinalAt = stamp
	}
	t.acct.txs[t.pos].enc = nil
}

// snapshot returns a copy of the leg that shares no pointers with the
// sandbox's state.
func (t *txn) snapshot() Leg {
	c := t.Leg
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
