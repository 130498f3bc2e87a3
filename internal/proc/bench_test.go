//go:build linux && amd64

package proc_test

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"tessera/bench"
	"tessera/internal/proc"
	"tessera/internal/proc/proctest"
	"tessera/internal/sandbox"
	"tessera/loader"
	"tessera/ptraceiso"
	"tessera/seccompiso"
)

// coldStarts returns what the benchmarks compare, each a function that
// does one complete cold start: the floor (spawn and reap a static program
// that only exits, with the exec spawn primitive, syscall.ForkExec), and a
// no-op function on each backend with each spawn method (fresh context,
// new process, outputs read and released).
func coldStarts(b *testing.B) (names []string, runs []func() error) {
	b.Helper()
	if err := proc.Supported(); err != nil {
		b.Skip(err)
	}
	floor, err := proc.FloorPath()
	if err != nil {
		b.Skip(err)
	}
	names = append(names, "floor")
	runs = append(runs, func() error {
		ws, err := proc.SpawnAndWait(floor)
		if err == nil && (!ws.Exited() || ws.ExitStatus() != 0) {
			err = fmt.Errorf("floor: wait status %#x", uint32(ws))
		}
		return err
	})
	spec := sandbox.Spec{Name: "noop", Binary: proctest.Binary(proctest.Noop()), ContextSize: loader.DefaultContextSize, InputSets: []string{"in"}, OutputSets: []string{"out"}}
	for _, spawn := range []proc.Spawn{proc.SpawnServer, proc.SpawnExec} {
		for _, open := range []func() (sandbox.Backend, error){
			func() (sandbox.Backend, error) {
				r, err := seccompiso.New(seccompiso.Config{Spawn: spawn})
				return backend(r, err)
			},
			func() (sandbox.Backend, error) {
				r, err := ptraceiso.New(ptraceiso.Config{Spawn: spawn})
				return backend(r, err)
			},
		} {
			be, err := open()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { be.Close() })
			fn, err := be.Load(spec)
			if err != nil {
				b.Fatal(err)
			}
			names = append(names, be.Name()+"-"+spawn.String())
			runs = append(runs, func() error {
				outs, err := fn.Run(context.Background(), nil)
				outs.Release()
				return err
			})
		}
	}
	return names, runs
}

func backend[R interface{ Backend() sandbox.Backend }](r R, err error) (sandbox.Backend, error) {
	if err != nil {
		return nil, err
	}
	return r.Backend(), nil
}

// BenchmarkColdStart measures each kind on its own: ns/op (which includes
// work a backend leaves to background goroutines, paid by the next call)
// and its p50 and p99 in µs.
func BenchmarkColdStart(b *testing.B) {
	names, runs := coldStarts(b)
	for i, name := range names {
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := runs[i](); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			report(b, []string{name}, [][]time.Duration{lat})
		})
	}
}

// report summarises the latencies of each named kind with sandboxbench's
// own statistics (package bench) and reports its p50 and p99 in µs, and
// the ratio of each p50 to the floor's when the floor is among them.
func report(b *testing.B, names []string, lat [][]time.Duration) {
	rep := &bench.Report{}
	for i, name := range names {
		t := &bench.Target{System: name, Kind: bench.KindBackend, Floor: "floor", Function: "noop"}
		if name == "floor" {
			t.Kind, t.Floor = bench.KindFloor, ""
		}
		res := &bench.Result{Target: t}
		for _, d := range lat[i] {
			res.Samples = append(res.Samples, bench.Sample{Total: d})
		}
		rep.Results = append(rep.Results, res)
	}
	for _, m := range rep.Measurements() {
		switch {
		case m.Stat == "p50" || m.Stat == "p99":
			b.ReportMetric(m.Value, m.System+"-"+m.Stat+"-µs")
		case strings.HasPrefix(m.Stat, "ratio: "):
			b.ReportMetric(m.Value, m.System+"/floor-p50")
		}
	}
}

// settle is a pause (spinning, so that no CPU goes idle) after each cold
// start in the interleaved benchmark. The backends leave work to background
// goroutines and to the stub server (freeing the last context, preparing
// the next); without a pause that work lands in the next measurement,
// whichever kind it is, the floor included.
var settle = flag.Duration("coldstart.settle", 0, "pause after each cold start in BenchmarkColdStartInterleaved")

// BenchmarkColdStartInterleaved runs the floor and every backend in turn
// within one loop, so all see the same machine state, and reports each
// one's p50 and p99 in µs and the ratio of each backend's p50 to the
// floor's. Run it with -benchtime=2000x or more for a stable p99, and with
// -coldstart.settle=1ms to measure each call's own path.
func BenchmarkColdStartInterleaved(b *testing.B) {
	names, runs := coldStarts(b)
	lat := make([][]time.Duration, len(runs))
	for i := range runs { // warm-up: page cache, stub build, runtime threads
		for range 20 {
			if err := runs[i](); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		for j := range runs {
			k := (n + j) % len(runs) // rotate who goes first
			t0 := time.Now()
			if err := runs[k](); err != nil {
				b.Fatal(err)
			}
			lat[k] = append(lat[k], time.Since(t0))
			// Spin rather than sleep: an idle vCPU pays to wake up again.
			for t1 := time.Now(); time.Since(t1) < *settle; {
			}
		}
	}
	b.StopTimer()
	report(b, names, lat)
	b.ReportMetric(0, "ns/op")
}
