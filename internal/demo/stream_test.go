package demo

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// TestDemoStreamIsReproducible drives the demo's stream twice with one
// seed, each against its own sandbox: the same accounts, transactions,
// statuses and webhook faults come out.
func TestDemoStreamIsReproducible(t *testing.T) {
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	once := func(seed int64) (sandbox.Truth, sandbox.Stats, []sandbox.Delivery) {
		hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}))
		defer hooks.Close()
		sb := sandbox.New(sandbox.Options{Seed: seed, WebhookURL: hooks.URL, Now: func() time.Time { return base }})
		defer sb.Close()
		api := httptest.NewServer(sb)
		defer api.Close()
		client, err := fuse.New(fuse.Config{BaseURL: api.URL + "/v1", AuthURL: api.URL + sandbox.TokenPath, ClientID: "sandbox", ClientSecret: "sandbox", RateLimit: rate.Inf})
		if err != nil {
			t.Fatal(err)
		}
		st := NewStreamer(sb, client, seed)
		sb.SetFaults(Faults())
		ctx := context.Background()
		if err := st.Open(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.Stream(ctx, NewPlan(seed)); err != nil {
			t.Fatal(err)
		}
		if err := sb.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		stats := sb.Stats()
		stats.APIRequests, stats.TokenRequests, stats.TokensIssued = nil, 0, 0
		var ds []sandbox.Delivery
		for _, d := range sb.Deliveries() {
			d.Time = time.Time{}
			ds = append(ds, d)
		}
		return sb.Truth(), stats, ds
	}
	t1, s1, d1 := once(5)
	t2, s2, d2 := once(5)
	if len(t1.Transactions) < 100 {
		t.Fatalf("the stream made only %d transactions", len(t1.Transactions))
	}
	if !reflect.DeepEqual(t1, t2) {
		t.Errorf("two streams with seed 5 left different sandboxes")
	}
	if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(d1, d2) {
		t.Errorf("two streams with seed 5 had different webhook faults: %+v vs %+v", s1, s2)
	}
	if s1.WebhooksDropped == 0 || s1.WebhooksDuplicated == 0 || s1.WebhooksReordered == 0 {
		t.Errorf("the stream ran without every fault: %+v", s1)
	}
	if t3, _, _ := once(6); reflect.DeepEqual(t1.Transactions, t3.Transactions) {
		t.Errorf("seeds 5 and 6 gave the same stream")
	}
}
