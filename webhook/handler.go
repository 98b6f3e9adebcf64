package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// MaxBody is the largest webhook body accepted; a larger one gets 413.
// Fuse's biggest payloads are well under 2 KiB.
const MaxBody = 1 << 20

// StoreTimeout bounds how long a webhook waits for the store (its ingest,
// or its quarantine) before it is answered 503. Fuse expects an answer
// within 5 s; while another process holds the database's write lock (a
// command run from the shell), the ledger's writer gives up on the
// webhook's unit when this passes, so that the 503 arrives well in time
// and Fuse retries. A unit that has started committing is waited for.
const StoreTimeout = 3 * time.Second

// Store is what the listener needs of the ledger: durable ingest, and a
// quarantine for what cannot be ingested.
type Store interface {
	Ingest(ctx context.Context, obs ledgerd.Observation) (ledger.Result, error)
	Quarantine(ctx context.Context, q ledger.Quarantined) (int64, error)
}

// Options configure the listener.
type Options struct {
	Store Store
	// AllowCIDRs, when not empty, are the only source addresses accepted
	// (403 otherwise, nothing stored). Empty accepts every source: `serve`
	// never leaves it empty (config.ParseAllow; by default Fuse's
	// addresses and loopback).
	AllowCIDRs []netip.Prefix
	// TrustedProxies are peers whose X-Forwarded-For names the real
	// client. Only they are believed; by default nobody is.
	TrustedProxies []netip.Prefix
	// Secret, when set, requires X-Ledgerd-Signature: sha256=<hex HMAC-SHA256
	// of the raw body> (401 otherwise, nothing stored).
	Secret []byte
	// TimestampTolerance bounds |now − X-Fuse-Timestamp|; 0 disables.
	TimestampTolerance time.Duration
	Now                func() time.Time
	Logger             *slog.Logger
	Metrics            *Metrics // nil: no metrics
}

// Handler receives Fuse webhooks: it authenticates the sender, keeps the
// raw body, decodes it, and answers 2xx only after the event and its
// ledger effects are durably committed.
type Handler struct {
	o    Options
	macs sync.Pool // of *signer for o.Secret
	full refusalLog
}

// refusalLog keeps the log of bodies refused because the quarantine is
// full to a line a minute: past the cap, a flood of junk must not become a
// flood of log lines.
type refusalLog struct {
	mu      sync.Mutex
	next    time.Time // no line before then
	refused int       // since the last line
}

// refusalLogEvery is how often a full quarantine is logged at most.
const refusalLogEvery = time.Minute

// NewHandler returns the webhook handler. Mount it at the webhook path.
func NewHandler(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Secret = bytes.Clone(o.Secret)
	h := &Handler{o: o}
	h.macs.New = func() any { return &signer{mac: hmac.New(sha256.New, h.o.Secret)} }
	return h
}

// Results of a request, as the events metric labels them.
const (
	resultAccepted    = "accepted"
	resultDuplicate   = "duplicate"
	resultUnhandled   = "unhandled"
	resultQuarantined = "quarantined"
	resultRefused     = "refused"
	resultUnavailable = "unavailable"
)

// reasonEventIDReused is the quarantine reason of a body that came with an
// event_id already stored with another body.
const reasonEventIDReused = "event_id_reused"

// Response bodies of the 2xx answers, newline included.
const (
	bodyReceived  = "{\"received\":true}\n"
	bodyDuplicate = "{\"received\":true,\"duplicate\":true}\n"
)

// outcome is what a request came to, for the response, the log and metrics.
type outcome struct {
	status int
	result string
	typ    string
	reason string
	err    error
	body   string // newline included; "" for the error body
	quiet  bool   // its line at debug level: logged in summary instead
}

// errorBody is the JSON error answer: {"error":{"code":…,"message":…}}.
// encoding/json, not %q: Go's quoting writes escapes (\x7f) that JSON
// does not have.
func errorBody(code, message string) string {
	b, err := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	if err != nil { // strings always marshal
		return `{"error":{"code":"internal"}}` + "\n"
	}
	return string(b) + "\n"
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	oc := h.handle(r)
	if oc.typ == "" {
		oc.typ = "unknown"
	}
	body := oc.body
	if body == "" {
		body = errorBody(oc.reason, errText(oc.err))
	}
	w.Header().Set("Content-Type", "application/json")
	if oc.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(oc.status)
	_, _ = io.WriteString(w, body)

	elapsed := time.Since(start)
	h.o.Metrics.observe(oc.typ, oc.result, elapsed)
	level := slog.LevelInfo
	if oc.quiet {
		level = slog.LevelDebug
	} else if oc.status >= 500 {
		level = slog.LevelError
	} else if oc.status >= 400 || oc.result == resultQuarantined {
		level = slog.LevelWarn // a body kept in quarantine, even one acknowledged with 200
	}
	// Enabled first: a discarded line then costs nothing, not even its
	// attributes.
	if ctx := r.Context(); h.o.Logger.Enabled(ctx, level) {
		h.o.Logger.LogAttrs(ctx, level, "webhook", slog.Int("status", oc.status), slog.String("result", oc.result),
			slog.String("type", clip(oc.typ)), slog.String("reason", oc.reason), slog.String("remote", r.RemoteAddr),
			slog.Duration("duration", elapsed), slog.String("err", errText(oc.err)))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (h *Handler) handle(r *http.Request) outcome {
	if r.Method != http.MethodPost {
		return outcome{status: http.StatusMethodNotAllowed, result: resultRefused, reason: "method_not_allowed",
			err: fmt.Errorf("%s: webhooks are POSTed", r.Method)}
	}
	client, err := clientAddr(r, h.o.TrustedProxies)
	if err != nil {
		return outcome{status: http.StatusForbidden, result: resultRefused, reason: "bad_source", err: err}
	}
	if !allowed(client, h.o.AllowCIDRs) {
		return outcome{status: http.StatusForbidden, result: resultRefused, reason: "source_not_allowed",
			err: fmt.Errorf("source %s is not in LEDGERD_WEBHOOK_ALLOW_CIDRS", client)}
	}
	if untrustedLocalProxy(r, client, h.o) {
		return outcome{status: http.StatusForbidden, result: resultRefused, reason: "untrusted_proxy",
			err: fmt.Errorf("forwarded by a proxy on %s that is not in LEDGERD_WEBHOOK_TRUSTED_PROXIES", client)}
	}
	raw, err := readBody(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return outcome{status: http.StatusRequestEntityTooLarge, result: resultRefused, reason: "body_too_large",
				err: fmt.Errorf("body over %d bytes", MaxBody)}
		}
		return outcome{status: http.StatusBadRequest, result: resultRefused, reason: "read_failed", err: err}
	}
	if len(h.o.Secret) > 0 && !h.validSignature(raw, r.Header.Get(fuse.HeaderSignature)) {
		return outcome{status: http.StatusUnauthorized, result: resultRefused, reason: "bad_signature",
			err: fmt.Errorf("%s does not match the body", fuse.HeaderSignature)}
	}
	received := h.o.Now()
	// Not the request's context: a sender that hangs up must not cancel a
	// write that may commit. The store's deadline is StoreTimeout's.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), StoreTimeout)
	defer cancel()
	// From here on the sender is trusted: whatever is wrong with the body
	// is kept in quarantine, never dropped.
	quarantine := func(status int, reason string, err error) outcome {
		q := ledger.Quarantined{ReceivedAt: received, Source: ledgerd.SourceWebhook, RemoteAddr: client.String(),
			Reason: reason, Detail: errText(err), Raw: raw}
		_, qerr := h.o.Store.Quarantine(ctx, q)
		if errors.Is(qerr, ledger.ErrQuarantineFull) {
			// Not kept, so not acknowledged: Fuse retries, and the
			// operator hears of it once a minute, not once a request.
			h.o.Metrics.quarantineRefused(reason)
			h.logQuarantineFull(r.Context(), qerr)
			return outcome{status: http.StatusServiceUnavailable, result: resultUnavailable, reason: "quarantine_full",
				err: fmt.Errorf("could not quarantine (%v): %w", err, ledger.ErrQuarantineFull), quiet: true}
		}
		if qerr != nil {
			return outcome{status: http.StatusServiceUnavailable, result: resultUnavailable, reason: "storage_unavailable",
				err: fmt.Errorf("could not quarantine (%v): %w", err, qerr)}
		}
		h.o.Metrics.quarantined(reason)
		return outcome{status: status, result: resultQuarantined, reason: reason, err: err}
	}
	// "application/json" itself, what Fuse sends, needs no parsing.
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return quarantine(http.StatusUnsupportedMediaType, "unsupported_media_type",
				fmt.Errorf("content type %q, want application/json", ct))
		}
	}
	ts := r.Header.Get(fuse.HeaderFuseTimestamp)
	if ts != "" && h.o.TimestampTolerance > 0 {
		sent, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return quarantine(http.StatusBadRequest, ReasonBadTimestamp, fmt.Errorf("%s %q: %w", fuse.HeaderFuseTimestamp, ts, err))
		}
		if skew := received.Sub(sent).Abs(); skew > h.o.TimestampTolerance {
			return quarantine(http.StatusBadRequest, "stale_timestamp",
				fmt.Errorf("%s %s is %s from now, more than the tolerance %s", fuse.HeaderFuseTimestamp, ts,
					skew.Round(time.Second), h.o.TimestampTolerance))
		}
	}
	// raw is this request's own buffer: the observation keeps it, no copy.
	obs, err := decode(raw, Header{FuseTimestamp: ts, ReceivedAt: received, Source: ledgerd.SourceWebhook}, true)
	if err != nil {
		reason := ReasonMalformedJSON
		var de *DecodeError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		return quarantine(http.StatusBadRequest, reason, err)
	}
	typ := obs.Event.Type
	res, err := h.o.Store.Ingest(ctx, obs)
	switch {
	case errors.Is(err, ledger.ErrRejected):
		oc := quarantine(http.StatusBadRequest, "rejected", err)
		oc.typ = typ
		return oc
	case err != nil:
		return outcome{status: http.StatusServiceUnavailable, result: resultUnavailable, typ: typ,
			reason: "storage_unavailable", err: err}
	case res.Duplicate && res.OtherBody:
		// The event_id came before with another body, whose effects stand.
		// This one is kept as evidence and acknowledged (an answer Fuse
		// would retry for 12 hours changes nothing): 200 once it is in
		// quarantine, 503 if it could not be kept.
		oc := quarantine(http.StatusOK, reasonEventIDReused, fmt.Errorf(
			"event_id %s is stored (event seq %d) with another body; that body stands, this one was not applied",
			obs.Event.ID, res.Seq))
		oc.typ = typ
		if oc.status == http.StatusOK {
			oc.body = bodyDuplicate
		}
		return oc
	case res.Duplicate:
		// The same body again: Fuse retrying.
		return outcome{status: http.StatusOK, result: resultDuplicate, typ: typ, body: bodyDuplicate}
	case !obs.Handled() && !recognised[typ]:
		// A type ledgerd does not know, or an undocumented one without
		// what an observation needs: stored, and the backfill heals.
		return outcome{status: http.StatusOK, result: resultUnhandled, typ: typ, body: bodyReceived}
	}
	return outcome{status: http.StatusOK, result: resultAccepted, typ: typ, body: bodyReceived}
}

// logQuarantineFull logs a body refused for a full quarantine, at most
// once every refusalLogEvery, with the number refused since the last line.
func (h *Handler) logQuarantineFull(ctx context.Context, err error) {
	f := &h.full
	f.mu.Lock()
	now := h.o.Now()
	f.refused++
	if now.Before(f.next) {
		f.mu.Unlock()
		return
	}
	n := f.refused
	f.refused, f.next = 0, now.Add(refusalLogEvery)
	f.mu.Unlock()
	h.o.Logger.LogAttrs(ctx, slog.LevelError, "quarantine full: malformed webhooks are refused with 503 (Fuse retries them) "+
		"until LEDGERD_QUARANTINE_MAX_BYTES is raised; see ledgerd quarantine list",
		slog.Int("refused", n), slog.Duration("at_most_every", refusalLogEvery), slog.String("err", err.Error()))
}

// readBody reads the body, at most MaxBody bytes, as io.ReadAll does, but
// into one buffer of the announced Content-Length, when that is no more
// than 64 KiB, instead of a growing one. (A larger claim gets its memory
// as the bytes arrive, not on the sender's word.)
func readBody(r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, MaxBody)
	size := 512
	if n := r.ContentLength; n > 0 && n <= 64<<10 {
		size = int(n) + 1 // the read that meets EOF needs a byte of room
	}
	b := make([]byte, 0, size)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// signer is an HMAC-SHA256 of the secret with room for a signature, its
// hex text and the MAC, kept between requests in Handler.macs.
type signer struct {
	mac      hash.Hash
	text     [2 * sha256.Size]byte
	got, sum [sha256.Size]byte
}

// validSignature checks "sha256=<hex>" against the body in constant time.
func (h *Handler) validSignature(body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	// Valid hex of any other length never equals a SHA-256 MAC.
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	s := h.macs.Get().(*signer)
	defer h.macs.Put(s)
	copy(s.text[:], hexSig)
	if _, err := hex.Decode(s.got[:], s.text[:]); err != nil {
		return false
	}
	s.mac.Reset()
	s.mac.Write(body)
	return hmac.Equal(s.got[:], s.mac.Sum(s.sum[:0]))
}

// Sign returns the X-Ledgerd-Signature value for body: what a signing
// proxy (or the sandbox) sends.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
