// Package backends opens isolation backends by name. It is the one place
// that knows every backend, so the tessera command, sandboxbench and the
// dispatcher offer the same choice.
package backends

import (
	"errors"
	"fmt"
	"strings"

	"tessera/internal/sandbox"
)

// Options configure a backend.
type Options struct {
	// Engines is the number of sandboxes that may run at once; 0 means one
	// per CPU.
	Engines int
	// MaxContextSize is the largest context a function will ask for; 0
	// means the backend's default.
	MaxContextSize uint64
}

// ErrUnavailable is returned for a backend that is unknown or cannot run on
// this machine.
var ErrUnavailable = errors.New("backend unavailable")

type entry struct {
	open func(Options) (sandbox.Backend, error)
	// probe reports why the backend cannot run here, or nil.
	probe func() error
}

// preference orders the backends from the fastest isolation to the
// slowest; a backend registers itself from its own file in this package.
var (
	preference = []string{"kvm", "seccomp", "ptrace", "wasm"}
	registry   = map[string]entry{}
)

// Open returns the named backend.
func Open(name string, opt Options) (sandbox.Backend, error) {
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w: no backend %q (available: %s)", ErrUnavailable, name, describe())
	}
	if err := e.probe(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, name, err)
	}
	return e.open(opt)
}

// Available returns the backends that can run here, best first.
func Available() []string {
	var names []string
	for _, n := range registered() {
		if registry[n].probe() == nil {
			names = append(names, n)
		}
	}
	return names
}

// Best returns the preferred backend that can run here.
func Best() (string, error) {
	if a := Available(); len(a) > 0 {
		return a[0], nil
	}
	return "", fmt.Errorf("%w: none can run here (%s)", ErrUnavailable, describe())
}

// describe lists every backend with the reason it cannot run, if any.
func describe() string {
	if len(registry) == 0 {
		return "none built yet"
	}
	var parts []string
	for _, n := range registered() {
		if err := registry[n].probe(); err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", n, err))
		} else {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}

func registered() []string {
	var names []string
	for _, n := range preference {
		if _, ok := registry[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// register adds a backend. Call it from an init function in a file named
// after the backend.
func register(name string, open func(Options) (sandbox.Backend, error), probe func() error) {
	registry[name] = entry{open: open, probe: probe}
}
