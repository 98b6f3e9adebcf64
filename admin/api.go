package admin

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Run is one reconciliation run as /api/v1/runs lists it, with the field
// names of the report's run section. Times are UTC (RFC 3339); TimeZone is
// the zone the run reported in. Verdict and FinishedAt are null while the
// run is still going.
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

// RunAccount is what a run saw for one Fuse account and currency, amounts
// in minor units. Drift is ledger_posted − fuse_balance; FuseBalance is null
// when Fuse did not know the account.
type RunAccount struct {
	FuseAccountID string           `json:"fuse_account_id"`
	Name          *string          `json:"name"`
	Currency      ledgerd.Currency `json:"currency"`
	LedgerPosted  ledgerd.Amount   `json:"ledger_posted"`
	LedgerPending ledgerd.Amount   `json:"ledger_pending"`
	FuseBalance   *ledgerd.Amount  `json:"fuse_balance"`
	Drift         ledgerd.Amount   `json:"drift"`
	GrossDrift    ledgerd.Amount   `json:"gross_drift"`
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

// errNotFound marks a lookup of a row that does not exist.
var errNotFound = errors.New("not found")

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
	bs, err := h.breaks(r.Context(), state, 0)
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
	runs, err := h.runs(r.Context(), limit)
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
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no run %d", id))
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

const runColumns = `id, started_at, finished_at, time_zone, as_of, verdict, accounts_checked,
	transactions_checked, breaks_open, breaks_new, breaks_resolved, pending, detail`

func scanRun(s interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started, asOf string
	var finished, verdict sql.NullString
	err := s.Scan(&r.ID, &started, &finished, &r.TimeZone, &asOf, &verdict, &r.AccountsChecked,
		&r.TransactionsChecked, &r.BreaksOpen, &r.BreaksNew, &r.BreaksResolved, &r.Pending, &r.Detail)
	if err != nil {
		return Run{}, err
	}
	var ts times
	r.StartedAt, r.AsOf, r.FinishedAt = ts.parse(started), ts.parse(asOf), ts.nullable(finished)
	r.Verdict = nullString(verdict)
	if ts.err != nil {
		return Run{}, fmt.Errorf("run %d: %w", r.ID, ts.err)
	}
	return r, nil
}

// runs returns the latest limit runs, newest first.
func (h *handler) runs(ctx context.Context, limit int) ([]Run, error) {
	rows, err := h.ledger.Reader().QueryContext(ctx,
		`SELECT `+runColumns+` FROM recon_runs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	defer rows.Close()
	out := []Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("query runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	return out, nil
}

// run returns one run with its accounts and breaks, read in one read
// transaction so the three parts agree; errNotFound if there is no such run.
func (h *handler) run(ctx context.Context, id int64) (RunDetail, error) {
	tx, err := h.ledger.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return RunDetail{}, fmt.Errorf("read run %d: %w", id, err)
	}
	defer tx.Rollback()
	var d RunDetail
	d.Run, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM recon_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return RunDetail{}, fmt.Errorf("run %d: %w", id, errNotFound)
	}
	if err != nil {
		return RunDetail{}, fmt.Errorf("read run %d: %w", id, err)
	}
	if d.Accounts, err = runAccounts(ctx, tx, id); err != nil {
		return RunDetail{}, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+breakColumns+` FROM breaks
		WHERE id IN (SELECT break_id FROM recon_run_breaks WHERE run_id = ?) ORDER BY first_seen, id`, id)
	if err != nil {
		return RunDetail{}, fmt.Errorf("read run %d breaks: %w", id, err)
	}
	if d.Breaks, err = h.scanBreaks(rows); err != nil {
		return RunDetail{}, fmt.Errorf("read run %d breaks: %w", id, err)
	}
	return d, nil
}

func runAccounts(ctx context.Context, tx *sql.Tx, id int64) ([]RunAccount, error) {
	rows, err := tx.QueryContext(ctx, `SELECT fuse_account_id, name, currency, ledger_posted, ledger_pending,
		fuse_balance, drift, gross_drift FROM recon_run_accounts WHERE run_id = ? ORDER BY fuse_account_id, currency`, id)
	if err != nil {
		return nil, fmt.Errorf("read run %d accounts: %w", id, err)
	}
	defer rows.Close()
	out := []RunAccount{}
	for rows.Next() {
		var a RunAccount
		var name sql.NullString
		var fuse sql.NullInt64
		if err := rows.Scan(&a.FuseAccountID, &name, &a.Currency, &a.LedgerPosted, &a.LedgerPending,
			&fuse, &a.Drift, &a.GrossDrift); err != nil {
			return nil, fmt.Errorf("read run %d accounts: %w", id, err)
		}
		a.Name, a.FuseBalance = nullString(name), nullAmount(fuse)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read run %d accounts: %w", id, err)
	}
	return out, nil
}

const breakColumns = `id, category, severity, subject, fuse_account_id, fuse_transaction_id, currency,
	ledger_amount, fuse_amount, difference, detail, state, first_seen, last_seen, first_run, last_run,
	resolved_at, ack_note, ack_at`

// breaks returns the breaks in state ("all" for every state), oldest
// first; limit > 0 caps how many, most severe first.
func (h *handler) breaks(ctx context.Context, state string, limit int) ([]Break, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	// Oldest first; with a limit (the status page shows the first rows
	// only), most severe first, so that a new balance drift does not sit
	// below a flood of older warnings.
	rows, err := h.ledger.Reader().QueryContext(ctx, `SELECT `+breakColumns+` FROM breaks
		WHERE ?1 = 'all' OR state = ?1
		ORDER BY CASE WHEN ?2 < 0 THEN 0 WHEN severity = 'critical' THEN 0 WHEN severity = 'warning' THEN 1 ELSE 2 END,
		first_seen, id LIMIT ?2`, state, limit)
	if err != nil {
		return nil, fmt.Errorf("query breaks: %w", err)
	}
	bs, err := h.scanBreaks(rows)
	if err != nil {
		return nil, fmt.Errorf("query breaks: %w", err)
	}
	return bs, nil
}

// scanBreaks reads and closes rows of breakColumns.
func (h *handler) scanBreaks(rows *sql.Rows) ([]Break, error) {
	defer rows.Close()
	now := h.now()
	out := []Break{}
	for rows.Next() {
		var b Break
		var first, last string
		var acct, txn, cur, resolved, note, ackAt sql.NullString
		var la, fa, diff sql.NullInt64
		if err := rows.Scan(&b.ID, &b.Category, &b.Severity, &b.Subject, &acct, &txn, &cur,
			&la, &fa, &diff, &b.Detail, &b.State, &first, &last, &b.FirstRun, &b.LastRun,
			&resolved, &note, &ackAt); err != nil {
			return nil, err
		}
		var ts times
		b.FirstSeen, b.LastSeen = ts.parse(first), ts.parse(last)
		b.ResolvedAt, b.AckAt = ts.nullable(resolved), ts.nullable(ackAt)
		if ts.err != nil {
			return nil, fmt.Errorf("break %d: %w", b.ID, ts.err)
		}
		b.FuseAccountID, b.FuseTransactionID = nullString(acct), nullString(txn)
		if cur.Valid {
			c := ledgerd.Currency(cur.String)
			b.Currency = &c
		}
		b.LedgerAmount, b.FuseAmount, b.Difference = nullAmount(la), nullAmount(fa), nullAmount(diff)
		b.AckNote = nullString(note)
		if now.After(b.FirstSeen) {
			b.AgeDays = int64(now.Sub(b.FirstSeen) / (24 * time.Hour))
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// times parses stored timestamps (UTC text, RFC 3339), keeping the first
// error so a scan can parse several and check once.
type times struct{ err error }

func (p *times) parse(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC()
}

func (p *times) nullable(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t := p.parse(s.String)
	return &t
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func nullAmount(n sql.NullInt64) *ledgerd.Amount {
	if !n.Valid {
		return nil
	}
	a := ledgerd.Amount(n.Int64)
	return &a
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
