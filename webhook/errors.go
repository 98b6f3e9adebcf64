package webhook

import (
	"errors"
	"strings"
)

// ErrMalformed is wrapped by every error Decode returns for a body that
// cannot be accepted. The HTTP layer answers 400 and quarantines the body.
var ErrMalformed = errors.New("malformed webhook")

// Reasons a body is refused, as stored in the quarantine row. They are short,
// stable and machine-readable; DecodeError.Error adds the human detail.
const (
	ReasonEmptyBody           = "empty_body"           // nothing but whitespace
	ReasonMalformedJSON       = "malformed_json"       // not valid JSON (trailing commas included)
	ReasonNotObject           = "not_object"           // valid JSON, but not an object where one is needed
	ReasonDuplicateField      = "duplicate_field"      // the same key twice in one object
	ReasonAmbiguousField      = "ambiguous_field"      // both spellings of an envelope field
	ReasonMissingField        = "missing_field"        // a required field is absent or null
	ReasonWrongType           = "wrong_type"           // a known field has the wrong JSON type
	ReasonBadUUID             = "bad_uuid"             // an id that is not a canonical UUID
	ReasonBadVersion          = "bad_version"          // event_version not a non-negative integer
	ReasonBadAmount           = "bad_amount"           // an amount that is not a JSON integer
	ReasonAmountOutOfRange    = "amount_out_of_range"  // an integer amount outside [0, ledgerd.MaxAmount]
	ReasonUnknownCurrency     = "unknown_currency"     // not an ISO 4217 code ledgerd knows
	ReasonBadTimestamp        = "bad_timestamp"        // not RFC 3339
	ReasonBadRate             = "bad_rate"             // an exchange rate that is not a plain decimal
	ReasonBadAccountType      = "bad_account_type"     // not primary, payment or virtual
	ReasonInconsistentAmounts = "inconsistent_amounts" // e.g. amount_with_fee != instructed_amount + fee_amount
)

// DecodeError says why a webhook body was refused. It wraps ErrMalformed
// and, when there is one, the underlying cause (ledgerd.ErrAmountRange,
// ledgerd.ErrCurrency), so errors.Is works with either.
type DecodeError struct {
	Reason string // one of the Reason constants
	Field  string // the offending field as a dotted path ("payload.amount"), or ""
	Detail string // what was wrong, for people
	Err    error  // the underlying cause, or nil
}

// Error returns a one-line message naming the field and the reason.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("webhook: ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Detail)
	b.WriteString(" (")
	b.WriteString(e.Reason)
	b.WriteString(")")
	return b.String()
}

// Unwrap returns ErrMalformed and the cause, if any.
func (e *DecodeError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrMalformed, e.Err}
	}
	return []error{ErrMalformed}
}
