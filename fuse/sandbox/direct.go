package sandbox

import (
	"net/http"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// The direct helpers below do what the controls (and some API routes) do,
// from Go and without HTTP, tokens, idempotency or faults: test set-up.
// They emit the same webhooks.

// AccountSpec describes an account for OpenAccount and
// POST /sandbox/accounts: the sandbox's own way to open any type of
// account (a primary one too, which Fuse's API does not create).
type AccountSpec struct {
	// CustomerID is an existing customer; "" creates a business customer
	// named CustomerName (default "Sandbox Customer").
	CustomerID   string `json:"customer_id,omitempty"`
	CustomerName string `json:"customer_name,omitempty"`
	// Name is the account_name; "" means "<currency> Account".
	Name string `json:"account_name,omitempty"`
	// Currency defaults to AED, Type to payment (primary, payment or
	// virtual).
	Currency   string `json:"currency,omitempty"`
	Type       string `json:"account_type,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	// Balance, when positive, funds the account with one inbound payment
	// (a local_payment_in transaction and its webhook), so that the balance
	// still follows from the transactions.
	Balance int64 `json:"balance,omitempty"`
}

// OpenAccount opens an account (emitting account_opened) and funds it.
func (s *Sandbox) OpenAccount(spec AccountSpec) (AccountState, error) {
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.openSpecLocked(spec, stamp)
	if err != nil {
		return AccountState{}, err
	}
	return a.AccountState, nil
}

func (s *Sandbox) openSpecLocked(spec AccountSpec, stamp time.Time) (*account, error) {
	if spec.Currency == "" {
		spec.Currency = "AED"
	}
	if spec.Type == "" {
		spec.Type = "payment"
	}
	if spec.Name == "" {
		spec.Name = spec.Currency + " Account"
	}
	var c *customer
	if spec.CustomerID == "" {
		name := spec.CustomerName
		if name == "" {
			name = "Sandbox Customer"
		}
		c = s.addBusinessLocked(sandboxBusiness(name))
	} else if c = s.customers[spec.CustomerID]; c == nil {
		return nil, apiErr(http.StatusNotFound, "customer_not_found", "no customer %q", spec.CustomerID)
	}
	a, err := s.openAccountLocked(c, fuse.CreateAccountRequest{
		AccountName: spec.Name, Currency: spec.Currency, AccountType: spec.Type, ExternalID: spec.ExternalID,
	}, stamp)
	if err != nil {
		return nil, err
	}
	if spec.Balance > 0 {
		if _, err := s.inboundPaymentLocked(a, InboundPayment{
			Amount: spec.Balance, RemitterName: "Initial funding", ExternalReference: "funding",
		}, stamp); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// InboundPayment settles money arriving from outside into an account
// (local_payment_in, inbound_local_payment_settled).
func (s *Sandbox) InboundPayment(p InboundPayment) (Leg, error) {
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(p.AccountID)
	if err != nil {
		return Leg{}, err
	}
	t, err := s.inboundPaymentLocked(a, p, stamp)
	if err != nil {
		return Leg{}, err
	}
	return t.snapshot(), nil
}

// Fail fails an outbound payment, transfer or exchange still in flight;
// reason "" means "Manual failure in Portal".
func (s *Sandbox) Fail(transactionID, reason string) (Leg, error) {
	stamp := s.lockNow()
	defer s.mu.Unlock()
	t, ok := s.txns[transactionID]
	if !ok {
		return Leg{}, apiErr(http.StatusNotFound, "transaction_not_found", "no transaction %q", transactionID)
	}
	if err := s.failLocked(t, reason, stamp); err != nil {
		return Leg{}, err
	}
	return t.snapshot(), nil
}

// ReturnPayment returns the money of an executed outbound local payment,
// as POST /v1/simulate/return-payment does, and gives the return's leg;
// reason "" means DefaultReturnReason.
func (s *Sandbox) ReturnPayment(paymentID, reason string) (Leg, error) {
	stamp := s.lockNow()
	defer s.mu.Unlock()
	p, err := s.outboundPaymentLocked(paymentID)
	if err != nil {
		return Leg{}, err
	}
	r, err := s.returnPaymentLocked(p, reason, stamp)
	if err != nil {
		return Leg{}, err
	}
	return r.snapshot(), nil
}

// Adjust changes a balance with no transaction and no webhook: a planted
// discrepancy that Truth shows as TruthAccount.Adjustments.
func (s *Sandbox) Adjust(adj Adjustment) (AccountState, error) {
	s.lockNow()
	defer s.mu.Unlock()
	a, err := s.adjustLocked(adj)
	if err != nil {
		return AccountState{}, err
	}
	return a.AccountState, nil
}

// RenameAccount renames an account and emits account_updated.
func (s *Sandbox) RenameAccount(accountID, name string) (AccountState, error) {
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(accountID)
	if err != nil {
		return AccountState{}, err
	}
	if err := s.renameAccountLocked(a, name, stamp); err != nil {
		return AccountState{}, err
	}
	return a.AccountState, nil
}

// Account returns an account as GET /accounts/{id} would.
func (s *Sandbox) Account(id string) (AccountState, bool) {
	s.lockNow()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return AccountState{}, false
	}
	return a.AccountState, true
}

// Transaction returns a transaction as GET /transactions/{id} would.
func (s *Sandbox) Transaction(id string) (Leg, bool) {
	s.lockNow()
	defer s.mu.Unlock()
	t, ok := s.txns[id]
	if !ok {
		return Leg{}, false
	}
	return t.snapshot(), true
}
