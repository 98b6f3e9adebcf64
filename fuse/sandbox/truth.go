package sandbox

import (
	"maps"
	"time"
)

// Truth is the sandbox's ground truth, what tests compare ledgerd against
// (GET /sandbox/truth answers it as JSON).
type Truth struct {
	Now          time.Time          `json:"now"`
	Accounts     []TruthAccount     `json:"accounts"`     // in the order they were opened
	Transactions []TruthTransaction `json:"transactions"` // every leg, in the order it was created
}

// TruthAccount is an account with its balance. Adjustments is the part of
// the balance no transaction explains: the sum of /sandbox/adjustments.
// For every account, Balance.Current equals Adjustments plus the settled
// inbound legs (returns included) minus the executed or settled outbound
// legs (fee debits included; a payment's amount_with_fee, or its
// instructed amount when its fee_source is primary_account), and
// Balance.Available equals Current minus the outbound legs still in flight
// (created, submitted or booked).
type TruthAccount struct {
	AccountState
	Adjustments int64 `json:"adjustments"`
}

// TruthTransaction is one leg. PairedTransactionID is the other leg of a
// transfer or exchange, once it exists.
type TruthTransaction struct {
	Leg
	PairedTransactionID string `json:"paired_transaction_id,omitempty"`
}

// Truth returns a snapshot of every account and transaction.
func (s *Sandbox) Truth() Truth {
	now := s.lockNow()
	defer s.mu.Unlock()
	t := Truth{
		Now:          now,
		Accounts:     make([]TruthAccount, 0, len(s.acctList)),
		Transactions: make([]TruthTransaction, 0, len(s.txnList)),
	}
	for _, a := range s.acctList {
		t.Accounts = append(t.Accounts, TruthAccount{AccountState: a.AccountState, Adjustments: a.adjustments})
	}
	for _, x := range s.txnList {
		tt := TruthTransaction{Leg: x.snapshot()}
		if x.pair != nil {
			tt.PairedTransactionID = x.pair.TransactionID
		}
		t.Transactions = append(t.Transactions, tt)
	}
	return t
}

// Stats are the sandbox's counters.
type Stats struct {
	// TokenRequests counts POST /oauth/token calls, TokensIssued the
	// successful ones.
	TokenRequests int `json:"token_requests"`
	TokensIssued  int `json:"tokens_issued"`
	// APIRequests counts API requests by route: the method and the path
	// pattern as in fuse-api.md, without /v1, e.g.
	// "GET /accounts/{account_id}/transactions".
	APIRequests map[string]int `json:"api_requests"`
	// Unauthorized counts API requests refused with 401.
	Unauthorized int `json:"unauthorized"`
	// Injected429 and Injected5xx count fault answers.
	Injected429 int `json:"injected_429"`
	Injected5xx int `json:"injected_5xx"`
	// IdempotentReplays counts replayed responses; IdempotencyConflicts
	// the 409s (key in flight); IdempotencyMismatches the 422s (other
	// payload).
	IdempotentReplays     int `json:"idempotent_replays"`
	IdempotencyConflicts  int `json:"idempotency_conflicts"`
	IdempotencyMismatches int `json:"idempotency_mismatches"`
	// EventsEmitted counts events; the webhook counters count copies
	// (a duplicated event is two copies).
	EventsEmitted int `json:"events_emitted"`
	// WebhooksSent counts copies attempted at least once.
	WebhooksSent int `json:"webhooks_sent"`
	// WebhooksDelivered counts attempts answered 2xx.
	WebhooksDelivered int `json:"webhooks_delivered"`
	// WebhookAttempts counts every HTTP attempt, retries included;
	// WebhooksFailed the attempts that were not 2xx.
	WebhookAttempts int `json:"webhook_attempts"`
	WebhooksFailed  int `json:"webhooks_failed"`
	// WebhooksDropped, WebhooksDuplicated, WebhooksReordered count fault
	// decisions; WebhooksGivenUp the copies abandoned after RetryWindow.
	WebhooksDropped    int `json:"webhooks_dropped"`
	WebhooksDuplicated int `json:"webhooks_duplicated"`
	WebhooksReordered  int `json:"webhooks_reordered"`
	WebhooksGivenUp    int `json:"webhooks_given_up"`
}

// Stats returns a copy of the counters.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.APIRequests = maps.Clone(s.stats.APIRequests)
	return st
}
