package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

func TestFailedWebhookIsRetriedAfterBackoffOnTheClock(t *testing.T) {
	rx := newReceiver(t, func(n int) int {
		if n == 0 {
			return 500
		}
		return 200
	})
	e := newEnv(t, Options{Seed: 1, WebhookURL: rx.srv.URL})
	e.rx = rx
	e.account("AED", "A")
	e.waitIdle()
	if n := len(rx.all()); n != 1 {
		t.Fatalf("%d attempts before any retry is due", n)
	}
	e.sb.Advance(RetryBase - time.Millisecond)
	e.waitIdle()
	if n := len(rx.all()); n != 1 {
		t.Fatalf("retried before the backoff: %d attempts", n)
	}
	e.sb.Advance(time.Millisecond)
	e.waitIdle()
	got := rx.all()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("want the same body twice, got %d attempts", len(got))
	}
	ds := e.sb.Deliveries()
	if len(ds) != 2 || ds[0].Attempt != 1 || ds[0].StatusCode != 500 || ds[1].Attempt != 2 || ds[1].StatusCode != 200 ||
		!ds[1].Time.Equal(t0.Add(RetryBase)) || ds[0].EventID != ds[1].EventID {
		t.Errorf("deliveries %+v", ds)
	}
	if st := e.sb.Stats(); st.WebhookAttempts != 2 || st.WebhooksDelivered != 1 || st.WebhooksSent != 1 || st.WebhooksFailed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebhookIsGivenUpAfterTwelveHours(t *testing.T) {
	rx := newReceiver(t, func(int) int { return 503 })
	e := newEnv(t, Options{Seed: 1, WebhookURL: rx.srv.URL})
	e.account("AED", "A")
	e.waitIdle()
	for range 40 {
		e.sb.Advance(RetryCap)
		e.waitIdle()
	}
	ds := e.sb.Deliveries()
	last := ds[len(ds)-1]
	if !last.GaveUp {
		t.Fatalf("not given up after %d attempts: %+v", len(ds), last)
	}
	if span := last.Time.Sub(ds[0].Time); span > RetryWindow {
		t.Errorf("attempts spread over %s, more than %s", span, RetryWindow)
	}
	if n := len(rx.all()); n != len(ds) {
		t.Errorf("receiver saw %d attempts, log has %d", n, len(ds))
	}
	if st := e.sb.Stats(); st.WebhooksGivenUp != 1 || st.WebhooksDelivered != 0 {
		t.Errorf("stats %+v", st)
	}
	for i := 1; i < len(ds); i++ {
		if gap := ds[i].Time.Sub(ds[i-1].Time); gap < backoff(i) {
			t.Errorf("attempt %d came %s after the previous, backoff is %s", i+1, gap, backoff(i))
		}
	}
}

func TestNoWebhookURLRecordsEventsWithoutDelivery(t *testing.T) {
	sb := New(Options{Seed: 1, Now: func() time.Time { return t0 }})
	defer sb.Close()
	a, err := sb.OpenAccount(AccountSpec{Currency: "AED", Balance: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.RenameAccount(a.AccountID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if err := sb.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, d := len(sb.Events()), len(sb.Deliveries()); n != 3 || d != 0 {
		t.Errorf("%d events, %d deliveries", n, d)
	}
	sb.Close()
	sb.Close() // idempotent
	if err := sb.WaitIdle(context.Background()); err != nil {
		t.Errorf("WaitIdle after Close: %v", err)
	}
}

func TestClockControlAdvancesLifecycles(t *testing.T) {
	e := newEnv(t, Options{Seed: 2})
	a := e.account("AED", "A")
	e.fund(a.AccountID, 10_000)
	p := e.pay(a.AccountID, 100)
	var now clockResponse
	e.call("POST", "/sandbox/clock", map[string]string{"advance": "90m"}, 200, &now)
	if !now.Now.Equal(t0.Add(90 * time.Minute)) {
		t.Errorf("clock %s", now.Now)
	}
	if got := e.getTx(p.TransactionID); got.State != fuse.StateExecuted || got.ExecutedAt == nil || !got.ExecutedAt.Equal(t0.Add(PaymentExecuteDelay)) {
		t.Errorf("payment after 90m: %s, executed_at %v", got.State, got.ExecutedAt)
	}
	e.call("POST", "/sandbox/clock", map[string]string{"advance": "-1m"}, 400, nil)
}
