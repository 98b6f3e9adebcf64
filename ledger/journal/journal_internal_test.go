package journal

import (
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/ledger"
)

// A transaction's description is safe inside the formats' quoted strings:
// no quote, no backslash (beancount would read "INV-7\" as an escaped
// closing quote), no line break, none of hledger's ; or |.
func TestDescriptionsNeedNoEscapes(t *testing.T) {
	d := description(&ledger.JournalPosting{Kind: "local_payment_in",
		Reference: `INV-7\`, ExternalReference: "a\"b;c|d\ne\rf\\"})
	if strings.ContainsAny(d, "\"\\;|\n\r") {
		t.Errorf("description %q", d)
	}
	if !strings.HasPrefix(d, "local_payment_in INV-7/") {
		t.Errorf("description %q does not keep the reference readable", d)
	}
}
