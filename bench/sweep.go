package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"tessera/internal/backends"
	"tessera/internal/sandbox"
)

// SweepStep is one offered rate of a load sweep.
type SweepStep struct {
	Offered  float64 // arrivals per second
	Achieved float64 // completions per second
	P50, P99 time.Duration
	Errors   int
}

// Sweep is an open-loop load sweep of one backend and workload: calls
// arrive at a fixed rate whatever the system does (queueing in the backend
// shows in the latency), and the rate rises until the system falls behind.
type Sweep struct {
	System, Function string
	Engines          int
	Steps            []SweepStep
	Sustained        float64 // highest rate kept up with
	Stop             string  // why the sweep ended
}

// SweepConfig tunes LoadSweep.
type SweepConfig struct {
	Systems   []string
	Function  string        // default noop
	Step      time.Duration // length of each rate step, default 1 s
	StartRate float64       // default 500/s
	Factor    float64       // rate multiplier per step, default 1.5
	MaxSteps  int           // default 16
	Engines   int           // default one per CPU
	Log       func(format string, args ...any)
}

// LoadSweep sweeps every available backend.
func LoadSweep(cfg SweepConfig) ([]*Sweep, error) {
	if cfg.Function == "" {
		cfg.Function = "noop"
	}
	if cfg.Step <= 0 {
		cfg.Step = time.Second
	}
	if cfg.StartRate <= 0 {
		cfg.StartRate = 500
	}
	if cfg.Factor <= 1 {
		cfg.Factor = 1.5
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 16
	}
	if cfg.Engines <= 0 {
		cfg.Engines = runtime.NumCPU()
	}
	w, ok := WorkloadByName(cfg.Function)
	if !ok {
		return nil, fmt.Errorf("bench: no workload %q", cfg.Function)
	}
	var sweeps []*Sweep
	for _, name := range backends.Available() {
		if len(cfg.Systems) > 0 && !contains(cfg.Systems, name) {
			continue
		}
		sw, err := sweepBackend(cfg, name, w)
		if err != nil {
			return sweeps, fmt.Errorf("sweeping %s: %w", name, err)
		}
		sweeps = append(sweeps, sw)
	}
	return sweeps, nil
}

func sweepBackend(cfg SweepConfig, name string, w Workload) (*Sweep, error) {
	b, err := backends.Open(name, backends.Options{Engines: cfg.Engines})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	bin, err := w.binaryFor(archOf(name))
	if err != nil {
		return nil, err
	}
	fn, err := b.Load(sandbox.Spec{Name: w.Guest, Binary: bin, ContextSize: w.ContextSize, InputSets: w.InputSets, OutputSets: w.OutputSets})
	if err != nil {
		return nil, err
	}
	// Warm every engine up with a concurrent burst.
	burst(fn, w, 4*cfg.Engines, 50)

	sw := &Sweep{System: name, Function: w.Name, Engines: cfg.Engines}
	var base time.Duration
	degraded := 0
	rate := cfg.StartRate
	for i := 0; i < cfg.MaxSteps; i++ {
		st := openLoop(fn, w, rate, cfg.Step)
		sw.Steps = append(sw.Steps, st)
		if cfg.Log != nil {
			cfg.Log("sweep %s %s: offered %.0f/s achieved %.0f/s p50 %.1fµs p99 %.1fµs errors %d", name, w.Name, st.Offered, st.Achieved, us(st.P50), us(st.P99), st.Errors)
		}
		if i == 0 {
			base = st.P99
		}
		// One step's p99 on a small, shared host can be a single GC pause
		// or a preempted generator; a system that really degrades stays
		// degraded at the next, higher rate.
		if st.P99 > 10*base && st.P99 > time.Millisecond {
			degraded++
		} else {
			degraded = 0
		}
		switch {
		case st.Errors > int(0.01*st.Offered*cfg.Step.Seconds())+1:
			sw.Stop = fmt.Sprintf("errors at %.0f/s", rate)
		case st.Achieved < 0.9*st.Offered:
			sw.Stop = fmt.Sprintf("completions fell behind arrivals at %.0f/s", rate)
		case degraded == 2:
			sw.Stop = fmt.Sprintf("p99 above 10× its unloaded value at %.0f/s and %.0f/s", sw.Steps[i-1].Offered, rate)
			sw.Sustained = sustainedBefore(sw.Steps[:i-1])
		}
		if sw.Stop != "" {
			return sw, nil
		}
		if degraded == 0 {
			sw.Sustained = st.Offered
		}
		rate *= cfg.Factor
	}
	sw.Stop = "reached the last step"
	return sw, nil
}

// sustainedBefore is the highest offered rate among steps.
func sustainedBefore(steps []SweepStep) float64 {
	var r float64
	for _, s := range steps {
		r = max(r, s.Offered)
	}
	return r
}

func burst(fn sandbox.Function, w Workload, calls, each int) {
	var wg sync.WaitGroup
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				outs, _ := fn.Run(context.Background(), w.Inputs())
				outs.Release()
			}
		}()
	}
	wg.Wait()
}

// openLoop offers calls at rate for d, on an absolute schedule, and
// measures each call from when it was issued to its completion. (Counting
// from the scheduled arrival would charge the generator's own sleep
// overshoot, hundreds of µs on nested hosts, to the system under test; the
// generator never waits for the system, so nothing is omitted.)
func openLoop(fn sandbox.Function, w Workload, rate float64, d time.Duration) SweepStep {
	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	errs := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	period := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * period)
		if wait := time.Until(at); wait > 200*time.Microsecond {
			time.Sleep(wait - 100*time.Microsecond)
		}
		for time.Now().Before(at) {
			runtime.Gosched()
		}
		wg.Add(1)
		go func(i int, issued time.Time) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			outs, err := fn.Run(ctx, w.Inputs())
			cancel()
			outs.Release()
			lat[i] = time.Since(issued)
			errs[i] = err != nil
		}(i, time.Now())
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := SweepStep{Offered: rate, Achieved: float64(n) / elapsed.Seconds()}
	for _, e := range errs {
		if e {
			st.Errors++
		}
	}
	slices.Sort(lat)
	if n > 0 {
		st.P50, st.P99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	return st
}
