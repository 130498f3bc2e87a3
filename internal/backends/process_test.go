//go:build linux && amd64

package backends

import (
	"context"
	"testing"

	"tessera/internal/proc/proctest"
)

// The process backends are reachable by name and run a function.
func TestProcessBackends(t *testing.T) {
	for _, name := range []string{"seccomp", "ptrace"} {
		t.Run(name, func(t *testing.T) {
			if err := registry[name].probe(); err != nil {
				t.Skip(err)
			}
			b, err := Open(name, Options{Engines: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Name() != name {
				t.Errorf("Open(%q) gave %q", name, b.Name())
			}
			c := proctest.Case{Name: "echo", Code: proctest.Echo(0)}
			outs, err := c.Load(t, b).Run(context.Background(), proctest.Inputs)
			if err != nil {
				t.Fatal(err)
			}
			defer outs.Release()
			if got := outs.Set("out"); got == nil || len(got.Items) != len(proctest.Inputs[0].Items) {
				t.Errorf("outputs %+v", outs.Sets)
			}
		})
	}
}
