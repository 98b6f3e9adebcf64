package admin

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

//go:embed status.html
var statusHTML string

// statusTemplate is parsed once; html/template escapes every value by
// context (text, attribute, SVG), so names and details from Fuse cannot
// inject markup.
var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// Status page limits.
const (
	statusRunRows    = 10 // runs in the table
	statusBreakRows  = 50 // open breaks in the table
	driftChartRuns   = 30 // runs in each drift chart
	ingestChartHours = 48 // hours in the ingest chart
)

// statusData is everything the template shows, already formatted: amounts
// in major units of their currency, times in the configured zone.
type statusData struct {
	Version   string
	DBPath    string
	Now       string
	Zone      string
	Refresh   int
	Integrity integrityInfo
	LastRun   *runRow
	Backfill  backfillInfo
	Sources   []sourceRow
	Balances  []balanceRow
	Drifting  int
	Breaks    []breakRow
	Open      int
	Acked     int
	Runs      []runRow
	Ingest    chart
	Drift     []chart
}

// integrityInfo is the start-up integrity check as the page shows it.
type integrityInfo struct {
	State    string // OK, CHECKING, FAILED, NOT CHECKED
	Class    string // the badge's
	Detail   string
	Problems []string
	Failed   bool
}

type backfillInfo struct {
	LastSuccess string
	Ago         string
	Accounts    int64
	Failing     int64
}

type sourceRow struct {
	Source string
	Count  string
	Last   string
	Ago    string
}

type balanceRow struct {
	Account     string
	Name        string
	Currency    string
	Posted      string
	Pending     string
	Available   string
	FuseCurrent string // "" when Fuse has not reported (or not a bank account)
	Drift       string
	Drifting    bool
	Bank        bool
}

type breakRow struct {
	ID         int64
	Category   string
	Severity   string
	Subject    string
	Currency   string
	Ledger     string
	Fuse       string
	Difference string
	Age        string
	FirstSeen  string
	Detail     string
}

type runRow struct {
	ID           int64
	Started      string
	Ago          string
	Finished     string
	AsOf         string
	Verdict      string
	VerdictClass string
	Accounts     int64
	Transactions int64
	BreaksOpen   int64
	BreaksNew    int64
	Resolved     int64
	Pending      int64
}

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.status(r.Context())
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, d); err != nil {
		h.internalError(w, r, fmt.Errorf("render status page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// status gathers the page's data. An empty database gives empty tables and
// charts, not an error.
func (h *handler) status(ctx context.Context) (*statusData, error) {
	now := h.now()
	d := &statusData{
		Version: h.version,
		DBPath:  h.ledger.Path(),
		Now:     now.In(h.loc).Format("2006-01-02 15:04:05 MST"),
		Zone:    h.loc.String(),
		Refresh: 60,
	}
	d.Integrity = h.integrityInfo(now)
	steps := []func(context.Context, *statusData, time.Time) error{
		h.statusBalances, h.statusBreaks, h.statusRuns, h.statusIngest, h.statusDrift,
	}
	for _, step := range steps {
		if err := step(ctx, d, now); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// integrityInfo describes the ledger's integrity check.
func (h *handler) integrityInfo(now time.Time) integrityInfo {
	in := h.ledger.Integrity()
	took := in.Finished.Sub(in.Started).Round(time.Millisecond)
	switch in.State {
	case ledger.IntegrityChecking:
		return integrityInfo{State: "CHECKING", Class: "pending",
			Detail: fmt.Sprintf("quick_check and the events hash chain, started %s (%s)", h.showTime(in.Started), ago(now.Sub(in.Started)))}
	case ledger.IntegrityOK:
		return integrityInfo{State: "OK", Class: "ok",
			Detail: fmt.Sprintf("quick_check and the hash chain of %s events passed at %s (took %s)",
				formatCount(in.Events), h.showTime(in.Finished), took)}
	case ledger.IntegrityFailed:
		return integrityInfo{State: "FAILED", Class: "bad", Failed: true, Problems: in.Problems,
			Detail: fmt.Sprintf("checked at %s (took %s)", h.showTime(in.Finished), took)}
	}
	return integrityInfo{State: "NOT CHECKED", Class: "running", Detail: "ledgerd serve checks the file when it starts"}
}

func (h *handler) statusBalances(ctx context.Context, d *statusData, _ time.Time) error {
	bs, err := h.ledger.Balances(ctx)
	if err != nil {
		return err
	}
	names, err := h.accountNames(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		row := balanceRow{
			Account:   b.LedgerAccount,
			Currency:  string(b.Currency),
			Posted:    b.Posted.Format(b.Currency),
			Pending:   b.Pending.Format(b.Currency),
			Available: b.Available.Format(b.Currency),
			Bank:      b.FuseAccountID != nil,
		}
		if b.FuseAccountID != nil {
			row.Name = names[*b.FuseAccountID]
		}
		if b.FuseCurrent != nil {
			row.FuseCurrent = b.FuseCurrent.Format(b.Currency)
			drift, err := b.Posted.Sub(*b.FuseCurrent)
			if err != nil {
				return fmt.Errorf("drift of %s: %w", b.LedgerAccount, err)
			}
			row.Drift = drift.Format(b.Currency)
			row.Drifting = drift != 0
			if row.Drifting {
				d.Drifting++
			}
		}
		d.Balances = append(d.Balances, row)
	}
	return nil
}

func (h *handler) accountNames(ctx context.Context) (map[string]string, error) {
	rows, err := h.ledger.Reader().QueryContext(ctx, `SELECT account_id, name FROM fuse_accounts WHERE name IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("query account names: %w", err)
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("query account names: %w", err)
		}
		names[id] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query account names: %w", err)
	}
	return names, nil
}

func (h *handler) statusBreaks(ctx context.Context, d *statusData, now time.Time) error {
	rows, err := h.ledger.Reader().QueryContext(ctx, `SELECT state, COUNT(*) FROM breaks GROUP BY state`)
	if err != nil {
		return fmt.Errorf("count breaks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return fmt.Errorf("count breaks: %w", err)
		}
		switch state {
		case "open":
			d.Open = n
		case "acknowledged":
			d.Acked = n
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count breaks: %w", err)
	}
	bs, err := h.breaks(ctx, "open", statusBreakRows)
	if err != nil {
		return err
	}
	for _, b := range bs {
		row := breakRow{
			ID: b.ID, Category: b.Category, Severity: b.Severity, Subject: b.Subject, Detail: b.Detail,
			FirstSeen: h.showTime(b.FirstSeen), Age: age(now.Sub(b.FirstSeen)),
		}
		var cur ledgerd.Currency
		if b.Currency != nil {
			cur = *b.Currency
			row.Currency = string(cur)
		}
		row.Ledger, row.Fuse, row.Difference = showAmount(b.LedgerAmount, cur), showAmount(b.FuseAmount, cur), showAmount(b.Difference, cur)
		d.Breaks = append(d.Breaks, row)
	}
	return nil
}

func (h *handler) statusRuns(ctx context.Context, d *statusData, now time.Time) error {
	runs, err := h.runs(ctx, statusRunRows)
	if err != nil {
		return err
	}
	for _, r := range runs {
		row := runRow{
			ID: r.ID, Started: h.showTime(r.StartedAt), AsOf: h.showTime(r.AsOf),
			Accounts: r.AccountsChecked, Transactions: r.TransactionsChecked,
			BreaksOpen: r.BreaksOpen, BreaksNew: r.BreaksNew, Resolved: r.BreaksResolved, Pending: r.Pending,
			Verdict: "RUNNING", VerdictClass: "running", Ago: ago(now.Sub(r.StartedAt)),
		}
		if r.FinishedAt != nil {
			row.Finished = h.showTime(*r.FinishedAt)
		}
		if r.Verdict != nil {
			row.Verdict, row.VerdictClass = *r.Verdict, verdictClass(*r.Verdict)
		}
		d.Runs = append(d.Runs, row)
	}
	if len(d.Runs) > 0 {
		d.LastRun = &d.Runs[0]
	}

	// The backfill's progress lives in sync_checkpoints, one row per Fuse
	// account it pages through.
	var last sql.NullString
	var accounts, failing sql.NullInt64
	err = h.ledger.Reader().QueryRowContext(ctx, `SELECT MAX(last_success_at), COUNT(*),
		SUM(last_error IS NOT NULL AND last_error <> '') FROM sync_checkpoints`).Scan(&last, &accounts, &failing)
	if err != nil {
		return fmt.Errorf("query backfill checkpoints: %w", err)
	}
	d.Backfill = backfillInfo{Accounts: accounts.Int64, Failing: failing.Int64}
	if last.Valid {
		var ts times
		t := ts.parse(last.String)
		if ts.err != nil {
			return fmt.Errorf("backfill checkpoints: %w", ts.err)
		}
		d.Backfill.LastSuccess, d.Backfill.Ago = h.showTime(t), ago(now.Sub(t))
	}
	return nil
}

// statusIngest counts events per source and per hour over the last
// ingestChartHours. Hours are UTC hours (received_at is stored in UTC);
// labels show them in the configured zone.
func (h *handler) statusIngest(ctx context.Context, d *statusData, now time.Time) error {
	rows, err := h.ledger.Reader().QueryContext(ctx,
		`SELECT source, COUNT(*), MAX(received_at) FROM events GROUP BY source ORDER BY source`)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var src, last string
		var n int64
		if err := rows.Scan(&src, &n, &last); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		var ts times
		t := ts.parse(last)
		if ts.err != nil {
			return fmt.Errorf("events from %s: %w", src, ts.err)
		}
		d.Sources = append(d.Sources, sourceRow{Source: src, Count: formatCount(n), Last: h.showTime(t), Ago: ago(now.Sub(t))})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count events: %w", err)
	}

	const hourKey = "2006-01-02T15" // the prefix of a stored time up to the hour
	first := now.UTC().Truncate(time.Hour).Add(-(ingestChartHours - 1) * time.Hour)
	perHour := map[string]int64{}
	hrows, err := h.ledger.Reader().QueryContext(ctx, `SELECT substr(received_at, 1, 13), COUNT(*) FROM events
		WHERE received_at >= ? GROUP BY 1`, first.Format(hourKey))
	if err != nil {
		return fmt.Errorf("count events per hour: %w", err)
	}
	defer hrows.Close()
	var total int64
	for hrows.Next() {
		var hour string
		var n int64
		if err := hrows.Scan(&hour, &n); err != nil {
			return fmt.Errorf("count events per hour: %w", err)
		}
		perHour[hour] = n
		total += n
	}
	if err := hrows.Err(); err != nil {
		return fmt.Errorf("count events per hour: %w", err)
	}
	pts := make([]point, ingestChartHours)
	for i := range pts {
		start := first.Add(time.Duration(i) * time.Hour)
		n := perHour[start.Format(hourKey)]
		local := start.In(h.loc)
		pts[i] = point{
			Value: n,
			Label: local.Format("Jan 2 15:04"),
			Title: fmt.Sprintf("%s, 1 hour from %s: %s events", local.Format("Mon Jan 2"), local.Format("15:04 MST"), formatCount(n)),
		}
	}
	d.Ingest = barChart("Events ingested per hour",
		fmt.Sprintf("last %d hours, all sources: %s events", ingestChartHours, formatCount(total)), pts, formatCount)
	return nil
}

// statusDrift draws, per currency, the absolute drift of each of the last
// driftChartRuns runs: the sum over that run's accounts of |ledger posted −
// Fuse balance| (recon_run_accounts.drift), in that currency. Summing
// absolute values keeps two accounts that drift in opposite directions from
// cancelling out; one chart per currency keeps amounts in different
// currencies from being added up. Runs that saw no account in a currency
// count as zero there.
func (h *handler) statusDrift(ctx context.Context, d *statusData, _ time.Time) error {
	runs, err := h.runs(ctx, driftChartRuns)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return nil
	}
	type key struct {
		run int64
		cur ledgerd.Currency
	}
	abs, gross := map[key]ledgerd.Amount{}, map[key]ledgerd.Amount{}
	var currencies []ledgerd.Currency
	seen := map[ledgerd.Currency]bool{}
	rows, err := h.ledger.Reader().QueryContext(ctx, `SELECT run_id, currency, SUM(ABS(drift)), SUM(gross_drift)
		FROM recon_run_accounts WHERE run_id >= ? GROUP BY run_id, currency ORDER BY currency, run_id`,
		runs[len(runs)-1].ID)
	if err != nil {
		return fmt.Errorf("query drift per run: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		var a, g int64
		if err := rows.Scan(&k.run, &k.cur, &a, &g); err != nil {
			return fmt.Errorf("query drift per run: %w", err)
		}
		abs[k], gross[k] = ledgerd.Amount(a), ledgerd.Amount(g)
		if !seen[k.cur] {
			seen[k.cur] = true
			currencies = append(currencies, k.cur)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query drift per run: %w", err)
	}
	for _, cur := range currencies {
		pts := make([]point, 0, len(runs))
		for i := len(runs) - 1; i >= 0; i-- { // oldest first
			r := runs[i]
			k := key{r.ID, cur}
			verdict := "RUNNING"
			if r.Verdict != nil {
				verdict = *r.Verdict
			}
			pts = append(pts, point{
				Value: int64(abs[k]),
				Label: fmt.Sprintf("#%d", r.ID),
				Class: verdictClass(verdict),
				Title: fmt.Sprintf("run %d (%s, %s): drift %s %s, gross %s %s", r.ID, verdict, h.showTime(r.StartedAt),
					abs[k].Format(cur), cur, gross[k].Format(cur), cur),
			})
		}
		var latest ledgerd.Amount
		if len(pts) > 0 {
			latest = ledgerd.Amount(pts[len(pts)-1].Value)
		}
		c := cur
		d.Drift = append(d.Drift, barChart(
			fmt.Sprintf("Absolute drift per run, %s", cur),
			fmt.Sprintf("Σ|ledger − Fuse| over accounts; latest run: %s %s", latest.Format(cur), cur),
			pts, func(v int64) string { return ledgerd.Amount(v).Format(c) }))
	}
	return nil
}

// showTime renders t in the configured zone (LEDGERD_TZ).
func (h *handler) showTime(t time.Time) string {
	return t.In(h.loc).Format("2006-01-02 15:04 MST")
}

func showAmount(a *ledgerd.Amount, c ledgerd.Currency) string {
	if a == nil {
		return ""
	}
	if c == "" {
		return fmt.Sprintf("%d (minor units)", *a)
	}
	return a.Format(c)
}

// age renders a duration the way people read an age: "3d 4h", "5h 12m",
// "7m", "just now".
// ago says how long ago something happened: "just now", "5m ago".
func ago(d time.Duration) string {
	if d < time.Minute {
		return "just now"
	}
	return age(d) + " ago"
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// verdictClass maps a verdict to its badge colour: INCOMPLETE is never
// green.
func verdictClass(v string) string {
	switch v {
	case "RECONCILED":
		return "ok"
	case "RECONCILED_WITH_PENDING":
		return "pending"
	case "BREAKS":
		return "bad"
	case "INCOMPLETE":
		return "warn"
	}
	return strings.ToLower(v)
}
