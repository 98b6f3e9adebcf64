package certify

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// waitForWebhooks waits until every required event about this run's
// objects has been answered 2xx, or WebhookWait has passed.
func (r *runner) waitForWebhooks(ctx context.Context) {
	if len(r.ourAccounts) == 0 {
		return // nothing of this run can be reported
	}
	r.progressf("certify: waiting up to %s for the webhooks", r.o.WebhookWait)
	r.waitFor(ctx, nil)
}

// waitFor polls the webhook log until one delivery answered 2xx satisfies
// match, or, with match nil, until every required type has one about this
// run. It reports whether the condition was met before the deadline.
func (r *runner) waitFor(ctx context.Context, match func(hookDelivery) bool) bool {
	deadline := time.NewTimer(r.o.WebhookWait)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		got := map[string]bool{}
		for _, d := range r.hooks.snapshot() {
			if d.Status < 200 || d.Status > 299 {
				continue
			}
			if match != nil && match(d) {
				return true
			}
			if r.ours(d) {
				got[d.Type] = true
			}
		}
		if match == nil && len(missing(got)) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

func missing(got map[string]bool) []string {
	var out []string
	for _, t := range requiredEvents {
		if !got[t] {
			out = append(out, t)
		}
	}
	return out
}

// eventRefs returns the account and transaction ids a webhook body names,
// from either envelope spelling (payload under "payload" or under the type).
func eventRefs(raw []byte) []string {
	var env map[string]json.RawMessage
	if json.Unmarshal(raw, &env) != nil {
		return nil
	}
	var typ string
	_ = json.Unmarshal(env["type"], &typ)
	p, ok := env["payload"]
	if !ok {
		p = env[typ]
	}
	var payload map[string]any
	if json.Unmarshal(p, &payload) != nil {
		return nil
	}
	var out []string
	for _, k := range []string{"account_id", "transaction_id", "to_account_id", "from_account_id", "counterpart_account_id"} {
		if s, ok := payload[k].(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *runner) refersTo(d hookDelivery, id string) bool {
	return slices.Contains(eventRefs(d.Raw), id)
}

// ours reports whether a webhook is about an account or transaction this
// run created (a real sandbox may send others too).
func (r *runner) ours(d hookDelivery) bool {
	for _, id := range eventRefs(d.Raw) {
		if r.ourAccounts[id] || r.ourTxs[id] {
			return true
		}
	}
	return false
}
