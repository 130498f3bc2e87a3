package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Measurement is one number of a report, for -json.
type Measurement struct {
	System   string  `json:"system"` // backend, floor or peer
	Kind     string  `json:"kind"`
	Function string  `json:"function"`
	Stat     string  `json:"stat"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Host     *Host   `json:"host"`
}

// Report is a complete sandboxbench run.
type Report struct {
	Host    Host
	N       int
	Results []*Result
	Sweeps  []*Sweep
	Skipped []string
}

// find returns the result for system and function ("" matches any).
func (r *Report) find(system, function string) *Result {
	for _, res := range r.Results {
		if res.Target.System == system && (function == "" || res.Target.Function == function) {
			return res
		}
	}
	return nil
}

// ratio describes a result relative to what it should be compared with.
func (r *Report) ratio(res *Result) (string, float64) {
	st := summarize(res.Samples)
	if st.N == 0 {
		return "", 0
	}
	t := res.Target
	rel := func(system, label string) (string, float64) {
		if o := r.find(system, t.Function); o != nil && o != res && len(o.Samples) > 0 {
			x := float64(st.P50) / float64(summarize(o.Samples).P50)
			return fmt.Sprintf("%.2f× %s", x, label), x
		}
		return "", 0
	}
	switch {
	case t.Kind == KindBackend && t.Function != "noop":
		// A floor says nothing about a compute-bound function; how the
		// backends compare with each other on it does.
		return rel("kvm", "kvm")
	case t.Kind == KindBackend && t.Floor != "":
		if f := r.find(t.Floor, ""); f != nil && len(f.Samples) > 0 {
			x := float64(st.P50) / float64(summarize(f.Samples).P50)
			return fmt.Sprintf("%.2f× %s", x, t.Floor), x
		}
	case t.System == "floor/fresh-vm":
		if k := r.find("kvm", t.Function); k != nil && len(k.Samples) > 0 {
			x := float64(st.P50) / float64(summarize(k.Samples).P50)
			return fmt.Sprintf("%.1f× slower than kvm", x), x
		}
	case t.Kind == KindPeer:
		if k := r.find("kvm", t.Function); k != nil && len(k.Samples) > 0 {
			x := float64(st.P50) / float64(summarize(k.Samples).P50)
			return fmt.Sprintf("%.0f× kvm", x), x
		}
	}
	return "", 0
}

// Measurements flattens the report for -json.
func (r *Report) Measurements() []Measurement {
	var ms []Measurement
	add := func(t *Target, stat string, v float64, unit string) {
		ms = append(ms, Measurement{System: t.System, Kind: t.Kind, Function: t.Function, Stat: stat, Value: v, Unit: unit, Host: &r.Host})
	}
	for _, res := range r.Results {
		st := summarize(res.Samples)
		t := res.Target
		add(t, "calls", float64(st.N), "calls")
		add(t, "errors", float64(res.Errors), "calls")
		if st.N == 0 {
			continue
		}
		for _, s := range []struct {
			name string
			v    float64
		}{{"p50", us(st.P50)}, {"p90", us(st.P90)}, {"p99", us(st.P99)}, {"max", us(st.Max)}, {"mean", us(st.Mean)}} {
			add(t, s.name, s.v, "µs")
		}
		add(t, "calls/s", st.PerSec, "calls/s")
		if desc, x := r.ratio(res); desc != "" {
			add(t, "ratio: "+desc, x, "ratio")
		}
		if ph, ok := medianPhases(res.Samples); ok {
			for _, p := range []struct {
				name string
				v    float64
			}{{"marshal", us(ph.Marshal)}, {"load", us(ph.Load)}, {"transfer", us(ph.Transfer)},
				{"execute", us(ph.Execute)}, {"outputs", us(ph.Outputs)}, {"other", us(ph.Other)}} {
				add(t, "phase "+p.name+" p50", p.v, "µs")
			}
		}
	}
	for _, sw := range r.Sweeps {
		t := &Target{System: sw.System, Kind: KindBackend, Function: sw.Function}
		for _, st := range sw.Steps {
			add(t, fmt.Sprintf("sweep %.0f/s p50", st.Offered), us(st.P50), "µs")
			add(t, fmt.Sprintf("sweep %.0f/s p99", st.Offered), us(st.P99), "µs")
			add(t, fmt.Sprintf("sweep %.0f/s achieved", st.Offered), st.Achieved, "calls/s")
		}
		add(t, "sustained rate", sw.Sustained, "calls/s")
	}
	return ms
}

// WriteJSON writes the measurements as one JSON array of objects.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Measurements())
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "tessera sandboxbench: a new sandbox per call, through outputs read; n=%d, calls interleaved across systems\n", r.N)
	fmt.Fprint(w, r.Host.String())
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cold start, µs\tcalls\tp50\tp90\tp99\tmax\tcalls/s\t\tcompared with\t")
	fn := ""
	for _, res := range r.Results {
		t := res.Target
		if t.Function != fn && t.Function != "-" {
			fn = t.Function
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\t\n", fn)
		}
		st := summarize(res.Samples)
		if st.N == 0 {
			fmt.Fprintf(tw, "  %s\t%d\t\t\t\t\t\t\tfailed: %v\t\n", t.System, 0, res.LastErr)
			continue
		}
		desc, _ := r.ratio(res)
		errs := ""
		if res.Errors > 0 {
			errs = fmt.Sprintf("%d errors, last: %v", res.Errors, res.LastErr)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t\t%s\t%s\n", t.System, st.N, us(st.P50), us(st.P90), us(st.P99), us(st.Max), st.PerSec, desc, errs)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "breakdown, median µs\tmarshal\tload\ttransfer input\texecute\toutputs\tother\ttotal p50\t")
	for _, res := range r.Results {
		ph, ok := medianPhases(res.Samples)
		if !ok {
			continue
		}
		st := summarize(res.Samples)
		fmt.Fprintf(tw, "  %s %s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", res.Target.System, res.Target.Function,
			us(ph.Marshal), us(ph.Load), us(ph.Transfer), us(ph.Execute), us(ph.Outputs), us(ph.Other), us(st.P50))
	}
	tw.Flush()

	if len(r.Sweeps) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "load sweep (open loop)\toffered/s\tachieved/s\tp50 µs\tp99 µs\t")
		for _, sw := range r.Sweeps {
			for _, st := range sw.Steps {
				fmt.Fprintf(tw, "  %s %s\t%.0f\t%.0f\t%.1f\t%.1f\t\n", sw.System, sw.Function, st.Offered, st.Achieved, us(st.P50), us(st.P99))
			}
			fmt.Fprintf(tw, "  %s %s sustained\t%.0f/s\t(%d engines; %s)\t\t\t\n", sw.System, sw.Function, sw.Sustained, sw.Engines, sw.Stop)
		}
		tw.Flush()
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "not measured:\n  %s\n", strings.Join(r.Skipped, "\n  "))
	}
}
