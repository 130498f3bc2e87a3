//go:build linux && amd64

package backends

import (
	"tessera/internal/proc"
	"tessera/internal/sandbox"
	"tessera/seccompiso"
)

func init() {
	register("seccomp", func(o Options) (sandbox.Backend, error) {
		r, err := seccompiso.New(seccompiso.Config{Engines: o.Engines})
		if err != nil {
			return nil, err
		}
		return r.Backend(), nil
	}, probeProcess)
}

// probeProcess is the check both process backends need: x86-64 Linux with
// seccomp's trap and trace actions, and a stub (or a compiler to build it).
func probeProcess() error {
	if err := proc.Supported(); err != nil {
		return err
	}
	return proc.StubAvailable()
}
