package sandbox

import (
	"net/http"
)

// The handlers of the Fuse API routes that read or rename (the create
// calls are in create.go). Each decodes its body with the fuse wire
// types, then runs one operation under the mutex.

func (s *Sandbox) getCustomer(r *http.Request, _ []byte) (int, any, error) {
	s.lockNow()
	defer s.mu.Unlock()
	c, ok := s.customers[r.PathValue("customer_id")]
	if !ok {
		return 0, nil, apiErr(http.StatusNotFound, "customer_not_found", "no customer %q", r.PathValue("customer_id"))
	}
	return http.StatusOK, c.Customer, nil
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

// updateAccountRequest is the body of PATCH /accounts/{account_id}
// (PatchAccountRequest): at least one of the two [spec].
type updateAccountRequest struct {
	AccountName *string `json:"account_name"`
	ExternalID  *string `json:"external_id"`
}

// updateAccount answers PATCH /accounts/{account_id}: 202 with no body
// [spec]; the change is made at once and account_updated follows [model].
func (s *Sandbox) updateAccount(r *http.Request, body []byte) (int, any, error) {
	var req updateAccountRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.AccountName == nil && req.ExternalID == nil {
		return 0, nil, apiErr(http.StatusBadRequest, "validation_error", "account_name or external_id is required")
	}
	if (req.AccountName != nil && len(*req.AccountName) > 140) || (req.ExternalID != nil && len(*req.ExternalID) > 36) {
		return 0, nil, apiErr(http.StatusBadRequest, "validation_error", "account_name is at most 140 characters, external_id at most 36")
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(r.PathValue("account_id"))
	if err != nil {
		return 0, nil, err
	}
	name := a.AccountName
	if req.AccountName != nil {
		name = *req.AccountName
	}
	if req.ExternalID != nil {
		a.ExternalID = *req.ExternalID
	}
	if err := s.renameAccountLocked(a, name, stamp); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, nil, nil
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
