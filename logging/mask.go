package logging

import (
	"log/slog"
	"strings"

	"github.com/ledgerd/ledgerd"
)

// masker is how the value of one kind of key is hidden.
type masker func(string) string

// maskerFor returns how to mask the value of key, or nil to leave it. Keys
// match case-insensitively, with "-" taken as "_" (so "Access-Token", as a
// header name, is caught too).
func maskerFor(key string) masker {
	k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	switch k {
	case "iban":
		return ledgerd.MaskIBAN
	case "name", "account_name", "customer_name", "remitter_name",
		"beneficiary_name", "first_name", "last_name":
		return ledgerd.MaskName
	case "token", "access_token", "authorization", "secret",
		"client_secret", "password":
		return ledgerd.MaskToken
	case "client_id":
		return ledgerd.MaskID
	}
	switch {
	case strings.HasSuffix(k, "_iban"):
		return ledgerd.MaskIBAN
	case strings.HasSuffix(k, "_client_id"):
		return ledgerd.MaskID
	case strings.HasSuffix(k, "_secret"), strings.HasSuffix(k, "_token"),
		strings.HasSuffix(k, "_password"):
		return ledgerd.MaskToken
	}
	return nil
}

// MaskAttr is a slog ReplaceAttr function that masks sensitive values by
// their attribute's key, at any group depth (slog calls it for each leaf
// attribute with the enclosing groups; the leaf key decides):
//
//   - iban, *_iban: ledgerd.MaskIBAN
//   - name, account_name, customer_name, remitter_name, beneficiary_name,
//     first_name, last_name: ledgerd.MaskName
//   - token, access_token, authorization, secret, client_secret, password,
//     *_secret, *_token, *_password: ledgerd.MaskToken
//   - client_id, *_client_id: ledgerd.MaskID (the last four characters,
//     as config's start-up line shows the Fuse client id)
//
// A masked value becomes a string. Other attributes pass unchanged. Values
// that redact themselves (config.Secret) have done so before this runs.
func MaskAttr(_ []string, a slog.Attr) slog.Attr {
	mask := maskerFor(a.Key)
	if mask == nil {
		return a
	}
	v := a.Value.Resolve()
	var s string
	switch v.Kind() {
	case slog.KindGroup:
		// Handlers call ReplaceAttr on a group's members, not on the
		// group itself; a direct caller gets the group back as is.
		return a
	case slog.KindString:
		s = v.String()
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return a
		case []byte:
			s = string(x)
		default:
			s = v.String()
		}
	default:
		s = v.String()
	}
	a.Value = slog.StringValue(mask(s))
	return a
}
