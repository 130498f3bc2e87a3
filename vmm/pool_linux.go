//go:build linux && amd64

package vmm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"tessera/loader"
)

// PoolConfig configures a Pool.
type PoolConfig struct {
	Config
	// Engines is how many functions may run at once. Default: one per CPU.
	Engines int
	// MaxEngines bounds how many engines (VMs) the pool keeps; idle ones
	// beyond it are closed. Calls run on whichever OS threads the Go
	// runtime gives their goroutines, usually a few more than Engines, and
	// a VM costs about 2 ms to create: default 4×Engines, at least 16.
	MaxEngines int
	// IdleTrim is how long an engine may sit idle before it returns its
	// guest memory to the OS. Default 1 s; negative disables trimming.
	IdleTrim time.Duration
}

// Pool runs functions on engines without handing calls between threads:
// Run locks the calling goroutine to its OS thread and uses that thread's
// engine, creating it on the thread's first call. Waking another thread
// costs tens of microseconds on virtualised hosts (a futex wake and an
// inter-processor interrupt), about as much as a whole call; this way a
// call costs what Engine.Run costs. Run may be called from any goroutine.
type Pool struct {
	cfg  PoolConfig
	sem  chan struct{} // one token per call that may run
	quit chan struct{}
	done sync.WaitGroup

	mu      sync.Mutex
	engines map[int]*pooled // by OS thread id
	closed  bool
}

type pooled struct {
	mu   sync.Mutex // held for a whole call, trim or close of e
	e    *Engine
	last time.Time // end of the last call; guarded by Pool.mu
}

// NewPool returns a pool; engines are created on demand.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if _, err := cfg.Config.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.Engines <= 0 {
		cfg.Engines = runtime.NumCPU()
	}
	if cfg.MaxEngines <= 0 {
		cfg.MaxEngines = max(4*cfg.Engines, 16)
	}
	if cfg.IdleTrim == 0 {
		cfg.IdleTrim = time.Second
	}
	p := &Pool{cfg: cfg, sem: make(chan struct{}, cfg.Engines), quit: make(chan struct{}), engines: map[int]*pooled{}}
	if cfg.IdleTrim > 0 {
		p.done.Add(1)
		go p.trimmer()
	}
	return p, nil
}

// Engines returns how many calls may run at once.
func (p *Pool) Engines() int { return p.cfg.Engines }

// Run executes fn once in a fresh sandbox.
func (p *Pool) Run(ctx context.Context, fn *loader.Function, inputs []loader.Set) (*loader.Outputs, error) {
	return p.RunTrace(ctx, fn, inputs, nil)
}

// RunTrace is Run, filling tr (if not nil) with the call's breakdown.
func (p *Pool) RunTrace(ctx context.Context, fn *loader.Function, inputs []loader.Set, tr *Trace) (*loader.Outputs, error) {
	select {
	case p.sem <- struct{}{}:
	case <-p.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("vmm: %w waiting for a free engine", loader.ErrTimeout)
		}
		return nil, fmt.Errorf("vmm: %w waiting for a free engine", loader.ErrCanceled)
	}
	defer func() { <-p.sem }()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pe, err := p.acquire(unix.Gettid())
	if err != nil {
		return nil, err
	}
	defer p.release(pe)
	return pe.e.RunTrace(ctx, fn, inputs, tr)
}

// FloorRoundTrip runs Engine.FloorRoundTrip on the calling thread's engine:
// the floor of a call measured on the very VM the pool's calls run on.
func (p *Pool) FloorRoundTrip() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pe, err := p.acquire(unix.Gettid())
	if err != nil {
		return err
	}
	defer p.release(pe)
	return pe.e.FloorRoundTrip()
}

// acquire returns the calling thread's engine, locked.
func (p *Pool) acquire(tid int) (*pooled, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	pe := p.engines[tid]
	p.mu.Unlock()
	if pe != nil {
		// Waits only while the trimmer is returning this engine's memory.
		pe.mu.Lock()
		if !pe.e.closed {
			return pe, nil
		}
		pe.mu.Unlock()
	}

	// First call on this thread (or its VM could not be rebuilt after a
	// failure, or it was evicted): create the engine here, outside the lock.
	e, err := NewEngine(p.cfg.Config)
	if err != nil {
		return nil, err
	}
	pe = &pooled{e: e}
	pe.mu.Lock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pe.mu.Unlock()
		e.Close()
		return nil, ErrClosed
	}
	p.engines[tid] = pe
	victims := p.evictLocked()
	p.mu.Unlock()
	closeAll(victims)
	return pe, nil
}

func (p *Pool) release(pe *pooled) {
	p.mu.Lock()
	pe.last = time.Now()
	p.mu.Unlock()
	pe.mu.Unlock()
}

// evictLocked removes the longest-idle engines beyond MaxEngines from the
// pool and returns them, locked, for the caller to close outside p.mu
// (closing a VM takes about a millisecond). Engines in use are skipped.
// Closing an engine from another thread is fine: it issues no vCPU ioctls.
func (p *Pool) evictLocked() []*pooled {
	var victims []*pooled
	for len(p.engines) > p.cfg.MaxEngines {
		var oldest int
		var op *pooled
		for tid, pe := range p.engines {
			if (op == nil || pe.last.Before(op.last)) && pe.mu.TryLock() {
				if op != nil {
					op.mu.Unlock()
				}
				oldest, op = tid, pe
			}
		}
		if op == nil {
			break
		}
		delete(p.engines, oldest)
		victims = append(victims, op)
	}
	return victims
}

func closeAll(pes []*pooled) {
	for _, pe := range pes {
		pe.e.Close()
		pe.mu.Unlock()
	}
}

// trimmer returns the memory of engines that have been idle for IdleTrim.
// Trimming uses VM ioctls and madvise only, safe from any thread; an
// engine in use is left alone.
func (p *Pool) trimmer() {
	defer p.done.Done()
	t := time.NewTicker(p.cfg.IdleTrim)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case now := <-t.C:
			p.mu.Lock()
			var idle []*pooled
			for _, pe := range p.engines {
				if !pe.last.IsZero() && now.Sub(pe.last) >= p.cfg.IdleTrim {
					idle = append(idle, pe)
				}
			}
			p.mu.Unlock()
			for _, pe := range idle {
				if !pe.mu.TryLock() {
					continue // a call started meanwhile
				}
				pe.e.Trim()
				pe.mu.Unlock()
				p.mu.Lock()
				pe.last = time.Time{} // trimmed: nothing to trim until used again
				p.mu.Unlock()
			}
		}
	}
}

// Close closes every engine. Calls in flight finish first.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.quit)
	p.mu.Unlock()
	p.done.Wait()
	// Wait for calls in flight by taking every token.
	for i := 0; i < cap(p.sem); i++ {
		p.sem <- struct{}{}
	}
	p.mu.Lock()
	var all []*pooled
	for tid, pe := range p.engines {
		all = append(all, pe)
		delete(p.engines, tid)
	}
	p.mu.Unlock()
	for _, pe := range all {
		pe.mu.Lock()
	}
	closeAll(all)
	return nil
}
