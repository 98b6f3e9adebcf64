package certify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// controls drives the events the plan names that the API alone cannot
// cause (money arriving, a payment failing, time passing). Against the
// built-in sandbox it uses the /sandbox/ controls; against a real Fuse
// sandbox, where those are portal actions, it tells the operator what to do.
type controls struct {
	root      string // the base URL without /v1; "" when there are none
	hc        *http.Client
	available bool
}

// detectControls asks GET {root}/sandbox/clock, which only the built-in
// sandbox answers (200 with {"now"}); anything else means a real Fuse.
// The request is harmless: it reads the clock and changes nothing.
func detectControls(ctx context.Context, hc *http.Client, baseURL string) *controls {
	root := strings.TrimSuffix(strings.TrimRight(baseURL, "/"), "/v1")
	c := &controls{root: root, hc: hc}
	var out struct {
		Now time.Time `json:"now"`
	}
	status, err := c.call(ctx, http.MethodGet, "/sandbox/clock", nil, &out)
	c.available = err == nil && status == http.StatusOK && !out.Now.IsZero()
	return c
}

// call sends one control request and decodes a 2xx answer into out.
func (c *controls) call(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.root+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("sandbox control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("sandbox control %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("sandbox control %s %s answered %s", method, path, statusLine(resp.StatusCode, b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("sandbox control %s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// inboundPayment makes money arrive on an account
// (inbound_local_payment_settled).
func (c *controls) inboundPayment(ctx context.Context, accountID string, amount int64, currency string) error {
	_, err := c.call(ctx, http.MethodPost, "/sandbox/inbound-payments", map[string]any{
		"account_id": accountID, "amount": amount, "currency": currency, "remitter_name": "Certify Funding Remitter",
	}, nil)
	return err
}

// fail fails a payment in flight (outbound_local_payment_failed).
func (c *controls) fail(ctx context.Context, transactionID, reason string) error {
	_, err := c.call(ctx, http.MethodPost, "/sandbox/transactions/"+transactionID+"/fail",
		map[string]string{"reason": reason}, nil)
	return err
}

// advance moves the sandbox clock, so that payments execute and transfers
// settle, or a token expires.
func (c *controls) advance(ctx context.Context, d time.Duration) error {
	_, err := c.call(ctx, http.MethodPost, "/sandbox/clock", map[string]string{"advance": d.String()}, nil)
	return err
}
