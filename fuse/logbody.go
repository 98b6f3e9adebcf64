package fuse

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/ledgerd/ledgerd"
)

// maxLoggedBody bounds how much of a (masked) body goes into one log line.
const maxLoggedBody = 4 << 10

// maskBody renders a request or response body for a debug log line: JSON
// is walked and every value under a sensitive key is masked (IBANs keep
// country and last four, names keep initials, external and client ids
// their last four, secrets and tokens vanish);
// anything that is not JSON is not logged at all, since it cannot be
// masked reliably.
func maskBody(b []byte) string {
	if len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep amounts exactly as sent
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return fmt.Sprintf("[non-JSON body, %d bytes]", len(b))
	}
	out, err := json.Marshal(maskValue("", v))
	if err != nil {
		return fmt.Sprintf("[unloggable body, %d bytes]", len(b))
	}
	if len(out) > maxLoggedBody {
		return string(out[:maxLoggedBody]) + fmt.Sprintf("…[truncated, %d bytes]", len(out))
	}
	return string(out)
}

// MaskJSON returns a JSON document with every sensitive value masked as in
// the debug logs (IBANs keep country and last four, names keep initials,
// external ids and client ids keep their last four, secrets and tokens
// vanish), whole and
// not truncated; ok is false when b is not one JSON value, which then
// cannot be masked reliably and must not be shown.
func MaskJSON(b []byte) (masked json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	out, err := json.Marshal(maskValue("", v))
	if err != nil {
		return nil, false
	}
	return out, true
}

// maskValue returns v with sensitive values masked; key is the object key
// v was found under ("" at the top and inside arrays of plain values).
func maskValue(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = maskValue(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = maskValue(key, e)
		}
		return x
	case string:
		return maskString(key, x)
	case json.Number:
		// A number under a masked key (a numeric client id) is masked
		// like its digits.
		if m := maskString(key, x.String()); m != x.String() {
			return m
		}
		return x
	default:
		// Numbers, booleans and nulls under a secret key still go.
		if ledgerd.MaskingFor(key) == ledgerd.Redacted && v != nil {
			return "[redacted]"
		}
		return v
	}
}

// maskString masks s by the key it was found under, wherever in the body
// that key is (ledgerd.MaskingFor, the table the logs are masked by too):
// the rules follow keys, not the shape of one request, so a token request
// keeps its client id masked (last four, as the config line shows it) and
// its secret hidden whatever else it carries.
func maskString(key, s string) string {
	return ledgerd.MaskingFor(key).Mask(s)
}
