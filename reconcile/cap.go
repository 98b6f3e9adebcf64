package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The cap on new breaks (Options.MaxNewBreaks) keeps a flood of findings
// (thousands of forged webhooks, a feed that stopped for a week) from
// burying the breaks that matter. It is applied by severity: every critical
// break is recorded whatever the cap, balance drifts first; the cap takes
// the most severe of the rest, and the too_many_breaks break and the run's
// detail count what it left out by severity and category. Breaks already
// recorded are updated whatever the cap: a break the cap would have left
// out is never resolved by the run it was hidden from.

// severityOrder ranks severities, most urgent first.
var severityOrder = []Severity{Critical, Warning, Info}

// firstCategories come before every other category of their severity, in
// this order: what money is wrong on an account, then what the cap left
// out.
var firstCategories = []Category{BalanceDrift, TooManyBreaks}

// rank orders findings for the cap and for reports: severity first, then
// firstCategories; lower is more urgent.
func rank(sev Severity, cat Category) (int, int) {
	s := slices.Index(severityOrder, sev)
	if s < 0 {
		s = len(severityOrder)
	}
	c := slices.Index(firstCategories, cat)
	if c < 0 {
		c = len(firstCategories)
	}
	return s, c
}

// rankSQL is rank as an ORDER BY expression over breaks.severity and
// breaks.category, so that reports list breaks in the order the cap keeps
// them.
func rankSQL() string {
	var b strings.Builder
	b.WriteString("CASE severity")
	for i, s := range severityOrder {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", s, i)
	}
	fmt.Fprintf(&b, " ELSE %d END, CASE category", len(severityOrder))
	for i, c := range firstCategories {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", c, i)
	}
	fmt.Fprintf(&b, " ELSE %d END", len(firstCategories))
	return b.String()
}

// alwaysRecorded reports whether a new break is recorded whatever the cap.
func alwaysRecorded(f Finding) bool {
	return f.Severity == Critical || f.Category == TooManyBreaks
}

// breakKey identifies a break across runs.
type breakKey struct {
	category Category
	subject  string
}

// heldFinding is a new break below critical waiting for the cap's
// decision, with the order it arrived in (earlier wins a tie).
type heldFinding struct {
	f   Finding
	seq int
}

// heldSet holds the new breaks below critical a run found, until the run
// knows how many the cap leaves room for. It never holds more than twice
// the cap: past that it keeps the most urgent and counts the rest as left
// out, so memory stays bounded by the cap, not by the flood.
type heldSet struct {
	held map[breakKey]heldFinding
	seq  int
	left map[Severity]map[Category]int
}

// add holds f; room is how many new breaks the cap still leaves.
func (h *heldSet) add(f Finding, room int) {
	if h.held == nil {
		h.held = map[breakKey]heldFinding{}
	}
	h.seq++
	h.held[breakKey{f.Category, f.Subject}] = heldFinding{f: f, seq: h.seq}
	if len(h.held) > 2*max(room, 1) {
		h.trim(room)
	}
}

// trim keeps the room most urgent findings held, counts the others as left
// out, and returns the ones kept, most urgent first.
func (h *heldSet) trim(room int) []Finding {
	all := make([]heldFinding, 0, len(h.held))
	for _, x := range h.held {
		all = append(all, x)
	}
	slices.SortFunc(all, func(a, b heldFinding) int {
		as, ac := rank(a.f.Severity, a.f.Category)
		bs, bc := rank(b.f.Severity, b.f.Category)
		return cmp.Or(cmp.Compare(as, bs), cmp.Compare(ac, bc), cmp.Compare(a.seq, b.seq))
	})
	room = max(room, 0)
	for _, x := range all[min(room, len(all)):] {
		h.leaveOut(x.f)
		delete(h.held, breakKey{x.f.Category, x.f.Subject})
	}
	kept := make([]Finding, 0, min(room, len(all)))
	for _, x := range all[:min(room, len(all))] {
		kept = append(kept, x.f)
	}
	return kept
}

func (h *heldSet) leaveOut(f Finding) {
	if h.left == nil {
		h.left = map[Severity]map[Category]int{}
	}
	if h.left[f.Severity] == nil {
		h.left[f.Severity] = map[Category]int{}
	}
	h.left[f.Severity][f.Category]++
}

// leftOut is how many new breaks the cap left out.
func (h *heldSet) leftOut() int {
	n := 0
	for _, byCat := range h.left {
		for _, k := range byCat {
			n += k
		}
	}
	return n
}

// leftOutCounts says what the cap left out, by severity (most urgent
// first) and category (report order): "warning: incomplete 980,
// missing_at_fuse 20; info: missing_in_ledger 7".
func (h *heldSet) leftOutCounts() string {
	var parts []string
	sevs := append(slices.Clone(severityOrder), otherKeys(h.left, severityOrder)...)
	for _, s := range sevs {
		byCat := h.left[s]
		if len(byCat) == 0 {
			continue
		}
		var cats []string
		for _, c := range append(slices.Clone(Categories), otherKeys(byCat, Categories)...) {
			if n := byCat[c]; n > 0 {
				cats = append(cats, fmt.Sprintf("%s %d", c, n))
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %s", s, strings.Join(cats, ", ")))
	}
	return strings.Join(parts, "; ")
}

// otherKeys returns the keys of m not in known, sorted.
func otherKeys[K ~string, V any](m map[K]V, known []K) []K {
	var out []K
	for k := range m {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
