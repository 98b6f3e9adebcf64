package sandbox

import (
	"net/http"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Fuse's own simulation endpoints (fuse-api.md §6): POSTs under
// /v1/simulate/, behind the token like every /v1 route (the reference's
// global OAuth2 security), without an Idempotency-Key (the reference
// declares none for them) and so with faults striking before they run.
// The reference declares a 200 with no body; the sandbox answers a small
// JSON object naming the transaction. They drive the same operations as
// the /sandbox/ controls, with the same webhooks.

// simulateInboundRequest is SimulateInboundRequest.
type simulateInboundRequest struct {
	BeneficiaryAccountID string  `json:"beneficiary_account_id"`
	Amount               int64   `json:"amount"`
	Reference            string  `json:"reference"`
	ExternalID           *string `json:"external_id"`
	// Remitter is an AccountDetailsIdentifier; only its IBAN form names
	// an IBAN the sandbox keeps (wire and SCAN details draw one).
	Remitter *struct {
		IBAN string `json:"iban"`
	} `json:"remitter"`
	RemitterIBAN *string `json:"remitter_iban"` // deprecated twin of remitter.iban
	RemitterName *string `json:"remitter_name"`
}

// simulateTransactionRequest is SimulateExecutePaymentRequest and
// SimulateFailPaymentRequest; the docs call failure_reason failed_reason,
// and either is accepted.
type simulateTransactionRequest struct {
	TransactionID string `json:"transaction_id"`
	FailureReason string `json:"failure_reason"`
	FailedReason  string `json:"failed_reason"`
}

// simulateReturnRequest is SimulateReturnedPaymentRequest, plus the
// return's reason, which the reference does not take [model]: "" means
// DefaultReturnReason.
type simulateReturnRequest struct {
	OutboundTransactionID string `json:"outbound_transaction_id"`
	Reason                string `json:"reason"`
}

// simulateResponse is the sandbox's answer to a simulation: the
// transaction it made or moved.
type simulateResponse struct {
	TransactionID string `json:"transaction_id"`
}

func (s *Sandbox) simulateRoutes(api func(method, path string, kind routeKind, fn apiFunc)) {
	api("POST", "/simulate/inbound-payment", routeRead, s.simulateInbound)
	api("POST", "/simulate/execute-payment", routeRead, s.simulateExecute)
	api("POST", "/simulate/fail-payment", routeRead, s.simulateFail)
	api("POST", "/simulate/return-payment", routeRead, s.simulateReturn)
}

// simulateInbound: an inbound local payment settles into
// beneficiary_account_id (inbound_local_payment_settled).
func (s *Sandbox) simulateInbound(_ *http.Request, body []byte) (int, any, error) {
	var req simulateInboundRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.BeneficiaryAccountID == "" {
		return 0, nil, apiErr(http.StatusBadRequest, "invalid_request", "beneficiary_account_id is required")
	}
	p := InboundPayment{
		AccountID: req.BeneficiaryAccountID, Amount: req.Amount,
		RemitterName: "topup", ExternalReference: req.Reference,
	}
	if req.RemitterName != nil && *req.RemitterName != "" {
		p.RemitterName = *req.RemitterName
	}
	if req.ExternalID != nil {
		p.ExternalID = *req.ExternalID
	}
	switch {
	case req.Remitter != nil && req.Remitter.IBAN != "":
		p.RemitterIBAN = req.Remitter.IBAN
	case req.RemitterIBAN != nil:
		p.RemitterIBAN = *req.RemitterIBAN
	}
	t, err := s.InboundPayment(p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, simulateResponse{TransactionID: t.TransactionID}, nil
}

// simulateExecute: an outbound local payment in flight executes, through
// Submitted when it was still Created.
func (s *Sandbox) simulateExecute(_ *http.Request, body []byte) (int, any, error) {
	return s.simulateOnPayment(body, func(t *txn, _ string, stamp time.Time) error {
		return s.executePaymentLocked(t, stamp)
	})
}

// simulateFail: an outbound local payment in flight fails.
func (s *Sandbox) simulateFail(_ *http.Request, body []byte) (int, any, error) {
	return s.simulateOnPayment(body, s.failLocked)
}

// simulateOnPayment decodes a simulation naming a transaction_id and,
// under the lock, moves that outbound payment with move (given the
// failure reason, under either name).
func (s *Sandbox) simulateOnPayment(body []byte, move func(t *txn, reason string, stamp time.Time) error) (int, any, error) {
	var req simulateTransactionRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	reason := req.FailureReason
	if reason == "" {
		reason = req.FailedReason
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	t, err := s.outboundPaymentLocked(req.TransactionID)
	if err != nil {
		return 0, nil, err
	}
	if err := move(t, reason, stamp); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, simulateResponse{TransactionID: t.TransactionID}, nil
}

// simulateReturn: an Executed outbound local payment comes back as a
// local_return_payment (outbound_local_payment_returned); the answer names
// the return.
func (s *Sandbox) simulateReturn(_ *http.Request, body []byte) (int, any, error) {
	var req simulateReturnRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.OutboundTransactionID == "" {
		return 0, nil, apiErr(http.StatusBadRequest, "invalid_request", "outbound_transaction_id is required")
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	p, err := s.outboundPaymentLocked(req.OutboundTransactionID)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.returnPaymentLocked(p, req.Reason, stamp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, simulateResponse{TransactionID: r.TransactionID}, nil
}

// outboundPaymentLocked finds the outbound local payment id: the
// simulation endpoints move payments only, not transfers or exchanges.
func (s *Sandbox) outboundPaymentLocked(id string) (*txn, error) {
	if id == "" {
		return nil, apiErr(http.StatusBadRequest, "invalid_request", "transaction_id is required")
	}
	t, ok := s.txns[id]
	if !ok {
		return nil, apiErr(http.StatusNotFound, "transaction_not_found", "no transaction %q", id)
	}
	if t.Kind != ledgerd.KindLocalPaymentOut {
		return nil, apiErr(http.StatusConflict, "not_outbound_payment",
			"transaction %q is a %s, not an outbound local payment", id, t.Kind)
	}
	return t, nil
}
