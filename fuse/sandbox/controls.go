package sandbox

import (
	"net/http"
	"time"
)

// The controls (fuse-api.md, "The sandbox"): not part of Fuse, under
// /sandbox/ on the same listener, JSON in and out, no token, no
// idempotency, no faults.
func (s *Sandbox) controlRoutes(m *http.ServeMux) {
	ctl := func(pattern string, fn apiFunc) {
		m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body, err := readBody(w, r)
			if err != nil {
				writeError(w, err)
				return
			}
			status, b := run(fn, r, body)
			writeRaw(w, status, b)
		})
	}
	ctl("POST /sandbox/inbound-payments", s.ctlInbound)
	ctl("POST /sandbox/transactions/{transaction_id}/fail", s.ctlFail)
	ctl("POST /sandbox/adjustments", s.ctlAdjust)
	ctl("POST /sandbox/accounts", s.ctlOpenAccount)
	ctl("POST /sandbox/accounts/{account_id}/rename", s.ctlRename)
	ctl("POST /sandbox/clock", s.ctlClock)
	ctl("GET /sandbox/clock", func(*http.Request, []byte) (int, any, error) {
		return http.StatusOK, clockResponse{Now: s.Now()}, nil
	})
	ctl("POST /sandbox/faults", s.ctlFaults)
	ctl("GET /sandbox/faults", func(*http.Request, []byte) (int, any, error) {
		return http.StatusOK, s.Faults(), nil
	})
	ctl("GET /sandbox/truth", func(*http.Request, []byte) (int, any, error) {
		return http.StatusOK, s.Truth(), nil
	})
	ctl("GET /sandbox/stats", func(*http.Request, []byte) (int, any, error) {
		return http.StatusOK, s.Stats(), nil
	})
	ctl("GET /sandbox/deliveries", func(*http.Request, []byte) (int, any, error) {
		return http.StatusOK, s.Deliveries(), nil
	})
	ctl("GET /sandbox/events", func(*http.Request, []byte) (int, any, error) {
		return http.StatusOK, s.Events(), nil
	})
}

// ctlInbound: POST /sandbox/inbound-payments {"account_id", "amount",
// "currency", "remitter_name"} → 201 the local_payment_in transaction.
func (s *Sandbox) ctlInbound(_ *http.Request, body []byte) (int, any, error) {
	var p InboundPayment
	if err := decode(body, &p); err != nil {
		return 0, nil, err
	}
	t, err := s.InboundPayment(p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, t, nil
}

type failRequest struct {
	Reason string `json:"reason"`
}

// ctlFail: POST /sandbox/transactions/{id}/fail {"reason"} → 200 the
// failed transaction; 409 when it is not an outbound leg in flight.
func (s *Sandbox) ctlFail(r *http.Request, body []byte) (int, any, error) {
	var req failRequest
	if len(body) > 0 {
		if err := decode(body, &req); err != nil {
			return 0, nil, err
		}
	}
	t, err := s.Fail(r.PathValue("transaction_id"), req.Reason)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, t, nil
}

// ctlAdjust: POST /sandbox/adjustments {"account_id", "amount",
// "currency"} → 200 the account with its new balance.
func (s *Sandbox) ctlAdjust(_ *http.Request, body []byte) (int, any, error) {
	var adj Adjustment
	if err := decode(body, &adj); err != nil {
		return 0, nil, err
	}
	a, err := s.Adjust(adj)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a, nil
}

// ctlOpenAccount: POST /sandbox/accounts (an AccountSpec) → 201 the
// account, with a customer created on the way when none is named.
func (s *Sandbox) ctlOpenAccount(_ *http.Request, body []byte) (int, any, error) {
	var spec AccountSpec
	if len(body) > 0 {
		if err := decode(body, &spec); err != nil {
			return 0, nil, err
		}
	}
	a, err := s.OpenAccount(spec)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, a, nil
}

// ctlRename: POST /sandbox/accounts/{id}/rename {"account_name"} → 200
// the account; emits account_updated.
func (s *Sandbox) ctlRename(r *http.Request, body []byte) (int, any, error) {
	var req struct {
		AccountName string `json:"account_name"`
	}
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	a, err := s.RenameAccount(r.PathValue("account_id"), req.AccountName)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a, nil
}

type clockRequest struct {
	Advance string `json:"advance"` // a Go duration: "90m", "1h30m", "5s"
}

type clockResponse struct {
	Now time.Time `json:"now"`
}

// ctlClock: POST /sandbox/clock {"advance": "90m"} → 200 {"now"}.
func (s *Sandbox) ctlClock(_ *http.Request, body []byte) (int, any, error) {
	var req clockRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	d, err := time.ParseDuration(req.Advance)
	if err != nil || d < 0 {
		return 0, nil, apiErr(http.StatusBadRequest, "invalid_request", "advance must be a non-negative duration such as \"90m\"")
	}
	s.Advance(d)
	return http.StatusOK, clockResponse{Now: s.Now()}, nil
}

// ctlFaults: POST /sandbox/faults (a Faults object) replaces the faults;
// {} clears them. Answers the faults now in force.
func (s *Sandbox) ctlFaults(_ *http.Request, body []byte) (int, any, error) {
	var f Faults
	if err := decode(body, &f); err != nil {
		return 0, nil, err
	}
	if err := f.validate(); err != nil {
		return 0, nil, err
	}
	s.SetFaults(f)
	return http.StatusOK, f, nil
}
