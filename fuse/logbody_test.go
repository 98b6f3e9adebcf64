package fuse

import (
	"strings"
	"testing"
)

func TestMaskBodyHidesIBANsNamesAndSecrets(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"token request",
			`{"client_id":"ledgerd-prod-7f3a","client_secret":"s3cr3t"}`,
			`{"client_id":"*************7f3a","client_secret":"[redacted]"}`},
		{"token request in Fuse's published shape",
			`{"audience":"https://api.fuse.me","client_id":"ledgerd-prod-7f3a","client_secret":"s3cr3t","grant_type":"client_credentials"}`,
			`{"audience":"https://api.fuse.me","client_id":"*************7f3a","client_secret":"[redacted]","grant_type":"client_credentials"}`},
		{"client ids by key, at any depth, in any spelling",
			`{"credentials":{"Client-Id":"ledgerd-prod-7f3a","fuse_client_id":"ledgerd-prod-7f3a","client_id":12345678}}`,
			`{"credentials":{"Client-Id":"*************7f3a","client_id":"****5678","fuse_client_id":"*************7f3a"}}`},
		{"token response",
			`{"access_token":"eyJ.x.y","expires_in":86400,"token_type":"Bearer"}`,
			`{"access_token":"[redacted]","expires_in":86400,"token_type":"Bearer"}`},
		{"payment with nested beneficiary",
			`{"amount":12345,"beneficiary":{"iban":"AE070331234567890123456","name":"Fulan AlFulani"}}`,
			`{"amount":12345,"beneficiary":{"iban":"AE*****************3456","name":"F**** A*******"}}`},
		{"names by suffix and arrays",
			`{"results":[{"account_name":"Main Ops","first_name":"Sara","remitter_name":"Acme Co"}],"pages":{"next":null,"size":100}}`,
			`{"pages":{"next":null,"size":100},"results":[{"account_name":"M*** O**","first_name":"S***","remitter_name":"A*** C*"}]}`},
		{"published payment and individual bodies",
			`{"beneficiary":{"account_holder_name":"Ann Bee","account_identifier":{"wire":{"account_number":"000123456789","routing_number":"021000021"}},` +
				`"address":{"country_code":"US","line_1":"12 Elm Street","line_2":"Springfield"}},"date_of_birth":"1990-04-21"}`,
			`{"beneficiary":{"account_holder_name":"A** B**","account_identifier":{"wire":{"account_number":"********6789","routing_number":"021000021"}},` +
				`"address":{"country_code":"US","line_1":"1* E** S*****","line_2":"S**********"}},"date_of_birth":"[redacted]"}`},
		{"account owner is a name", `{"account_owner":"Falcon Trading LLC","id":"a1"}`, `{"account_owner":"F***** T****** L**","id":"a1"}`},
		{"non-string secret", `{"token":12}`, `{"token":"[redacted]"}`},
		{"big numbers stay exact", `{"amount":9007199254740993}`, `{"amount":9007199254740993}`},
		{"not JSON is not logged", `access_token=abc`, `[non-JSON body, 16 bytes]`},
		{"empty", ``, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maskBody([]byte(tt.in)); got != tt.want {
				t.Errorf("maskBody(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskBodyTruncatesHugeBodies(t *testing.T) {
	in := `{"data":"` + strings.Repeat("x", 3*maxLoggedBody) + `"}`
	got := maskBody([]byte(in))
	if len(got) > maxLoggedBody+64 || !strings.Contains(got, "truncated") {
		t.Errorf("got %d bytes ending %q", len(got), got[len(got)-40:])
	}
}

func TestConfigNeverPrintsTheSecretAndMasksTheClientID(t *testing.T) {
	cfg := Config{BaseURL: "https://x/v1", ClientID: "ledgerd-prod-7f3a", ClientSecret: "hunter2"}
	for _, s := range []string{cfg.String(), cfg.GoString(), cfg.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret in %q", s)
		}
		if strings.Contains(s, "ledgerd-prod") || !strings.Contains(s, "*************7f3a") {
			t.Errorf("client id not masked to its last four in %q", s)
		}
	}
}
