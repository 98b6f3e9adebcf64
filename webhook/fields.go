package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd"
)

// object is a JSON object read key by key: encoding/json's map decoding
// keeps the last of two equal keys without a word, and struct decoding
// matches keys case-insensitively; neither is acceptable for money.
type object struct {
	keys []string // in the order of the body
	vals map[string]json.RawMessage
}

// errDuplicate reports a key that occurs twice in one object.
type errDuplicate struct{ key string }

func (e errDuplicate) Error() string { return "key " + excerpt([]byte(e.key)) + " occurs twice" }

// clipLen bounds a sender's string where it is repeated unquoted (a key in
// a field path, a type in a log line or a label), as excerpt bounds a
// quoted value: a 400 KB key must not make a 400 KB line.
const clipLen = 64

// clip is s cut to clipLen bytes at a rune boundary, with "…" when cut.
func clip(s string) string {
	if len(s) <= clipLen {
		return s
	}
	n := clipLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// errNotObject reports a JSON value that is not an object.
var errNotObject = errors.New("not a JSON object")

// readObject reads one JSON object that is already known to be valid JSON.
// It returns errNotObject for any other value and errDuplicate for a key
// given twice (compared after unescaping, as every JSON reader would).
func readObject(data []byte) (object, error) {
	data = trimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return object{}, errNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return object{}, err
	}
	o := object{vals: make(map[string]json.RawMessage)}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return object{}, err
		}
		key, ok := tok.(string)
		if !ok {
			return object{}, fmt.Errorf("object key %v is not a string", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return object{}, err
		}
		if _, dup := o.vals[key]; dup {
			return object{}, errDuplicate{key}
		}
		o.keys = append(o.keys, key)
		o.vals[key] = trimSpace(v)
	}
	if _, err := dec.Token(); err != nil {
		return object{}, err
	}
	return o, nil
}

// trimSpace trims JSON whitespace (and only that) from both ends of b.
func trimSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// kindOf names the JSON type of a valid JSON value, for messages.
func kindOf(v json.RawMessage) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// excerpt quotes at most 40 bytes of a value, so an absurd literal does not
// end up whole in a log line or a quarantine reason.
func excerpt(v []byte) string {
	const limit = 40
	if len(v) > limit {
		return strconv.Quote(string(v[:limit]) + "…")
	}
	return strconv.Quote(string(v))
}

// isUUID reports whether s is a UUID in the canonical 8-4-4-4-12 hex form.
// Version and variant bits are not checked: Fuse's ids include UUIDv7-like
// values with variant nibbles outside RFC 9562.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isInteger reports whether a JSON number literal has neither a fraction
// nor an exponent.
func isInteger(v []byte) bool {
	if len(v) == 0 || !(v[0] == '-' || '0' <= v[0] && v[0] <= '9') {
		return false
	}
	return !bytes.ContainsAny(v, ".eE")
}

// isDecimal reports whether s is a plain non-negative decimal: digits with
// an optional fraction, no sign, no exponent ("3.6615").
func isDecimal(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || dot && frac == "" {
		return false
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// presence says whether a field must be there.
type presence bool

const (
	required presence = true
	optional presence = false
)

// payload reads the fields of one event payload. The first problem is kept
// in err and every later read is a no-op returning zero values, so a decode
// function reads top to bottom and checks err once.
type payload struct {
	path string // the envelope key holding the payload, for error fields
	obj  object
	err  *DecodeError
}

func (p *payload) fail(reason, name, detail string, cause error) {
	if p.err != nil {
		return
	}
	field := name
	if p.path != "" {
		field = p.path + "." + name
	}
	p.err = &DecodeError{Reason: reason, Field: field, Detail: detail, Err: cause}
}

// value returns the raw value of a field. A null counts as absent.
func (p *payload) value(name string, need presence) (json.RawMessage, bool) {
	if p.err != nil {
		return nil, false
	}
	v, ok := p.obj.vals[name]
	if !ok || string(v) == "null" {
		if need == required {
			p.fail(ReasonMissingField, name, "required field is missing", nil)
		}
		return nil, false
	}
	return v, true
}

// str reads a string field; ok is false when it is absent or null.
func (p *payload) str(name string, need presence) (s string, ok bool) {
	v, ok := p.value(name, need)
	if !ok {
		return "", false
	}
	if v[0] != '"' {
		p.fail(ReasonWrongType, name, "want a string, got "+kindOf(v), nil)
		return "", false
	}
	if err := json.Unmarshal(v, &s); err != nil {
		p.fail(ReasonWrongType, name, err.Error(), nil)
		return "", false
	}
	return s, true
}

// text reads an optional free-text field ("" when absent).
func (p *payload) text(name string) string {
	s, _ := p.str(name, optional)
	return s
}

// id reads a UUID field, normalised to lower case so that the same id
// spelled in two cases is one id.
func (p *payload) id(name string, need presence) string {
	s, ok := p.str(name, need)
	if !ok {
		return ""
	}
	if !isUUID(s) {
		p.fail(ReasonBadUUID, name, "want a UUID, got "+excerpt([]byte(s)), nil)
		return ""
	}
	return strings.ToLower(s)
}

// amount reads an amount in minor units: a JSON integer literal (no
// quotes, fraction or exponent) in [0, ledgerd.MaxAmount]. The literal is
// parsed as text, so a value beyond int64 is refused, never wrapped.
func (p *payload) amount(name string, need presence) (ledgerd.Amount, bool) {
	v, ok := p.value(name, need)
	if !ok {
		return 0, false
	}
	if !isInteger(v) {
		if kind := kindOf(v); kind != "a number" {
			p.fail(ReasonBadAmount, name, "want an integer in minor units, got "+kind, nil)
		} else {
			p.fail(ReasonBadAmount, name, "want an integer in minor units, got "+excerpt(v), nil)
		}
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		p.fail(ReasonAmountOutOfRange, name, excerpt(v)+" does not fit in int64", ledgerd.ErrAmountRange)
		return 0, false
	}
	a := ledgerd.Amount(n)
	if err := a.CheckRange(); err != nil {
		p.fail(ReasonAmountOutOfRange, name, err.Error(), err)
		return 0, false
	}
	return a, true
}

// currency reads an ISO 4217 code, exactly as ledgerd.ParseCurrency takes it.
func (p *payload) currency(name string, need presence) ledgerd.Currency {
	s, ok := p.str(name, need)
	if !ok {
		return ""
	}
	c, err := ledgerd.ParseCurrency(s)
	if err != nil {
		p.fail(ReasonUnknownCurrency, name, "unknown currency "+excerpt([]byte(s)), err)
		return ""
	}
	return c
}

// timestamp reads an RFC 3339 time (fractional seconds optional), in UTC.
func (p *payload) timestamp(name string, need presence) time.Time {
	s, ok := p.str(name, need)
	if !ok {
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil {
		p.fail(ReasonBadTimestamp, name, "want an RFC 3339 time, got "+excerpt([]byte(s)), nil)
		return time.Time{}
	}
	return t
}

// errNoTime is parseTime's answer to "": no time, and no ParseError to
// build for the commonest case (a request without X-Fuse-Timestamp).
var errNoTime = errors.New("no time")

// parseTime parses an RFC 3339 time with optional fractional seconds.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errNoTime
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// rate reads an exchange rate as its decimal text. Fuse sends a JSON number
// (3.6615); its literal is kept as is and never goes through a float. A
// string holding the same decimal is accepted too, as the API sends it so.
func (p *payload) rate(name string) string {
	v, ok := p.value(name, optional)
	if !ok {
		return ""
	}
	s := string(v)
	switch kindOf(v) {
	case "a string":
		s, _ = p.str(name, optional)
	case "a number":
	default:
		p.fail(ReasonWrongType, name, "want a decimal number, got "+kindOf(v), nil)
		return ""
	}
	if !isDecimal(s) {
		p.fail(ReasonBadRate, name, "want a plain non-negative decimal, got "+excerpt([]byte(s)), nil)
		return ""
	}
	return s
}

// accountType reads account_type: primary, payment or virtual.
func (p *payload) accountType(name string) string {
	s, ok := p.str(name, optional)
	if !ok {
		return ""
	}
	switch s {
	case "primary", "payment", "virtual":
		return s
	}
	p.fail(ReasonBadAccountType, name, "want primary, payment or virtual, got "+excerpt([]byte(s)), nil)
	return ""
}

// failureReason flattens Fuse's FailureReason, a one-of object such as
// {"bank_error": "Manual failure in Portal"}, into
// "bank_error: Manual failure in Portal". Several keys are joined with
// "; " in body order; a value that is not a string is kept as compact JSON.
// A plain string is taken as it is.
func (p *payload) failureReason(name string) string {
	v, ok := p.value(name, optional)
	if !ok {
		return ""
	}
	switch kindOf(v) {
	case "a string":
		s, _ := p.str(name, optional)
		return s
	case "an object":
	default:
		p.fail(ReasonWrongType, name, "want an object or a string, got "+kindOf(v), nil)
		return ""
	}
	o, err := readObject(v)
	if err != nil {
		if p.err == nil {
			p.err = objectError(p.path+"."+name, err)
		}
		return ""
	}
	parts := make([]string, 0, len(o.keys))
	for _, k := range o.keys {
		val := o.vals[k]
		var s string
		if kindOf(val) != "a string" || json.Unmarshal(val, &s) != nil {
			var buf bytes.Buffer
			if json.Compact(&buf, val) != nil {
				buf.Reset()
				buf.Write(val)
			}
			s = buf.String()
		}
		parts = append(parts, k+": "+s)
	}
	return strings.Join(parts, "; ")
}

// feeTarget reads a FeeTargetRef, {"type": "Transaction", "reference":
// uuid}, and returns the reference: "" when the field is absent or null,
// or when its type names something other than a transaction (then the
// reference is not a transaction id; the backfill brings the link). The
// object's own fields are checked like the payload's.
func (p *payload) feeTarget(name string) string {
	v, ok := p.value(name, optional)
	if !ok {
		return ""
	}
	if kind := kindOf(v); kind != "an object" {
		p.fail(ReasonWrongType, name, "want an object, got "+kind, nil)
		return ""
	}
	path := p.path + "." + name
	if p.path == "" {
		path = name
	}
	o, err := readObject(v)
	if err != nil {
		p.err = objectError(path, err)
		return ""
	}
	sub := payload{path: path, obj: o}
	typ, hasType := sub.str("type", optional)
	ref := sub.id("reference", required)
	if sub.err != nil {
		p.err = sub.err
		return ""
	}
	if hasType && typ != feeTargetTransaction {
		return ""
	}
	return ref
}

// feeTargetTransaction is the one FeeTargetRef type the reference names.
const feeTargetTransaction = "Transaction"
