package sandbox

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// Webhook retry policy (Fuse: "retried for up to 12 hours with exponential
// backoff"): after the n-th failed attempt the next waits
// min(RetryBase·2^(n−1), RetryCap) of sandbox time; an attempt that would
// fall more than RetryWindow after the first is not made and the delivery
// is given up (recorded with GaveUp).
const (
	RetryBase   = time.Second
	RetryCap    = time.Hour
	RetryWindow = 12 * time.Hour
)

// Delivery is one line of the webhook log: an attempt, or a drop decided by
// the drop fault (Dropped, Attempt 0).
type Delivery struct {
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	Attempt    int       `json:"attempt"`               // 1 for the first try of this copy
	StatusCode int       `json:"status_code,omitempty"` // 0 when the request failed
	Error      string    `json:"error,omitempty"`
	Time       time.Time `json:"time"` // sandbox time of the attempt
	Dropped    bool      `json:"dropped,omitempty"`
	Duplicate  bool      `json:"duplicate,omitempty"` // the second copy from the duplicate fault
	GaveUp     bool      `json:"gave_up,omitempty"`   // the last attempt: the retry window is over
}

// delivery is one copy of an event on its way to the webhook URL.
type delivery struct {
	ev        Event
	due       time.Time // sandbox time of the next attempt
	seq       uint64
	attempt   int // attempts made
	first     time.Time
	duplicate bool
	dropped   bool // the drop fault: logged in turn, never sent
}

// deliveryHeap orders copies by (due, seq): first in, first out, with
// retries waiting for their time.
type deliveryHeap []*delivery

func (h deliveryHeap) Len() int { return len(h) }
func (h deliveryHeap) Less(i, j int) bool {
	if c := h[i].due.Compare(h[j].due); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h deliveryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)   { *h = append(*h, x.(*delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// enqueueLocked applies the webhook faults to ev and queues what remains.
// Every event draws exactly three numbers from the fault stream (drop,
// duplicate, reorder) whatever the rates, so the decisions depend only on
// the seed and the sequence of events.
func (s *Sandbox) enqueueLocked(ev Event) {
	if s.opts.WebhookURL == "" {
		return
	}
	drop, dup, reorder := s.hookRand.Float64(), s.hookRand.Float64(), s.hookRand.Float64()
	now := s.nowLocked()
	copies := []*delivery{{ev: ev}}
	if drop < s.faults.Drop {
		// A dropped event still takes its place in the queue, so that the
		// delivery log's order does not depend on goroutine timing.
		copies[0].dropped = true
		s.stats.WebhooksDropped++
		s.pushLocked(now, copies...)
		return
	}
	if dup < s.faults.Duplicate {
		copies = append(copies, &delivery{ev: ev, duplicate: true})
		s.stats.WebhooksDuplicated++
	}
	switch {
	case len(s.held) > 0:
		// The held event goes out right behind this one; this one is not
		// itself eligible to be held.
		held := s.held
		s.held = nil
		s.pushLocked(now, copies...)
		s.pushLocked(now, held...)
	case reorder < s.faults.Reorder:
		s.held = copies
		s.stats.WebhooksReordered++
	default:
		s.pushLocked(now, copies...)
	}
}

// releaseHeldLocked queues an event held by the reorder fault without
// waiting for a next event (Advance calls it, so nothing is held forever).
func (s *Sandbox) releaseHeldLocked() {
	if len(s.held) > 0 {
		held := s.held
		s.held = nil
		s.pushLocked(s.nowLocked(), held...)
	}
}

func (s *Sandbox) pushLocked(due time.Time, ds ...*delivery) {
	for _, d := range ds {
		s.queueSeq++
		d.due, d.seq = due, s.queueSeq
		heap.Push(&s.queue, d)
	}
	s.notifyLocked()
	s.nudge()
}

// notifyLocked wakes WaitIdle callers.
func (s *Sandbox) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nudge wakes the delivery goroutine without blocking.
func (s *Sandbox) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliverLoop sends queued webhooks one at a time, in queue order, so the
// receiver sees a deterministic sequence. It never holds the mutex during
// an HTTP call.
func (s *Sandbox) deliverLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		d, at, delay, poll := s.nextDelivery()
		if d == nil {
			var tick <-chan time.Time
			if poll {
				// A retry waits on the sandbox clock, which may be moving
				// with real time.
				tick = time.After(100 * time.Millisecond)
			}
			select {
			case <-s.stop:
				return
			case <-s.wake:
			case <-tick:
			}
			continue
		}
		if d.dropped {
			s.finishDrop(d, at)
			continue
		}
		if delay > 0 {
			select {
			case <-s.stop:
				s.finishDelivery(d, at, 0, context.Canceled)
				return
			case <-time.After(delay):
			}
		}
		code, err := s.post(d, at)
		s.finishDelivery(d, at, code, err)
	}
}

// nextDelivery pops the first copy that is due, marking it in flight. With
// nothing due, poll reports whether copies wait for a later time.
func (s *Sandbox) nextDelivery() (d *delivery, at time.Time, delay time.Duration, poll bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if len(s.queue) == 0 {
		return nil, now, 0, false
	}
	if s.queue[0].due.After(now) {
		return nil, now, 0, true
	}
	d = heap.Pop(&s.queue).(*delivery)
	s.inflight++
	s.notifyLocked()
	return d, now, time.Duration(s.faults.DelayMS) * time.Millisecond, false
}

func (s *Sandbox) post(d *delivery, at time.Time) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.opts.WebhookURL, bytes.NewReader(d.ev.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ledgerd-fuse-sandbox")
	req.Header.Set(fuse.HeaderFuseTimestamp, at.UTC().Truncate(time.Second).Format(time.RFC3339))
	if s.opts.WebhookSecret != "" {
		req.Header.Set(fuse.HeaderSignature, Sign(s.opts.WebhookSecret, d.ev.Body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Sign returns the X-Ledgerd-Signature value for body: "sha256=" and the
// hex HMAC-SHA256 of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// finishDelivery records an attempt and schedules the retry, or gives up.
func (s *Sandbox) finishDelivery(d *delivery, at time.Time, code int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.attempt++
	if d.attempt == 1 {
		d.first = at
		s.stats.WebhooksSent++
	}
	s.stats.WebhookAttempts++
	rec := Delivery{
		EventID: d.ev.EventID, Type: d.ev.Type, Attempt: d.attempt, StatusCode: code,
		Time: at, Duplicate: d.duplicate,
	}
	if err != nil {
		rec.Error = err.Error()
	}
	if err == nil && code >= 200 && code < 300 {
		s.stats.WebhooksDelivered++
	} else {
		s.stats.WebhooksFailed++
		next := at.Add(backoff(d.attempt))
		if next.After(d.first.Add(RetryWindow)) {
			rec.GaveUp = true
			s.stats.WebhooksGivenUp++
			s.log.Warn("webhook given up", "event_id", d.ev.EventID, "type", d.ev.Type, "attempts", d.attempt)
		} else {
			s.queueSeq++
			d.due, d.seq = next, s.queueSeq
			heap.Push(&s.queue, d)
		}
	}
	s.log.Debug("webhook attempt", "event_id", d.ev.EventID, "type", d.ev.Type,
		"attempt", d.attempt, "status", code, "err", rec.Error)
	s.deliveries = append(s.deliveries, rec)
	s.inflight--
	s.notifyLocked()
}

// finishDrop logs a dropped event in its turn.
func (s *Sandbox) finishDrop(d *delivery, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries = append(s.deliveries, Delivery{EventID: d.ev.EventID, Type: d.ev.Type, Time: at, Dropped: true})
	s.inflight--
	s.notifyLocked()
}

// backoff is the wait after the n-th failed attempt.
func backoff(n int) time.Duration {
	if n > 12 {
		return RetryCap
	}
	return min(RetryBase<<(n-1), RetryCap)
}

// WaitIdle returns when no webhook is queued and due or in flight, or when
// ctx ends. Copies waiting for a retry time the sandbox clock has not
// reached, and an event held by the reorder fault, do not count: Advance
// releases them, and a WaitIdle after it waits for them.
func (s *Sandbox) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle := s.closed || (s.inflight == 0 && (len(s.queue) == 0 || s.queue[0].due.After(s.nowLocked())))
		ch := s.changed
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
			// The clock may move with real time and make a retry due
			// without anything else changing.
		}
	}
}

// Deliveries returns the webhook log: every attempt and every drop, in the
// order they happened.
func (s *Sandbox) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Events returns every event emitted, in order, whether or not it was
// delivered.
func (s *Sandbox) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}
