package sandbox

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/ledgerd/ledgerd/fuse"
)

// TestSandboxListingsHaveFusesEnvelope: the listing rows of the
// conformance test check a few pages, items and all. This checks the
// envelope alone, {"results": [...], "pages": {"next", "size"}}, against
// the reference's own listing schemas with their constraint on the items
// taken out (a copy of the reference, validated by the same JSON Schema
// library), on every page of a walk, first page and follow-ups.
func TestSandboxListingsHaveFusesEnvelope(t *testing.T) {
	ref := loadReference(t)
	for _, name := range []string{"ListAccountsPagedResponse", "ListTransactionsPagedResponse"} {
		results, ok := lookup(ref.doc, "components", "schemas", name, "properties", "results")
		if !ok {
			t.Fatalf("the reference has no %s.properties.results", name)
		}
		delete(results, "items")
	}
	e := newEnv(t, Options{Seed: 16})
	fx := newFixture(e)
	for _, c := range []struct{ route, path string }{
		{"/v1/accounts", "/v1/accounts"},
		{"/v1/accounts/{account_id}/transactions", "/v1/accounts/" + fx.account + "/transactions"},
	} {
		q := url.Values{"page_size": {"2"}}
		pages := 0
		for ; pages < 100; pages++ {
			status, body := e.do("GET", c.path+"?"+q.Encode(), nil, nil)
			if status != 200 {
				t.Fatalf("%s?%s: %d %s", c.path, q.Encode(), status, body)
			}
			if err := ref.conforms("GET", c.route, 200, body); err != nil {
				t.Fatalf("%s page %d: the envelope does not conform: %v", c.route, pages+1, err)
			}
			var p fuse.Page[json.RawMessage]
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Pages.Size != 2 || len(p.Data) > 2 {
				t.Errorf("%s page %d: %d results, pages.size %d, want the page size 2", c.route, pages+1, len(p.Data), p.Pages.Size)
			}
			if p.Pages.Next == nil {
				break
			}
			q = url.Values{"cursor": {*p.Pages.Next}}
		}
		if pages < 1 {
			t.Errorf("%s: one page only; the follow-up pages were not checked", c.route)
		}
	}
	// The relaxed schemas still refuse what is not the envelope.
	for _, body := range []string{
		`{"data":[],"next_cursor":null}`,
		`{"results":[]}`,
		`{"results":[],"pages":{"next":null}}`,
		`{"results":{},"pages":{"next":null,"size":1}}`,
		`{"results":[],"pages":{"next":1,"size":1}}`,
	} {
		if ref.conforms("GET", "/v1/accounts", 200, []byte(body)) == nil {
			t.Errorf("the relaxed listing schema accepts %s", body)
		}
	}
}

// lookup follows keys through nested JSON objects.
func lookup(v any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		v = obj[k]
	}
	obj, ok := v.(map[string]any)
	return obj, ok
}
