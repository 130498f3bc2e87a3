//go:build linux && amd64

package backends

import (
	"context"

	"tessera/internal/sandbox"
	"tessera/loader"
	"tessera/vmm"
)

func init() { register("kvm", openKVM, vmm.Available) }

type kvmBackend struct{ pool *vmm.Pool }

func openKVM(opt Options) (sandbox.Backend, error) {
	cfg := vmm.PoolConfig{Engines: opt.Engines}
	if opt.MaxContextSize > vmm.DefaultMaxContextSize {
		cfg.MaxContextSize = (opt.MaxContextSize + 2<<20 - 1) &^ (2<<20 - 1)
	}
	p, err := vmm.NewPool(cfg)
	if err != nil {
		return nil, err
	}
	return &kvmBackend{pool: p}, nil
}

func (b *kvmBackend) Name() string { return "kvm" }

func (b *kvmBackend) Load(spec sandbox.Spec) (sandbox.Function, error) {
	fn, err := sandbox.NativeFunction(spec)
	if err != nil {
		return nil, err
	}
	return &kvmFunction{pool: b.pool, fn: fn}, nil
}

func (b *kvmBackend) Close() error { return b.pool.Close() }

// FloorRoundTrip is one bare KVM_RUN round trip with register reset on the
// calling thread's VM: the floor a call on this backend stands on.
func (b *kvmBackend) FloorRoundTrip() error { return b.pool.FloorRoundTrip() }

type kvmFunction struct {
	pool *vmm.Pool
	fn   *loader.Function
}

func (f *kvmFunction) Run(ctx context.Context, inputs []loader.Set) (*loader.Outputs, error) {
	return f.pool.Run(ctx, f.fn, inputs)
}

func (f *kvmFunction) RunTrace(ctx context.Context, inputs []loader.Set, ph *sandbox.Phases) (*loader.Outputs, error) {
	var tr vmm.Trace
	outs, err := f.pool.RunTrace(ctx, f.fn, inputs, &tr)
	*ph = sandbox.Phases{Load: tr.Load, Transfer: tr.Transfer, Execute: tr.Execute, Outputs: tr.Outputs}
	return outs, err
}
