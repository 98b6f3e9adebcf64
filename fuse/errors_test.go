package fuse

import (
	"net/http"
	"testing"
)

// TestFuseErrorBodiesAreReadLeniently: Fuse's ErrorResponse is {code,
// error, message}, error the deprecated twin of message; the money routes
// declare no error body at all, so anything else becomes a snippet and
// never a failure to build the error.
func TestFuseErrorBodiesAreReadLeniently(t *testing.T) {
	tests := []struct {
		name, body, code, message string
	}{
		{"published shape", `{"code":"invalid_documents","error":"old words","message":"new words"}`, "invalid_documents", "new words"},
		{"message alone", `{"message":"no such account"}`, "", "no such account"},
		{"deprecated error alone", `{"code":"x","error":"only the old field"}`, "x", "only the old field"},
		{"code not a string", `{"code":42,"message":"m"}`, "", "m"},
		{"empty object", `{}`, "", "{}"},
		{"no body", ``, "", ""},
		{"not JSON", `<html>Bad Gateway</html>`, "", "<html>Bad Gateway</html>"},
		{"an object under error", `{"error":{"code":"c","message":"m"}}`, "", `{"error":{"code":"c","message":"m"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := apiError(request{method: http.MethodPost, path: "/accounts/a/payments"},
				outcome{status: http.StatusBadRequest, body: []byte(tt.body)})
			if e.Code != tt.code || e.Message != tt.message {
				t.Errorf("code %q message %q, want %q %q", e.Code, e.Message, tt.code, tt.message)
			}
		})
	}
}
