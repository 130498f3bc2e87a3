//go:build linux && amd64

package conformance_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"tessera/guest"
	"tessera/internal/conformance"
	"tessera/internal/sandbox"
	"tessera/loader"
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

// TestItemLimit runs selftest's checks at the limit of output items
// ("selftest limit": it fills the output sets to loader.MaxOutputItems and
// renames items there) in debug mode and on the tracer fixture. They need
// a bigger context than the examples get.
func TestItemLimit(t *testing.T) {
	backends := map[string]sandbox.Backend{
		guest.Debug:  &debugBackend{dir: t.TempDir()},
		guest.X86_64: &tracerBackend{dir: t.TempDir()},
	}
	for _, arch := range []string{guest.Debug, guest.X86_64} {
		t.Run(arch, func(t *testing.T) {
			bin, err := guest.Read(arch, "selftest")
			if errors.Is(err, guest.ErrNotBuilt) && !guest.Required() {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			fn, err := backends[arch].Load(sandbox.Spec{Name: "selftest", Binary: bin, ContextSize: 64 << 20,
				InputSets: []string{"stdio"}, OutputSets: []string{"out", "stdio"}})
			if err != nil {
				t.Fatal(err)
			}
			argv := loader.Set{Ident: "stdio", Items: []loader.Item{{Ident: "argv", Data: []byte("selftest limit")}}}
			outs, err := fn.Run(context.Background(), []loader.Set{argv})
			if outs == nil {
				t.Fatal(err)
			}
			defer outs.Release()
			if e := guest.Item(outs.Sets, "stdio", "stderr"); len(e) > 0 {
				t.Errorf("stderr:\n%s", e)
			}
			if err != nil {
				t.Fatal(err)
			}
			if out := guest.Item(outs.Sets, "stdio", "stdout"); !regexp.MustCompile(`^selftest: [1-9][0-9]* checks, 0 failed\n$`).Match(out) {
				t.Errorf("stdout %q does not report success", out)
			}
			var got []string
			for _, it := range outs.Set("out").Items {
				got = append(got, it.Ident)
			}
			if want := []string{"lim/1", "lim/2"}; !slices.Equal(got, want) {
				t.Errorf("items of out: %q, want %q", got, want)
			}
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
