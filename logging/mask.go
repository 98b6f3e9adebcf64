package logging

import (
	"log/slog"

	"github.com/ledgerd/ledgerd"
)

// MaskAttr is a slog ReplaceAttr function that masks sensitive values by
// their attribute's key, at any group depth (slog calls it for each leaf
// attribute with the enclosing groups; the leaf key decides), as
// ledgerd.MaskingFor says: the table the fuse package masks logged and
// recorded bodies by (IBANs, names and addresses, external and client ids
// to their last four, credentials whole).
//
// A masked value becomes a string. Other attributes pass unchanged. Values
// that redact themselves (config.Secret) have done so before this runs.
func MaskAttr(_ []string, a slog.Attr) slog.Attr {
	m := ledgerd.MaskingFor(a.Key)
	if m == ledgerd.Unmasked {
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
	a.Value = slog.StringValue(m.Mask(s))
	return a
}
