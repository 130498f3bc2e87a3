package bench

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlots writes PNG charts into dir: one latency CDF per function and,
// if there was a sweep, p99 latency against offered load. It returns the
// files written.
func (r *Report) WritePlots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	var functions []string
	for _, res := range r.Results {
		if f := res.Target.Function; f != "-" && !slices.Contains(functions, f) {
			functions = append(functions, f)
		}
	}
	for _, fn := range functions {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: cold-start latency CDF (%s)", fn, r.Host.short())
		p.X.Label.Text = "latency per call (µs, log scale)"
		p.Y.Label.Text = "fraction of calls"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top = false
		p.Legend.Left = false
		i := 0
		for _, res := range r.Results {
			t := res.Target
			if (t.Function != fn && !(t.Function == "-" && fn == "noop")) || len(res.Samples) == 0 {
				continue
			}
			if err := addCDF(p, t.System, res.Samples, i); err != nil {
				return files, err
			}
			i++
		}
		name := filepath.Join(dir, "cdf-"+fn+".png")
		if err := p.Save(8*vg.Inch, 5*vg.Inch, name); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	if len(r.Sweeps) > 0 {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("latency against offered load, open loop (%s)", r.Host.short())
		p.X.Label.Text = "offered calls per second (log scale)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Label.Text = "latency (µs, log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top = true
		p.Legend.Left = true
		for i, sw := range r.Sweeps {
			for j, q := range []struct {
				name string
				get  func(SweepStep) time.Duration
			}{{"p50", func(s SweepStep) time.Duration { return s.P50 }}, {"p99", func(s SweepStep) time.Duration { return s.P99 }}} {
				pts := make(plotter.XYs, len(sw.Steps))
				for k, st := range sw.Steps {
					pts[k] = plotter.XY{X: st.Offered, Y: max(us(q.get(st)), 1)}
				}
				l, s, err := plotter.NewLinePoints(pts)
				if err != nil {
					return files, err
				}
				c := plotutil.Color(i)
				l.Color, s.Color = c, c
				if j == 1 {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				p.Add(l, s)
				p.Legend.Add(fmt.Sprintf("%s %s %s", sw.System, sw.Function, q.name), l, s)
			}
		}
		name := filepath.Join(dir, "load-sweep.png")
		if err := p.Save(8*vg.Inch, 5*vg.Inch, name); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	return files, nil
}

func addCDF(p *plot.Plot, label string, samples []Sample, i int) error {
	d := make([]float64, len(samples))
	for k, s := range samples {
		d[k] = max(us(s.Total), 0.1)
	}
	slices.Sort(d)
	// At most ~500 points per line keeps the PNG light.
	stride := max(1, len(d)/500)
	var pts plotter.XYs
	for k := 0; k < len(d); k += stride {
		pts = append(pts, plotter.XY{X: d[k], Y: float64(k+1) / float64(len(d))})
	}
	pts = append(pts, plotter.XY{X: d[len(d)-1], Y: 1})
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	if i >= 7 {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		l.Color = color.Gray{Y: uint8(40 * (i - 6))}
	}
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

func (h Host) short() string {
	kvm, _, _ := strings.Cut(h.KVM, " ")
	return fmt.Sprintf("%d cores, %s, KVM: %s", h.Cores, h.CPU, kvm)
}
