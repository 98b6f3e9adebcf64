package admin

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/ledgerd/ledgerd/replica"
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
	Replica   *replicaInfo // nil: not shown
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
	if h.replica != nil {
		d.Replica = h.replicaInfo(h.replica.Status(), now)
	}
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

// replicaInfo is continuous replication as the page shows it.
type replicaInfo struct {
	State  string // OFF, STARTING, OK, LAGGING, FAILING
	Class  string // the badge's
	Detail string
	Error  string // why the last round failed
}

// replicaLagging is how many intervals old the recovery point may be
// before the page says LAGGING.
const replicaLagging = 10

// replicaInfo describes replication: where to, how old the recovery
// point is (what a crash now would lose), and the last failure.
func (h *handler) replicaInfo(s replica.Status, now time.Time) *replicaInfo {
	if s.Target == "" {
		return &replicaInfo{State: "OFF", Class: "running",
			Detail: "LEDGERD_REPLICA_URL is not set: this file is the only copy (README: Replication and restore)"}
	}
	lag := s.Lag(now)
	point := "no round has ended yet"
	if !s.ReplicatedAt.IsZero() {
		point = fmt.Sprintf("recovery point %s (%s old), transaction %d", s.ReplicatedAt.In(h.loc).Format("2006-01-02 15:04:05 MST"),
			lag.Round(100*time.Millisecond), s.ReplicatedTXID)
	}
	in := &replicaInfo{State: "OK", Class: "ok", Detail: fmt.Sprintf("to %s every %s; %s", s.Target, s.Interval, point)}
	switch {
	case s.LastError != "":
		in.State, in.Class, in.Error = "FAILING", "bad", fmt.Sprintf("last failure %s: %s", h.showTime(s.LastErrorAt), s.LastError)
	case s.Started.IsZero() || s.ReplicatedAt.IsZero():
		in.State, in.Class = "STARTING", "pending"
	case lag > replicaLagging*s.Interval:
		in.State, in.Class = "LAGGING", "warn"
	}
	return in
}

func (h *handler) statusBalances(ctx context.Context, d *statusData, _ time.Time) error {
	bs, err := h.ledger.Balances(ctx)
	if err != nil {
		return err
	}
	names, err := h.ledger.AccountNames(ctx)
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

func (h *handler) statusBreaks(ctx context.Context, d *statusData, now time.Time) error {
	counts, err := h.runs.BreakCounts(ctx)
	if err != nil {
		return err
	}
	d.Open, d.Acked = counts[reconcile.Open], counts[reconcile.Acknowledged]
	bs, err := h.runs.MostSevereBreaks(ctx, reconcile.Open, statusBreakRows)
	if err != nil {
		return err
	}
	for _, b := range bs {
		cur := b.Currency
		row := breakRow{
			ID: b.ID, Category: string(b.Category), Severity: string(b.Severity), Subject: b.Subject, Detail: b.Detail,
			FirstSeen: h.showTime(b.FirstSeen), Age: age(now.Sub(b.FirstSeen)), Currency: string(cur),
		}
		row.Ledger, row.Fuse, row.Difference = showAmount(b.LedgerAmount, cur), showAmount(b.FuseAmount, cur), showAmount(b.Difference, cur)
		d.Breaks = append(d.Breaks, row)
	}
	return nil
}

func (h *handler) statusRuns(ctx context.Context, d *statusData, now time.Time) error {
	runs, err := h.runs.Runs(ctx, statusRunRows)
	if err != nil {
		return err
	}
	for _, r := range runs {
		row := runRow{
			ID: r.ID, Started: h.showTime(r.StartedAt), AsOf: h.showTime(r.AsOf),
			Accounts: int64(r.AccountsChecked), Transactions: int64(r.TransactionsChecked),
			BreaksOpen: int64(r.BreaksOpen), BreaksNew: int64(r.BreaksNew), Resolved: int64(r.BreaksResolved),
			Pending: int64(r.Pending), Verdict: "RUNNING", VerdictClass: "running", Ago: ago(now.Sub(r.StartedAt)),
		}
		if !r.FinishedAt.IsZero() {
			row.Finished = h.showTime(r.FinishedAt)
		}
		if r.Verdict != "" {
			row.Verdict, row.VerdictClass = string(r.Verdict), verdictClass(string(r.Verdict))
		}
		d.Runs = append(d.Runs, row)
	}
	if len(d.Runs) > 0 {
		d.LastRun = &d.Runs[0]
	}

	// The backfill's progress lives in sync_checkpoints, one row per Fuse
	// account it pages through.
	p, err := h.ledger.SyncProgress(ctx)
	if err != nil {
		return err
	}
	d.Backfill = backfillInfo{Accounts: p.Accounts, Failing: p.Failing}
	if !p.LastSuccess.IsZero() {
		d.Backfill.LastSuccess, d.Backfill.Ago = h.showTime(p.LastSuccess), ago(now.Sub(p.LastSuccess))
	}
	return nil
}

// statusIngest counts events per source and per hour over the last
// ingestChartHours. Hours are UTC hours (received_at is stored in UTC);
// labels show them in the configured zone.
func (h *handler) statusIngest(ctx context.Context, d *statusData, now time.Time) error {
	sources, err := h.ledger.EventsBySource(ctx)
	if err != nil {
		return err
	}
	for _, src := range sources {
		d.Sources = append(d.Sources, sourceRow{Source: string(src.Source), Count: formatCount(src.Events),
			Last: h.showTime(src.Last), Ago: ago(now.Sub(src.Last))})
	}

	first := now.UTC().Truncate(time.Hour).Add(-(ingestChartHours - 1) * time.Hour)
	hours, err := h.ledger.EventsPerHour(ctx, first)
	if err != nil {
		return err
	}
	perHour := map[int64]int64{} // by the hour's start, Unix seconds
	var total int64
	for _, hr := range hours {
		perHour[hr.Hour.Unix()] = hr.Events
		total += hr.Events
	}
	pts := make([]point, ingestChartHours)
	for i := range pts {
		start := first.Add(time.Duration(i) * time.Hour)
		n := perHour[start.Unix()]
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
	runs, err := h.runs.Runs(ctx, driftChartRuns)
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
	drifts, err := h.runs.DriftByRun(ctx, runs[len(runs)-1].ID)
	if err != nil {
		return err
	}
	abs, gross := map[key]ledgerd.Amount{}, map[key]ledgerd.Amount{}
	var currencies []ledgerd.Currency
	seen := map[ledgerd.Currency]bool{}
	for _, rd := range drifts {
		k := key{rd.RunID, rd.Currency}
		abs[k], gross[k] = rd.Drift, rd.Gross
		if !seen[k.cur] {
			seen[k.cur] = true
			currencies = append(currencies, k.cur)
		}
	}
	for _, cur := range currencies {
		pts := make([]point, 0, len(runs))
		for i := len(runs) - 1; i >= 0; i-- { // oldest first
			r := runs[i]
			k := key{r.ID, cur}
			verdict := "RUNNING"
			if r.Verdict != "" {
				verdict = string(r.Verdict)
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
