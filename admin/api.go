package admin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/reconcile"
)

// Run is one reconciliation run (a reconcile.Run) as /api/v1/runs lists
// it, with the field names of the report's run section. Times are UTC (RFC
// 3339); TimeZone is the zone the run reported in. Verdict and FinishedAt
// are null while the run is still going.
type Run struct {
	ID                  int64      `json:"id"`
	StartedAt           time.Time  `json:"started_at"`
	FinishedAt          *time.Time `json:"finished_at"`
	TimeZone            string     `json:"time_zone"`
	AsOf                time.Time  `json:"as_of"`
	Verdict             *string    `json:"verdict"`
	AccountsChecked     int64      `json:"accounts_checked"`
	TransactionsChecked int64      `json:"transactions_checked"`
	BreaksOpen          int64      `json:"breaks_open"`
	BreaksNew           int64      `json:"breaks_new"`
	BreaksResolved      int64      `json:"breaks_resolved"`
	Pending             int64      `json:"pending"`
	Detail              string     `json:"detail"`
}

// RunDetail is one run as /api/v1/runs/{id} returns it: the run, what it
// saw per Fuse account, and the breaks it saw (in their current state).
type RunDetail struct {
	Run
	Accounts []RunAccount `json:"accounts"`
	Breaks   []Break      `json:"breaks"`
}

// RunAccount is what a run saw for one Fuse account and currency
// (reconcile.AccountResult, whose JSON names these are), amounts in minor
// units. Drift is ledger_posted − fuse_balance; FuseBalance is null when
// Fuse did not know the account.
type RunAccount struct {
	// FuseAccountID and Name stand before the result they shadow, so
	// that they come first in the JSON, as in the report's accounts
	// section; Name is null, not "", when Fuse gave the account none.
	FuseAccountID string  `json:"fuse_account_id"`
	Name          *string `json:"name"`
	reconcile.AccountResult
}

// Break is one reconciliation break, with the field names of the report's
// breaks section; amounts in minor units of Currency (null when the
// category has no amount), times UTC. AgeDays counts whole days since
// first_seen.
type Break struct {
	ID                int64             `json:"break_id"`
	Category          string            `json:"category"`
	Severity          string            `json:"severity"`
	Subject           string            `json:"subject"`
	FuseAccountID     *string           `json:"fuse_account_id"`
	FuseTransactionID *string           `json:"fuse_transaction_id"`
	Currency          *ledgerd.Currency `json:"currency"`
	LedgerAmount      *ledgerd.Amount   `json:"ledger_amount"`
	FuseAmount        *ledgerd.Amount   `json:"fuse_amount"`
	Difference        *ledgerd.Amount   `json:"difference"`
	Detail            string            `json:"detail"`
	State             string            `json:"state"`
	FirstSeen         time.Time         `json:"first_seen"`
	LastSeen          time.Time         `json:"last_seen"`
	AgeDays           int64             `json:"age_days"`
	FirstRun          int64             `json:"first_run"`
	LastRun           int64             `json:"last_run"`
	ResolvedAt        *time.Time        `json:"resolved_at"`
	AckNote           *string           `json:"ack_note"`
	AckAt             *time.Time        `json:"ack_at"`
}

// Limits of /api/v1/runs?limit=N.
const (
	defaultRunLimit = 20
	maxRunLimit     = 1000
)

func (h *handler) apiBalances(w http.ResponseWriter, r *http.Request) {
	bs, err := h.ledger.Balances(r.Context())
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bs)
}

func (h *handler) apiBreaks(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "acknowledged", "resolved", "all":
	default:
		writeError(w, http.StatusBadRequest, "bad_request",
			fmt.Sprintf("state=%q: want open, acknowledged, resolved or all", state))
		return
	}
	bs, err := h.breaks(r.Context(), state)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, bs)
}

func (h *handler) apiRuns(w http.ResponseWriter, r *http.Request) {
	limit := defaultRunLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxRunLimit {
			writeError(w, http.StatusBadRequest, "bad_request",
				fmt.Sprintf("limit=%q: want a whole number from 1 to %d", s, maxRunLimit))
			return
		}
		limit = n
	}
	runs, err := h.latestRuns(r.Context(), limit)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, runs)
}

func (h *handler) apiRun(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no run %q: run ids are positive integers", r.PathValue("id")))
		return
	}
	d, err := h.run(r.Context(), id)
	switch {
	case errors.Is(err, reconcile.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no run %d", id))
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// runView is r as the API shows it: times in UTC, and null for the
// finish time and verdict of a run still going.
func runView(r reconcile.Run) Run {
	v := Run{
		ID: r.ID, StartedAt: r.StartedAt.UTC(), TimeZone: r.TimeZone, AsOf: r.AsOf.UTC(),
		AccountsChecked: int64(r.AccountsChecked), TransactionsChecked: int64(r.TransactionsChecked),
		BreaksOpen: int64(r.BreaksOpen), BreaksNew: int64(r.BreaksNew), BreaksResolved: int64(r.BreaksResolved),
		Pending: int64(r.Pending), Detail: r.Detail,
	}
	if !r.FinishedAt.IsZero() {
		v.FinishedAt = optional(r.FinishedAt.UTC())
	}
	v.Verdict = optional(string(r.Verdict))
	return v
}

// breakView is b as the API shows it on the day of now: times in UTC,
// null for what the break does not have.
func breakView(b reconcile.Break, now time.Time) Break {
	v := Break{
		ID: b.ID, Category: string(b.Category), Severity: string(b.Severity), Subject: b.Subject,
		FuseAccountID: optional(b.FuseAccountID), FuseTransactionID: optional(b.FuseTransactionID),
		Currency: optional(b.Currency), LedgerAmount: b.LedgerAmount, FuseAmount: b.FuseAmount,
		Difference: b.Difference, Detail: b.Detail, State: string(b.State),
		FirstSeen: b.FirstSeen.UTC(), LastSeen: b.LastSeen.UTC(), FirstRun: b.FirstRun, LastRun: b.LastRun,
		ResolvedAt: utc(b.ResolvedAt), AckNote: optional(b.AckNote), AckAt: utc(b.AckAt),
	}
	if now.After(b.FirstSeen) {
		v.AgeDays = int64(now.Sub(b.FirstSeen) / (24 * time.Hour))
	}
	return v
}

func (h *handler) breakViews(bs []reconcile.Break) []Break {
	now := h.now()
	out := make([]Break, 0, len(bs))
	for _, b := range bs {
		out = append(out, breakView(b, now))
	}
	return out
}

// latestRuns returns the latest limit runs, newest first.
func (h *handler) latestRuns(ctx context.Context, limit int) ([]Run, error) {
	rs, err := h.runs.Runs(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Run, 0, len(rs))
	for _, r := range rs {
		out = append(out, runView(r))
	}
	return out, nil
}

// run returns one run with its accounts and breaks (oldest first), read
// together so the three parts agree; reconcile.ErrNotFound if there is no
// such run.
func (h *handler) run(ctx context.Context, id int64) (RunDetail, error) {
	rep, err := h.runs.Report(ctx, id, nil)
	if err != nil {
		return RunDetail{}, err
	}
	d := RunDetail{Run: runView(rep.Run), Accounts: make([]RunAccount, 0, len(rep.Accounts))}
	for _, a := range rep.Accounts {
		d.Accounts = append(d.Accounts, RunAccount{FuseAccountID: a.FuseAccountID, Name: optional(a.Name), AccountResult: a})
	}
	slices.SortStableFunc(rep.Breaks, func(a, b reconcile.Break) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.ID, b.ID))
	})
	d.Breaks = h.breakViews(rep.Breaks)
	return d, nil
}

// breaks returns the breaks in state ("all" for every state), oldest
// first.
func (h *handler) breaks(ctx context.Context, state string) ([]Break, error) {
	var states []reconcile.State
	if state != "all" {
		states = append(states, reconcile.State(state))
	}
	bs, err := h.runs.Breaks(ctx, states...)
	if err != nil {
		return nil, err
	}
	return h.breakViews(bs), nil
}

// optional is nil for v's zero value (which the tables store as NULL),
// else a pointer to v.
func optional[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// writeJSON writes v as indented JSON, encoded exactly as `ledgerd
// balances --json` encodes (json.Encoder, two-space indent), so that the
// API's balances are byte for byte the command's.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"encode response"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// apiError is the body of every error answer: {"error":{"code","message"}}.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, message
	writeJSON(w, status, e)
}

// internalError logs err once, here at the edge, and answers 500 without
// the detail (which may name paths or SQL).
func (h *handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	h.log.Error("admin request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; see ledgerd's log")
}
