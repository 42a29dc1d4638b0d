package pages

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// Segment is one part of a progress bar.
type Segment struct {
	Key   string // catalogue key suffix and CSS class: issued, failed, review, in_doubt, pending, cancelled
	Count int
}

// segments splits a batch's rows for the bar: rows in doubt are drawn on
// their own, taken out of pending and review where they sit.
func segments(counts map[string]int, inDoubt, pendingInDoubt int) []Segment {
	pending := counts["pending"] + counts["in_flight"] - pendingInDoubt
	review := counts["review"] - (inDoubt - pendingInDoubt)
	return []Segment{{"issued", counts["issued"]}, {"failed", counts["failed"]}, {"review", max(review, 0)},
		{"in_doubt", inDoubt}, {"pending", max(pending, 0)}, {"cancelled", counts["cancelled"]}}
}

// bar draws the segments as an inline SVG (attributes, no style: the CSP
// allows no inline style). Widths are percentages of the total.
func bar(segs []Segment, title string) template.HTML {
	total := 0
	for _, s := range segs {
		total += s.Count
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="pbar" viewBox="0 0 1000 12" preserveAspectRatio="none" role="img" aria-label="%s"><title>%s</title>`,
		html.EscapeString(title), html.EscapeString(title))
	b.WriteString(`<rect class="seg-bg" x="0" y="0" width="1000" height="12"/>`)
	x := 0.0
	for _, s := range segs {
		if total == 0 {
			break
		}
		w := float64(s.Count) * 1000 / float64(total)
		fmt.Fprintf(&b, `<rect class="seg-%s" data-seg="%s" x="%.2f" y="0" width="%.2f" height="12"/>`, s.Key, s.Key, x, w)
		x += w
	}
	b.WriteString(`</svg>`)
	return safeHTML(b.String())
}

// Chart geometry, shared with static/batch.js.
const (
	chartW = 600
	chartH = 140
	chartP = 28 // left padding for the axis labels
)

// lineChart draws values (oldest first) as a polyline scaled to the
// largest; label names the y axis's top.
func lineChart(id string, values []float64, top string) template.HTML {
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	var pts strings.Builder
	for i, v := range values {
		x := float64(chartP)
		if len(values) > 1 {
			x += float64(i) * float64(chartW-chartP) / float64(len(values)-1)
		}
		y := float64(chartH - 4)
		if peak > 0 {
			y -= v / peak * float64(chartH-18)
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return safeHTML(fmt.Sprintf(`<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img">`+
		`<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/><line class="axis" x1="%d" y1="10" x2="%d" y2="%d"/>`+
		`<text class="peak" x="2" y="14">%s</text><text x="2" y="%d">0</text>`+
		`<polyline class="line" points="%s"/></svg>`,
		html.EscapeString(id), chartW, chartH, chartP, chartH-4, chartW, chartH-4, chartP, chartP, chartH-4,
		html.EscapeString(top), chartH-4, strings.TrimSpace(pts.String())))
}

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	Value float64
	Text  string // the value as shown
}

// barChart draws bars side by side, scaled to the largest.
func barChart(bars []Bar) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	peak := 0.0
	for _, b := range bars {
		peak = max(peak, b.Value)
	}
	w := float64(chartW-chartP) / float64(len(bars))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img">`, chartW, chartH+16)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, chartP, chartH-4, chartW, chartH-4)
	for i, bb := range bars {
		h := 0.0
		if peak > 0 {
			h = bb.Value / peak * float64(chartH-24)
		}
		x := float64(chartP) + float64(i)*w
		fmt.Fprintf(&b, `<rect class="col" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			x+w*0.1, float64(chartH-4)-h, w*0.8, h, html.EscapeString(bb.Label), html.EscapeString(bb.Text))
		if len(bars) <= 16 || i%(len(bars)/8+1) == 0 {
			fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d">%s</text>`, x+w*0.1, chartH+10, html.EscapeString(bb.Label))
		}
	}
	fmt.Fprintf(&b, `<text class="peak" x="2" y="14">%s</text></svg>`, html.EscapeString(fmt.Sprintf("%.0f", peak)))
	return safeHTML(b.String())
}
