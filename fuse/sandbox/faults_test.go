package sandbox

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ledgerd/ledgerd/fuse"
)

// scenario drives the same actions on any sandbox: accounts, funding,
// instant payments and transfers, about thirty events.
func scenario(t *testing.T, e *env) {
	t.Helper()
	a := e.account("AED", "A")
	b := e.account("AED", "B")
	e.fund(a.AccountID, 10_000_000)
	for i := range 6 {
		e.pay(a.AccountID, int64(1000+i))
		e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: int64(10 + i)})
	}
	e.sb.Advance(0) // releases an event the reorder fault still holds
	e.waitIdle()
}

func TestWebhookFaultsAreReproducibleFromTheSeed(t *testing.T) {
	faults := Faults{Drop: 0.2, Duplicate: 0.2, Reorder: 0.2}
	run := func(seed int64) ([]Delivery, Stats) {
		e := newEnv(t, Options{Seed: seed, Instant: true})
		e.sb.SetFaults(faults)
		scenario(t, e)
		return e.sb.Deliveries(), e.sb.Stats()
	}
	d1, s1 := run(99)
	d2, s2 := run(99)
	if !slices.Equal(d1, d2) {
		t.Fatalf("same seed, same actions, different deliveries:\n%v\n%v", d1, d2)
	}
	if s1.WebhooksDropped == 0 || s1.WebhooksDuplicated == 0 || s1.WebhooksReordered == 0 {
		t.Fatalf("the scenario exercised too few faults: %+v", s1)
	}
	if s1.WebhooksDropped != s2.WebhooksDropped || s1.WebhooksDelivered != s2.WebhooksDelivered {
		t.Errorf("stats differ: %+v / %+v", s1, s2)
	}
	d3, _ := run(100)
	if slices.Equal(d1, d3) {
		t.Error("another seed gave the same deliveries")
	}
}

func TestDropFaultRecordsButNeverDelivers(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, Instant: true})
	e.sb.SetFaults(Faults{Drop: 1})
	a := e.account("AED", "A")
	e.fund(a.AccountID, 100)
	e.waitIdle()
	if got := e.rx.all(); len(got) != 0 {
		t.Fatalf("received %d webhooks", len(got))
	}
	ds := e.sb.Deliveries()
	if len(ds) != 2 || !ds[0].Dropped || !ds[1].Dropped || len(e.sb.Events()) != 2 {
		t.Errorf("deliveries %+v", ds)
	}
}

func TestDuplicateFaultDeliversTheSameEventTwice(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, Instant: true})
	e.sb.SetFaults(Faults{Duplicate: 1})
	e.account("AED", "A")
	e.account("AED", "B")
	e.waitIdle()
	var got []string
	for _, r := range e.rx.all() {
		_, id, _ := r.fields(t)
		got = append(got, id)
	}
	ev := e.sb.Events()
	want := []string{ev[0].EventID, ev[0].EventID, ev[1].EventID, ev[1].EventID}
	if !slices.Equal(got, want) {
		t.Errorf("event ids received %v, want %v", got, want)
	}
}

func TestReorderFaultDeliversAnEventAfterTheNextOne(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, Instant: true})
	e.sb.SetFaults(Faults{Reorder: 1})
	for _, n := range []string{"A", "B", "C", "D", "E"} {
		e.account("AED", n)
	}
	e.waitIdle()
	if n := len(e.rx.all()); n != 4 {
		t.Fatalf("received %d before the held event is released, want 4", n)
	}
	e.sb.Advance(0)
	e.waitIdle()
	var got []string
	for _, r := range e.rx.all() {
		_, id, _ := r.fields(t)
		got = append(got, id)
	}
	ev := e.sb.Events()
	want := []string{ev[1].EventID, ev[0].EventID, ev[3].EventID, ev[2].EventID, ev[4].EventID}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestAPIFaultsAreReproducibleAndCarryRetryAfter(t *testing.T) {
	run := func() []int {
		e := newEnv(t, Options{Seed: 5})
		e.sb.SetFaults(Faults{HTTP429: 0.3, HTTP5xx: 0.3})
		var codes []int
		for range 40 {
			st, _ := e.do("GET", "/v1/accounts", nil, nil)
			codes = append(codes, st)
		}
		return codes
	}
	c1, c2 := run(), run()
	if !slices.Equal(c1, c2) {
		t.Fatalf("status sequences differ:\n%v\n%v", c1, c2)
	}
	if !slices.Contains(c1, 429) || !slices.Contains(c1, 503) || !slices.Contains(c1, 200) {
		t.Fatalf("want a mix of 200, 429, 503: %v", c1)
	}
	e := newEnv(t, Options{Seed: 5})
	e.sb.SetFaults(Faults{HTTP429: 1})
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("429 answer: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Token requests are never faulted.
	e.newToken()
}

func TestInjected5xxOnAPostHappensAfterTheOperationAndTheRetryReplays(t *testing.T) {
	e := newEnv(t, Options{Seed: 6, Instant: true})
	a := e.account("AED", "A")
	e.fund(a.AccountID, 100_000)
	e.sb.SetFaults(Faults{HTTP5xx: 1})
	key := uuid.NewString()
	body := testPayment(500)
	st, _ := e.do("POST", "/v1/accounts/"+a.AccountID+"/payments", body, map[string]string{fuse.HeaderIdempotencyKey: key})
	if st != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", st)
	}
	if n := len(e.sb.Truth().Transactions); n != 2 {
		t.Fatalf("the payment behind the 503 was not made: %d transactions", n)
	}
	e.sb.SetFaults(Faults{})
	e.call("POST", "/v1/accounts/"+a.AccountID+"/payments", body, http.StatusAccepted, nil) // another key: another payment
	st, b := e.do("POST", "/v1/accounts/"+a.AccountID+"/payments", body, map[string]string{fuse.HeaderIdempotencyKey: key})
	if st != http.StatusAccepted {
		t.Fatalf("retry: %d %s", st, b)
	}
	if n := len(e.sb.Truth().Transactions); n != 3 {
		t.Errorf("%d transactions, want funding and two payments", n)
	}
}

func TestDelayFaultHoldsEachWebhookForRealMilliseconds(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, Instant: true})
	e.call("POST", "/sandbox/faults", map[string]any{"delay_ms": 100}, 200, nil)
	start := time.Now()
	e.account("AED", "A")
	e.waitIdle()
	if n := len(e.rx.all()); n != 1 {
		t.Fatalf("received %d", n)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("delivered after %s, before the 100 ms delay", took)
	}
}
