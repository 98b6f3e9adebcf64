// Package webhook receives Fuse webhooks: it turns a raw webhook body into a
// ledgerd.Observation for ledger.Ingest, or says precisely why the body was
// refused so that it can be quarantined. Decoding is strict where money is
// concerned (valid JSON only, no duplicate keys, integer amounts in range,
// known currencies, canonical UUIDs) and tolerant where Fuse is known to
// evolve (unknown payload fields, unknown event types, both envelope
// spellings of the Fuse reference).
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Header is what the HTTP layer knows about a body besides its bytes.
type Header struct {
	FuseTimestamp string         // the X-Fuse-Timestamp header as sent, or ""
	ReceivedAt    time.Time      // when ledgerd read the body
	Source        ledgerd.Source // "" means ledgerd.SourceWebhook
}

// Envelope field names. The Fuse reference spells the version and the
// payload two ways; both are accepted, but never both in one body.
const (
	keyType         = "type"
	keyEventID      = "event_id"
	keyVersion      = "version"
	keyEventVersion = "event_version"
	keyPayload      = "payload"
)

// Decode turns a webhook body into an observation. The returned
// Observation.Event carries the id, type, version, source, Fuse time,
// receipt time and a copy of raw, byte for byte.
//
// A body of a type ledgerd does not handle (a type Fuse adds, or the
// onboarding events, which it recognises but which carry nothing to book)
// decodes without error to an observation with neither Account nor
// Transaction, as long as its envelope is valid; so does a body of an
// undocumented type (events.go) without the ids and time an observation
// needs. Any other problem is a *DecodeError wrapping ErrMalformed.
//
// FuseTime is X-Fuse-Timestamp when it parses as RFC 3339, else the
// payload's timestamp, else zero (account events carry no timestamp).
func Decode(raw []byte, h Header) (ledgerd.Observation, error) {
	return decode(raw, h, false)
}

// decode is Decode. With owned, raw is the caller's to give away (the
// handler's fresh body, which nothing writes again) and becomes Event.Raw
// itself instead of a copy.
//
// The fast path (fastdecode.go) takes the common, well-formed body; for
// anything else, every error included, decodeReference has the last word.
func decode(raw []byte, h Header, owned bool) (ledgerd.Observation, error) {
	src := h.Source
	if src == "" {
		src = ledgerd.SourceWebhook
	}
	if !src.Valid() {
		// A wiring mistake, not a bad body: not ErrMalformed.
		return ledgerd.Observation{}, fmt.Errorf("webhook: decode: invalid source %q", src)
	}

	obs, ok := decodeFast(raw)
	if !ok {
		var derr *DecodeError
		if obs, derr = decodeReference(raw); derr != nil {
			return ledgerd.Observation{}, derr
		}
	}
	obs.Event.Source = src
	obs.Event.ReceivedAt = h.ReceivedAt
	if owned {
		obs.Event.Raw = raw
	} else {
		obs.Event.Raw = bytes.Clone(raw)
	}

	if t, err := parseTime(h.FuseTimestamp); err == nil {
		obs.Event.FuseTime = t
	} else if obs.Transaction != nil {
		obs.Event.FuseTime = obs.Transaction.At
	}
	return obs, nil
}

// decodeReference is the reference decoder: the event's id, type and
// version, and its account or transaction, or precisely why the body is
// refused. The fast path must agree with it on every body it takes.
func decodeReference(raw []byte) (ledgerd.Observation, *DecodeError) {
	env, derr := readEnvelope(raw)
	if derr != nil {
		return ledgerd.Observation{}, derr
	}
	obs := ledgerd.Observation{Event: ledgerd.Event{ID: env.id, Type: env.typ, Version: env.version}}
	if hd, ok := handlers[env.typ]; ok {
		if derr := decodePayload(&obs, env, hd); derr != nil {
			return ledgerd.Observation{}, derr
		}
	}
	return obs, nil
}

// envelope is the decoded outer object of a webhook body.
type envelope struct {
	typ        string
	id         string
	version    int
	payload    json.RawMessage // nil when absent or null
	payloadKey string          // "payload" or the type, whichever held it
}

// readEnvelope checks that raw is one valid JSON object with a type, a UUID
// event_id, at most one version and at most one payload spelling.
func readEnvelope(raw []byte) (envelope, *DecodeError) {
	if len(trimSpace(raw)) == 0 {
		return envelope{}, &DecodeError{Reason: ReasonEmptyBody, Detail: "empty body"}
	}
	// Unmarshal checks the whole body before it decodes anything, and
	// refuses what json.Valid refuses (trailing commas, trailing data),
	// with a message that gives the offset.
	if err := json.Unmarshal(raw, new(json.RawMessage)); err != nil {
		detail := err.Error()
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			detail = fmt.Sprintf("%s at byte %d", detail, syn.Offset)
		}
		return envelope{}, &DecodeError{Reason: ReasonMalformedJSON, Detail: detail, Err: err}
	}
	obj, err := readObject(raw)
	if err != nil {
		return envelope{}, objectError("", err)
	}
	p := payload{obj: obj} // an empty path: envelope fields are top-level

	var env envelope
	env.typ, _ = p.str(keyType, required)
	if p.err == nil && env.typ == "" {
		p.fail(ReasonMissingField, keyType, "type is empty", nil)
	}
	env.id = p.id(keyEventID, required)
	if p.err != nil {
		return envelope{}, p.err
	}

	vkey, derr := oneOf(obj, keyEventVersion, keyVersion)
	if derr != nil {
		return envelope{}, derr
	}
	if vkey != "" {
		v := obj.vals[vkey]
		n, err := strconv.ParseInt(string(v), 10, 64)
		if !isInteger(v) || err != nil || n < 0 || n > math.MaxInt32 {
			return envelope{}, &DecodeError{Reason: ReasonBadVersion, Field: vkey,
				Detail: "want a non-negative integer, got " + excerpt(v)}
		}
		env.version = int(n)
	}

	// A type that is itself an envelope key ("payload", "event_id", …)
	// names no second payload key.
	typeKey := env.typ
	switch typeKey {
	case keyType, keyEventID, keyVersion, keyEventVersion, keyPayload:
		typeKey = ""
	}
	pkey, derr := oneOf(obj, keyPayload, typeKey)
	if derr != nil {
		return envelope{}, derr
	}
	if pkey != "" {
		env.payload, env.payloadKey = obj.vals[pkey], pkey
	}
	return env, nil
}

// oneOf returns which of two spellings of a field is present with a non-null
// value ("" for neither), or an ambiguous_field error when both are. An
// empty b is never present.
func oneOf(obj object, a, b string) (string, *DecodeError) {
	has := func(k string) bool {
		v, ok := obj.vals[k]
		return k != "" && ok && string(v) != "null"
	}
	switch {
	case has(a) && has(b):
		return "", &DecodeError{Reason: ReasonAmbiguousField, Field: a,
			Detail: fmt.Sprintf("both %q and %q are present", a, b)}
	case has(a):
		return a, nil
	case has(b):
		return b, nil
	}
	return "", nil
}

// objectError turns a readObject error into a DecodeError for field.
func objectError(field string, err error) *DecodeError {
	var dup errDuplicate
	switch {
	case errors.As(err, &dup):
		if field != "" {
			field += "."
		}
		return &DecodeError{Reason: ReasonDuplicateField, Field: field + clip(dup.key), Detail: err.Error()}
	case errors.Is(err, errNotObject):
		return &DecodeError{Reason: ReasonNotObject, Field: field, Detail: "want a JSON object"}
	}
	return &DecodeError{Reason: ReasonMalformedJSON, Field: field, Detail: err.Error(), Err: err}
}

// decodePayload fills obs from the payload of a handled type. An
// undocumented type without a payload is stored as it came: there is
// nothing to read.
func decodePayload(obs *ledgerd.Observation, env envelope, hd handler) *DecodeError {
	if env.payload == nil && hd.undocumented {
		return nil
	}
	if env.payload == nil {
		return &DecodeError{Reason: ReasonMissingField, Field: keyPayload,
			Detail: fmt.Sprintf("no payload under %q or %q", keyPayload, env.typ)}
	}
	if kindOf(env.payload) != "an object" {
		return &DecodeError{Reason: ReasonWrongType, Field: env.payloadKey,
			Detail: "want an object, got " + kindOf(env.payload)}
	}
	obj, err := readObject(env.payload)
	if err != nil {
		return objectError(env.payloadKey, err)
	}
	p := &payload{path: env.payloadKey, obj: obj}

	if hd.account != nil {
		acct := hd.account(p)
		if p.err != nil {
			return p.err
		}
		obs.Account = acct
		return nil
	}

	tx := transaction(p, hd)
	if p.err != nil {
		return p.err
	}
	obs.Transaction = tx
	return nil
}
