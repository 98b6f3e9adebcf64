package ledgerd

import "strings"

// FailureCodes are the reasons Fuse gives for a failed transaction
// (fuse-api.md, failure_reason): plain codes ("insufficient_funds") and the
// keys of the one-member objects ({"bank_error": "…"}).
var FailureCodes = []string{
	"insufficient_funds", "internal_accounts_differ", "account_frozen",
	"bank_error", "system_error", "compliance_error", "quote_error",
}

// Failure codes for what FailureCodes does not hold.
const (
	// FailureUnspecified is the code of a failure without a reason.
	FailureUnspecified = "unspecified"
	// FailureOther is the code of a reason Fuse does not document.
	FailureOther = "other"
)

// FailureCode is the code of a failure reason as observations carry it
// (fuse.FailureText: "insufficient_funds", "bank_error: Manual failure in
// Portal", several members joined by "; "): the code or the first member's
// key when it is one of FailureCodes, FailureUnspecified for "", else
// FailureOther. The text is Fuse's and free; the code is one of a few
// values, fit for a metric label.
func FailureCode(reason string) string {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return FailureUnspecified
	}
	code := reason
	if i := strings.IndexAny(code, ":;"); i >= 0 {
		code = strings.TrimSpace(code[:i])
	}
	for _, c := range FailureCodes {
		if code == c {
			return c
		}
	}
	return FailureOther
}
