package backtest

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// maxPlotPoints bounds the points per line; longer series are reduced to
// the peak of each bucket, which keeps spikes visible.
const maxPlotPoints = 2400

// WritePlot draws a PNG of the result: actual load and predictive scaling's
// served value on top, the replicas of reactive and predictive scaling below,
// against days since the first sample.
func WritePlot(w io.Writer, res *Result, title string) error {
	if len(res.Samples) == 0 {
		return fmt.Errorf("plot: no samples")
	}
	start := res.Samples[0].TS
	day := func(ts int64) float64 { return float64(ts-start) / 86400 }

	load := make(plotter.XYs, len(res.Samples))
	served := make(plotter.XYs, len(res.Samples))
	pred := res.Served[StrategyPredictive]
	for i, s := range res.Samples {
		load[i] = plotter.XY{X: day(s.TS), Y: s.Value}
		served[i] = plotter.XY{X: day(s.TS), Y: pred[i]}
	}
	replicas := func(r []int32) plotter.XYs {
		xy := make(plotter.XYs, len(r))
		for k, n := range r {
			xy[k] = plotter.XY{X: day(start + int64(k)*res.TickSeconds), Y: float64(n)}
		}
		return xy
	}

	rep := res.Report
	top := plot.New()
	top.Title.Text = fmt.Sprintf("%s: load and served value (horizon %s, q%.2g)", title, seconds(rep.Settings.HorizonSeconds), rep.Settings.Quantile)
	top.Y.Label.Text = "load"
	top.X.Label.Text = "days"
	bottom := plot.New()
	bottom.Title.Text = fmt.Sprintf("replicas: reactive at %.0f%% vs predictive at %.0f%% (%s pod-minutes)",
		100*rep.Settings.ReactiveTarget, 100*rep.Predictive.Target, pct(-rep.Predictive.Saving))
	bottom.Y.Label.Text = "replicas"
	bottom.X.Label.Text = "days"
	for _, p := range []*plot.Plot{top, bottom} {
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		p.Legend.Left = true
	}
	warm := day(start + int64(rep.Settings.WarmupSeconds))

	gray := color.RGBA{R: 120, G: 120, B: 120, A: 255}
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange := color.RGBA{R: 230, G: 110, B: 20, A: 255}
	lines := []struct {
		p     *plot.Plot
		name  string
		xy    plotter.XYs
		color color.Color
		width vg.Length
	}{
		{top, "served (predictive)", downsample(served), blue, 1},
		{top, "actual load", downsample(load), gray, 0.8},
		{bottom, fmt.Sprintf("reactive %.0f%%", 100*rep.Settings.ReactiveTarget), downsample(replicas(res.ReactiveReplicas)), orange, 1},
		{bottom, fmt.Sprintf("predictive %.0f%%", 100*rep.Predictive.Target), downsample(replicas(res.PredictiveReplicas)), blue, 0.8},
	}
	for _, l := range lines {
		ln, err := plotter.NewLine(l.xy)
		if err != nil {
			return fmt.Errorf("plot %s: %w", l.name, err)
		}
		ln.Color = l.color
		ln.Width = l.width
		l.p.Add(ln)
		l.p.Legend.Add(l.name, ln)
	}
	for _, p := range []*plot.Plot{top, bottom} {
		if warm > 0 {
			p.Y.Min = math.Min(p.Y.Min, 0)
			mark, err := plotter.NewLine(plotter.XYs{{X: warm, Y: p.Y.Min}, {X: warm, Y: p.Y.Max}})
			if err != nil {
				return fmt.Errorf("plot warm-up mark: %w", err)
			}
			mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			mark.Color = color.Black
			p.Add(mark)
			p.Legend.Add("end of warm-up", mark)
		}
	}

	img := vgimg.New(30*vg.Centimeter, 20*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("plot: write png: %w", err)
	}
	return nil
}

// downsample reduces xy to at most maxPlotPoints points: per bucket, the
// point with the largest Y.
func downsample(xy plotter.XYs) plotter.XYs {
	if len(xy) <= maxPlotPoints {
		return xy
	}
	bucket := (len(xy) + maxPlotPoints - 1) / maxPlotPoints
	out := make(plotter.XYs, 0, maxPlotPoints)
	for i := 0; i < len(xy); i += bucket {
		best := xy[i]
		for j := i + 1; j < min(i+bucket, len(xy)); j++ {
			if xy[j].Y > best.Y {
				best = xy[j]
			}
		}
		out = append(out, best)
	}
	return out
}
