package ledger

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ledgerd/ledgerd"
)

// Ledger accounts that are not Fuse accounts.
const (
	AccountPayees           = "world:payees"
	AccountPayers           = "world:payers"
	AccountFees             = "expense:fees"
	AccountClearingInternal = "clearing:internal"
	AccountFXConversion     = "fx:conversion"
)

// BankAccount is the ledger account of a Fuse account.
func BankAccount(fuseAccountID string) string { return "bank:" + fuseAccountID }

// ClearingFX is the clearing account through which an exchange's source
// currency passes between its two legs.
func ClearingFX(c ledgerd.Currency) string { return "clearing:fx:" + string(c) }

// accountType derives ledger_accounts.type from the account's name.
func accountType(name string) string {
	prefix, _, _ := strings.Cut(name, ":")
	return prefix
}

// Posting is one line of an entry: a signed amount (debit +, credit −) on a
// ledger account in one currency.
type Posting struct {
	Account  string
	Currency ledgerd.Currency
	Amount   ledgerd.Amount
}

// entryInput is what planning an entry needs to know of a Fuse
// transaction, with its currency already resolved.
type entryInput struct {
	Kind                ledgerd.Kind
	AccountID           string
	Currency            ledgerd.Currency
	Amounts             ledgerd.TxAmounts
	CounterpartCurrency ledgerd.Currency
	CounterpartAmount   *ledgerd.Amount
	// FeeSource is how a payment's fee is booked (bookedFeeSource):
	// primary_account leaves it out of the payment's entry.
	FeeSource string
	// MoveFeeFrom and MoveFee, on a fee debit: the payment it is for
	// booked its fee MoveFee inside its own entry, on the account
	// MoveFeeFrom, before Fuse said the fee is taken apart (fees.go); the
	// fee debit gives it back to that account, so that the fee is booked
	// once and each account carries what Fuse took from it.
	MoveFeeFrom string
	MoveFee     ledgerd.Amount
}

// errWaiting means the transaction is known but cannot be booked yet: a
// field the entry needs has not arrived.
var errWaiting = errors.New("waiting for data")

// plan turns a Fuse transaction into its postings, following the table of
// DESIGN.md. Exchanges book the conversion on the receiving leg, through
// fx:conversion, so that each leg balances in its own currencies and the
// clearing account of the source currency returns to zero once both legs
// are in (see the closing note: the design table names clearing:fx:<ccy>
// on both legs, which only balances if <ccy> is the same currency on both).
// The result is checked to balance per currency; zero lines are dropped.
func plan(in entryInput) ([]Posting, error) {
	if !in.Currency.Valid() {
		return nil, fmt.Errorf("currency of %s: %w", in.Kind, errWaiting)
	}
	if err := in.Amounts.Check(in.Kind); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	bank := BankAccount(in.AccountID)
	a := in.Amounts
	c := in.Currency
	var ps []Posting
	add := func(acct string, cur ledgerd.Currency, amt ledgerd.Amount) {
		ps = append(ps, Posting{Account: acct, Currency: cur, Amount: amt})
	}
	bankAmt, err := BankAmount(in.Kind, in.FeeSource, a)
	if err != nil {
		return nil, err
	}
	// The fee a payment's own entry books: none when Fuse takes it as a
	// separate fee debit (which books it), so that it is booked once.
	fee := a.Fee
	if in.FeeSource == ledgerd.FeeSourcePrimary {
		fee = 0
	}
	// Every entry moves its bank account by BankAmount, first.
	add(bank, c, bankAmt)
	switch in.Kind {
	case ledgerd.KindLocalPaymentOut:
		add(AccountPayees, c, a.Instructed)
		add(AccountFees, c, fee)
	case ledgerd.KindLocalPaymentIn:
		add(AccountFees, c, fee)
		add(AccountPayers, c, -a.Instructed)
	case ledgerd.KindFeeDebit:
		add(AccountFees, c, a.Instructed)
		if in.MoveFeeFrom != "" {
			add(BankAccount(in.MoveFeeFrom), c, in.MoveFee)
			add(AccountFees, c, -in.MoveFee)
		}
	case ledgerd.KindReturnIn:
		// The money of a payment we sent comes back from the payee.
		add(AccountPayees, c, -a.Instructed)
	case ledgerd.KindReturnOut:
		// We send back money a payer sent us.
		add(AccountPayers, c, a.Instructed)
	case ledgerd.KindInternalTransferOut:
		add(AccountClearingInternal, c, a.Instructed)
	case ledgerd.KindInternalTransferIn:
		add(AccountClearingInternal, c, -a.Instructed)
	case ledgerd.KindExchangeOut:
		add(ClearingFX(c), c, a.Instructed)
	case ledgerd.KindExchangeIn:
		if !in.CounterpartCurrency.Valid() || in.CounterpartAmount == nil {
			return nil, fmt.Errorf("counterpart of %s: %w", in.Kind, errWaiting)
		}
		src, srcAmt := in.CounterpartCurrency, *in.CounterpartAmount
		if err := srcAmt.CheckRange(); err != nil {
			return nil, fmt.Errorf("%w: counterpart_amount: %w", ErrRejected, err)
		}
		add(AccountFXConversion, c, -a.Instructed)
		add(AccountFXConversion, src, srcAmt)
		add(ClearingFX(src), src, -srcAmt)
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrRejected, in.Kind)
	}
	kept := ps[:0]
	for _, p := range ps {
		if p.Amount != 0 {
			kept = append(kept, p)
		}
	}
	if err := checkBalanced(kept); err != nil {
		return nil, err
	}
	return kept, nil
}

// BankAmount is the signed amount (debit +, credit −) that the entry of
// a Fuse transaction of the given kind books on its bank:<account>, in
// the transaction's currency: what the transaction does to the account's
// balance once it has succeeded. feeSource is the transaction's
// fee_source as the ledger keeps it: a payment's fee is inside the bank
// amount unless it is primary_account. The reconciler compares it with
// Fuse's balances; plan books it, so the two cannot differ.
func BankAmount(kind ledgerd.Kind, feeSource string, a ledgerd.TxAmounts) (ledgerd.Amount, error) {
	var amt ledgerd.Amount
	var err error
	switch kind {
	case ledgerd.KindLocalPaymentOut:
		amt = a.WithFee
		if feeSource == ledgerd.FeeSourcePrimary {
			amt = a.Instructed
		}
		amt, err = amt.Neg()
	case ledgerd.KindLocalPaymentIn:
		amt = a.Instructed
		if feeSource != ledgerd.FeeSourcePrimary {
			amt, err = a.Instructed.Sub(a.Fee)
		}
	case ledgerd.KindInternalTransferOut, ledgerd.KindExchangeOut, ledgerd.KindFeeDebit, ledgerd.KindReturnOut:
		amt, err = a.Instructed.Neg()
	case ledgerd.KindInternalTransferIn, ledgerd.KindExchangeIn, ledgerd.KindReturnIn:
		amt = a.Instructed
	default:
		return 0, fmt.Errorf("%w: unknown kind %q", ErrRejected, kind)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return amt, nil
}

// checkBalanced refuses postings that do not sum to zero in every
// currency, or whose sum overflows. It runs before anything reaches SQL.
func checkBalanced(ps []Posting) error {
	sums := map[ledgerd.Currency]ledgerd.Amount{}
	for _, p := range ps {
		s, err := sums[p.Currency].Add(p.Amount)
		if err != nil {
			return fmt.Errorf("%w: %w: %w", ErrRejected, ErrUnbalanced, err)
		}
		sums[p.Currency] = s
	}
	var off []string
	for c, s := range sums {
		if s != 0 {
			off = append(off, fmt.Sprintf("%s %d", c, s))
		}
	}
	if len(off) > 0 {
		sort.Strings(off)
		return fmt.Errorf("%w: %w: postings sum to %s", ErrRejected, ErrUnbalanced, strings.Join(off, ", "))
	}
	return nil
}
