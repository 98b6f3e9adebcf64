package admin

import (
	"strconv"
	"testing"
	"time"
)

func TestScaleStaysInIntegersWithoutOverflow(t *testing.T) {
	tests := []struct {
		v, peak int64
		size    int
		want    int
	}{
		{0, 100, 90, 0},
		{50, 100, 90, 45},
		{100, 100, 90, 90},
		{1, 1_000_000, 90, 0},
		{-5, 100, 90, 0},
		{5, 0, 90, 0},
		{1 << 62, 1 << 62, 90, 90}, // v*size would overflow int64
		{1 << 61, 1 << 62, 90, 45}, //
		{999_999_999_999_999, 1_000_000_000_000_000, 90, 89},
	}
	for _, tt := range tests {
		if got := scale(tt.v, tt.peak, tt.size); got != tt.want {
			t.Errorf("scale(%d, %d, %d) = %d, want %d", tt.v, tt.peak, tt.size, got, tt.want)
		}
	}
}

func TestBarChartKeepsNonZeroBarsVisibleAndZeroAsStubs(t *testing.T) {
	pts := []point{{Value: 0, Label: "a"}, {Value: 1, Label: "b"}, {Value: 1_000_000, Label: "c", Class: "bad"}}
	c := barChart("t", "c", pts, func(v int64) string { return strconv.FormatInt(v, 10) })
	if len(c.Bars) != 3 || c.MaxLabel != "1000000" {
		t.Fatalf("chart = %+v", c)
	}
	if b := c.Bars[0]; b.H != 1 || b.Class != "zero" {
		t.Errorf("zero bar = %+v", b)
	}
	if b := c.Bars[1]; b.H != 1 || b.Class != "" {
		t.Errorf("tiny bar = %+v", b)
	}
	if b := c.Bars[2]; b.H != chartPlotH || b.Y != c.PlotTop || b.Class != "bad" {
		t.Errorf("peak bar = %+v", b)
	}
	for _, b := range c.Bars {
		if b.X < c.PlotLeft || b.X+b.W > c.Right || b.W < 1 || b.W > chartMaxBarW {
			t.Errorf("bar outside the plot: %+v (plot %d..%d)", b, c.PlotLeft, c.Right)
		}
	}
	if len(c.Labels) != 3 {
		t.Errorf("labels = %+v", c.Labels)
	}
	if empty := barChart("t", "c", nil, nil); empty.Empty == "" || len(empty.Bars) != 0 {
		t.Errorf("empty chart = %+v", empty)
	}
	if flat := barChart("t", "c", []point{{Value: 0}}, nil); flat.MaxLabel != "" {
		t.Errorf("all-zero chart max label = %q", flat.MaxLabel)
	}
}

func TestAgeReadsLikeAPersonWouldSayIt(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Hour, "just now"},
		{30 * time.Second, "just now"},
		{7 * time.Minute, "7m"},
		{5*time.Hour + 12*time.Minute, "5h 12m"},
		{28 * time.Hour, "1d 4h"},
		{40 * 24 * time.Hour, "40d 0h"},
	}
	for _, tt := range tests {
		if got := age(tt.d); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatCountGroupsThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45678: "-45,678"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestVerdictBadgeIsNeverGreenForIncomplete(t *testing.T) {
	for v, want := range map[string]string{
		"RECONCILED": "ok", "RECONCILED_WITH_PENDING": "pending", "BREAKS": "bad", "INCOMPLETE": "warn",
	} {
		if got := verdictClass(v); got != want {
			t.Errorf("verdictClass(%s) = %q, want %q", v, got, want)
		}
	}
}
