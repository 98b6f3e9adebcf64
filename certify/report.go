package certify

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// write renders the evidence, checks it for anything unmasked, and writes
// the files and the zip.
func (r *runner) write(res *Result) error {
	lines := r.rec.snapshot()
	r.setRequestEvidence(lines)
	for _, ex := range lines {
		if ex.tokenRequest {
			res.TokenRequests++
		} else {
			res.APIRequests++
		}
	}
	zipName := "ledgerd-certify-" + r.started.UTC().Format("20060102T150405Z") + ".zip"

	reqs, err := jsonLines(lines)
	if err != nil {
		return err
	}
	hooks, err := jsonLines(r.deliver)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		FileRequests: reqs,
		FileWebhooks: hooks,
		FileTokenDoc: []byte(r.tokenDoc(res)),
	}

	// Last line of defence: every raw value the masking must hide is
	// searched for in what is about to be written, and cut out if found
	// (which would be a masking bug, and fails requirement 6).
	secrets := r.secrets()
	var leaks []string
	redact := func(name string) {
		for _, s := range secrets {
			if bytes.Contains(files[name], []byte(s)) {
				files[name] = bytes.ReplaceAll(files[name], []byte(s), []byte("[redacted]"))
				leaks = append(leaks, name)
			}
		}
	}
	for _, name := range []string{FileRequests, FileWebhooks, FileTokenDoc} {
		redact(name)
	}
	judgeMasking := func() {
		q := r.byID["6"]
		q.Evidence = "every file in the directory and the zip"
		if len(leaks) > 0 {
			r.fail("6", "unmasked values found and cut out of %s: a masking bug to report", strings.Join(leaks, ", "))
			return
		}
		r.pass("6", "checked before writing: no client secret, none of the %d access tokens, IBANs or names seen in raw bodies appears in any file (%d values searched)",
			r.rec.tokenCount(), len(secrets))
	}
	judgeMasking()
	files[FileSummary] = []byte(r.summary(res, zipName))
	if redact(FileSummary); len(leaks) > 0 && r.byID["6"].Pass {
		judgeMasking()
		files[FileSummary] = []byte(r.summary(res, zipName))
		redact(FileSummary)
	}

	res.Requirements = make([]Requirement, len(r.reqs))
	res.Pass = true
	for i, q := range r.reqs {
		res.Requirements[i] = *q
		res.Pass = res.Pass && q.Pass
	}

	order := []string{FileSummary, FileRequests, FileWebhooks, FileTokenDoc}
	for _, name := range order {
		p := filepath.Join(r.o.OutDir, name)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return fmt.Errorf("certify: write %s: %w", p, err)
		}
		res.Files = append(res.Files, p)
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, name := range order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: r.finished})
		if err != nil {
			return fmt.Errorf("certify: zip: %w", err)
		}
		if _, err := w.Write(files[name]); err != nil {
			return fmt.Errorf("certify: zip: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("certify: zip: %w", err)
	}
	res.Zip = filepath.Join(r.o.OutDir, zipName)
	if err := os.WriteFile(res.Zip, zb.Bytes(), 0o644); err != nil {
		return fmt.Errorf("certify: write %s: %w", res.Zip, err)
	}
	res.Files = append(res.Files, res.Zip)
	return nil
}

// secrets are the raw values that must not appear in the evidence: the
// client secret (when long enough to search for without false alarms),
// every access token issued, and every IBAN and name seen in a raw body.
func (r *runner) secrets() []string {
	out := r.rec.secrets()
	if len(r.o.ClientSecret) >= 8 {
		out = append(out, r.o.ClientSecret)
	}
	for _, h := range r.deliver {
		out = append(out, sensitiveValues(h.raw)...)
	}
	return out
}

func (rec *recorder) tokenCount() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.tokenList)
}

func jsonLines[T any](items []T) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return nil, fmt.Errorf("certify: encode evidence: %w", err)
		}
	}
	return b.Bytes(), nil
}

func (r *runner) target() string {
	if r.o.BuiltInSandbox {
		return r.o.BaseURL + ": ledgerd's built-in sandbox, an emulator of the Fuse API (not Fuse itself)"
	}
	return r.o.BaseURL
}

func (r *runner) when(t time.Time) string {
	return t.In(r.o.Location).Format("2006-01-02 15:04:05 Z07:00")
}

// summary renders SUMMARY.md: one page, one table row per requirement.
func (r *runner) summary(res *Result, zipName string) string {
	var b strings.Builder
	var failed []*Requirement
	for _, q := range r.reqs {
		if !q.Pass {
			failed = append(failed, q)
		}
	}
	verdict := fmt.Sprintf("**PASS**: all %d requirements met", len(r.reqs))
	if len(failed) > 0 {
		ids := make([]string, len(failed))
		for i, q := range failed {
			ids[i] = q.ID
		}
		verdict = fmt.Sprintf("**FAIL**: %d of %d requirements not met (%s)", len(failed), len(r.reqs), strings.Join(ids, ", "))
	}
	zone, _ := r.started.In(r.o.Location).Zone()
	fmt.Fprintf(&b, "# Fuse integration test plan: evidence from ledgerd certify\n\n%s\n\n", verdict)
	fmt.Fprintf(&b, "- Run: %s to %s, time zone %s (%s); UTC start %s\n", r.when(r.started), r.when(r.finished),
		r.o.Location, zone, r.started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- Fuse API: %s\n", r.target())
	fmt.Fprintf(&b, "- Webhook listener: http://%s%s\n", r.hookAddr, r.o.WebhookPath)
	fmt.Fprintf(&b, "- Customer: %s; ledgerd %s; %d API requests, %d token requests\n\n", r.o.Customer, r.o.Version, res.APIRequests, res.TokenRequests)
	if len(failed) > 0 {
		// The causes first; requirements that could not run because of
		// them say so in the table.
		b.WriteString("## Why\n\n")
		consequences := 0
		for _, q := range failed {
			if consequence(q.Detail) {
				consequences++
				continue
			}
			fmt.Fprintf(&b, "- %s %s: %s\n", q.ID, q.Title, cell(q.Detail))
		}
		if consequences > 0 {
			fmt.Fprintf(&b, "- %d more could not be attempted because of these (see the table).\n", consequences)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Requirements\n\n| # | Requirement | Result | Evidence | Observed |\n|---|---|---|---|---|\n")
	for _, q := range r.reqs {
		mark := "PASS"
		if !q.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", q.ID, cell(q.Title), mark, cell(q.Evidence), cell(q.Detail))
	}
	if len(r.extras) > 0 {
		b.WriteString("\n## Other calls (beyond the plan; they do not decide the verdict)\n\n| Call | Result | Evidence | Observed |\n|---|---|---|---|\n")
		for _, x := range r.extras {
			mark := "OK"
			if !x.ok {
				mark = "FAILED"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(x.title), mark, cell(x.evidence), cell(x.detail))
		}
	}
	fmt.Fprintf(&b, "\n## Files\n\n"+
		"- `%s`: every HTTP exchange with the Fuse API, token requests and retries included, one JSON object per line (line, step, time, attempt, method, path, query, status, duration, headers, bodies); `Authorization` shows `Bearer [redacted]` and the column `token` says which token (#1, #2) was used.\n"+
		"- `%s`: every webhook the listener received: event_id, type, the status sent back, and the row (`events_seq`, `received_at`) in ledgerd's events table.\n"+
		"- `%s`: how ledgerd stores, refreshes and reuses tokens and handles idempotency, with this run's figures.\n"+
		"- `%s`: the four files above.\n\n"+
		"Bodies are masked: IBANs keep their country and last four characters, names and address lines their initials, account numbers, external ids and the client id their last four; birth dates, secrets and tokens never appear.\n",
		FileRequests, FileWebhooks, FileTokenDoc, zipName)
	return b.String()
}

// sentence capitalizes a detail so that it can open a sentence.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// consequence reports whether a failure only follows from another one.
func consequence(detail string) bool {
	return strings.HasPrefix(detail, "not attempted") || strings.HasPrefix(detail, "not triggered") ||
		strings.HasPrefix(detail, "no token: ")
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// tokenDoc renders token-and-idempotency.md from the configuration and
// this run's figures.
func (r *runner) tokenDoc(res *Result) string {
	maxRetries := r.o.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = fuse.DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	base, maxB := r.o.BaseBackoff, r.o.MaxBackoff
	if base <= 0 {
		base = fuse.DefaultBaseBackoff
	}
	if maxB <= 0 {
		maxB = fuse.DefaultMaxBackoff
	}
	maxB = max(maxB, base)
	src := r.o.CredentialSource
	if src == "" {
		src = "the caller's configuration"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Token management and idempotency in ledgerd\n\n"+
		"Generated by `ledgerd certify` (ledgerd %s) on %s, time zone %s, against %s.\n\n", r.o.Version, r.when(r.started), r.o.Location, r.target())

	b.WriteString("## Token management\n\n")
	fmt.Fprintf(&b, "- **No hard-coded tokens or secrets.** ledgerd is configured with a client id and secret, never a token. "+
		"They come from the environment (`FUSE_CLIENT_ID`, `FUSE_CLIENT_SECRET`) or from files named by `FUSE_CLIENT_ID_FILE` / `FUSE_CLIENT_SECRET_FILE` "+
		"(a systemd credential, a mounted secrets-manager file); this run used %s. The secret is held in a type that prints as `[redacted]` in every log line, error and dump.\n", src)
	fmt.Fprintf(&b, "- **Storage.** The client exchanges the credentials (with the audience `%s` and grant type `%s`) for an access token at `POST %s` and keeps the one live token in process memory, "+
		"shared by every goroutine. It is never written to disk, to logs or to these files (`%s` shows `Bearer [redacted]` and a token number).\n",
		r.o.Audience, fuse.GrantTypeClientCredentials, r.o.AuthURL, FileRequests)
	ttl := "unknown (no token was issued)"
	if r.tokenTTL > 0 {
		ttl = fmt.Sprintf("%s, so renewed after %s", r.tokenTTL, time.Duration(float64(r.tokenTTL)*0.9).Round(time.Second))
	}
	fmt.Fprintf(&b, "- **Refresh.** A token is renewed at 90%% of its lifetime (read from the JWT's `exp`, else `expires_in`, else Fuse's documented 24 hours; this run's token: %s), "+
		"or at once when Fuse answers 401, and then only once per request. Concurrent callers that need a new token wait for one shared fetch.\n", ttl)
	fmt.Fprintf(&b, "- **Reuse, this run.** %d API requests and %d token requests in all. Before the forced expiry: %d token request(s) for %d API requests. Requirement 3.2: %s.\n",
		res.APIRequests, res.TokenRequests, r.token.beforeTokens, r.token.beforeAPI, r.byID["3.2"].Detail)
	fmt.Fprintf(&b, "- **Expiry, this run.** %s.\n\n", sentence(r.byID["3.3"].Detail))

	b.WriteString("## Idempotency\n\n")
	fmt.Fprintf(&b, "- Every POST carries `Idempotency-Key`: a new UUIDv4 per logical operation (a payment, a transfer, an account), reused unchanged on every retry of that operation: "+
		"network errors and timeouts, 429 (after `Retry-After`), 409 (the first request with the key still running) and 5xx, up to %d retries with exponential backoff and full jitter (%s to %s).\n",
		maxRetries, base, maxB)
	b.WriteString("- 422 (the key was used with a different payload) is never retried: it is reported as a conflict (`fuse.ErrIdempotencyConflict`) for a person to look at, since sending the new payload under a new key could pay twice.\n")
	b.WriteString("- Webhooks are handled idempotently too: the events table's `event_id` is unique, so a repeated delivery is acknowledged 2xx and changes nothing.\n")
	fmt.Fprintf(&b, "- **Test, this run (4.1).** %s.\n", sentence(r.byID["4.1"].Detail))
	fmt.Fprintf(&b, "- **Test, this run (4.2).** %s.\n", sentence(r.byID["4.2"].Detail))
	return b.String()
}
