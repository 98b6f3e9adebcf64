package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/logging"
)

const (
	iban  = "AE070331234567890123456"
	name  = "Fulan AlFulani"
	token = "eyJhbGciOi.secret.sig"
)

var formats = []string{logging.FormatText, logging.FormatJSON}

// logTo returns a logger in format writing into a fresh buffer.
func logTo(format string, level slog.Leveler) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return logging.New(&buf, format, level), &buf
}

func TestNewMasksSensitiveKeys(t *testing.T) {
	tests := []struct {
		key, value, hidden, shown string
	}{
		{"iban", iban, iban, "AE*****************3456"},
		{"IBAN", iban, iban, "AE*****************3456"},
		{"counterparty_iban", iban, iban, "AE*****************3456"},
		{"Beneficiary-IBAN", iban, iban, "AE*****************3456"},
		{"name", name, "AlFulani", "F**** A*******"},
		{"account_name", name, "AlFulani", "F**** A*******"},
		{"customer_name", name, "AlFulani", "F**** A*******"},
		{"remitter_name", name, "AlFulani", "F**** A*******"},
		{"beneficiary_name", name, "AlFulani", "F**** A*******"},
		{"first_name", "Fulan", "Fulan", "F****"},
		{"last_name", "AlFulani", "AlFulani", "A*******"},
		{"token", token, "eyJhbGciOi", "[redacted]"},
		{"access_token", token, "eyJhbGciOi", "[redacted]"},
		{"refresh_token", token, "eyJhbGciOi", "[redacted]"},
		{"Authorization", "Bearer " + token, "eyJhbGciOi", "[redacted]"},
		{"secret", token, "eyJhbGciOi", "[redacted]"},
		{"client_secret", token, "eyJhbGciOi", "[redacted]"},
		{"webhook_secret", token, "eyJhbGciOi", "[redacted]"},
		{"password", token, "eyJhbGciOi", "[redacted]"},
		{"db_password", token, "eyJhbGciOi", "[redacted]"},
	}
	for _, format := range formats {
		for _, tt := range tests {
			t.Run(format+"/"+tt.key, func(t *testing.T) {
				l, buf := logTo(format, nil)
				l.Info("payment", tt.key, tt.value)
				out := buf.String()
				if strings.Contains(out, tt.hidden) {
					t.Errorf("output shows %q:\n%s", tt.hidden, out)
				}
				if !strings.Contains(out, tt.shown) {
					t.Errorf("output lacks the masked value %q:\n%s", tt.shown, out)
				}
				if !strings.Contains(out, tt.key) {
					t.Errorf("output lacks the key %q:\n%s", tt.key, out)
				}
			})
		}
	}
}

func TestNewLeavesOtherKeysAlone(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			l, buf := logTo(format, nil)
			l.Info("synced", "account_id", "acc_123", "named_range", "q1", "token_type", "bearer", "count", 7)
			for _, want := range []string{"acc_123", "q1", "bearer", "7"} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, buf)
				}
			}
		})
	}
}

func TestNewMasksInsideGroupsAndWithAttrs(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			l, buf := logTo(format, nil)
			l.With("customer_name", name).
				WithGroup("payment").
				With("access_token", token).
				Info("paid",
					slog.Group("payee",
						slog.String("iban", iban),
						slog.Group("holder", slog.String("name", name)),
					),
					slog.String("first_name", "Fulan"),
				)
			out := buf.String()
			for _, hidden := range []string{iban, "AlFulani", "Fulan ", "eyJhbGciOi"} {
				if strings.Contains(out, hidden) {
					t.Errorf("output shows %q:\n%s", hidden, out)
				}
			}
			for _, shown := range []string{"AE*****************3456", "F**** A*******", "[redacted]"} {
				if !strings.Contains(out, shown) {
					t.Errorf("output lacks %q:\n%s", shown, out)
				}
			}
		})
	}
}

func TestNewFiltersByLevel(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  []string // messages that appear, in order
	}{
		{slog.LevelDebug, []string{"d", "i", "w", "e"}},
		{slog.LevelInfo, []string{"i", "w", "e"}},
		{slog.LevelWarn, []string{"w", "e"}},
		{slog.LevelError, []string{"e"}},
	}
	for _, format := range formats {
		for _, tt := range tests {
			t.Run(format+"/"+tt.level.String(), func(t *testing.T) {
				l, buf := logTo(format, tt.level)
				l.Debug("d")
				l.Info("i")
				l.Warn("w")
				l.Error("e")
				lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
				if len(lines) != len(tt.want) {
					t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tt.want), buf)
				}
				for i, line := range lines {
					if !strings.Contains(line, "msg="+tt.want[i]) && !strings.Contains(line, `"msg":"`+tt.want[i]+`"`) && !strings.Contains(line, " "+tt.want[i]) {
						t.Errorf("line %d = %q, want message %q", i, line, tt.want[i])
					}
				}
			})
		}
	}
}

func TestNewFollowsALevelVar(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	l, buf := logTo(logging.FormatJSON, &lv)
	l.Info("hidden")
	lv.Set(slog.LevelDebug)
	l.Debug("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
		t.Errorf("output does not follow the LevelVar:\n%s", out)
	}
}

func TestNewJSONIsOneObjectPerLine(t *testing.T) {
	l, buf := logTo(logging.FormatJSON, slog.LevelDebug)
	l.Info("first", "iban", iban, slog.Group("payee", "name", name))
	l.Warn("second line\nwith a newline", "n", 2)
	l.Debug("third", "token", token)

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf)
	}
	var first struct {
		Msg   string `json:"msg"`
		IBAN  string `json:"iban"`
		Payee struct {
			Name string `json:"name"`
		} `json:"payee"`
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
		for _, key := range []string{"time", "level", "msg"} {
			if _, ok := m[key]; !ok {
				t.Errorf("line %d lacks %q: %s", i, key, line)
			}
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.IBAN != "AE*****************3456" || first.Payee.Name != "F**** A*******" {
		t.Errorf("first line iban = %q, payee.name = %q; want masked", first.IBAN, first.Payee.Name)
	}
}

func TestNewTextOffTerminalHasNoColourAndRFC3339Time(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tests := []struct {
		name string
		w    interface {
			Write([]byte) (int, error)
		}
		read func() string
	}{
		{"buffer", new(bytes.Buffer), nil},
		{"regular file", file, func() string {
			b, err := os.ReadFile(file.Name())
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := logging.New(tt.w, logging.FormatText, slog.LevelDebug)
			l.Error("failed", "err", context.DeadlineExceeded, "iban", iban)
			var out string
			if tt.read != nil {
				out = tt.read()
			} else {
				out = tt.w.(*bytes.Buffer).String()
			}
			if out == "" {
				t.Fatal("nothing written")
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("output has ANSI escapes: %q", out)
			}
			stamp, _, _ := strings.Cut(out, " ")
			if _, err := time.Parse(time.RFC3339, stamp); err != nil {
				t.Errorf("line does not start with an RFC 3339 time: %q", out)
			}
		})
	}
}

func TestNewUnknownFormatWritesText(t *testing.T) {
	l, buf := logTo("logfmt", nil)
	l.Info("hello", "iban", iban)
	out := buf.String()
	if strings.HasPrefix(out, "{") || !strings.Contains(out, "hello") || strings.Contains(out, iban) {
		t.Errorf("output = %q, want masked text", out)
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"text", logging.FormatText, true},
		{"json", logging.FormatJSON, true},
		{"JSON", logging.FormatJSON, true},
		{" Text ", logging.FormatText, true},
		{"", "", false},
		{"logfmt", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := logging.ParseFormat(tt.in)
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("ParseFormat(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestDiscardWritesNothingAndEnablesNothing(t *testing.T) {
	l := logging.Discard()
	if l.Enabled(t.Context(), slog.LevelError) {
		t.Error("Discard logger enabled at error")
	}
	l.Error("nothing", "iban", iban)
}
