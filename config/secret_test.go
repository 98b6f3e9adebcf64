package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/config"
)

func TestSecretNeverShowsItsValue(t *testing.T) {
	const value = "hunter2-very-secret"
	s := config.NewSecret(value)
	c := &config.Config{FuseClientSecret: s, WebhookSecret: s}

	jsonOf := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		return string(b)
	}
	text, _ := s.MarshalText()
	logged := func(newHandler func(*bytes.Buffer) slog.Handler) string {
		var buf bytes.Buffer
		l := slog.New(newHandler(&buf))
		l.Info("loaded", "fuse_client_secret", s, "anything", s, slog.Group("g", "s", s), "config", c)
		return buf.String()
	}

	tests := []struct {
		name, got, want string
	}{
		{"String", s.String(), "[redacted]"},
		{"GoString", s.GoString(), "[redacted]"},
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%s", fmt.Sprintf("%s", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), "[redacted]"},
		{"%#v", fmt.Sprintf("%#v", s), "[redacted]"},
		{"%+v", fmt.Sprintf("%+v", s), "[redacted]"},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"%d", fmt.Sprintf("%d", s), "[redacted]"},
		{"pointer %v", fmt.Sprintf("%v", &s), "[redacted]"},
		{"in a struct %+v", fmt.Sprintf("%+v", *c), ""},
		{"in a struct %#v", fmt.Sprintf("%#v", *c), ""},
		{"MarshalText", string(text), "[redacted]"},
		{"json.Marshal", jsonOf(s), `"[redacted]"`},
		{"json.Marshal struct", jsonOf(c), ""},
		{"json.Marshal map key and value", jsonOf(map[config.Secret]config.Secret{s: s}), `{"[redacted]":"[redacted]"}`},
		{"LogValue", s.LogValue().String(), "[redacted]"},
		{"slog text", logged(func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }), ""},
		{"slog JSON", logged(func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.got, value) {
				t.Fatalf("shows the value: %s", tt.got)
			}
			if !strings.Contains(tt.got, "[redacted]") {
				t.Errorf("does not show [redacted]: %s", tt.got)
			}
			if tt.want != "" && tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestEmptySecretPrintsEmpty(t *testing.T) {
	var s config.Secret
	if s.IsSet() {
		t.Error("zero Secret IsSet")
	}
	b, _ := json.Marshal(s)
	for name, got := range map[string]string{
		"String":    s.String(),
		"%v":        fmt.Sprintf("%v", s),
		"%#v":       fmt.Sprintf("%#v", s),
		"JSON":      string(b),
		"LogValue":  s.LogValue().String(),
		"Reveal":    s.Reveal(),
		"NewSecret": config.NewSecret("").String(),
	} {
		want := ""
		if name == "JSON" {
			want = `""`
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestSecretRevealAndIsSet(t *testing.T) {
	s := config.NewSecret("v")
	if !s.IsSet() || s.Reveal() != "v" {
		t.Errorf("NewSecret(%q): IsSet = %v, Reveal = %q", "v", s.IsSet(), s.Reveal())
	}
}
