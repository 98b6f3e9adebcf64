package admin

import "strconv"

// The status page's charts are inline SVG bar charts computed here, so the
// page needs no script and no external asset. Geometry is integer pixels in
// the SVG's own coordinate space; CSS scales the whole picture to the
// column's width.

// point is one bar: its value (a count, or an amount in minor units), the
// tooltip shown on hover, an optional CSS class, and the label printed
// under it when it falls on a labelled position.
type point struct {
	Value int64
	Label string
	Title string
	Class string
}

// chart is what the template draws.
type chart struct {
	Title    string
	Caption  string
	Width    int
	Height   int
	MaxLabel string // the value at the top of the plot; "" when all are zero
	PlotTop  int
	PlotLeft int
	Baseline int
	Right    int
	Bars     []chartBar
	Labels   []chartLabel
	Empty    string // shown instead of bars when there is no data at all
}

type chartBar struct {
	X, Y, W, H int
	Title      string
	Class      string
}

type chartLabel struct {
	X, Y   int
	Text   string
	Anchor string
}

// Chart geometry, in SVG user units.
const (
	chartLeft    = 56
	chartPlotW   = 480
	chartRight   = 8
	chartMaxBarW = 28
	chartTop     = 14
	chartPlotH   = 90
	chartBottom  = 24
)

// barChart lays out points left to right across a plot of fixed width,
// scaled so the largest value fills its height. format renders a value for
// the axis. A fixed width keeps every chart's text the same size however
// many bars it has.
func barChart(title, caption string, pts []point, format func(int64) string) chart {
	c := chart{
		Title:    title,
		Caption:  caption,
		Width:    chartLeft + chartPlotW + chartRight,
		Height:   chartTop + chartPlotH + chartBottom,
		PlotTop:  chartTop,
		PlotLeft: chartLeft,
		Baseline: chartTop + chartPlotH,
		Right:    chartLeft + chartPlotW,
	}
	if len(pts) == 0 {
		c.Empty = "no data yet"
		return c
	}
	pitch := max(chartPlotW/len(pts), 2)
	width := min(max(pitch-max(1, pitch/5), 1), chartMaxBarW)
	var peak int64
	for _, p := range pts {
		peak = max(peak, p.Value)
	}
	if peak > 0 {
		c.MaxLabel = format(peak)
	}
	for i, p := range pts {
		h := scale(p.Value, peak, chartPlotH)
		class := p.Class
		if p.Value > 0 && h < 1 {
			h = 1 // a non-zero value never disappears
		}
		if p.Value <= 0 {
			h, class = 1, "zero" // a stub keeps the timeline visible
		}
		c.Bars = append(c.Bars, chartBar{
			X: chartLeft + i*pitch + (pitch-width)/2, Y: c.Baseline - h, W: width, H: h,
			Title: p.Title, Class: class,
		})
	}
	// Label the first, the middle and the last bar under its centre (the
	// outer two aligned to stay inside the plot).
	for _, i := range labelled(len(pts)) {
		if pts[i].Label == "" {
			continue
		}
		x, anchor := chartLeft+i*pitch+pitch/2, "middle"
		switch {
		case i == 0 && pitch < 80:
			x, anchor = chartLeft+i*pitch, "start"
		case i == len(pts)-1 && i > 0 && pitch < 80:
			x, anchor = chartLeft+(i+1)*pitch, "end"
		}
		c.Labels = append(c.Labels, chartLabel{X: x, Y: c.Baseline + 16, Text: pts[i].Label, Anchor: anchor})
	}
	return c
}

func labelled(n int) []int {
	switch {
	case n <= 0:
		return nil
	case n == 1:
		return []int{0}
	case n == 2:
		return []int{0, 1}
	}
	return []int{0, n / 2, n - 1}
}

// scale returns v/peak of size in whole units, in integer arithmetic (the
// values may be money). Both are shrunk together first so v*size cannot
// overflow.
func scale(v, peak int64, size int) int {
	if v <= 0 || peak <= 0 {
		return 0
	}
	for peak > 1<<40 {
		v, peak = v>>10, peak>>10
	}
	return int(v * int64(size) / max(peak, 1))
}

// formatCount renders a count with thousands separators.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}
