package wasmiso

import (
	"context"
	"fmt"
	"runtime"

	"tessera/internal/sandbox"
	"tessera/loader"
)

// Backend adapts a Runtime to sandbox.Backend: the "wasm" backend of
// internal/backends.
type Backend struct {
	rt *Runtime
	// engines bounds the calls running at once, as a compute engine per
	// core would.
	engines chan struct{}
}

var _ sandbox.Backend = (*Backend)(nil)

// NewBackend starts a Runtime with cfg; engines is the number of calls that
// may run at once (0: one per CPU).
func NewBackend(cfg Config, engines int) (*Backend, error) {
	if engines <= 0 {
		engines = runtime.NumCPU()
	}
	rt, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &Backend{rt: rt, engines: make(chan struct{}, engines)}, nil
}

// Name implements sandbox.Backend.
func (b *Backend) Name() string { return "wasm" }

// Runtime returns the Runtime behind the backend.
func (b *Backend) Runtime() *Runtime { return b.rt }

// Close implements sandbox.Backend.
func (b *Backend) Close() error { return b.rt.Close() }

// Load implements sandbox.Backend: it compiles spec.Binary, a Wasm module,
// and checks that its memory fits the context. spec.StackSize has no
// meaning here: a C guest's stack is part of its linear memory, sized when
// it was linked.
func (b *Backend) Load(spec sandbox.Spec) (sandbox.Function, error) {
	m, err := b.rt.Compile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("function %q: %w", spec.Name, err)
	}
	size := spec.ContextSize
	if size == 0 {
		size = loader.DefaultContextSize
	}
	if limit := uint64(pagesFor(size)) * pageSize; m.MinMemory() > limit {
		return nil, fmt.Errorf("wasmiso: function %q: %w: the module needs %d bytes of memory at start, its context is %d",
			spec.Name, loader.ErrMemoryLimit, m.MinMemory(), size)
	}
	return &function{b: b, m: m, size: size,
		sig: &loader.Function{Name: spec.Name, InputSets: spec.InputSets, OutputSets: spec.OutputSets}}, nil
}

type function struct {
	b    *Backend
	m    *Module
	size uint64
	sig  *loader.Function // for MatchInputs: names and set order only
}

// Run implements sandbox.Function.
func (f *function) Run(ctx context.Context, inputs []loader.Set) (*loader.Outputs, error) {
	sets, err := f.sig.MatchInputs(inputs)
	if err != nil {
		return nil, err
	}
	select {
	case f.b.engines <- struct{}{}:
	case <-ctx.Done():
		return nil, stopError(ctx.Err(), "")
	}
	defer func() { <-f.b.engines }()
	return f.b.rt.Run(ctx, f.m, Call{Inputs: sets, Outputs: f.sig.OutputSets, MemoryLimit: f.size})
}
