//go:build linux && amd64

package proc

import (
	"context"
	"runtime"

	"tessera/internal/sandbox"
	"tessera/loader"
)

// Runner runs functions, each call in a new process of one mode under one
// supervisor. seccompiso.Runner and ptraceiso.Runner embed it.
type Runner struct {
	e    *Engine
	sup  Supervisor
	name string
}

// NewRunner builds the engine of a mode. name is the backend's short name.
func NewRunner(name string, mode Mode, cfg Config, sup Supervisor) (*Runner, error) {
	e, err := NewEngine(mode, cfg)
	if err != nil {
		return nil, err
	}
	return &Runner{e: e, sup: sup, name: name}, nil
}

// Run executes fn once in a brand-new process with the given input sets
// (matched to fn's declared sets by name). It returns the output sets, or
// an error: *SyscallError, *SignalError, *loader.OutputError, an error
// wrapping loader.ErrTimeout or loader.ErrCanceled when ctx ends first, or
// the outputs together with a *loader.ExitError for a nonzero exit code.
// The caller releases the outputs.
//
// In ptrace mode the calling goroutine is locked to its OS thread for the
// duration: that thread is the tracer, and ptrace accepts requests only
// from it.
func (r *Runner) Run(ctx context.Context, fn *loader.Function, inputs []loader.Set) (*loader.Outputs, error) {
	if r.e.mode == ModePtrace {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	return r.e.Run(ctx, fn, inputs, r.sup)
}

// Close makes further calls fail and kills the processes of calls in
// flight.
func (r *Runner) Close() error { return r.e.Close() }

// Backend returns the runner as a sandbox.Backend under its name.
func (r *Runner) Backend() sandbox.Backend { return &backend{r} }

type backend struct{ r *Runner }

func (b *backend) Name() string { return b.r.name }
func (b *backend) Close() error { return b.r.Close() }

func (b *backend) Load(spec sandbox.Spec) (sandbox.Function, error) {
	fn, err := sandbox.NativeFunction(spec)
	if err != nil {
		return nil, err
	}
	return &function{r: b.r, fn: fn}, nil
}

type function struct {
	r  *Runner
	fn *loader.Function
}

func (f *function) Run(ctx context.Context, inputs []loader.Set) (*loader.Outputs, error) {
	return f.r.Run(ctx, f.fn, inputs)
}

// Settle is for tests: it waits until every context that b's finished
// calls (and their released outputs) let go of is scrubbed and back in the
// pool, or freed, so that the next call gets the most recently recycled
// one; and it returns how many calls so far got a scrubbed context rather
// than a new one. b must be a Runner's Backend.
func Settle(b sandbox.Backend) uint64 { return b.(*backend).r.e.ctxs.settle() }
