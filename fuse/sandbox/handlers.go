package sandbox

import (
	"net/http"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// The handlers of the Fuse API routes (fuse-api.md, "Resources"). Each
// decodes its body with the fuse wire types, then runs one operation under
// the mutex.

func (s *Sandbox) createBusiness(_ *http.Request, body []byte) (int, any, error) {
	var req fuse.CreateBusinessRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	c, err := s.createCustomerLocked("business", req.Name, req.ExternalID, stamp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.Customer, nil
}

func (s *Sandbox) createIndividual(_ *http.Request, body []byte) (int, any, error) {
	var req fuse.CreateIndividualRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.FirstName == "" || req.LastName == "" {
		return 0, nil, apiErr(http.StatusUnprocessableEntity, "validation_error", "first_name and last_name are required")
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	c, err := s.createCustomerLocked("individual", req.FirstName+" "+req.LastName, req.ExternalID, stamp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.Customer, nil
}

func (s *Sandbox) getCustomer(r *http.Request, _ []byte) (int, any, error) {
	s.lockNow()
	defer s.mu.Unlock()
	c, ok := s.customers[r.PathValue("customer_id")]
	if !ok {
		return 0, nil, apiErr(http.StatusNotFound, "customer_not_found", "no customer %q", r.PathValue("customer_id"))
	}
	return http.StatusOK, c.Customer, nil
}

func (s *Sandbox) createAccount(_ *http.Request, body []byte) (int, any, error) {
	var req fuse.CreateAccountRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.openAccountLocked(req, stamp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a.wire(), nil
}

func (s *Sandbox) getAccount(r *http.Request, _ []byte) (int, any, error) {
	s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(r.PathValue("account_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.wire(), nil
}

// updateAccountRequest is the body of PATCH /accounts/{account_id}, the
// sandbox's way to rename an account and emit account_updated [model].
type updateAccountRequest struct {
	AccountName string `json:"account_name"`
}

func (s *Sandbox) updateAccount(r *http.Request, body []byte) (int, any, error) {
	var req updateAccountRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(r.PathValue("account_id"))
	if err != nil {
		return 0, nil, err
	}
	if err := s.renameAccountLocked(a, req.AccountName, stamp); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.wire(), nil
}

func (s *Sandbox) createPayment(r *http.Request, body []byte) (int, any, error) {
	return createOnAccount(s, r, body, s.createPaymentLocked)
}

func (s *Sandbox) createTransfer(r *http.Request, body []byte) (int, any, error) {
	return createOnAccount(s, r, body, s.createTransferLocked)
}

func (s *Sandbox) createExchange(r *http.Request, body []byte) (int, any, error) {
	return createOnAccount(s, r, body, s.createExchangeLocked)
}

// createOnAccount decodes a request body of type Req and runs create, under
// the lock, on the account named in the path: the shape of every POST that
// starts a transaction.
func createOnAccount[Req any](s *Sandbox, r *http.Request, body []byte,
	create func(*account, Req, time.Time) (*txn, error)) (int, any, error) {
	var req Req
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(r.PathValue("account_id"))
	if err != nil {
		return 0, nil, err
	}
	t, err := create(a, req, stamp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, t.Wire(), nil
}

func (s *Sandbox) getTransaction(r *http.Request, _ []byte) (int, any, error) {
	s.lockNow()
	defer s.mu.Unlock()
	t, ok := s.txns[r.PathValue("transaction_id")]
	if !ok {
		return 0, nil, apiErr(http.StatusNotFound, "transaction_not_found", "no transaction %q", r.PathValue("transaction_id"))
	}
	return http.StatusOK, t.Wire(), nil
}
