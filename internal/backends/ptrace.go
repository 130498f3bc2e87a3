//go:build linux && amd64

package backends

import (
	"tessera/internal/proc"
	"tessera/internal/sandbox"
	"tessera/ptraceiso"
)

func init() {
	register("ptrace", func(o Options) (sandbox.Backend, error) {
		r, err := ptraceiso.New(ptraceiso.Config{Engines: o.Engines, MaxContextSize: processMaxContext(o)})
		if err != nil {
			return nil, err
		}
		return r.Backend(), nil
	}, func() error {
		if err := probeProcess(); err != nil {
			return err
		}
		return proc.PtraceSupported()
	})
}
