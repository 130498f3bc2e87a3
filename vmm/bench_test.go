//go:build linux && amd64

package vmm

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

// percentiles reports p50 and p99 of the per-iteration durations.
func percentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

func timed(b *testing.B, f func() error) {
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	percentiles(b, d)
}

// BenchmarkFloor: a bare KVM_RUN round trip with register reset on a
// pre-built VM.
func BenchmarkFloor(b *testing.B) {
	e := newEngine(b)
	timed(b, e.FloorRoundTrip)
}

// BenchmarkColdStart: a new sandbox per call for the smallest function,
// through outputs read and memory reset.
func BenchmarkColdStart(b *testing.B) {
	e := newEngine(b)
	fn := fnFor(b, "exit0")
	timed(b, func() error { _, err := e.Run(context.Background(), fn, nil); return err })
}

// BenchmarkColdStartDeadline: the same with a deadline armed per call.
func BenchmarkColdStartDeadline(b *testing.B) {
	e := newEngine(b)
	fn := fnFor(b, "exit0")
	timed(b, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := e.Run(ctx, fn, nil)
		return err
	})
}

// BenchmarkFreshVM: a VM and vCPU created and destroyed for every call.
func BenchmarkFreshVM(b *testing.B) {
	requireKVM(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fn := fnFor(b, "exit0")
	timed(b, func() error {
		e, err := NewEngine(Config{MaxContextSize: 64 << 20})
		if err != nil {
			return err
		}
		defer e.Close()
		_, err = e.Run(context.Background(), fn, nil)
		return err
	})
}

// BenchmarkPool: through the pool, from another goroutine.
func BenchmarkPool(b *testing.B) {
	requireKVM(b)
	p, err := NewPool(PoolConfig{Engines: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	fn := fnFor(b, "exit0")
	timed(b, func() error { _, err := p.Run(context.Background(), fn, nil); return err })
}
