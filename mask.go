package ledgerd

import (
	"strings"
	"unicode/utf8"
)

// MaskIBAN keeps the country code and the last four characters of an IBAN
// and hides the rest: "AE070331234567890123456" → "AE**…*3456" (same
// length). Anything shorter than eight characters is hidden whole.
func MaskIBAN(iban string) string {
	s := strings.ReplaceAll(iban, " ", "")
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:2] + strings.Repeat("*", len(s)-6) + s[len(s)-4:]
}

// MaskName keeps the first letter of each word of a person's or company's
// name: "Fulan AlFulani" → "F**** A******". Enough for an operator to tell
// two log lines apart, not enough to identify anyone.
func MaskName(name string) string {
	words := strings.Fields(name)
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(r) + strings.Repeat("*", utf8.RuneCountInString(w[size:]))
	}
	return strings.Join(words, " ")
}

// MaskToken hides a secret or bearer token entirely except for its length
// class, so logs can show that a token was present without any of it.
func MaskToken(tok string) string {
	if tok == "" {
		return ""
	}
	return "[redacted]"
}

// MaskID keeps the last four characters of an identifier (a customer's
// external id, an account number) and hides the rest.
func MaskID(id string) string {
	if len(id) <= 4 {
		return strings.Repeat("*", len(id))
	}
	return strings.Repeat("*", len(id)-4) + id[len(id)-4:]
}
