package ledgerd

import "testing"

func TestFailureCodeKeepsFusesCodesAndFoldsTheRestIntoOther(t *testing.T) {
	cases := map[string]string{
		"insufficient_funds":                          "insufficient_funds",
		"account_frozen":                              "account_frozen",
		"bank_error: Manual failure in Portal":        "bank_error",
		"compliance_error: sanctions screening hit":   "compliance_error",
		"quote_error: expired; system_error: timeout": "quote_error",
		"  system_error:":                             "system_error",
		"":                                            FailureUnspecified,
		"   ":                                         FailureUnspecified,
		"Insufficient funds":                          FailureOther,
		"bank_error_v2: new":                          FailureOther,
		`{"a":1,"b":2}`:                               FailureOther,
		"insufficient_funds_and_more":                 FailureOther,
	}
	for in, want := range cases {
		if got := FailureCode(in); got != want {
			t.Errorf("FailureCode(%q) = %q, want %q", in, got, want)
		}
	}
}
