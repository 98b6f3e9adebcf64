package sandbox

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

func TestServeAnswersUntilTheContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, Options{Seed: 1, Instant: true}, nil) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) == 0 {
		t.Errorf("GET /: %d %q", resp.StatusCode, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A clock that moves on its own (as time.Now does) runs due steps and
// sends their webhooks without anyone calling the API or Advance.
func TestLifecycleRunsWhenTheClockMovesOnItsOwn(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(offset.Load())) }
	e := newEnv(t, Options{Seed: 1, Now: clock})
	a := e.account("AED", "A")
	e.fund(a.AccountID, 10_000)
	e.pay(a.AccountID, 100)
	offset.Store(int64(PaymentExecuteDelay))
	deadline := time.After(5 * time.Second)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !slices.Contains(e.typesSoFar(), "outbound_local_payment_executed") {
		select {
		case <-deadline:
			t.Fatalf("no executed webhook; got %v", e.typesSoFar())
		case <-poll.C:
		}
	}
	tr := e.sb.Truth()
	for _, x := range tr.Transactions {
		if x.Kind == ledgerd.KindLocalPaymentOut && (x.Status != ledgerd.StatusExecuted || !x.UpdatedAt.Equal(t0.Add(PaymentExecuteDelay))) {
			t.Errorf("payment %s at %s", x.Status, x.UpdatedAt)
		}
	}
}

func (e *env) typesSoFar() []string {
	var types []string
	for _, r := range e.rx.all() {
		typ, _, _ := r.fields(e.t)
		types = append(types, typ)
	}
	return types
}
