package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/ledger"
)

// apiError decodes {"error":{"code","message"}} and fails unless the body
// is exactly that shape.
func apiError(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an API error body (%v): %s", err, body)
	}
	return e.Error.Code, e.Error.Message
}

func wantJSON(t *testing.T, resp *http.Response) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestHealthzAnswersWithoutTouchingTheDatabase(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{})
	resp, body := get(t, srv, "/healthz")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "{\n  \"status\": \"ok\"\n}" {
		t.Fatalf("GET /healthz = %d %s", resp.StatusCode, body)
	}
	wantJSON(t, resp)
}

func TestReadyzIsReadyWhenTheWriterTakesTheLockAndTheDaemonAgrees(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{Ready: func(context.Context) error { return nil }})
	resp, body := get(t, srv, "/readyz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status": "ready"`) {
		t.Fatalf("GET /readyz = %d %s", resp.StatusCode, body)
	}
}

func TestReadyzReportsTheDaemonsFailingCheck(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{Ready: func(context.Context) error {
		return errors.New("last backfill failed: fuse: 401 invalid_client")
	}})
	resp, body := get(t, srv, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz = %d %s, want 503", resp.StatusCode, body)
	}
	code, msg := apiError(t, body)
	if code != "not_ready" || msg != "last backfill failed: fuse: 401 invalid_client" {
		t.Errorf("error = %q %q", code, msg)
	}
}

func TestReadyzIsNotReadyOnceTheLedgerIsClosed(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, srv, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz = %d %s, want 503", resp.StatusCode, body)
	}
	if code, msg := apiError(t, body); code != "not_ready" || !strings.Contains(msg, "database not writable") {
		t.Errorf("error = %q %q", code, msg)
	}
	// Liveness is unaffected: a restart would not help a closed file.
	if resp, _ := get(t, srv, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d after close", resp.StatusCode)
	}
}

func TestProbeWritableSucceedsOnAnOpenLedger(t *testing.T) {
	l := openLedger(t)
	if err := admin.ProbeWritable(context.Background(), l); err != nil {
		t.Fatal(err)
	}
}

func TestBalancesAPIIsByteForByteTheBalancesCommandsJSON(t *testing.T) {
	l := openLedger(t)
	seedScenario(t, l)
	srv, _ := serve(t, l, admin.Options{})
	resp, body := get(t, srv, "/api/v1/balances")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/balances = %d %s", resp.StatusCode, body)
	}
	wantJSON(t, resp)
	bs, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// What cmd/ledgerd's balances --json writes.
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want.Bytes()) {
		t.Fatalf("API balances differ from the command's:\n got %s\nwant %s", body, want.Bytes())
	}
	// And the objects carry the contract's fields, amounts as integers.
	var objs []map[string]any
	if err := json.Unmarshal(body, &objs); err != nil {
		t.Fatal(err)
	}
	keys := []string{"available", "currency", "fuse_account_id", "fuse_available", "fuse_current", "ledger_account", "pending", "posted"}
	for _, o := range objs {
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range o {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(got, keys) {
			t.Fatalf("balance object keys = %v, want %v", got, keys)
		}
		if o["ledger_account"] == "bank:"+merchantID && (o["posted"] != 99000000.0 || o["fuse_current"] != 98999500.0) {
			t.Errorf("merchant balance = %v", o)
		}
	}
}

func TestBalancesAPIOnAnEmptyFileIsAnEmptyArray(t *testing.T) {
	srv, _ := serve(t, openLedger(t), admin.Options{})
	for _, path := range []string{"/api/v1/balances", "/api/v1/breaks", "/api/v1/runs"} {
		resp, body := get(t, srv, path)
		if resp.StatusCode != http.StatusOK || string(body) != "[]\n" {
			t.Errorf("GET %s = %d %q, want 200 []", path, resp.StatusCode, body)
		}
	}
}

func breakIDs(t *testing.T, body []byte) []int64 {
	t.Helper()
	var bs []admin.Break
	if err := json.Unmarshal(body, &bs); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	ids := []int64{}
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	return ids
}

func TestBreaksAPIFiltersByStateAndDefaultsToOpen(t *testing.T) {
	l := openLedger(t)
	seedScenario(t, l)
	srv, _ := serve(t, l, admin.Options{})
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{1, 2}},
		{"?state=open", []int64{1, 2}},
		{"?state=acknowledged", []int64{3}},
		{"?state=resolved", []int64{4}},
		{"?state=all", []int64{3, 4, 1, 2}}, // oldest first
	}
	for _, tt := range tests {
		resp, body := get(t, srv, "/api/v1/breaks"+tt.query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/breaks%s = %d %s", tt.query, resp.StatusCode, body)
		}
		if got := breakIDs(t, body); !slices.Equal(got, tt.want) {
			t.Errorf("GET /api/v1/breaks%s ids = %v, want %v", tt.query, got, tt.want)
		}
	}
	resp, body := get(t, srv, "/api/v1/breaks?state=closed")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("state=closed: %d %s, want 400", resp.StatusCode, body)
	}
	if code, _ := apiError(t, body); code != "bad_request" {
		t.Errorf("code = %q", code)
	}
}

func TestBreakJSONCarriesAmountsInMinorUnitsWithCurrency(t *testing.T) {
	l := openLedger(t)
	seedScenario(t, l)
	srv, _ := serve(t, l, admin.Options{})
	_, body := get(t, srv, "/api/v1/breaks?state=all")
	var objs []map[string]any
	if err := json.Unmarshal(body, &objs); err != nil {
		t.Fatal(err)
	}
	var drift map[string]any
	for _, o := range objs {
		if o["break_id"] == 1.0 {
			drift = o
		}
	}
	want := map[string]any{
		"break_id": 1.0, "category": "balance_drift", "severity": "critical", "subject": merchantID,
		"fuse_account_id": merchantID, "fuse_transaction_id": nil, "currency": "AED",
		"ledger_amount": 99000000.0, "fuse_amount": 98999500.0, "difference": 500.0,
		"detail": "ledger posted 990000.00, Fuse 989995.00", "state": "open",
		"first_seen": "2024-10-10T02:00:04Z", "last_seen": "2024-10-11T02:00:09Z",
		"age_days": 1.0, "first_run": 2.0, "last_run": 3.0, "resolved_at": nil, "ack_note": nil, "ack_at": nil,
	}
	if !reflect.DeepEqual(drift, want) {
		t.Errorf("break 1 =\n%v\nwant\n%v", drift, want)
	}
}

func TestRunsAPIListsNewestFirstWithALimit(t *testing.T) {
	l := openLedger(t)
	seedScenario(t, l)
	srv, _ := serve(t, l, admin.Options{})
	for _, tt := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{3, 2, 1}},
		{"?limit=2", []int64{3, 2}},
		{"?limit=1000", []int64{3, 2, 1}},
	} {
		resp, body := get(t, srv, "/api/v1/runs"+tt.query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/runs%s = %d %s", tt.query, resp.StatusCode, body)
		}
		var runs []admin.Run
		if err := json.Unmarshal(body, &runs); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("GET /api/v1/runs%s = %v, want %v", tt.query, ids, tt.want)
		}
	}
	for _, bad := range []string{"0", "-1", "ten", "1001"} {
		resp, body := get(t, srv, "/api/v1/runs?limit="+bad)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("limit=%s: %d, want 400", bad, resp.StatusCode)
		}
		apiError(t, body)
	}
}

func TestRunAPIShowsOneRunWithItsAccountsAndBreaks(t *testing.T) {
	l := openLedger(t)
	seedScenario(t, l)
	srv, _ := serve(t, l, admin.Options{})
	resp, body := get(t, srv, "/api/v1/runs/2")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/runs/2 = %d %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"id": 2.0, "verdict": "BREAKS", "started_at": "2024-10-10T02:00:00Z",
		"finished_at": "2024-10-10T02:00:04Z", "time_zone": "Asia/Dubai",
		"as_of": "2024-10-10T02:00:00Z", "accounts_checked": 5.0, "transactions_checked": 12.0,
		"breaks_open": 2.0, "breaks_new": 2.0, "breaks_resolved": 1.0, "pending": 0.0, "detail": "",
	} {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("run.%s = %v, want %v", k, got[k], v)
		}
	}
	var d admin.RunDetail
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Accounts) != 2 || d.Accounts[0].FuseAccountID != merchantID || d.Accounts[0].Drift != 500 ||
		d.Accounts[0].GrossDrift != 1750 || *d.Accounts[0].FuseBalance != 98999500 {
		t.Errorf("accounts = %+v", d.Accounts)
	}
	var ids []int64
	for _, b := range d.Breaks {
		ids = append(ids, b.ID)
	}
	if !slices.Equal(ids, []int64{3, 1, 2}) { // oldest first
		t.Errorf("breaks = %v, want [3 1 2]", ids)
	}

	for _, path := range []string{"/api/v1/runs/99", "/api/v1/runs/abc", "/api/v1/runs/0"} {
		resp, body := get(t, srv, path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
		wantJSON(t, resp)
		if code, _ := apiError(t, body); code != "not_found" {
			t.Errorf("GET %s code = %q", path, code)
		}
	}
}

func TestUnknownAPIPathIsAJSON404(t *testing.T) {
	srv, _ := serve(t, openLedger(t), admin.Options{})
	resp, body := get(t, srv, "/api/v1/entries")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if code, _ := apiError(t, body); code != "not_found" {
		t.Errorf("code = %q", code)
	}
}

func TestEveryRouteRefusesWritesWith405(t *testing.T) {
	srv, _ := serve(t, openLedger(t), admin.Options{})
	paths := []string{"/", "/healthz", "/readyz", "/metrics", "/api/v1/balances", "/api/v1/breaks",
		"/api/v1/runs", "/api/v1/runs/1", "/api/v1/breaks/1/ack", "/nowhere"}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		for _, p := range paths {
			resp, body := do(t, srv, m, p)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", m, p, resp.StatusCode)
				continue
			}
			if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s Allow = %q", m, p, allow)
			}
			if code, _ := apiError(t, body); code != "method_not_allowed" {
				t.Errorf("%s %s code = %q", m, p, code)
			}
		}
	}
	for _, p := range []string{"/", "/healthz", "/api/v1/balances"} {
		resp, body := do(t, srv, http.MethodHead, p)
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD %s = %d with %d bytes", p, resp.StatusCode, len(body))
		}
	}
}

func TestNewServerHasTimeouts(t *testing.T) {
	s := admin.NewServer("127.0.0.1:0", http.NotFoundHandler())
	if s.Addr != "127.0.0.1:0" || s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("server = %+v", s)
	}
}

func TestReadyzAnswersInTimeWhenTheWriterIsStuckAndRecovers(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{ReadyTimeout: 100 * time.Millisecond})
	// Hold the ledger's one writer, as a wedged commit would.
	release, holding := make(chan struct{}), make(chan struct{})
	go l.Update(context.Background(), func(*ledger.Tx) error {
		close(holding)
		<-release
		return nil
	})
	<-holding
	resp, body := get(t, srv, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stuck writer: GET /readyz = %d %s", resp.StatusCode, body)
	}
	if _, msg := apiError(t, body); !strings.Contains(msg, "no answer from the ledger's writer") {
		t.Errorf("stuck writer: %q", msg)
	}
	// A second probe does not queue behind the first.
	resp, body = get(t, srv, "/readyz")
	if _, msg := apiError(t, body); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(msg, "earlier write probe") {
		t.Errorf("second probe: %d %q", resp.StatusCode, msg)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := get(t, srv, "/readyz")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not ready after the writer recovered: %s", body)
		}
		runtime.Gosched()
	}
}

func TestARunStillGoingHasNullVerdictAndFinish(t *testing.T) {
	l := openLedger(t)
	err := l.Update(context.Background(), func(tx *ledger.Tx) error {
		_, err := tx.Exec(`INSERT INTO recon_runs (started_at, time_zone, as_of)
			VALUES ('2024-10-11T06:29:00.000000000Z', 'UTC', '2024-10-11T06:29:00.000000000Z')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := serve(t, l, admin.Options{})
	_, body := get(t, srv, "/api/v1/runs")
	var runs []map[string]any
	if err := json.Unmarshal(body, &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0]["verdict"] != nil || runs[0]["finished_at"] != nil {
		t.Fatalf("running run = %s", body)
	}
	page := statusPage(t, srv, srv.URL+"/")
	if !strings.Contains(page, `<span class="badge running" id="verdict">RUNNING</span>`) {
		t.Error("status page does not show the run as RUNNING")
	}
}

// On loopback the admin listener answers only to localhost or an IP
// address as Host: a name a web page points at 127.0.0.1 (DNS rebinding)
// gets 421 and no data.
func TestLoopbackAnswersOnlyLocalHostNames(t *testing.T) {
	srv, _ := serve(t, openLedger(t), admin.Options{})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for host, want := range map[string]int{
		"127.0.0.1:" + port:        http.StatusOK,
		"localhost:" + port:        http.StatusOK,
		"LOCALHOST":                http.StatusOK,
		"[::1]:" + port:            http.StatusOK,
		"attacker.example:" + port: http.StatusMisdirectedRequest,
		"attacker.example":         http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/balances", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
