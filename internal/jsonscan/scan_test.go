package jsonscan

import (
	"encoding/json"
	"testing"
)

// TestSkipAcceptsWhatEncodingJSONAccepts: Skip reads a value exactly when
// encoding/json finds it valid, objects and arrays alike, at any nesting
// up to its limit.
func TestSkipAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	for _, doc := range []string{
		`{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `[1,2,3]`, `{"a":[1,{"b":null}],"c":"d"}`,
		`[[],[{}],{"x":[true,false]}]`, `{"a\u0041":"\n"}`, `-1.5e3`, `"s"`, `true`,
		`{`, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{1:2}`, `{"a":1 "b":2}`,
		`[1 2]`, `{"a":1]`, `[1}`, `{"a":[}`, `[{]`, `{"a":tru}`, `[nul]`,
		`0`, `-0`, `10`, `0.5`, `1e5`, `1E+5`, `1e-5`, `-12.34e+56`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `1.e5`, `+1`, `--1`,
	} {
		s := Scanner{B: []byte(doc)}
		got := s.Skip(0, 10) && s.End()
		if want := json.Valid([]byte(doc)); got != want {
			t.Errorf("Skip(%s) = %v, encoding/json says valid %v", doc, got, want)
		}
	}
	deep := []byte(`[[[[{"a":[[1]]}]]]]`) // the 1 at depth 7
	if s := (Scanner{B: deep}); !s.Skip(0, 7) {
		t.Errorf("Skip refused %s within a limit of 7", deep)
	}
	if s := (Scanner{B: deep}); s.Skip(0, 6) {
		t.Errorf("Skip read %s past a limit of 6", deep)
	}
}

// skipDoc has objects and arrays nested in each other, and every kind of
// scalar.
var skipDoc = []byte(`{"a": [1, 2, {"b": "c", "d": [true, false, null]}], "e": {"f": {"g": [[], {}, "h\u0041"]}}, ` +
	`"i": -1.5e3, "list": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}`)

func BenchmarkSkip(b *testing.B) {
	for b.Loop() {
		s := Scanner{B: skipDoc}
		if !s.Skip(0, 10) || !s.End() {
			b.Fatal("skip")
		}
	}
}

var numberDocs = [][]byte{[]byte(`12345678`), []byte(`-1.5e3`), []byte(`0.000123`), []byte(`9223372036854775807`)}

func BenchmarkNumber(b *testing.B) {
	for b.Loop() {
		for _, doc := range numberDocs {
			s := Scanner{B: doc}
			if _, ok := s.Number(); !ok {
				b.Fatal("number")
			}
		}
	}
}
