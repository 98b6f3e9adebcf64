package reconcile

import (
	"database/sql"
	"strings"
	"testing"
)

// A transaction's description is safe inside the formats' quoted strings:
// no quote, no backslash (beancount would read "INV-7\" as an escaped
// closing quote), no line break, none of hledger's ; or |.
func TestDescriptionsNeedNoEscapes(t *testing.T) {
	r := exportRow{kind: "local_payment_in",
		reference: sql.NullString{String: `INV-7\`, Valid: true},
		extRef:    sql.NullString{String: "a\"b;c|d\ne\rf\\", Valid: true}}
	d := r.description()
	if strings.ContainsAny(d, "\"\\;|\n\r") {
		t.Errorf("description %q", d)
	}
	if !strings.HasPrefix(d, "local_payment_in INV-7/") {
		t.Errorf("description %q does not keep the reference readable", d)
	}
}
