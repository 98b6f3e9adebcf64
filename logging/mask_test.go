package logging_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/ledgerd/ledgerd/logging"
)

// selfRedacting stands in for config.Secret: a LogValuer that hides itself.
type selfRedacting string

func (selfRedacting) LogValue() slog.Value { return slog.StringValue("[redacted]") }

func TestMaskAttr(t *testing.T) {
	tests := []struct {
		name   string
		groups []string
		in     slog.Attr
		want   slog.Value
	}{
		{"iban string", nil, slog.String("iban", iban), slog.StringValue("AE*****************3456")},
		{"iban with spaces", nil, slog.String("iban", "AE07 0331 2345 6789 0123 456"), slog.StringValue("AE*****************3456")},
		{"iban bytes", nil, slog.Any("iban", []byte(iban)), slog.StringValue("AE*****************3456")},
		{"name in groups", []string{"payment", "payee"}, slog.String("name", name), slog.StringValue("F**** A*******")},
		{"token as int", nil, slog.Int("token", 123456), slog.StringValue("[redacted]")},
		{"token as error", nil, slog.Any("client_secret", errors.New(token)), slog.StringValue("[redacted]")},
		{"empty token stays empty", nil, slog.String("token", ""), slog.StringValue("")},
		{"self-redacting value", nil, slog.Any("client_secret", selfRedacting(token)), slog.StringValue("[redacted]")},
		{"nil value untouched", nil, slog.Any("token", nil), slog.AnyValue(nil)},
		{"client id keeps its last four", nil, slog.String("client_id", "ledgerd-prod-7f3a"), slog.StringValue("*************7f3a")},
		{"client id by suffix, masked once or twice alike", nil, slog.String("fuse_client_id", "*************7f3a"),
			slog.StringValue("*************7f3a")},
		{"other key untouched", nil, slog.String("account_id", "acc_1"), slog.StringValue("acc_1")},
		{"other kind untouched", nil, slog.Int("count", 3), slog.IntValue(3)},
		{"suffix must be whole word", nil, slog.String("nickname", "Fulan"), slog.StringValue("Fulan")},
		{"group untouched", nil, slog.Group("name", slog.String("x", "y")), slog.GroupValue(slog.String("x", "y"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logging.MaskAttr(tt.groups, tt.in)
			if got.Key != tt.in.Key {
				t.Errorf("key = %q, want %q", got.Key, tt.in.Key)
			}
			if !got.Value.Equal(tt.want) {
				t.Errorf("value = %v, want %v", got.Value, tt.want)
			}
		})
	}
}
