package certify

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

const (
	testClientID     = "certify-test-client"
	testClientSecret = "s3cr3t-certify-test-9f7c2b"
)

// env is a built-in sandbox on loopback with a listener reserved for
// certify's webhooks, and a transport that keeps every access token the
// sandbox issues (so the tests can look for them in the evidence).
type env struct {
	sb      *sandbox.Sandbox
	baseURL string
	authURL string
	hookLn  net.Listener
	tokens  *tokenCatcher
	dir     string
}

func newEnv(t *testing.T, opts sandbox.Options) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.ClientID == "" {
		opts.ClientID, opts.ClientSecret = testClientID, testClientSecret
	}
	opts.WebhookURL = "http://" + ln.Addr().String() + DefaultWebhookPath
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(func() {
		srv.Close()
		sb.Close()
		ln.Close()
	})
	return &env{sb: sb, baseURL: srv.URL + "/v1", authURL: srv.URL + sandbox.TokenPath, hookLn: ln, tokens: &tokenCatcher{}, dir: t.TempDir()}
}

// options are certify's options for this environment: fast retries, a
// short webhook wait, a non-UTC zone so that offsets show.
func (e *env) options(t *testing.T) Options {
	t.Helper()
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		BaseURL:          e.baseURL,
		AuthURL:          e.authURL,
		ClientID:         testClientID,
		ClientSecret:     testClientSecret,
		CredentialSource: "FUSE_CLIENT_ID and FUSE_CLIENT_SECRET",
		BuiltInSandbox:   true,
		OutDir:           e.dir,
		Listener:         e.hookLn,
		WebhookWait:      10 * time.Second,
		Location:         dubai,
		HTTPClient:       &http.Client{Transport: e.tokens},
		MaxRetries:       2,
		BaseBackoff:      time.Millisecond,
		MaxBackoff:       5 * time.Millisecond,
		Version:          "test",
	}
}

func (e *env) run(t *testing.T, o Options) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// tokenCatcher is a transport that remembers every access token issued.
type tokenCatcher struct {
	mu     sync.Mutex
	tokens []string
}

func (c *tokenCatcher) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.URL.Path != sandbox.TokenPath {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var tr fuse.TokenResponse
	if json.Unmarshal(b, &tr) == nil && tr.AccessToken != "" {
		c.mu.Lock()
		c.tokens = append(c.tokens, tr.AccessToken)
		c.mu.Unlock()
	}
	return resp, nil
}

func (c *tokenCatcher) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tokens...)
}

// reqLine is a line of requests.jsonl as a reader of the evidence sees it.
type reqLine struct {
	Line            int               `json:"line"`
	Step            string            `json:"step"`
	Time            string            `json:"time"`
	Attempt         int               `json:"attempt"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Query           string            `json:"query"`
	Status          int               `json:"status"`
	Token           string            `json:"token"`
	RequestHeaders  map[string]string `json:"request_headers"`
	RequestBody     json.RawMessage   `json:"request_body"`
	ResponseBody    json.RawMessage   `json:"response_body"`
	ResponseHeaders map[string]string `json:"response_headers"`
}

func (l reqLine) tokenRequest() bool { return l.Path == sandbox.TokenPath }

// webhookLine is a line of webhooks.jsonl.
type webhookLine struct {
	Line       int             `json:"line"`
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	ThisRun    bool            `json:"this_run"`
	StatusSent int             `json:"status_sent"`
	Stored     bool            `json:"stored"`
	EventsSeq  int64           `json:"events_seq"`
	ReceivedAt string          `json:"received_at"`
	Body       json.RawMessage `json:"body"`
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s line %d: %v", path, len(out)+1, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// evidenceFiles returns every file in dir and every entry of every zip in
// it, by name, decompressed.
func evidenceFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = b
		if strings.HasSuffix(p, ".zip") {
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				return err
			}
			for _, f := range zr.File {
				rc, err := f.Open()
				if err != nil {
					return err
				}
				zb, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return err
				}
				out[p+"!"+f.Name] = zb
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func requirement(t *testing.T, res Result, id string) Requirement {
	t.Helper()
	for _, q := range res.Requirements {
		if q.ID == id {
			return q
		}
	}
	t.Fatalf("no requirement %s", id)
	return Requirement{}
}
