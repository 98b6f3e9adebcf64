package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// MaxBody is the largest webhook body accepted; a larger one gets 413.
// Fuse's biggest payloads are well under 2 KiB.
const MaxBody = 1 << 20

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
	// (403 otherwise, nothing stored).
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
	o Options
}

// NewHandler returns the webhook handler. Mount it at the webhook path.
func NewHandler(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o}
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

// outcome is what a request came to, for the response, the log and metrics.
type outcome struct {
	status int
	result string
	typ    string
	reason string
	err    error
	body   string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	oc := h.handle(r)
	if oc.typ == "" {
		oc.typ = "unknown"
	}
	body := oc.body
	if body == "" {
		body = fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, oc.reason, errText(oc.err))
	}
	w.Header().Set("Content-Type", "application/json")
	if oc.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(oc.status)
	_, _ = io.WriteString(w, body+"\n")

	elapsed := time.Since(start)
	h.o.Metrics.observe(oc.typ, oc.result, elapsed)
	level := slog.LevelInfo
	if oc.status >= 500 {
		level = slog.LevelError
	} else if oc.status >= 400 {
		level = slog.LevelWarn
	}
	h.o.Logger.Log(r.Context(), level, "webhook", "status", oc.status, "result", oc.result, "type", oc.typ,
		"reason", oc.reason, "remote", r.RemoteAddr, "duration", elapsed, "error", errText(oc.err))
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
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return outcome{status: http.StatusRequestEntityTooLarge, result: resultRefused, reason: "body_too_large",
				err: fmt.Errorf("body over %d bytes", MaxBody)}
		}
		return outcome{status: http.StatusBadRequest, result: resultRefused, reason: "read_failed", err: err}
	}
	if len(h.o.Secret) > 0 && !validSignature(h.o.Secret, raw, r.Header.Get(fuse.HeaderSignature)) {
		return outcome{status: http.StatusUnauthorized, result: resultRefused, reason: "bad_signature",
			err: fmt.Errorf("%s does not match the body", fuse.HeaderSignature)}
	}
	received := h.o.Now()
	// From here on the sender is trusted: whatever is wrong with the body
	// is kept in quarantine, never dropped.
	quarantine := func(status int, reason string, err error) outcome {
		q := ledger.Quarantined{ReceivedAt: received, Source: ledgerd.SourceWebhook, RemoteAddr: client.String(),
			Reason: reason, Detail: errText(err), Raw: raw}
		if _, qerr := h.o.Store.Quarantine(context.WithoutCancel(r.Context()), q); qerr != nil {
			return outcome{status: http.StatusServiceUnavailable, result: resultUnavailable, reason: "storage_unavailable",
				err: fmt.Errorf("could not quarantine (%v): %w", err, qerr)}
		}
		h.o.Metrics.quarantined(reason)
		return outcome{status: status, result: resultQuarantined, reason: reason, err: err}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
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
	obs, err := Decode(raw, Header{FuseTimestamp: ts, ReceivedAt: received, Source: ledgerd.SourceWebhook})
	if err != nil {
		reason := ReasonMalformedJSON
		var de *DecodeError
		if errors.As(err, &de) {
			reason = de.Reason
		}
		return quarantine(http.StatusBadRequest, reason, err)
	}
	typ := obs.Event.Type
	res, err := h.o.Store.Ingest(context.WithoutCancel(r.Context()), obs)
	switch {
	case errors.Is(err, ledger.ErrRejected):
		oc := quarantine(http.StatusBadRequest, "rejected", err)
		oc.typ = typ
		return oc
	case err != nil:
		return outcome{status: http.StatusServiceUnavailable, result: resultUnavailable, typ: typ,
			reason: "storage_unavailable", err: err}
	case res.Duplicate:
		return outcome{status: http.StatusOK, result: resultDuplicate, typ: typ, body: `{"received":true,"duplicate":true}`}
	case !obs.Handled():
		return outcome{status: http.StatusOK, result: resultUnhandled, typ: typ, body: `{"received":true}`}
	}
	return outcome{status: http.StatusOK, result: resultAccepted, typ: typ, body: `{"received":true}`}
}

// validSignature checks "sha256=<hex>" against the body in constant time.
func validSignature(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Ledgerd-Signature value for body: what a signing
// proxy (or the sandbox) sends.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
