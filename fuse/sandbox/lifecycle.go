package sandbox

import (
	"container/heap"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ledgerd/ledgerd"
)

// stepKind is a lifecycle transition waiting for the sandbox clock.
type stepKind int

const (
	stepSubmitPayment   stepKind = iota // local_payment_out created → submitted
	stepExecutePayment                  // local_payment_out submitted → executed
	stepBookTransfer                    // internal_transfer_out created → booked (no webhook)
	stepSettleTransfer                  // internal_transfer_out created|booked → settled, inbound leg settled
	stepExecuteExchange                 // exchange_out created → executed, inbound leg settled
)

type step struct {
	due  time.Time
	seq  uint64 // ties on due run in scheduling order
	tx   *txn
	kind stepKind
}

// stepHeap is a min-heap of steps by (due, seq).
type stepHeap []step

func (h stepHeap) Len() int { return len(h) }
func (h stepHeap) Less(i, j int) bool {
	if c := h[i].due.Compare(h[j].due); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h stepHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *stepHeap) Push(x any)   { *h = append(*h, x.(step)) }
func (h *stepHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// startLocked sets a new outbound leg on its way: every step at once under
// Options.Instant, otherwise each scheduled on the sandbox clock.
func (s *Sandbox) startLocked(t *txn, stamp time.Time) {
	if s.manualSteps {
		return
	}
	var plan []step
	switch t.Kind {
	case ledgerd.KindLocalPaymentOut:
		plan = []step{
			{due: stamp.Add(PaymentSubmitDelay), kind: stepSubmitPayment},
			{due: stamp.Add(PaymentExecuteDelay), kind: stepExecutePayment},
		}
	case ledgerd.KindInternalTransferOut:
		plan = []step{
			{due: stamp.Add(TransferBookDelay), kind: stepBookTransfer},
			{due: stamp.Add(TransferSettleDelay), kind: stepSettleTransfer},
		}
	case ledgerd.KindExchangeOut:
		plan = []step{{due: stamp.Add(ExchangeExecuteDelay), kind: stepExecuteExchange}}
	}
	for _, st := range plan {
		st.tx = t
		if s.opts.Instant {
			s.applyStepLocked(st, stamp)
			continue
		}
		s.stepSeq++
		st.seq = s.stepSeq
		heap.Push(&s.steps, st)
	}
}

// runDueLocked applies, in order, every step due at or before target. Each
// is stamped with its due time, or floor when it is overdue (the clock moved
// with real time and nobody looked), so updated_at never goes backwards.
func (s *Sandbox) runDueLocked(target, floor time.Time) {
	for len(s.steps) > 0 && !s.steps[0].due.After(target) {
		st := heap.Pop(&s.steps).(step)
		stamp := st.due
		if stamp.Before(floor) {
			stamp = floor
		}
		s.applyStepLocked(st, stamp)
	}
}

// applyStepLocked performs one transition unless the leg has moved on (a
// failed leg ignores its remaining steps).
func (s *Sandbox) applyStepLocked(st step, stamp time.Time) {
	t := st.tx
	switch st.kind {
	case stepSubmitPayment:
		if t.Status != ledgerd.StatusCreated {
			return
		}
		s.touchLocked(t, ledgerd.StatusSubmitted, stamp)
		s.emitLocked("outbound_local_payment_submitted", stepOf(t, stamp), stamp)
	case stepExecutePayment:
		if t.Status != ledgerd.StatusSubmitted {
			return
		}
		if p := t.feePayer; p != nil && p.Balance.Available < t.FeeAmount {
			// The primary account can no longer pay the fee (fees.go).
			_ = s.failLocked(t, "insufficient_funds", stamp) // t is in flight: it cannot refuse
			return
		}
		t.acct.Balance.Current -= t.debit()
		s.noteBalanceLocked(t.acct, stamp)
		s.touchLocked(t, ledgerd.StatusExecuted, stamp)
		s.emitLocked("outbound_local_payment_executed", stepOf(t, stamp), stamp)
		s.feeDebitLocked(t, stamp)
	case stepBookTransfer:
		if t.Status != ledgerd.StatusCreated {
			return
		}
		s.touchLocked(t, ledgerd.StatusBooked, stamp)
	case stepSettleTransfer:
		if t.Status != ledgerd.StatusCreated && t.Status != ledgerd.StatusBooked {
			return
		}
		t.acct.Balance.Current -= t.AmountWithFee
		s.noteBalanceLocked(t.acct, stamp)
		s.touchLocked(t, ledgerd.StatusSettled, stamp)
		in := s.inboundLegLocked(t, ledgerd.KindInternalTransferIn, t.InstructedAmount, stamp)
		s.emitLocked("internal_transfer_settled", stepOf(t, stamp), stamp)
		s.emitLocked("inbound_internal_transfer_settled", transferInSettled{
			AccountID: in.AccountID, FromAccountID: t.AccountID, TransactionID: in.TransactionID,
			Amount: in.InstructedAmount, Timestamp: stamp, Reference: in.Reference,
			ExternalID: optional(in.ExternalID),
		}, stamp)
	case stepExecuteExchange:
		if t.Status != ledgerd.StatusCreated {
			return
		}
		t.acct.Balance.Current -= t.AmountWithFee
		s.noteBalanceLocked(t.acct, stamp)
		s.touchLocked(t, ledgerd.StatusExecuted, stamp)
		in := s.inboundLegLocked(t, ledgerd.KindExchangeIn, *t.CounterpartAmount, stamp)
		src := t.InstructedAmount
		s.emitLocked("outbound_exchange_transfer_executed", exchangeStep{
			AccountID: t.AccountID, TransactionID: t.TransactionID, Timestamp: stamp,
		}, stamp)
		s.emitLocked("inbound_exchange_transfer_settled", exchangeTransfer{
			AccountID: in.AccountID, CounterpartAccountID: t.AccountID, TransactionID: in.TransactionID,
			Amount: in.InstructedAmount, CounterpartAmount: src, ExternalReference: in.ExternalReference,
			Timestamp: stamp, Currency: in.Currency, CounterpartCurrency: t.Currency,
			Rate: json.RawMessage(t.Rate),
		}, stamp)
	}
}

// executePaymentLocked executes an outbound local payment in flight now,
// ahead of the clock (POST /v1/simulate/execute-payment): a Created one is
// submitted first, so its webhooks come as the clock would send them. Its
// scheduled steps then find it moved on and do nothing.
func (s *Sandbox) executePaymentLocked(t *txn, stamp time.Time) error {
	if t.Status != ledgerd.StatusCreated && t.Status != ledgerd.StatusSubmitted {
		return apiErr(http.StatusConflict, "not_in_flight", "transaction is %s", t.Status)
	}
	s.applyStepLocked(step{tx: t, kind: stepSubmitPayment}, stamp)
	s.applyStepLocked(step{tx: t, kind: stepExecutePayment}, stamp)
	return nil
}

// inboundLegLocked creates the settled receiving leg of out on its
// destination account and credits it. The leg takes its reference fields
// from out before it is indexed (addTxLocked: wire fields final).
func (s *Sandbox) inboundLegLocked(out *txn, kind ledgerd.Kind, amount int64, stamp time.Time) *txn {
	dst := out.to
	in := s.newTxLocked(dst, kind, ledgerd.StatusSettled, amount, 0, stamp)
	in.CounterpartAccountID = out.AccountID
	switch kind {
	case ledgerd.KindInternalTransferIn:
		in.Reference = out.Reference
		in.ExternalID = out.ExternalID
	case ledgerd.KindExchangeIn:
		src := out.InstructedAmount
		in.CounterpartCurrency = out.Currency
		in.CounterpartAmount = &src
		in.Rate = out.Rate
		in.ExternalReference = out.ExternalReference
	}
	in.pair, out.pair = out, in
	dst.Balance.Current += amount
	s.noteBalanceLocked(dst, stamp)
	dst.Balance.Available += amount
	s.addTxLocked(in)
	return in
}

// DefaultReturnReason is a return's reason when the simulation gives none
// [model].
const DefaultReturnReason = "returned by beneficiary bank"

// maxReturnReason is the longest reason the reference allows.
const maxReturnReason = 140

// returnPaymentLocked returns the money of an executed outbound local
// payment (POST /v1/simulate/return-payment): a local_return_payment,
// direction Inbound, on the payment's account, settled at once and
// credited to current and available, emitting
// outbound_local_payment_returned [model throughout, fuse-api.md §6, §8]:
//
//   - it returns the payment's instructed amount; the fee stays taken;
//   - its remitter is the payment's beneficiary, its beneficiary the
//     payment's remitter, its external_reference the payment's;
//   - reason "" means DefaultReturnReason;
//   - the payment itself stays Executed (Fuse does not say what becomes
//     of it), and is returned once at most: a second return is 409.
func (s *Sandbox) returnPaymentLocked(p *txn, reason string, stamp time.Time) (*txn, error) {
	if p.Status != ledgerd.StatusExecuted {
		return nil, apiErr(http.StatusConflict, "not_executed",
			"transaction %s is %s: only an Executed payment can be returned", p.TransactionID, wireState(p.Status))
	}
	if reason == "" {
		reason = DefaultReturnReason
	}
	if len([]rune(reason)) > maxReturnReason {
		return nil, apiErr(http.StatusBadRequest, "invalid_request", "reason is longer than %d characters", maxReturnReason)
	}
	a := p.acct
	for _, e := range a.txs {
		if e.t.Kind == ledgerd.KindReturnIn && e.t.ReturnedID == p.TransactionID {
			return nil, apiErr(http.StatusConflict, "already_returned",
				"transaction %s was returned by %s", p.TransactionID, e.t.TransactionID)
		}
	}
	if _, err := ledgerd.Amount(a.Balance.Current).Add(ledgerd.Amount(p.InstructedAmount)); err != nil {
		return nil, apiErr(http.StatusUnprocessableEntity, "invalid_amount", "balance would overflow")
	}
	r := s.newTxLocked(a, ledgerd.KindReturnIn, ledgerd.StatusSettled, p.InstructedAmount, 0, stamp)
	// The parties are shared with the payment: no leg changes its
	// parties, and snapshot copies them.
	r.Remitter, r.Beneficiary = p.Beneficiary, p.Remitter
	r.ExternalReference = p.ExternalReference
	r.ReturnedID, r.Reason = p.TransactionID, reason
	a.Balance.Current += r.InstructedAmount
	a.Balance.Available += r.InstructedAmount
	s.noteBalanceLocked(a, stamp)
	s.addTxLocked(r)
	s.emitLocked("outbound_local_payment_returned", paymentReturned{
		AccountID: a.AccountID, TransactionID: r.TransactionID, ReturnedID: p.TransactionID,
		InstructedAmount: r.InstructedAmount, Currency: r.Currency, Reason: reason,
		Remitter: partyOf(r.Remitter), Beneficiary: partyOf(r.Beneficiary),
		ExternalReference: r.ExternalReference, Timestamp: stamp,
	}, stamp)
	return r, nil
}
