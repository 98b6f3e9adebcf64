package reconcile

import (
	"time"

	"github.com/ledgerd/ledgerd"
)

// Category is the kind of a break (DESIGN.md, Reconciliation).
type Category string

// Categories, as stored in breaks.category.
const (
	// BalanceDrift: the ledger's posted balance of a Fuse account differs
	// from Fuse's balance, beyond what transactions within the grace
	// period explain. Subject "<account id>/<currency>".
	BalanceDrift Category = "balance_drift"
	// ClosingBalanceDrift: on at least one day of the daily check, Fuse's
	// closing balance of a Fuse account differs from the ledger's posted
	// balance at the day's end (closing.go); the break carries the first
	// such day's amounts and its detail names the day. Subject: the
	// account id.
	ClosingBalanceDrift Category = "closing_balance_drift"
	// MissingInLedger: Fuse has a transaction the ledger never recorded.
	MissingInLedger Category = "missing_in_ledger"
	// MissingAtFuse: the ledger has a transaction (or an account with
	// transactions) that Fuse does not.
	MissingAtFuse Category = "missing_at_fuse"
	// AmountMismatch: instructed, fee, total or counterpart amount differ.
	AmountMismatch Category = "amount_mismatch"
	// CurrencyMismatch: the transaction's or the account's currency
	// differs.
	CurrencyMismatch Category = "currency_mismatch"
	// StatusMismatch: the two sides disagree on the transaction's status
	// at the cut-off (one settled, the other failed or still in flight).
	StatusMismatch Category = "status_mismatch"
	// AccountMismatch: the transaction belongs to another account, names
	// another counterpart, or is of another kind (the kind decides which
	// ledger accounts the money went through).
	AccountMismatch Category = "account_mismatch"
	// UnpairedLeg: one leg of an internal transfer or exchange is booked
	// and the other is not, so the clearing account does not return to
	// zero. Subject: the lowest transaction id of the legs found.
	UnpairedLeg Category = "unpaired_leg"
	// StalePending: in flight on both sides for longer than
	// Options.StalePendingAfter; the detail names the age bucket.
	StalePending Category = "stale_pending"
	// Duplicate: one external_id booked twice as the same kind on the same
	// account (a payment sent twice). Subject
	// "<account id>/<kind>/<external id>".
	Duplicate Category = "duplicate"
	// IncompleteData: the ledger knows a transaction's status but its
	// amounts (or currency) never arrived, so it has no entry.
	IncompleteData Category = "incomplete"
	// StatusConflict: two observations gave the transaction different
	// terminal statuses (executed, then failed); the ledger kept the first.
	StatusConflict Category = "status_conflict"
	// UnbalancedEntry: an entry's postings do not sum to zero in a
	// currency. Must never happen. Subject "entry:<id>/<currency>".
	UnbalancedEntry Category = "unbalanced_entry"
	// TooManyBreaks: the cap on new breaks (Options.MaxNewBreaks) left some
	// out in one run; its detail counts them by severity and category.
	TooManyBreaks Category = "too_many_breaks"
	// UnknownTransaction: Fuse lists a transaction of a type or state the
	// reference does not name; its money cannot be judged (critical until
	// a person looks, or ledgerd learns the type).
	UnknownTransaction Category = "unknown_transaction"
)

// Categories lists every category, in report order.
var Categories = []Category{BalanceDrift, ClosingBalanceDrift, MissingInLedger, MissingAtFuse, AmountMismatch, CurrencyMismatch,
	StatusMismatch, AccountMismatch, UnpairedLeg, StalePending, Duplicate, IncompleteData, StatusConflict,
	UnbalancedEntry, UnknownTransaction, TooManyBreaks}

// Severity grades a break: critical when money is wrong, warning when
// something needs a look, info when no money moved.
type Severity string

// Severities, as stored in breaks.severity.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// State is where a break is in its lifecycle.
type State string

// States, as stored in breaks.state.
const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	Resolved     State = "resolved"
)

// Finding is one break as a run sees it, before it is recorded.
type Finding struct {
	Category          Category
	Subject           string
	Severity          Severity
	FuseAccountID     string
	FuseTransactionID string
	Currency          ledgerd.Currency
	// LedgerAmount and FuseAmount are what each side says (nil: that side
	// says nothing); Difference is ledger − Fuse.
	LedgerAmount, FuseAmount, Difference *ledgerd.Amount
	Detail                               string
}

// Break is a recorded break: a row of the breaks table.
type Break struct {
	ID                int64            `json:"break_id"`
	Category          Category         `json:"category"`
	Subject           string           `json:"subject"`
	Severity          Severity         `json:"severity"`
	FuseAccountID     string           `json:"fuse_account_id"`
	FuseTransactionID string           `json:"fuse_transaction_id"`
	Currency          ledgerd.Currency `json:"currency"`
	LedgerAmount      *ledgerd.Amount  `json:"ledger_amount"`
	FuseAmount        *ledgerd.Amount  `json:"fuse_amount"`
	Difference        *ledgerd.Amount  `json:"difference"`
	Detail            string           `json:"detail"`
	State             State            `json:"state"`
	FirstSeen         time.Time        `json:"first_seen"`
	LastSeen          time.Time        `json:"last_seen"`
	FirstRun          int64            `json:"first_run"`
	LastRun           int64            `json:"last_run"`
	ResolvedAt        *time.Time       `json:"resolved_at"`
	AckNote           string           `json:"ack_note"`
	AckAt             *time.Time       `json:"ack_at"`
}

func amt(a ledgerd.Amount) *ledgerd.Amount { return &a }

// diff returns ledger − fuse, or nil when either is unknown or the
// subtraction overflows.
func diff(ledgerAmt, fuseAmt *ledgerd.Amount) *ledgerd.Amount {
	if ledgerAmt == nil || fuseAmt == nil {
		return nil
	}
	d, err := ledgerAmt.Sub(*fuseAmt)
	if err != nil {
		return nil
	}
	return &d
}

// ageBucket names the aged bucket of a pending transaction (DESIGN.md:
// 0–1, 2–7, 8–30, >30 days), counting whole days.
func ageBucket(age time.Duration) string {
	days := int(age / (24 * time.Hour))
	switch {
	case days <= 1:
		return "0-1d"
	case days <= 7:
		return "2-7d"
	case days <= 30:
		return "8-30d"
	}
	return ">30d"
}

// staleSeverity grows with the age bucket.
func staleSeverity(age time.Duration) Severity {
	switch ageBucket(age) {
	case "0-1d":
		return Info
	case "2-7d":
		return Warning
	}
	return Critical
}
