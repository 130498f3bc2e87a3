// Package sandbox is the contract every isolation backend fulfils: it takes
// a function and its input sets with a deadline and gives back output sets
// or a typed error. The dispatcher, the tessera command, sandboxbench and the
// cross-backend conformance suite use backends only through it.
package sandbox

import (
	"context"
	"time"

	"tessera/loader"
)

// Spec describes a function independently of the backend that runs it.
type Spec struct {
	Name        string
	Binary      []byte // a static ELF for native backends, a module for Wasm
	ContextSize uint64 // guest memory per call; 0 means loader.DefaultContextSize
	StackSize   uint64 // 0 means the ABI default
	InputSets   []string
	OutputSets  []string
}

// Backend runs functions in fresh sandboxes.
type Backend interface {
	// Name is the backend's short name: kvm, seccomp, ptrace or wasm.
	Name() string
	// Load parses or compiles spec once. The Function it returns may be run
	// any number of times, concurrently.
	Load(spec Spec) (Function, error)
	// Close releases the backend's engines. Calls in flight fail.
	Close() error
}

// Function is a loaded function.
type Function interface {
	// Run executes the function once in a brand-new sandbox. inputs are
	// matched to the declared input sets by name. The deadline of ctx bounds
	// the run (loader.ErrTimeout); cancelling ctx stops it
	// (loader.ErrCanceled). On a nonzero exit status Run returns the outputs
	// and a *loader.ExitError. The caller releases the outputs.
	Run(ctx context.Context, inputs []loader.Set) (*loader.Outputs, error)
}

// NativeFunction turns a Spec into a loader.Function for the ELF backends.
func NativeFunction(spec Spec) (*loader.Function, error) {
	img, err := loader.Parse(spec.Binary)
	if err != nil {
		return nil, err
	}
	size := spec.ContextSize
	if size == 0 {
		size = loader.DefaultContextSize
	}
	fn := &loader.Function{
		Name: spec.Name, Image: img, ContextSize: size, StackSize: spec.StackSize,
		InputSets: spec.InputSets, OutputSets: spec.OutputSets,
	}
	if err := fn.Check(); err != nil {
		return nil, err
	}
	return fn, nil
}

// Phases is where the time of one call went, in the spirit of Table 1 of
// the Dandelion paper. Backends fill what they can measure.
type Phases struct {
	Load     time.Duration // the binary placed in the sandbox
	Transfer time.Duration // inputs and the system data written
	Execute  time.Duration // the function ran
	Outputs  time.Duration // outputs read back
}

// Tracer is implemented by Functions that can report Phases.
type Tracer interface {
	RunTrace(ctx context.Context, inputs []loader.Set, ph *Phases) (*loader.Outputs, error)
}
