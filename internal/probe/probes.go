package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	_ "modernc.org/sqlite"
)

// row is one probe's line in RELIABILITY.md: what an operator tried, what
// ledgerd answered, and what the file kept.
type row struct {
	Probe    string `json:"probe"`
	Tried    string `json:"tried"`
	Answered string `json:"answered"`
	Kept     string `json:"kept"`
	// Held is the probe's own judgement: ledgerd did what issue 15 asks.
	Held bool `json:"held"`
}

type probe struct {
	name string
	run  func(ctx context.Context, newRig func(dbDir string, env map[string]string) (*rig, error)) (row, error)
}

var probes = []probe{
	{"CLI writes beside serve", probeCLIBesideServe},
	{"write lock held by another process", probeLockHeld},
	{"full disk", probeFullDisk},
	{"damaged file at start", probeDamagedFile},
	{"junk flood with the defaults", probeJunkFlood},
	{"break cap", probeBreakCap},
	{"event_id reused with another body", probeEventIDReused},
	{"payment in another currency than its account", probeCurrencyMismatch},
	{"exchange amounts at Fuse and in the webhook differ", probeExchangeMismatch},
	{"Fuse client id in a debug log", probeClientIDInLog},
	{"verify on a file readable by others", probeVerifyMode},
	{"scheduled reconciliation settings", probeServeKnobs},
}

// inbound is a valid inbound_local_payment_settled webhook for account.
func inbound(eventID, txID, account, currency string, amount int64) []byte {
	return fmt.Appendf(nil, `{"type":"inbound_local_payment_settled","event_id":%q,"event_version":1,`+
		`"inbound_local_payment_settled":{"account_id":%q,"transaction_id":%q,`+
		`"instructed_amount":%d,"amount_with_fee":%d,"fee_amount":0,"remitter":{"name":"Probe","identifier":{"iban":"AE080070000000785666509"}},`+
		`"external_reference":"probe","timestamp":%q,"purpose":"none","currency":%q}}`,
		eventID, account, txID, amount, amount, time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339), currency)
}

func uuid(prefix uint32, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", prefix, n)
}

// fund opens a funded AED account at the sandbox and posts its webhooks.
func fund(r *rig, currency string, amount int64) (string, error) {
	a, err := r.sb.OpenAccount(sandbox.AccountSpec{Currency: currency, Balance: amount, CustomerName: "Probe Trading LLC"})
	if err != nil {
		return "", err
	}
	return a.AccountID, r.deliver()
}

// serving is a rig whose serve runs and knows one funded AED account at
// the sandbox; dbDir as for newRig.
func serving(newRig func(string, map[string]string) (*rig, error), dbDir string) (*rig, string, error) {
	r, err := newRig(dbDir, nil)
	if err != nil {
		return nil, "", err
	}
	if err := r.start(); err != nil {
		r.close()
		return nil, "", err
	}
	acct, err := fund(r, "AED", 1_000_000)
	if err != nil {
		r.close()
		return nil, "", err
	}
	return r, acct, nil
}

func probeCLIBesideServe(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, acct, err := serving(newRig, "")
	if err != nil {
		return row{}, err
	}
	defer r.close()
	var clis []string
	cli := func(args ...string) {
		code, _, _ := r.cli(ctx, args...)
		clis = append(clis, fmt.Sprintf("`%s` %d", strings.Join(args, " "), code))
	}
	// A webhook with a stale timestamp is quarantined; the shell replays it.
	if _, err := r.sb.InboundPayment(sandbox.InboundPayment{AccountID: acct, Amount: 12_345}); err != nil {
		return row{}, err
	}
	for _, ev := range r.pending() {
		r.post(ev.Body, true)
	}
	cli("quarantine", "replay", "1")
	step := func() error {
		if _, err := r.sb.InboundPayment(sandbox.InboundPayment{AccountID: acct, Amount: 1_000}); err != nil {
			return err
		}
		return r.deliver()
	}
	for _, args := range [][]string{{"backfill"}, {"reconcile"}, {"breaks", "ack"}, {"migrate"}} {
		if err := step(); err != nil {
			return row{}, err
		}
		if args[0] == "breaks" {
			// Acknowledge a break when there is one (a planted drift
			// makes sure there is), else there is nothing to write.
			if _, err := r.sb.Adjust(sandbox.Adjustment{AccountID: acct, Amount: 1}); err != nil {
				return row{}, err
			}
			cli("reconcile")
			bs, err := r.breaks(ctx)
			if err != nil || len(bs) == 0 {
				return row{}, fmt.Errorf("no break to acknowledge: %v", err)
			}
			args = []string{"breaks", "ack", fmt.Sprint(bs[0].ID), "--note", "probe"}
			if _, err := r.sb.Adjust(sandbox.Adjustment{AccountID: acct, Amount: -1}); err != nil {
				return row{}, err
			}
		}
		cli(args...)
	}
	if err := step(); err != nil {
		return row{}, err
	}
	live, _, liveErr := r.cli(ctx, "verify")
	exit := r.stop(syscall.SIGTERM)
	after, _, afterErr := r.cli(ctx, "verify")
	rc, out, _ := r.cli(ctx, "reconcile")
	bs, err := r.breaks(ctx)
	if err != nil {
		return row{}, err
	}
	answered := fmt.Sprintf("%s; `verify` beside serve %d%s, after SIGTERM (exit %d) %d%s; `reconcile` %d %s, balance_drift %d",
		strings.Join(clis, ", "), live, why(live, liveErr), exit, after, why(after, afterErr), rc, verdict(out), countBy(bs)["balance_drift"])
	return row{Tried: "serve running; a webhook with a stale X-Fuse-Timestamp (quarantined), `quarantine replay` from the shell, then webhooks to serve between `backfill`, `reconcile`, `breaks ack` and `migrate` from the shell",
		Answered: answered, Kept: "every event once, in one hash chain; running balances equal to the postings",
		Held: live == 0 && after == 0 && countBy(bs)["balance_drift"] == 0 && verdict(out) == "RECONCILED"}, nil
}

func why(code int, stderr string) string {
	if code == 0 {
		return ""
	}
	return " (" + firstLine(stderr) + ")"
}

func probeLockHeld(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, acct, err := serving(newRig, "")
	if err != nil {
		return row{}, err
	}
	defer r.close()
	db, err := sql.Open("sqlite", "file:"+ledger.URIPath(r.db)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return row{}, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return row{}, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return row{}, fmt.Errorf("take the write lock: %w", err)
	}
	held, took := r.post(inbound(uuid(0x10c4, 1), uuid(0x10c5, 1), acct, "AED", 100), false)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return row{}, err
	}
	after, _ := r.post(inbound(uuid(0x10c4, 1), uuid(0x10c5, 1), acct, "AED", 100), false)
	return row{Tried: "another process holds the write lock (`BEGIN IMMEDIATE`) while Fuse posts a webhook; then the lock is released and Fuse retries",
		Answered: fmt.Sprintf("%d after %.1f s; after the release %d", held, took.Seconds(), after),
		Kept:     "nothing while locked (Fuse retries); the event once after",
		Held:     held == http.StatusServiceUnavailable && took < 4*time.Second && after == http.StatusOK}, nil
}

// mountTmpfs mounts a tmpfs of size bytes on dir; it needs root.
func mountTmpfs(dir string, size int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root")
	}
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size))
}

func probeFullDisk(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	tried := "`LEDGERD_DB` on an 8 MiB tmpfs; the disk is filled while serve runs; a webhook, `/readyz`, then SIGTERM"
	dir, err := os.MkdirTemp("", "ledgerd-probe-tmpfs-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	if err := mountTmpfs(dir, 8<<20); err != nil {
		return row{Tried: tried, Answered: "not run: cannot mount a tmpfs here (" + err.Error() + ")", Kept: "—", Held: true}, nil
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH) //nolint:errcheck // best effort
	r, acct, err := serving(newRig, dir)
	if err != nil {
		return row{}, err
	}
	defer r.close()
	readyBefore, _ := r.adminGet("/readyz")
	// Fill the disk.
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		return row{}, err
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	small := make([]byte, 512)
	for {
		if _, err := f.Write(small); err != nil {
			break
		}
	}
	f.Close()
	hooks := map[int]int{}
	for i := range 20 {
		st, _ := r.post(inbound(uuid(0xf011, i), uuid(0xf012, i), acct, "AED", 100+int64(i)), false)
		hooks[st]++
	}
	ready, readyBody := r.adminGet("/readyz")
	// Ready must mean that a webhook posted now would be acknowledged.
	now, _ := r.post(inbound(uuid(0xf011, 99), uuid(0xf012, 99), acct, "AED", 99), false)
	exit := r.stop(syscall.SIGTERM)
	os.Remove(filepath.Join(dir, "filler"))
	vcode, _, verr := r.cli(ctx, "verify")
	return row{Tried: tried,
		Answered: fmt.Sprintf("`/readyz` %d before; on the full disk 20 webhooks %v (the first ones fit in the WAL SQLite reuses), then `/readyz` %d (%s) and the next webhook %d; SIGTERM exit %d",
			readyBefore, hooks, ready, firstLine(readyBody), now, exit),
		Kept: fmt.Sprintf("every acknowledged event; `verify` after freeing space %d%s", vcode, why(vcode, verr)),
		Held: (ready == http.StatusOK) == (now == http.StatusOK) && exit == 0 && vcode == 0}, nil
}

func probeDamagedFile(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, acct, err := serving(newRig, "")
	if err != nil {
		return row{}, err
	}
	defer r.close()
	marker := "Probe-Damage-Marker-Remitter"
	if _, err := r.sb.InboundPayment(sandbox.InboundPayment{AccountID: acct, Amount: 4_242, RemitterName: marker}); err != nil {
		return row{}, err
	}
	if err := r.deliver(); err != nil {
		return row{}, err
	}
	if exit := r.stop(syscall.SIGTERM); exit != 0 {
		return row{}, fmt.Errorf("serve exited %d", exit)
	}
	b, err := os.ReadFile(r.db)
	if err != nil {
		return row{}, err
	}
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return row{}, fmt.Errorf("marker not in the file")
	}
	fh, err := os.OpenFile(r.db, os.O_WRONLY, 0)
	if err != nil {
		return row{}, err
	}
	_, err = fh.WriteAt([]byte("X"), int64(i))
	fh.Close()
	if err != nil {
		return row{}, err
	}
	if err := r.start(); err != nil {
		return row{}, err
	}
	ready, body := 0, ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ready, body = r.adminGet("/readyz"); ready == http.StatusServiceUnavailable {
			break
		}
	}
	hook, _ := r.post(inbound(uuid(0xdaa1, 1), uuid(0xdaa2, 1), acct, "AED", 100), false)
	_, page := r.adminGet("/")
	says := strings.Contains(strings.ToLower(page), "integrity") || strings.Contains(strings.ToLower(page), "damaged")
	return row{Tried: "one byte of a stored event body overwritten on disk while serve was stopped; serve started again",
		Answered: fmt.Sprintf("`/readyz` %d within 5 s (%s); a webhook %d; status page names it: %t", ready, firstLine(body), hook, says),
		Kept:     "the file as it was: nothing written on top of a broken chain",
		Held:     ready == http.StatusServiceUnavailable && hook == http.StatusServiceUnavailable && says}, nil
}

// strangerAddr is a non-loopback address of this machine, or "".
func strangerAddr() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

// flood posts 1 MiB junk bodies from 4 clients for d and counts answers.
func flood(r *rig, url string, d time.Duration) map[int]int {
	junk := bytes.Repeat([]byte("x"), 1<<20-1)
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 30 * time.Second}
			for time.Now().Before(end) {
				st, _ := r.postTo(hc, url, junk, false)
				mu.Lock()
				counts[st]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return counts
}

func probeJunkFlood(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, err := newRig("", nil)
	if err != nil {
		return row{}, err
	}
	defer r.close()
	// The defaults: every interface, no allow list, no secret.
	_, port, _ := net.SplitHostPort(r.hook)
	r.hook = ":" + port
	r.env["LEDGERD_LISTEN"] = r.hook
	if err := r.start(); err != nil {
		return row{}, err
	}
	size0 := r.fileBytes()
	var parts []string
	strangerHeld := true
	if ip := strangerAddr(); ip != "" {
		c := flood(r, "http://"+net.JoinHostPort(ip, port)+"/webhooks/fuse", 5*time.Second)
		grew := r.fileBytes() - size0
		parts = append(parts, fmt.Sprintf("from %s (not loopback, not Fuse): %v, file +%d MB", ip, c, grew>>20))
		strangerHeld = c[http.StatusForbidden] > 0 && grew < 1<<20
	} else {
		parts = append(parts, "from a stranger: not run (no non-loopback address)")
	}
	size1 := r.fileBytes()
	c := flood(r, "http://127.0.0.1:"+port+"/webhooks/fuse", 5*time.Second)
	grew := r.fileBytes() - size1
	parts = append(parts, fmt.Sprintf("from loopback: %v, file +%d MB", c, grew>>20))
	code, out, _ := r.cli(ctx, "quarantine", "list", "--json")
	var qs []map[string]any
	_ = json.Unmarshal([]byte(out), &qs)
	return row{Tried: "1 MiB junk bodies from 4 clients for 5 s each, with the defaults (all interfaces, no allow list, no secret)",
		Answered: strings.Join(parts, "; "),
		Kept:     fmt.Sprintf("%d quarantine rows (`quarantine list` exit %d), at most 64 KiB of each body with its length and SHA-256", len(qs), code),
		Held:     strangerHeld && grew < 256<<20 && c[http.StatusOK] == 0}, nil
}

func probeBreakCap(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, err := newRig("", nil)
	if err != nil {
		return row{}, err
	}
	defer r.close()
	if err := r.start(); err != nil {
		return row{}, err
	}
	var accts []string
	for range 3 {
		a, err := fund(r, "AED", 1_000_000)
		if err != nil {
			return row{}, err
		}
		accts = append(accts, a)
	}
	// 2,000 forged webhooks for transactions Fuse never made, on an account
	// Fuse does not know.
	ghost := uuid(0x6405, 1)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 2000; i += 8 {
				if st, _ := r.post(inbound(uuid(0xf0e6, i), uuid(0xf0e7, i), ghost, "AED", 100), false); st == http.StatusOK {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for _, a := range accts[:2] {
		if _, err := r.sb.Adjust(sandbox.Adjustment{AccountID: a, Amount: 777}); err != nil {
			return row{}, err
		}
	}
	t0 := time.Now()
	rc, out, _ := r.cli(ctx, "reconcile")
	took := time.Since(t0)
	bs, err := r.breaks(ctx)
	if err != nil {
		return row{}, err
	}
	n := countBy(bs)
	return row{Tried: fmt.Sprintf("%d forged webhooks for unknown transactions on an account Fuse does not know, and 2 bank-side adjustments (real drifts); `reconcile`", accepted.Load()),
		Answered: fmt.Sprintf("exit %d, %s in %.1f s; %d breaks listed, balance_drift %d, too_many_breaks %d", rc, verdict(out), took.Seconds(), len(bs), n["balance_drift"], n["too_many_breaks"]),
		Kept:     "every critical break as its own row; what the cap left out counted in the run",
		Held:     n["balance_drift"] == 2 && took < 30*time.Second}, nil
}

func probeEventIDReused(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, acct, err := serving(newRig, "")
	if err != nil {
		return row{}, err
	}
	defer r.close()
	first, _ := r.post(inbound(uuid(0xe1d, 1), uuid(0xe1e, 1), acct, "AED", 500), false)
	same, _ := r.post(inbound(uuid(0xe1d, 1), uuid(0xe1e, 1), acct, "AED", 500), false)
	other, _ := r.post(inbound(uuid(0xe1d, 1), uuid(0xe1e, 1), acct, "AED", 90_000), false)
	_, out, _ := r.cli(ctx, "quarantine", "list", "--json")
	var qs []struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal([]byte(out), &qs)
	_, metrics := r.adminGet("/metrics")
	var reasons []string
	for _, q := range qs {
		reasons = append(reasons, q.Reason)
	}
	counted := strings.Contains(metrics, "reused")
	return row{Tried: "an event posted, again with the same body, again with the same event_id and another amount",
		Answered: fmt.Sprintf("%d, %d, %d; metric counts it: %t", first, same, other, counted),
		Kept:     fmt.Sprintf("the first body in events; quarantine reasons %v", reasons),
		Held:     other == http.StatusOK && len(qs) == 1 && counted}, nil
}

func probeCurrencyMismatch(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, acct, err := serving(newRig, "")
	if err != nil {
		return row{}, err
	}
	defer r.close()
	st, _ := r.post(inbound(uuid(0xc055, 1), uuid(0xc056, 1), acct, "USD", 2_500), false)
	r.stop(syscall.SIGTERM)
	rc, out, _ := r.cli(ctx, "reconcile")
	bs, err := r.breaks(ctx)
	if err != nil {
		return row{}, err
	}
	var cats []string
	named := false
	for _, b := range bs {
		cats = append(cats, b.Category)
		if b.Category == "currency_mismatch" && strings.Contains(b.Detail+b.Subject, uuid(0xc055, 1)) {
			named = true
		}
	}
	_, bal, _ := r.cli(ctx, "balances", "--json")
	usd := strings.Contains(bal, `"ledger_account": "bank:`+acct+`",`+"\n"+`    "fuse_account_id": "`+acct+`",`+"\n"+`    "currency": "USD"`)
	return row{Tried: "a USD inbound payment webhook on an AED account; `reconcile`",
		Answered: fmt.Sprintf("webhook %d; reconcile exit %d %s; breaks %v", st, rc, verdict(out), cats),
		Kept:     fmt.Sprintf("the event; a currency_mismatch break naming it: %t; a USD balance in the AED bank account: %t", named, usd),
		Held:     named && !usd}, nil
}

func probeExchangeMismatch(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, aed, err := serving(newRig, "")
	if err != nil {
		return row{}, err
	}
	defer r.close()
	jpy, err := fund(r, "JPY", 0)
	if err != nil {
		return row{}, err
	}
	client, err := fuse.New(fuse.Config{BaseURL: r.baseURL + "/v1", AuthURL: r.baseURL + sandbox.TokenPath,
		ClientID: probeClientID, ClientSecret: probeClientSecret})
	if err != nil {
		return row{}, err
	}
	amount := int64(100_00)
	x, err := client.CreateExchange(ctx, fuse.CreateExchangeRequest{ExternalReference: "FX-PROBE",
		From: fuse.ExchangeSide{AccountID: aed, Amount: &amount}, To: fuse.ExchangeSide{AccountID: jpy}})
	if err != nil {
		return row{}, err
	}
	// The webhook that creates the exchange says one yen more than Fuse.
	for _, ev := range r.pending() {
		body := ev.Body
		if ev.Type == "outbound_exchange_transfer_created" {
			if body, err = bumpCounterpart(body, ev.Type); err != nil {
				return row{}, err
			}
		}
		if st, _ := r.post(body, false); st != http.StatusOK {
			return row{}, fmt.Errorf("webhook %s answered %d", ev.Type, st)
		}
	}
	r.stop(syscall.SIGTERM)
	rc, out, _ := r.cli(ctx, "reconcile")
	bs, err := r.breaks(ctx)
	if err != nil {
		return row{}, err
	}
	var got []string
	held := false
	for _, b := range bs {
		if b.Category != "amount_mismatch" {
			continue
		}
		got = append(got, fmt.Sprintf("%s %s ledger %s Fuse %s difference %s", b.Category, b.Currency,
			b.LedgerAmount, b.FuseAmount, b.Difference))
		held = held || (b.FuseTransactionID == x.ID && b.Currency == "JPY" && string(b.Difference) != "")
	}
	return row{Tried: "an AED→JPY exchange whose webhook says one yen more counterpart_amount than Fuse; `reconcile`",
		Answered: fmt.Sprintf("reconcile exit %d %s; %s", rc, verdict(out), strings.Join(got, "; ")),
		Kept:     "the webhook's amounts as evidence; the break in the currency its amounts are in",
		Held:     held}, nil
}

// bumpCounterpart adds one minor unit to the counterpart_amount of a
// webhook body whose payload sits under its type.
func bumpCounterpart(body []byte, typ string) ([]byte, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(env[typ]))
	dec.UseNumber()
	var payload map[string]any
	if err := dec.Decode(&payload); err != nil {
		return nil, err
	}
	n, err := payload["counterpart_amount"].(json.Number).Int64()
	if err != nil {
		return nil, err
	}
	payload["counterpart_amount"] = n + 1
	if env[typ], err = json.Marshal(payload); err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

func probeClientIDInLog(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, err := newRig("", map[string]string{"LEDGERD_LOG_LEVEL": "debug", "LEDGERD_LOG_FORMAT": "text"})
	if err != nil {
		return row{}, err
	}
	defer r.close()
	if _, err := r.sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Balance: 10_000}); err != nil {
		return row{}, err
	}
	code, out, errs := r.cli(ctx, "backfill")
	log := out + errs
	full := strings.Count(log, probeClientID)
	secret := strings.Count(log, probeClientSecret)
	return row{Tried: "`backfill` with LEDGERD_LOG_LEVEL=debug",
		Answered: fmt.Sprintf("exit %d; the full client id appears %d times, the secret %d times", code, full, secret),
		Kept:     "—", Held: full == 0 && secret == 0}, nil
}

func probeVerifyMode(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	r, err := newRig("", nil)
	if err != nil {
		return row{}, err
	}
	defer r.close()
	if code, _, errs := r.cli(ctx, "migrate"); code != 0 {
		return row{}, fmt.Errorf("migrate: %s", errs)
	}
	if err := os.Chmod(r.db, 0o644); err != nil {
		return row{}, err
	}
	code, out, errs := r.cli(ctx, "verify")
	fi, err := os.Stat(r.db)
	if err != nil {
		return row{}, err
	}
	said := firstLine(errs)
	if i := strings.Index(out+errs, "0644"); i >= 0 {
		said = "names 0644"
	}
	return row{Tried: "`verify` on a file of mode 0644",
		Answered: fmt.Sprintf("exit %d (%s)", code, said),
		Kept:     fmt.Sprintf("mode %04o afterwards", fi.Mode().Perm()),
		Held:     fi.Mode().Perm() == 0o644 && code == 1}, nil
}

func probeServeKnobs(ctx context.Context, newRig func(string, map[string]string) (*rig, error)) (row, error) {
	out, _ := exec.CommandContext(ctx, flagBin, "serve", "--help").CombinedOutput()
	top, _ := exec.CommandContext(ctx, flagBin, "--help").CombinedOutput()
	help := string(out) + string(top)
	var found []string
	for _, line := range strings.Split(help, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "LEDGERD_RECONCILE_") {
			found = append(found, strings.Trim(f[0], "`|,"))
		}
	}
	return row{Tried: "`ledgerd --help` and `ledgerd serve --help`, looking for the scheduled reconciliation's settings",
		Answered: fmt.Sprintf("%v", found), Kept: "—", Held: len(found) > 1}, nil
}
