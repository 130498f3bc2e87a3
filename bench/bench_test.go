package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkColdStart measures every backend and floor on every workload,
// as sandboxbench does, one sub-benchmark each:
//
//	go test -bench ColdStart ./bench
//	go test -bench 'ColdStart/kvm/noop' ./bench
func BenchmarkColdStart(b *testing.B) {
	for _, sys := range []string{"kvm", "seccomp", "ptrace", "wasm", "floor/kvm-run", "floor/fresh-vm", "floor/vfork-exec", "floor/wazero"} {
		for _, w := range Workloads {
			b.Run(sys+"/"+w.Name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cfg := &Config{Systems: []string{sys}, Functions: []string{w.Name}}
				targets, skipped, cleanup := buildTargets(cfg)
				defer cleanup()
				var t *Target
				for _, tt := range targets {
					if tt.System == sys {
						t = tt
					} else if tt.close != nil {
						tt.close()
					}
				}
				if t == nil {
					b.Skipf("%s %s unavailable here: %v", sys, w.Name, skipped)
				}
				if t.close != nil {
					defer t.close()
				}
				ctx := context.Background()
				if _, _, err := t.call(ctx); err != nil { // warm up
					b.Fatal(err)
				}
				d := make([]Sample, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					if _, _, err := t.call(ctx); err != nil {
						b.Fatal(err)
					}
					d = append(d, Sample{Total: time.Since(t0)})
				}
				b.StopTimer()
				st := summarize(d)
				b.ReportMetric(us(st.P50), "p50-µs")
				b.ReportMetric(us(st.P99), "p99-µs")
			})
		}
	}
}
