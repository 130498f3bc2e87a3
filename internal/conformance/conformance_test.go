//go:build linux && amd64

package conformance_test

import (
	"context"
	"strings"
	"testing"

	"tessera/guest"
	"tessera/internal/conformance"
	"tessera/internal/sandbox"
)

// TestDebugBuilds runs the suite against the test-only debug backend: every
// example's debug build must produce the outputs computed in Go. Hostile
// cases and the isolation pair need a sandbox and skip (there are no debug
// builds of them).
func TestDebugBuilds(t *testing.T) {
	b := &debugBackend{dir: t.TempDir()}
	conformance.Run(t, b, conformance.Target{Arch: guest.Debug})
}

// TestTracer runs the whole suite, hostile cases and the isolation pair
// included, on the tracer fixture for every native arch: the sandbox
// builds must behave on a process sandbox as the ABI says.
func TestTracer(t *testing.T) {
	for _, arch := range guest.NativeArches {
		t.Run(arch, func(t *testing.T) {
			b := &tracerBackend{dir: t.TempDir()}
			conformance.Run(t, b, conformance.Target{Arch: arch})
		})
	}
}

// TestIsolationPairCatchesLeaks proves the isolation pair can fail: on a
// fixture that carries memory and registers from one call to the next,
// hostile_scan must report what hostile_scribble left.
func TestIsolationPairCatchesLeaks(t *testing.T) {
	b := &tracerBackend{dir: t.TempDir(), leaky: &leftovers{}}
	scribble, err := guest.Read(guest.X86_64, "hostile_scribble")
	if err != nil {
		t.Fatal(err)
	}
	scan, err := guest.Read(guest.X86_64, "hostile_scan")
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, bin []byte) []byte {
		fn, err := b.Load(sandbox.Spec{Name: name, Binary: bin, OutputSets: []string{"stdio"}})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := fn.Run(context.Background(), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer outs.Release()
		return append([]byte(nil), guest.Item(outs.Sets, "stdio", "stdout")...)
	}
	run("hostile_scribble", scribble)
	report := string(run("hostile_scan", scan))
	t.Logf("scan report:\n%s", report)
	for _, want := range []string{"leak mem ", "leak reg rbx", "leak reg r15", "leak fsbase", "leak gsbase"} {
		if !strings.Contains(report, want) {
			t.Errorf("scan report lacks %q:\n%s", want, report)
		}
	}
}
