package preview

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

const (
	columns     = 2
	tileWidth   = 7.5 * vg.Inch
	tileHeight  = 3.4 * vg.Inch
	headerSpace = 0.5 * vg.Inch
	maxLines    = 8
)

// unitLabel gives the y-axis label and value scale of a Grafana unit.
func unitLabel(unit string) (string, float64) {
	switch unit {
	case "percentunit":
		return "%", 100
	case "reqps":
		return "requests/s", 1
	case "ops":
		return "operations/s", 1
	case "currencyUSD":
		return "USD", 1
	case "ms":
		return "milliseconds", 1
	case "s":
		return "seconds", 1
	case "bytes":
		return "bytes", 1
	default:
		return "", 1
	}
}

// render draws the panels of one dashboard in a grid under a header line.
func render(path, header string, panels []PanelResult, spans []span) error {
	rows := (len(panels) + columns - 1) / columns
	width := columns * tileWidth
	height := vg.Length(rows)*tileHeight + headerSpace
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Path())

	sty := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 16),
		Handler: plot.DefaultTextHandler,
		XAlign:  draw.XLeft,
		YAlign:  draw.YCenter,
	}
	dc.FillText(sty, vg.Point{X: 0.2 * vg.Inch, Y: height - headerSpace/2}, header)

	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, columns)
	}
	for i, res := range panels {
		p, err := panelPlot(res, spans)
		if err != nil {
			return fmt.Errorf("draw panel %q: %w", res.Panel.Title, err)
		}
		grid[i/columns][i%columns] = p
	}
	body := draw.Crop(dc, 0, 0, 0, -headerSpace)
	tiles := draw.Tiles{Rows: rows, Cols: columns, PadX: 0.15 * vg.Inch, PadY: 0.15 * vg.Inch, PadTop: 0.05 * vg.Inch, PadBottom: 0.1 * vg.Inch, PadLeft: 0.1 * vg.Inch, PadRight: 0.15 * vg.Inch}
	canvases := plot.Align(grid, tiles, body)
	for r := range grid {
		for c := range grid[r] {
			if grid[r][c] != nil {
				grid[r][c].Draw(canvases[r][c])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	png := vgimg.PngCanvas{Canvas: img}
	if _, err := png.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func panelPlot(res PanelResult, spans []span) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = res.Panel.Title
	p.Title.TextStyle.Font.Size = vg.Points(12)
	label, scale := unitLabel(res.Panel.Unit())
	p.Y.Label.Text = label
	p.Y.Label.TextStyle.Font.Size = vg.Points(9)
	p.X.Tick.Marker = clockTicks{}
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	p.Legend.ThumbnailWidth = 0.2 * vg.Inch
	p.Add(plotter.NewGrid())

	series := res.Series
	if len(series) > maxLines {
		series = largest(series, maxLines)
		p.Title.Text = fmt.Sprintf("%s (%d of %d series)", res.Panel.Title, maxLines, len(res.Series))
	}
	if len(series) == 0 {
		p.Title.Text += " (no data)"
	}
	if len(spans) > 0 {
		p.Add(spanPlotter(spans))
	}
	for i, s := range series {
		xys := make(plotter.XYs, len(s.Values))
		for k := range s.Values {
			xys[k].X = float64(s.Times[k].Unix())
			xys[k].Y = s.Values[k] * scale
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Width = vg.Points(1.2)
		l.Color = plotutil.Color(i)
		if i >= len(plotutil.DefaultColors) {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(s.Legend, l)
	}
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	return p, nil
}

// largest keeps the n series with the largest mean, in legend order.
func largest(series []Series, n int) []Series {
	idx := make([]int, len(series))
	means := make([]float64, len(series))
	for i, s := range series {
		idx[i] = i
		means[i] = mean(s.Values)
	}
	sort.SliceStable(idx, func(a, b int) bool { return means[idx[a]] > means[idx[b]] })
	keep := append([]int(nil), idx[:n]...)
	sort.Ints(keep)
	out := make([]Series, 0, n)
	for _, i := range keep {
		out = append(out, series[i])
	}
	return out
}

// spanPlotter shades the annotated time ranges behind the lines.
type spanPlotter []span

// Plot implements plot.Plotter.
func (sp spanPlotter) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	shade := color.NRGBA{R: 255, G: 140, B: 0, A: 70}
	for _, s := range sp {
		x0 := trX(float64(s.from.Unix()))
		x1 := trX(float64(s.to.Add(time.Minute).Unix()))
		x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(shade, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// DataRange implements plot.DataRanger so that the spans widen the x axis if needed.
func (sp spanPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, s := range sp {
		xmin = math.Min(xmin, float64(s.from.Unix()))
		xmax = math.Max(xmax, float64(s.to.Unix()))
	}
	return xmin, xmax, math.Inf(1), math.Inf(-1)
}

// clockTicks marks round hours (UTC), with the date at midnight.
type clockTicks struct{}

// Ticks implements plot.Ticker.
func (clockTicks) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration(hi-lo) * time.Second
	step := 15 * time.Minute
	switch {
	case span > 36*time.Hour:
		step = 6 * time.Hour
	case span > 12*time.Hour:
		step = 3 * time.Hour
	case span > 3*time.Hour:
		step = time.Hour
	}
	minor := step / 3
	var ticks []plot.Tick
	first := math.Ceil(lo/minor.Seconds()) * minor.Seconds()
	for v := first; v <= hi; v += minor.Seconds() {
		t := time.Unix(int64(v), 0).UTC()
		tick := plot.Tick{Value: v}
		if int64(v)%int64(step.Seconds()) == 0 {
			tick.Label = t.Format("15:04")
			if t.Hour() == 0 && t.Minute() == 0 {
				tick.Label = t.Format("Jan 2")
			}
		}
		ticks = append(ticks, tick)
	}
	return ticks
}
