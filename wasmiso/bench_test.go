package wasmiso

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"tessera/guest"
	"tessera/loader"
	"tessera/wasmiso/internal/instrument"
)

// Benchmarks report per-call percentiles (p50-ns, p99-ns) besides ns/op.
// Run them with, for example:
//
//	go test -run '^$' -bench . -benchtime 20000x ./wasmiso/

// minimal is the smallest module with a _start: the floor's module.
const minimal = `(module (memory 1) (func (export "_start")))`

// latencies collects one duration per call.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

func (l latencies) report(b *testing.B, prefix string) {
	b.ReportMetric(float64(l.pct(0.50).Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(l.pct(0.99).Nanoseconds()), prefix+"p99-ns")
}

// rawFloor instantiates, calls and closes a precompiled module with plain
// wazero: nothing of wasmiso.
type rawFloor struct {
	rt  wazero.Runtime
	cm  wazero.CompiledModule
	cfg wazero.ModuleConfig
}

// zeros is a random source with no per-call cost.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func newRawFloor(b *testing.B, bin []byte, closeOnDone bool) *rawFloor {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(closeOnDone))
	b.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	// What an instrumented module imports: wasmiso's own check.
	if _, err := rt.NewHostModuleBuilder(instrument.CheckModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(check), nil, nil).
		Export(instrument.CheckName).Instantiate(ctx); err != nil {
		b.Fatal(err)
	}
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		b.Fatal(err)
	}
	return &rawFloor{rt: rt, cm: cm, cfg: wazero.NewModuleConfig().WithName("").WithStartFunctions()}
}

func (f *rawFloor) call(b *testing.B, ctx context.Context, args ...string) {
	cfg := f.cfg
	if len(args) > 0 {
		cfg = cfg.WithArgs(args...)
	}
	m, err := f.rt.InstantiateModule(ctx, f.cm, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.ExportedFunction("_start").Call(ctx); err != nil {
		b.Fatal(err)
	}
	m.Close(ctx)
}

// BenchmarkColdStart runs the floors and wasmiso calls alternately in one
// loop, so all see the same machine state, and reports each and the
// ratios. Each wasmiso call is complete: a new instance, _start, the
// outputs collected and read, the instance closed.
func BenchmarkColdStart(b *testing.B) {
	for _, mod := range []struct {
		name string
		bin  func(testing.TB) []byte
		out  []string
	}{
		{"minimal", func(t testing.TB) []byte { return watModule(t, "minimal", minimal) }, nil},
		{"c-noop", func(t testing.TB) []byte { return cModule(t, "noop") }, nil},
		{"c-noop-stdio", func(t testing.TB) []byte { return cModule(t, "noop") }, []string{"stdio"}},
		// The project's own no-op guest, as `make guests` builds it.
		{"guest-noop", func(t testing.TB) []byte {
			bin, err := guest.Read(guest.Wasm32, "noop")
			if err != nil {
				t.Skip(err)
			}
			return bin
		}, nil},
	} {
		b.Run(mod.name, func(b *testing.B) {
			floor := newRawFloor(b, watModule(b, "minimal", minimal), false)
			// The same without wazero's per-instance math/rand seeding
			// (about 8 us): the least an instance can cost.
			tuned := newRawFloor(b, watModule(b, "minimal", minimal), false)
			tuned.cfg = tuned.cfg.WithRandSource(zeros{})
			// And plain wazero (tuned) running this very module: what the
			// module's own instantiation and _start cost.
			same := newRawFloor(b, mod.bin(b), false)
			same.cfg = same.cfg.WithRandSource(zeros{})
			r := newRuntime(b, Config{})
			m, err := r.Compile(mod.bin(b))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour) // a deadline, as a real call has
			defer cancel()
			call := Call{Outputs: mod.out, MemoryLimit: loader.DefaultContextSize}
			var fl, tf, sm, ws latencies
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tm := time.Now()
				same.call(b, ctx)
				t := time.Now()
				floor.call(b, ctx)
				t0 := time.Now()
				tuned.call(b, ctx)
				t1 := time.Now()
				outs, err := r.Run(ctx, m, call)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, s := range outs.Sets {
					for _, it := range s.Items {
						n += len(it.Data)
					}
				}
				outs.Release()
				t2 := time.Now()
				fl, tf, ws = append(fl, t0.Sub(t)), append(tf, t1.Sub(t0)), append(ws, t2.Sub(t1))
				sm = append(sm, t.Sub(tm))
				if n != 0 {
					b.Fatalf("no-op wrote %d bytes", n)
				}
			}
			b.StopTimer()
			fl.report(b, "floor-")
			tf.report(b, "tunedfloor-")
			sm.report(b, "samemodule-")
			ws.report(b, "wasmiso-")
			b.ReportMetric(float64(ws.pct(0.5))/float64(fl.pct(0.5)), "p50-ratio")
			b.ReportMetric(float64(ws.pct(0.5))/float64(tf.pct(0.5)), "p50-ratio-tuned")
			b.ReportMetric(float64(ws.pct(0.5))/float64(sm.pct(0.5)), "p50-ratio-samemodule")
		})
	}
}

// BenchmarkRun is wasmiso alone, so its tail is not the floors' garbage:
// a no-op, and echo with arguments, 1 KB of stdin and stdout.
func BenchmarkRun(b *testing.B) {
	for _, g := range []struct {
		name string
		call Call
	}{
		{"noop", Call{}},
		{"echo", Call{Inputs: []loader.Set{set("stdio", "argv", "echo a 'b c'", "stdin", strings.Repeat("x", 1000))}, Outputs: []string{"stdio"}}},
	} {
		b.Run(g.name, func(b *testing.B) {
			r := newRuntime(b, Config{})
			m, err := r.Compile(cModule(b, g.name))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			benchCalls(b, func(ctx context.Context) {
				outs, err := r.Run(ctx, m, g.call)
				if err != nil {
					b.Fatal(err)
				}
				outs.Release()
			})
		})
	}
}

// BenchmarkCompute measures whole calls of compute-bound guests under each
// way of stopping them, next to plain wazero with no deadline support at
// all: the price of being stoppable.
func BenchmarkCompute(b *testing.B) {
	for _, g := range []struct {
		name string
		args string
		want string
	}{
		{"matmul", "matmul 128", fmt.Sprintf("%d\n", matmulSum(128))},
		{"busy", "busy 10000000", ""},
		{"fib", "fib 27", "196418\n"},
		{"sort", "sort 200000", ""},
	} {
		bin := func(t testing.TB) []byte { return cModule(t, g.name) }
		b.Run(g.name+"/wazero-no-deadline", func(b *testing.B) {
			floor := newRawFloor(b, bin(b), false)
			benchCalls(b, func(ctx context.Context) { floor.call(b, ctx, argv([]byte(g.args))...) })
		})
		// The instrumented module on plain wazero, interleaved with the
		// original so that both see the same machine: the
		// instrumentation's own cost, without wasmiso's per-call
		// differences.
		b.Run(g.name+"/instrumented-vs-original", func(b *testing.B) {
			instrumentedVsOriginal(b, bin(b), argv([]byte(g.args))...)
		})
		b.Run(g.name+"/wazero-close-on-done", func(b *testing.B) {
			floor := newRawFloor(b, bin(b), true)
			benchCalls(b, func(ctx context.Context) { floor.call(b, ctx, argv([]byte(g.args))...) })
		})
		for _, mode := range []struct {
			name string
			cfg  Config
		}{{"wasmiso-instrument", Config{}}, {"wasmiso-close-on-done", Config{Interrupt: InterruptCloseOnDone}}} {
			b.Run(g.name+"/"+mode.name, func(b *testing.B) {
				r := newRuntime(b, mode.cfg)
				m, err := r.Compile(bin(b))
				if err != nil {
					b.Fatal(err)
				}
				call := Call{Inputs: []loader.Set{set("stdio", "argv", g.args)}, Outputs: []string{"stdio"}}
				benchCalls(b, func(ctx context.Context) {
					outs, err := r.Run(ctx, m, call)
					if err != nil {
						b.Fatal(err)
					}
					if got := item0(outs); g.want != "" && got != g.want {
						b.Fatalf("stdout %q, want %q", got, g.want)
					}
				})
			})
		}
	}
}

// instrumentedVsOriginal runs the instrumented module and the original on
// plain wazero, interleaved call by call so that both see the same
// machine: the instrumentation's own cost, without wasmiso's per-call
// differences.
func instrumentedVsOriginal(b *testing.B, bin []byte, args ...string) {
	im, err := instrument.Instrument(bin, instrument.Options{})
	if err != nil {
		b.Fatal(err)
	}
	plain, instr := newRawFloor(b, bin, false), newRawFloor(b, im.Binary, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	// check does all its work: it finds a call and its deadline.
	ictx := context.WithValue(ctx, callKey{}, &call{})
	var lp, li latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		plain.call(b, ctx, args...)
		t1 := time.Now()
		instr.call(b, ictx, args...)
		lp, li = append(lp, t1.Sub(t0)), append(li, time.Since(t1))
	}
	b.StopTimer()
	lp.report(b, "original-")
	li.report(b, "instrumented-")
	b.ReportMetric(float64(li.pct(0.5))/float64(lp.pct(0.5)), "p50-ratio")
}

// BenchmarkBulk: what charging bulk instructions by their length costs, on
// loops of 10^6 memory.copy of 64 bytes (below a KiB: the test alone) and
// of 4 KiB (charged, tick called each time). The C guests contain no bulk
// instructions (clang 14 and its wasi-libc emit none), so this is where
// the charge shows.
func BenchmarkBulk(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("copy-%d/instrumented-vs-original", size), func(b *testing.B) {
			instrumentedVsOriginal(b, watModule(b, fmt.Sprintf("copy%d", size), fmt.Sprintf(`(module (memory 1)
				(func (export "_start") (local $i i32)
					(loop $l
						(memory.copy (i32.and (local.get $i) (i32.const 0x7ff0)) (i32.const 32768) (i32.const %d))
						(br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000000))))))`, size)))
		})
	}
}

func item0(outs *loader.Outputs) string {
	if s := outs.Set("stdio"); s != nil && len(s.Items) > 0 {
		return string(s.Items[0].Data)
	}
	return ""
}

func benchCalls(b *testing.B, call func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	call(ctx) // warm up
	var l latencies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		call(ctx)
		l = append(l, time.Since(t0))
	}
	b.StopTimer()
	l.report(b, "")
}

// BenchmarkStopLatency measures how long after its deadline an endless
// loop (testdata/loop.c) or loop-free recursion returns ErrTimeout: the
// time the guest takes to reach its next budget check, plus the timer.
func BenchmarkStopLatency(b *testing.B) {
	for _, g := range []struct {
		name string
		bin  func(testing.TB) []byte
	}{
		{"loop", func(t testing.TB) []byte { return cModule(t, "loop") }},
		{"recursion", foreverCases[1].binary},
	} {
		b.Run(g.name, func(b *testing.B) {
			r := newRuntime(b, Config{})
			m, err := r.Compile(g.bin(b))
			if err != nil {
				b.Fatal(err)
			}
			const after = time.Millisecond
			var l latencies
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), after)
				t0 := time.Now()
				_, err := r.Run(ctx, m, Call{})
				l = append(l, time.Since(t0)-after)
				cancel()
				if !errors.Is(err, loader.ErrTimeout) {
					b.Fatalf("err = %v", err)
				}
			}
			l.report(b, "late-")
		})
	}
}
