package certify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// hookLine is one line of webhooks.jsonl: a webhook request as the
// listener saw it, the status it sent back, and the event's row in the
// events table when it was stored.
type hookLine struct {
	Line        int             `json:"line"`
	Time        string          `json:"time"`
	EventID     string          `json:"event_id"`
	Type        string          `json:"type"`
	ThisRun     bool            `json:"this_run"`
	StatusSent  int             `json:"status_sent"`
	Response    json.RawMessage `json:"response_sent,omitempty"`
	Stored      bool            `json:"stored"`
	EventsSeq   int64           `json:"events_seq,omitempty"`
	ReceivedAt  string          `json:"received_at,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	BodyOmitted string          `json:"body_omitted,omitempty"`

	raw []byte
}

// collectWebhooks joins the listener's log with the events table.
func (r *runner) collectWebhooks(ctx context.Context) error {
	stored, err := r.ledger.StoredEvents(ctx)
	if err != nil {
		return fmt.Errorf("certify: %w", err)
	}
	for i, d := range r.hooks.snapshot() {
		hl := hookLine{
			Line: i + 1, Time: d.At.In(r.o.Location).Format(time.RFC3339Nano),
			EventID: d.EventID, Type: d.Type, ThisRun: r.ours(d), StatusSent: d.Status, raw: d.Raw,
		}
		hl.Response, _ = maskBody(d.Response)
		hl.Body, hl.BodyOmitted = maskBody(d.Raw)
		if rw, ok := stored[d.EventID]; ok && d.EventID != "" {
			hl.Stored, hl.EventsSeq, hl.ReceivedAt = true, rw.Seq, rw.ReceivedAt
		}
		r.deliver = append(r.deliver, hl)
	}
	return nil
}

func ok2xx(status int) bool { return status >= 200 && status <= 299 }

func (r *runner) judgeWebhooks() {
	for i, typ := range requiredEvents {
		id := fmt.Sprintf("2.%d", i+1)
		var good, refused, unstored []hookLine
		for _, h := range r.deliver {
			if h.Type != typ || !h.ThisRun {
				continue
			}
			switch {
			case !ok2xx(h.StatusSent):
				refused = append(refused, h)
			case !h.Stored:
				unstored = append(unstored, h)
			default:
				good = append(good, h)
			}
		}
		q := r.byID[id]
		switch {
		case len(good) > 0:
			h := good[0]
			r.pass(id, "event %s answered %d, stored as events.seq %d; triggered by %s", h.EventID, h.StatusSent, h.EventsSeq, r.triggers[typ])
			q.Evidence = FileWebhooks + " " + lineList(hookLineNos(good))
		case len(unstored) > 0:
			r.fail(id, "answered %d but not in the events table", unstored[0].StatusSent)
			q.Evidence = FileWebhooks + " " + lineList(hookLineNos(unstored))
		case len(refused) > 0:
			r.fail(id, "received but answered %d: %s", refused[0].StatusSent, string(refused[0].Response))
			q.Evidence = FileWebhooks + " " + lineList(hookLineNos(refused))
		default:
			reason := "not received within " + r.o.WebhookWait.String()
			if c, ok := r.rootCause[typ]; ok {
				reason = "not triggered: " + c
			} else if t, ok := r.triggers[typ]; ok {
				reason += " (triggered by " + t + ")"
			} else if len(r.ourAccounts) == 0 {
				reason = "not triggered: " + r.why("account")
			}
			r.fail(id, "%s", reason)
			q.Evidence = FileWebhooks
		}
	}

	var got []string
	for _, h := range r.deliver {
		if h.ThisRun && ok2xx(h.StatusSent) && h.Stored {
			got = append(got, h.Type)
		}
	}
	gotSet := map[string]bool{}
	for _, t := range got {
		gotSet[t] = true
	}

	// 2.10: every event that reached the listener was acknowledged (a
	// refused attempt followed by an acknowledged retry is how Fuse's
	// retries are meant to work), and every acknowledged one is stored.
	acked, events := map[string]bool{}, map[string]bool{}
	var unacked, unstored []string
	for _, h := range r.deliver {
		events[h.EventID] = true
		if ok2xx(h.StatusSent) {
			acked[h.EventID] = true
			if !h.Stored {
				unstored = append(unstored, strconv.Itoa(h.Line))
			}
		}
	}
	for _, h := range r.deliver {
		if !acked[h.EventID] {
			unacked = append(unacked, strconv.Itoa(h.Line))
			acked[h.EventID] = true // report each event once
		}
	}
	q := r.byID["2.10"]
	q.Evidence = FileWebhooks
	switch {
	case len(r.deliver) == 0:
		r.fail("2.10", "no webhook was received at http://%s%s; missing: %s", r.hookAddr, r.o.WebhookPath, strings.Join(missing(gotSet), ", "))
	case len(unacked) > 0:
		r.fail("2.10", "events never answered 2xx: lines %s", strings.Join(unacked, ", "))
	case len(unstored) > 0:
		r.fail("2.10", "answered 2xx but not in the events table: lines %s", strings.Join(unstored, ", "))
	default:
		m := missing(gotSet)
		detail := fmt.Sprintf("%d deliveries of %d events, every event answered 2xx and found in the events table", len(r.deliver), len(events))
		if len(m) > 0 {
			r.fail("2.10", "%s, but required types missing: %s", detail, strings.Join(m, ", "))
		} else {
			r.pass("2.10", "%s", detail)
		}
		q.Evidence = FileWebhooks + " lines 1–" + strconv.Itoa(len(r.deliver))
	}
}

func hookLineNos(hs []hookLine) []int {
	out := make([]int, len(hs))
	for i, h := range hs {
		out[i] = h.Line
	}
	return out
}

// lineList renders line numbers as "line 3" or "lines 3–5, 9".
func lineList(ns []int) string {
	if len(ns) == 0 {
		return "(no lines)"
	}
	slices.Sort(ns)
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(ns[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d", ns[i], ns[j]))
		}
		i = j + 1
	}
	if len(ns) == 1 {
		return "line " + parts[0]
	}
	return "lines " + strings.Join(parts, ", ")
}

// requestLines returns the requests.jsonl line numbers of the given steps.
func requestLines(lines []*exchange, steps ...string) []int {
	var out []int
	for _, ex := range lines {
		if slices.Contains(steps, ex.Step) {
			out = append(out, ex.Line)
		}
	}
	return out
}

// setRequestEvidence points every API requirement at its lines.
func (r *runner) setRequestEvidence(lines []*exchange) {
	for id, steps := range map[string][]string{
		"1.1": {stepCustomer}, "1.2": {stepAccount}, "1.3": {stepPayment}, "1.4": {stepGetAccount},
		"1.5": {stepGetTx}, "1.6": {stepList}, "4.1": {stepIdempotent}, "4.2": {stepConflict},
		"3.3": {stepRefresh},
	} {
		if ns := requestLines(lines, steps...); len(ns) > 0 {
			r.byID[id].Evidence = FileRequests + " " + lineList(ns)
		}
	}
	for _, x := range r.extras {
		if ns := requestLines(lines, x.steps...); len(ns) > 0 {
			x.evidence = FileRequests + " " + lineList(ns)
		}
	}
}

func (r *runner) judgeTokens() {
	lines := r.rec.snapshot()
	var tokenLines, apiBefore []*exchange
	for i, ex := range lines {
		if ex.tokenRequest {
			tokenLines = append(tokenLines, ex)
		} else if i < r.token.beforeTokens+r.token.beforeAPI {
			apiBefore = append(apiBefore, ex)
		}
	}
	var tokNos []int
	for _, ex := range tokenLines {
		tokNos = append(tokNos, ex.Line)
	}
	q1 := r.byID["3.1"]
	q1.Evidence = FileRequests + " " + lineList(tokNos) + "; " + FileTokenDoc
	switch {
	case len(tokenLines) == 0:
		r.fail("3.1", "no token request was made: %s", r.why("customer"))
	case tokenLines[0].Status != http.StatusOK:
		r.fail("3.1", "the token request to %s was refused: %s; check FUSE_CLIENT_ID, FUSE_CLIENT_SECRET and FUSE_AUDIENCE",
			r.o.AuthURL, answer(tokenLines[0]))
	default:
		r.pass("3.1", "POST %s answered 200 (token #1, lifetime %s); credentials from %s; the token is held in memory only",
			r.o.AuthURL, r.tokenTTL, r.o.CredentialSource)
	}

	q2 := r.byID["3.2"]
	var beforeNos []int
	for i := range r.token.beforeTokens + r.token.beforeAPI {
		beforeNos = append(beforeNos, i+1)
	}
	q2.Evidence = FileRequests + " " + lineList(beforeNos) + " (column token)"
	others := 0
	for _, ex := range apiBefore {
		if ex.tokenNo != 1 {
			others++
		}
	}
	fetches := r.client.TokenFetches()
	switch {
	case !q1.Pass:
		r.fail("3.2", "no token: 3.1 failed")
	case r.token.beforeTokens != 1:
		r.fail("3.2", "%d token requests for %d API requests before the token expired: want 1", r.token.beforeTokens, r.token.beforeAPI)
	case r.token.beforeAPI < 2 || others > 0:
		r.fail("3.2", "%d API requests, %d of them without token #1", r.token.beforeAPI, others)
	case fetches != int64(len(tokenLines)):
		r.fail("3.2", "the client counted %d token fetches, the log shows %d", fetches, len(tokenLines))
	default:
		r.pass("3.2", "1 token request for %d API requests, every one carrying token #1 (the client's own count of token fetches agrees: %d in the whole run)",
			r.token.beforeAPI, fetches)
	}

	switch {
	case !q1.Pass:
		r.fail("3.3", "no token: 3.1 failed")
	case r.token.err != nil:
		r.fail("3.3", "%v", r.token.err)
	case r.token.afterTokens != r.token.beforeTokens+1:
		r.fail("3.3", "token requests went from %d to %d after the clock passed the token's lifetime: want exactly one more",
			r.token.beforeTokens, r.token.afterTokens)
	case len(r.token.afterTokenNos) < 2 || slices.ContainsFunc(r.token.afterTokenNos, func(n int) bool { return n != 2 }):
		r.fail("3.3", "requests after the refresh carried tokens %v: want #2 on each", r.token.afterTokenNos)
	default:
		where := "the client's clock"
		if r.token.sandboxAdvanced {
			where = "the client's and the sandbox's clocks (so token #1 had expired at the server too)"
		}
		r.pass("3.3", "%s moved %s ahead, past token #1's lifetime: the next request fetched token #2 first (token requests %d → %d, no 401) and the %d requests after carried token #2",
			where, r.token.bump, r.token.beforeTokens, r.token.afterTokens, len(r.token.afterLines))
	}
}

// answer describes an exchange's outcome in one line, masked.
func answer(ex *exchange) string {
	if ex.Error != "" {
		return "no answer: " + ex.Error
	}
	return statusLine(ex.Status, ex.rawResp)
}

// statusLine is an answer's status with Fuse's error code and message when
// its body carries them: "400 Bad Request (invalid_request): …".
func statusLine(status int, body []byte) string {
	s := fmt.Sprintf("%d %s", status, http.StatusText(status))
	eb, ok := fuse.DecodeErrorBody(body)
	switch {
	case !ok:
	case eb.Code != "":
		s += " (" + eb.Code + "): " + eb.Message
	default:
		s += ": " + eb.Message
	}
	return s
}

func (r *runner) judgeIdempotency() {
	if r.accountA == "" {
		return // blocked already
	}
	lines := r.rec.snapshot()
	var oks []*exchange
	for _, ex := range lines {
		// The POSTs only: each is followed by the client's read-back GET.
		if ex.Step == stepIdempotent && ex.Method == http.MethodPost && !ex.tokenRequest && ok2xx(ex.Status) {
			oks = append(oks, ex)
		}
	}
	count := 0
	for _, t := range r.pages.listed {
		if t.ExternalID != nil && *t.ExternalID == r.idem.externalID {
			count++
		}
	}
	switch {
	case r.idem.err != nil:
		r.fail("4.1", "send %d of 3 failed: %v", len(r.idem.ids)+1, r.idem.err)
	case len(oks) != 3:
		r.fail("4.1", "%d successful answers recorded, want 3", len(oks))
	case r.idem.ids[0] == "" || r.idem.ids[1] != r.idem.ids[0] || r.idem.ids[2] != r.idem.ids[0]:
		r.fail("4.1", "three sends gave transactions %s: want one", strings.Join(r.idem.ids, ", "))
	case !bytes.Equal(oks[0].rawResp, oks[1].rawResp) || !bytes.Equal(oks[0].rawResp, oks[2].rawResp) ||
		oks[0].Status != oks[1].Status || oks[0].Status != oks[2].Status:
		r.fail("4.1", "the three answers differ (statuses %d, %d, %d)", oks[0].Status, oks[1].Status, oks[2].Status)
	case r.pages.err != nil || r.pages.pages == 0:
		r.fail("4.1", "could not count the payments at Fuse: the listing (1.6) failed")
	case count != 1:
		r.fail("4.1", "the account's listing holds %d payments with this external_id: want 1", count)
	default:
		r.pass("4.1", "Idempotency-Key %s sent 3 times: status %d each time, the same transaction %s, byte-identical bodies (%d bytes); the listing (1.6) holds exactly one such payment",
			r.idem.key, oks[0].Status, r.idem.ids[0], len(oks[0].rawResp))
	}

	var apiErr *fuse.APIError
	switch {
	case errors.Is(r.idem.conflict, fuse.ErrIdempotencyConflict) && errors.As(r.idem.conflict, &apiErr):
		r.pass("4.2", "same key, amount changed: answered %d (%s), not retried, reported as a conflict", apiErr.Status, apiErr.Code)
	default:
		r.fail("4.2", "want 422 for the same key with a different body, got: %v", r.idem.conflict)
	}
}

func (r *runner) judgeTime() {
	loc := r.o.Location
	s, f := r.started.In(loc), r.finished.In(loc)
	name, _ := s.Zone()
	r.pass("5", "started %s, finished %s; time zone %s (%s, UTC%s); in UTC %s",
		s.Format("2006-01-02T15:04:05Z07:00"), f.Format("2006-01-02T15:04:05Z07:00"), loc.String(), name,
		s.Format("-07:00"), r.started.UTC().Format("2006-01-02T15:04:05Z"))
	r.byID["5"].Evidence = FileSummary + " header; every line of " + FileRequests + " and " + FileWebhooks + " has its time with offset"
}
