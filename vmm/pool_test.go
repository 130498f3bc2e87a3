//go:build linux && amd64

package vmm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tessera/loader"
)

func TestPool(t *testing.T) {
	requireKVM(t)
	p, err := NewPool(PoolConfig{Engines: 2, IdleTrim: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	echo, loop := fnFor(t, "echo"), fnFor(t, "loop")

	// Concurrent calls from many goroutines, mixed with hostile ones.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if i%25 == 0 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_, err := p.Run(ctx, loop, nil)
					cancel()
					if !errors.Is(err, loader.ErrTimeout) {
						t.Errorf("loop: %v", err)
					}
					continue
				}
				want := fmt.Sprintf("call %d/%d", g, i)
				outs, err := p.Run(context.Background(), echo, []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "x", Data: []byte(want)}}}})
				if err != nil {
					t.Error(err)
					return
				}
				if got := string(outs.Sets[0].Items[0].Data); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			}
		}(g)
	}
	wg.Wait()

	// Idle engines trim their memory and still serve afterwards.
	time.Sleep(100 * time.Millisecond)
	var tr Trace
	if _, err := p.RunTrace(context.Background(), echo, hello, &tr); err != nil || tr.Exits == 0 {
		t.Fatalf("after idling: %v, trace %+v", err, tr)
	}

	p.Close()
	if _, err := p.Run(context.Background(), echo, hello); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}

// TestPoolTrimDuringCalls: the trimmer never works on an engine while a
// call runs on it (go test -race catches it if it does), and calls keep
// their inputs and outputs intact however the two interleave.
func TestPoolTrimDuringCalls(t *testing.T) {
	requireKVM(t)
	p, err := NewPool(PoolConfig{Engines: 1, IdleTrim: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	echo := fnFor(t, "echo")
	for i := 0; i < 300; i++ {
		want := fmt.Sprintf("call %d", i)
		outs, err := p.Run(context.Background(), echo, []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "x", Data: []byte(want)}}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(outs.Sets[0].Items[0].Data); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		time.Sleep(time.Duration(i%3) * 700 * time.Microsecond)
	}
}
