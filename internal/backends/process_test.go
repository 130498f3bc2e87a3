//go:build linux && amd64

package backends

import (
	"context"
	"errors"
	"testing"

	"tessera/internal/proc"
	"tessera/internal/proc/proctest"
	"tessera/loader"
	"tessera/vmm"
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

// MaxContextSize bounds the context a function may ask for (by default,
// the KVM backend's bound): a larger one is refused before any memory is
// taken.
func TestProcessMaxContextSize(t *testing.T) {
	for _, name := range []string{"seccomp", "ptrace"} {
		t.Run(name, func(t *testing.T) {
			if err := registry[name].probe(); err != nil {
				t.Skip(err)
			}
			for _, tt := range []struct {
				max, size uint64
				ok        bool
			}{
				{0, vmm.DefaultMaxContextSize, true},
				{0, vmm.DefaultMaxContextSize + 4096, false},
				{0, loader.MaxContextSize, false},
				{8 << 20, 8 << 20, true},
				{8 << 20, 16 << 20, false},
				{loader.MaxContextSize, loader.MaxContextSize, true},
			} {
				b, err := Open(name, Options{Engines: 1, MaxContextSize: tt.max})
				if err != nil {
					t.Fatal(err)
				}
				c := proctest.Case{Name: "noop", Code: proctest.Noop(), Size: tt.size}
				outs, err := c.Load(t, b).Run(context.Background(), nil)
				outs.Release()
				if tt.ok && err != nil || !tt.ok && !errors.Is(err, proc.ErrContextTooLarge) {
					t.Errorf("max %#x, context %#x: %v", tt.max, tt.size, err)
				}
				b.Close()
			}
		})
	}
}
