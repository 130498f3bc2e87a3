//go:build linux && amd64

package backends

import (
	"tessera/internal/proc"
	"tessera/internal/sandbox"
	"tessera/seccompiso"
	"tessera/vmm"
)

func init() {
	register("seccomp", func(o Options) (sandbox.Backend, error) {
		r, err := seccompiso.New(seccompiso.Config{Engines: o.Engines, MaxContextSize: processMaxContext(o)})
		if err != nil {
			return nil, err
		}
		return r.Backend(), nil
	}, probeProcess)
}

// processMaxContext is the largest context the process backends let a
// function have: Options.MaxContextSize, or the KVM backend's default. A
// context is a sparse memfd, but a function may fill all of it.
func processMaxContext(o Options) uint64 {
	if o.MaxContextSize == 0 {
		return vmm.DefaultMaxContextSize
	}
	return o.MaxContextSize
}

// probeProcess is the check both process backends need: x86-64 Linux with
// seccomp's trap and trace actions, and a stub (or a compiler to build it).
func probeProcess() error {
	if err := proc.Supported(); err != nil {
		return err
	}
	return proc.StubAvailable()
}
