package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// The operations below change the sandbox's state. Each runs with s.mu held,
// takes the sandbox time as stamp, keeps the balance invariant, and emits
// its webhooks. Balance rules, per leg (amount = Leg.debit: amount_with_fee,
// or the instructed amount when the primary account pays the fee, fees.go):
//
//	local_payment_out:     created: available −= amount; executed: current −= amount;
//	                       failed: available += amount
//	internal_transfer_out: like local_payment_out, with settled for executed
//	exchange_out:          like local_payment_out
//	fee_debit:             settled when created: current and available −= amount
//	local_payment_in, internal_transfer_in, exchange_in, local_return_payment_in:
//	                       settled when created: current and available += amount
//
// so that current = adjustments + Σ settled inbound − Σ executed/settled
// outbound, and available = current − Σ outbound still in flight (created, submitted, booked).

// InboundPayment is money arriving from outside Fuse
// (POST /sandbox/inbound-payments).
type InboundPayment struct {
	AccountID string `json:"account_id"`
	Amount    int64  `json:"amount"`
	// Currency must be the account's; "" means the account's.
	Currency     string `json:"currency"`
	RemitterName string `json:"remitter_name"`
	// RemitterIBAN is the sender's IBAN; "" draws one from the seed.
	RemitterIBAN      string `json:"remitter_iban,omitempty"`
	ExternalReference string `json:"external_reference,omitempty"`
	ExternalID        string `json:"external_id,omitempty"`
}

// Adjustment changes an account's balance with no transaction and no
// webhook (POST /sandbox/adjustments): a bank-side discrepancy. Amount is
// signed minor units and moves current and available alike.
type Adjustment struct {
	AccountID string `json:"account_id"`
	Amount    int64  `json:"amount"`
	// Currency must be the account's; "" means the account's.
	Currency string `json:"currency"`
}

func checkAmount(amount int64) error {
	if amount <= 0 || amount > int64(ledgerd.MaxAmount) {
		return apiErr(http.StatusBadRequest, "invalid_amount",
			"amount must be between 1 and %d minor units", int64(ledgerd.MaxAmount))
	}
	return nil
}

func (s *Sandbox) accountLocked(id string) (*account, error) {
	a, ok := s.accounts[id]
	if !ok {
		return nil, apiErr(http.StatusNotFound, "account_not_found", "no account %q", id)
	}
	return a, nil
}

// addCustomerLocked records a customer the caller has checked, approved
// at once [model]: the sandbox has no onboarding. name is its legal name.
func (s *Sandbox) addCustomerLocked(c fuse.Customer, name string) *customer {
	c.ID = s.newIDLocked()
	c.ApprovalStatus = fuse.ApprovalAutoApproved
	c.RelationshipType = json.RawMessage(`"direct"`)
	c.Documents = []json.RawMessage{}
	cu := &customer{Customer: c, Name: name}
	s.customers[c.ID] = cu
	return cu
}

// addBusinessLocked adds the business customer req describes (checked by
// the caller: checkBusiness).
func (s *Sandbox) addBusinessLocked(req fuse.CreateBusinessRequest) *customer {
	return s.addCustomerLocked(fuse.Customer{
		Reference: req.Reference, DisplayName: req.DisplayName, Address: req.Address,
		Business: &fuse.CustomerBusiness{
			BusinessName: req.BusinessName, RegistrationNumber: req.RegistrationNumber,
			CountryOfIssuance: req.CountryOfIssuance, RegulatoryLicenses: []string{},
			CurrencyExtra: []json.RawMessage{},
		},
	}, req.BusinessName)
}

// sandboxBusiness is the business the direct helpers create when the
// caller names no customer: the published required fields, filled in.
func sandboxBusiness(name string) fuse.CreateBusinessRequest {
	return fuse.CreateBusinessRequest{
		Address:      fuse.Address{CountryCode: "AE", Line1: "Business Bay, Dubai"},
		BusinessName: name, DisplayName: name, CountryOfIssuance: "AE",
		Reference: "sandbox", RegistrationNumber: "SANDBOX-0001",
	}
}

// openAccountLocked opens an account for c and emits account_opened. The
// API route lets callers open virtual accounts only; the direct helpers
// and the controls also open primary and payment accounts.
func (s *Sandbox) openAccountLocked(c *customer, req fuse.CreateAccountRequest, stamp time.Time) (*account, error) {
	var f fields
	f.text("account_name", req.AccountName, 140)
	f.optional("external_id", req.ExternalID, 36)
	switch req.AccountType {
	case fuse.AccountTypePrimary, fuse.AccountTypePayment, fuse.AccountTypeVirtual:
	default:
		f.add("account_type must be virtual")
	}
	if !ledgerd.Currency(req.Currency).Valid() {
		f.add("unknown currency %q", req.Currency)
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	a := &account{
		AccountState: AccountState{
			AccountID: s.newIDLocked(), AccountName: req.AccountName, AccountType: req.AccountType,
			CustomerID: c.ID, ExternalID: req.ExternalID, Currency: req.Currency,
			IBAN: newIBAN(s.ids, "026"), Status: fuse.AccountOpen, OpenedAt: stamp,
		},
		customer: c,
	}
	s.accounts[a.AccountID] = a
	s.acctList = append(s.acctList, a)
	s.noteBalanceLocked(a, stamp)
	s.emitAccountOpenedLocked(a, stamp)
	return a, nil
}

func (s *Sandbox) renameAccountLocked(a *account, name string, stamp time.Time) error {
	if strings.TrimSpace(name) == "" {
		return apiErr(http.StatusBadRequest, "validation_error", "account_name is required")
	}
	a.AccountName = name
	s.emitLocked("account_updated", accountUpdated{
		AccountID: a.AccountID, AccountName: a.AccountName, ExternalID: optional(a.ExternalID),
	}, stamp)
	return nil
}

func (s *Sandbox) newTxLocked(a *account, kind ledgerd.Kind, status ledgerd.Status, amount, fee int64, stamp time.Time) *txn {
	t := &txn{
		acct: a,
		Leg: Leg{
			TransactionID: s.newIDLocked(), AccountID: a.AccountID, Kind: kind, Status: status,
			Currency: a.Currency, InstructedAmount: amount, FeeAmount: fee, AmountWithFee: amount + fee,
			CreatedAt: stamp, UpdatedAt: stamp,
		},
	}
	if status.Terminal() {
		t.FinalAt = stamp
	}
	return t
}

func (s *Sandbox) createPaymentLocked(a *account, req fuse.CreatePaymentRequest, stamp time.Time) (*txn, error) {
	if err := checkAmount(req.Amount); err != nil {
		return nil, err
	}
	if err := checkPayment(req, a.Currency); err != nil {
		return nil, err
	}
	fee := paymentFee(req.Amount, a.Currency)
	payer := s.feePayerLocked(a, fee)
	if err := checkFunds(a, payer, req.Amount, fee); err != nil {
		return nil, err
	}
	t := s.newTxLocked(a, ledgerd.KindLocalPaymentOut, ledgerd.StatusCreated, req.Amount, fee, stamp)
	t.payFeeFrom(payer)
	t.Remitter = &fuse.Party{Name: a.customer.Name, IBAN: a.IBAN}
	id := req.Beneficiary.AccountIdentifier
	t.Beneficiary = &fuse.Party{Name: req.Beneficiary.AccountHolderName, IBAN: id.IBAN, Wire: id.Wire, SCAN: id.SCAN}
	t.Purpose = req.Purpose
	t.ExternalReference = req.ExternalReference
	t.ExternalID = req.ExternalID
	a.Balance.Available -= t.debit()
	s.addTxLocked(t)
	s.emitPaymentCreatedLocked(t)
	s.startLocked(t, stamp)
	return t, nil
}

// transferAccountLocked finds an account an internal transfer names. The
// reference declares no 404 for POST /v1/internal-transfers: an unknown
// account is a request Fuse cannot carry out, 400.
func (s *Sandbox) transferAccountLocked(field, id string) (*account, error) {
	a, ok := s.accounts[id]
	if !ok {
		return nil, apiErr(http.StatusBadRequest, "account_not_found", "%s: no account %q", field, id)
	}
	return a, nil
}

func (s *Sandbox) createTransferLocked(req fuse.CreateInternalTransferRequest, stamp time.Time) (*txn, error) {
	if err := checkAmount(req.Amount); err != nil {
		return nil, err
	}
	var f fields
	f.text("external_reference", req.ExternalReference, 100)
	f.optional("external_id", req.ExternalID, 36)
	if err := f.err(); err != nil {
		return nil, err
	}
	src, err := s.transferAccountLocked("from_account_id", req.FromAccountID)
	if err != nil {
		return nil, err
	}
	dst, err := s.transferAccountLocked("to_account_id", req.ToAccountID)
	if err != nil {
		return nil, err
	}
	if dst == src {
		return nil, apiErr(http.StatusBadRequest, "invalid_request", "to_account_id is the source account")
	}
	if dst.Currency != src.Currency {
		return nil, apiErr(http.StatusBadRequest, "currency_mismatch",
			"internal transfers need one currency: %s to %s", src.Currency, dst.Currency)
	}
	if src.Balance.Available < req.Amount {
		return nil, apiErr(http.StatusBadRequest, "insufficient_funds",
			"available balance %d is less than %d", src.Balance.Available, req.Amount)
	}
	t := s.newTxLocked(src, ledgerd.KindInternalTransferOut, ledgerd.StatusCreated, req.Amount, 0, stamp)
	t.to = dst
	t.CounterpartAccountID = dst.AccountID
	t.Reference = req.ExternalReference
	t.ExternalID = req.ExternalID
	src.Balance.Available -= t.AmountWithFee
	s.addTxLocked(t)
	s.emitLocked("internal_transfer_created", transferCreated{
		AccountID: src.AccountID, TransactionID: t.TransactionID, Amount: t.InstructedAmount,
		ToAccountID: dst.AccountID, Reference: t.Reference, ExternalID: optional(t.ExternalID),
		Timestamp: stamp,
	}, stamp)
	s.startLocked(t, stamp)
	return t, nil
}

func (s *Sandbox) createExchangeLocked(req fuse.CreateExchangeRequest, stamp time.Time) (*txn, error) {
	var f fields
	f.text("external_reference", req.ExternalReference, 100)
	if err := f.err(); err != nil {
		return nil, err
	}
	src, dst, err := s.exchangeAccountsLocked(req.From.AccountID, req.To.AccountID)
	if err != nil {
		return nil, err
	}
	p, err := price(src.Currency, dst.Currency, req.From.Amount, req.To.Amount)
	if err != nil {
		return nil, err
	}
	if src.Balance.Available < p.from {
		return nil, apiErr(http.StatusBadRequest, "insufficient_funds",
			"available balance %d is less than %d", src.Balance.Available, p.from)
	}
	t := s.newTxLocked(src, ledgerd.KindExchangeOut, ledgerd.StatusCreated, p.from, 0, stamp)
	t.to = dst
	t.CounterpartAccountID = dst.AccountID
	t.CounterpartCurrency = dst.Currency
	counter := p.to
	t.CounterpartAmount = &counter
	t.Rate = json.Number(p.rate)
	t.ExternalReference = req.ExternalReference
	src.Balance.Available -= t.AmountWithFee
	s.addTxLocked(t)
	s.emitLocked("outbound_exchange_transfer_created", exchangeTransfer{
		AccountID: src.AccountID, CounterpartAccountID: dst.AccountID, TransactionID: t.TransactionID,
		Amount: t.InstructedAmount, CounterpartAmount: counter, ExternalReference: t.ExternalReference,
		Timestamp: stamp, Currency: src.Currency, CounterpartCurrency: dst.Currency, Rate: json.RawMessage(p.rate),
	}, stamp)
	s.startLocked(t, stamp)
	return t, nil
}

// exchangeAccountsLocked finds the two accounts of an exchange or a quote:
// both must exist (404) and hold different currencies (400).
func (s *Sandbox) exchangeAccountsLocked(fromID, toID string) (src, dst *account, err error) {
	if src, err = s.accountLocked(fromID); err != nil {
		return nil, nil, err
	}
	if dst, err = s.accountLocked(toID); err != nil {
		return nil, nil, err
	}
	if dst.Currency == src.Currency {
		return nil, nil, apiErr(http.StatusBadRequest, "currency_mismatch",
			"an exchange needs two currencies, both accounts hold %s", src.Currency)
	}
	return src, dst, nil
}

func (s *Sandbox) inboundPaymentLocked(a *account, in InboundPayment, stamp time.Time) (*txn, error) {
	if err := checkAmount(in.Amount); err != nil {
		return nil, err
	}
	if in.Currency != "" && in.Currency != a.Currency {
		return nil, apiErr(http.StatusBadRequest, "currency_mismatch",
			"payment currency %q is not the account's %s", in.Currency, a.Currency)
	}
	if _, err := ledgerd.Amount(a.Balance.Current).Add(ledgerd.Amount(in.Amount)); err != nil {
		return nil, apiErr(http.StatusBadRequest, "invalid_amount", "balance would overflow")
	}
	name := in.RemitterName
	if name == "" {
		name = "Topup"
	}
	iban := in.RemitterIBAN
	if iban == "" {
		iban = newIBAN(s.ids, "007")
	}
	t := s.newTxLocked(a, ledgerd.KindLocalPaymentIn, ledgerd.StatusSettled, in.Amount, 0, stamp)
	t.Remitter = &fuse.Party{Name: name, IBAN: iban}
	t.Beneficiary = &fuse.Party{Name: a.AccountName, IBAN: a.IBAN}
	t.Purpose = "none"
	t.ExternalReference = in.ExternalReference
	t.ExternalID = in.ExternalID
	a.Balance.Current += t.InstructedAmount - t.FeeAmount
	s.noteBalanceLocked(a, stamp)
	a.Balance.Available += t.InstructedAmount - t.FeeAmount
	s.addTxLocked(t)
	s.emitLocked("inbound_local_payment_settled", localPayment{
		AccountID: a.AccountID, TransactionID: t.TransactionID, InstructedAmount: t.InstructedAmount,
		AmountWithFee: t.AmountWithFee, FeeAmount: t.FeeAmount, Remitter: partyOf(t.Remitter),
		Beneficiary: partyOf(t.Beneficiary), ExternalReference: t.ExternalReference,
		Timestamp: stamp, Purpose: t.Purpose, Currency: t.Currency,
	}, stamp)
	return t, nil
}

func (s *Sandbox) adjustLocked(adj Adjustment) (*account, error) {
	a, err := s.accountLocked(adj.AccountID)
	if err != nil {
		return nil, err
	}
	if adj.Currency != "" && adj.Currency != a.Currency {
		return nil, apiErr(http.StatusBadRequest, "currency_mismatch",
			"adjustment currency %q is not the account's %s", adj.Currency, a.Currency)
	}
	cur, err1 := ledgerd.Amount(a.Balance.Current).Add(ledgerd.Amount(adj.Amount))
	avail, err2 := ledgerd.Amount(a.Balance.Available).Add(ledgerd.Amount(adj.Amount))
	sum, err3 := ledgerd.Amount(a.adjustments).Add(ledgerd.Amount(adj.Amount))
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, apiErr(http.StatusBadRequest, "invalid_amount", "balance would overflow")
	}
	a.Balance.Current, a.Balance.Available, a.adjustments = int64(cur), int64(avail), int64(sum)
	s.noteBalanceLocked(a, s.nowLocked())
	return a, nil
}

// failLocked fails an outbound leg still in flight: its money returns to
// available and the kind's failed event is emitted.
func (s *Sandbox) failLocked(t *txn, reason string, stamp time.Time) error {
	switch t.Kind {
	case ledgerd.KindLocalPaymentOut, ledgerd.KindInternalTransferOut, ledgerd.KindExchangeOut:
	default:
		return apiErr(http.StatusConflict, "not_failable", "a %s leg cannot fail", t.Kind)
	}
	if t.Status != ledgerd.StatusCreated && t.Status != ledgerd.StatusSubmitted && t.Status != ledgerd.StatusBooked {
		return apiErr(http.StatusConflict, "not_in_flight", "transaction is %s", t.Status)
	}
	if reason == "" {
		reason = "Manual failure in Portal"
	}
	t.acct.Balance.Available += t.debit()
	t.FailureReason = reason
	s.touchLocked(t, ledgerd.StatusFailed, stamp)
	fr := &failureReason{BankError: reason}
	failed := stepOf(t, stamp)
	failed.FailureReason = fr
	switch t.Kind {
	case ledgerd.KindLocalPaymentOut:
		s.emitLocked("outbound_local_payment_failed", failed, stamp)
	case ledgerd.KindInternalTransferOut:
		s.emitLocked("internal_transfer_failed", failed, stamp)
	case ledgerd.KindExchangeOut:
		s.emitLocked("outbound_exchange_transfer_failed", exchangeStep{
			AccountID: t.AccountID, TransactionID: t.TransactionID, FailureReason: fr, Timestamp: stamp,
		}, stamp)
	}
	return nil
}
