package ledgerd

import (
	"strings"
	"testing"
)

func TestMasking(t *testing.T) {
	if got := MaskIBAN("AE070331234567890123456"); got != "AE*****************3456" || strings.Contains(got, "0331234567") {
		t.Errorf("MaskIBAN: %q", got)
	}
	if got := MaskIBAN("AE07 0331 2345 6789 0123 456"); strings.Contains(got, "0331") {
		t.Errorf("MaskIBAN with spaces: %q", got)
	}
	if got := MaskIBAN("short"); got != "*****" {
		t.Errorf("MaskIBAN short: %q", got)
	}
	if got := MaskName("Fulan AlFulani"); got != "F**** A*******" {
		t.Errorf("MaskName: %q", got)
	}
	if got := MaskName("Émile Zoë"); got != "É**** Z**" {
		t.Errorf("MaskName unicode: %q", got)
	}
	if got := MaskToken("eyJhbGciOi.payload.sig"); got != "[redacted]" {
		t.Errorf("MaskToken: %q", got)
	}
	if MaskToken("") != "" {
		t.Error("MaskToken of empty")
	}
	if got := MaskID("01JDHZK7QKF0WWQG43WNFQ3YCX"); !strings.HasSuffix(got, "3YCX") || strings.Contains(got, "01JD") {
		t.Errorf("MaskID: %q", got)
	}
}
