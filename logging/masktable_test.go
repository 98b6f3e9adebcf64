package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/logging"
)

// TestALogLineAndARecordedBodyMaskTheSameKeys: a name, an external id, an
// account number or a password is hidden alike in a log line and in a
// body recorded as evidence (fuse.MaskJSON), whichever of the two it
// turns up in: one table (ledgerd.MaskingFor) decides for both.
func TestALogLineAndARecordedBodyMaskTheSameKeys(t *testing.T) {
	for _, tt := range []struct{ key, value, masked string }{
		{"display_name", "Falcon Trading LLC", "F***** T****** L**"},
		{"account_holder_name", "Fulan AlFulani", "F**** A*******"},
		{"external_id", "cust-000042-invoice-7731", "********************7731"},
		{"account_number", "000123456789", "********6789"},
		{"db_password", "hunter2hunter2", "[redacted]"},
	} {
		t.Run(tt.key, func(t *testing.T) {
			var buf bytes.Buffer
			logging.New(&buf, logging.FormatJSON, slog.LevelInfo).Info("account updated", tt.key, tt.value)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			body, err := json.Marshal(map[string]string{tt.key: tt.value})
			if err != nil {
				t.Fatal(err)
			}
			rec, ok := fuse.MaskJSON(body)
			if !ok {
				t.Fatalf("MaskJSON refused %s", body)
			}
			var recorded map[string]any
			if err := json.Unmarshal(rec, &recorded); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), tt.value) || line[tt.key] != tt.masked {
				t.Errorf("log line %s: want %s=%q", strings.TrimSpace(buf.String()), tt.key, tt.masked)
			}
			if strings.Contains(string(rec), tt.value) || recorded[tt.key] != tt.masked {
				t.Errorf("recorded body %s: want %s=%q", rec, tt.key, tt.masked)
			}
		})
	}
}
