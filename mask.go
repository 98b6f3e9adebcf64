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

// Masking is how a value is hidden where ledgerd shows it outside the
// file: in a log attribute, or in a request, response or webhook body that
// is logged or recorded as evidence. Both follow one table, MaskingFor, so
// that a key masked in one is masked in the other.
type Masking int

// The maskings.
const (
	// Unmasked values are shown as they are.
	Unmasked Masking = iota
	// MaskedIBAN keeps an IBAN's country and last four (MaskIBAN).
	MaskedIBAN
	// MaskedName keeps the initials of a name or an address line
	// (MaskName).
	MaskedName
	// MaskedID keeps the last four characters of an identifier that
	// points at a customer or at our credentials (MaskID).
	MaskedID
	// Redacted hides a credential or a date of birth whole (MaskToken):
	// a value of any type under such a key goes.
	Redacted
)

// MaskingFor returns how the value under key is masked, wherever the key
// is found (a log attribute, an object key at any depth of a JSON body).
// Keys match case-insensitively, "-" taken as "_" (a header name such as
// "Access-Token" is caught too); a suffix counts only after "_"
// ("nickname" is not a name):
//
//   - iban, *_iban: MaskedIBAN
//   - name, *_name, account_owner (the name on an account's statements),
//     line_1 … line_4 (an address): MaskedName
//   - client_id, *_client_id, external_id, account_number: MaskedID
//   - token, access_token, refresh_token, authorization, secret,
//     client_secret, password, *_token, *_secret, *_password,
//     date_of_birth: Redacted
func MaskingFor(key string) Masking {
	k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	switch k {
	case "iban":
		return MaskedIBAN
	case "name", "account_owner", "line_1", "line_2", "line_3", "line_4":
		return MaskedName
	case "client_id", "external_id", "account_number":
		return MaskedID
	case "token", "access_token", "refresh_token", "authorization", "secret", "client_secret", "password",
		"date_of_birth":
		return Redacted
	}
	switch {
	case strings.HasSuffix(k, "_iban"):
		return MaskedIBAN
	case strings.HasSuffix(k, "_name"):
		return MaskedName
	case strings.HasSuffix(k, "_client_id"):
		return MaskedID
	case strings.HasSuffix(k, "_token"), strings.HasSuffix(k, "_secret"), strings.HasSuffix(k, "_password"):
		return Redacted
	}
	return Unmasked
}

// Mask hides s as m says.
func (m Masking) Mask(s string) string {
	switch m {
	case MaskedIBAN:
		return MaskIBAN(s)
	case MaskedName:
		return MaskName(s)
	case MaskedID:
		return MaskID(s)
	case Redacted:
		return MaskToken(s)
	}
	return s
}
