// Package conformance is the one cross-backend test suite: every backend
// runs every example function (outputs computed independently in Go, see
// guest.Examples), every hostile function with the error it must produce,
// and the isolation pair, through the sandbox.Backend contract only. A
// backend is done when Run passes for it.
//
//	func TestConformance(t *testing.T) {
//		b := open(t)
//		conformance.Run(t, b, conformance.Target{Arch: guest.X86_64})
//	}
package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/cpu"

	"tessera/guest"
	"tessera/internal/sandbox"
	"tessera/loader"
)

// Target says what a backend runs and where it departs from the default
// expectations.
type Target struct {
	// Arch is the guest build the backend runs: guest.X86_64 (or a
	// variant such as guest.X86_64v4), guest.Wasm32, or guest.Debug.
	// Hostile cases and the isolation pair run only for native arches
	// (always from the X86_64 build).
	Arch string
	// Override changes or skips cases by name ("matmul/ones",
	// "hostile_int20", "isolation"). Every override must give a reason.
	Override map[string]Override
	// Timeout bounds each ordinary call (default 30 s: a safety net, not
	// a performance threshold).
	Timeout time.Duration
	// LoopTimeout is the deadline given to hostile_loop (default 500 ms).
	LoopTimeout time.Duration
	// ContextSize is the context size for every call (default
	// loader.DefaultContextSize).
	ContextSize uint64
}

// Override changes the expectation of one case for a backend.
type Override struct {
	Reason string // required: why this backend differs
	Skip   bool   // do not run the case
	// Err replaces the expected outcome when Skip is false: nil means the
	// call must succeed, otherwise errors.Is(err, Err) must hold.
	Err error
}

// Run runs the whole suite on b as subtests of t.
func Run(t *testing.T, b sandbox.Backend, target Target) {
	t.Helper()
	s := &suite{b: b, target: target}
	if s.target.Timeout == 0 {
		s.target.Timeout = 30 * time.Second
	}
	if s.target.LoopTimeout == 0 {
		s.target.LoopTimeout = 500 * time.Millisecond
	}
	for name, o := range target.Override {
		if o.Reason == "" {
			t.Fatalf("conformance: override of %q gives no reason", name)
		}
	}
	t.Run("examples", func(t *testing.T) {
		for _, ex := range guest.Examples() {
			t.Run(ex.Name, func(t *testing.T) { s.example(t, ex) })
		}
	})
	t.Run("hostile", func(t *testing.T) {
		for _, h := range hostileCases() {
			t.Run(h.name, func(t *testing.T) { s.hostile(t, h) })
		}
	})
	t.Run("isolation", s.isolation)
}

type suite struct {
	b      sandbox.Backend
	target Target
}

// binary reads a guest build, failing the test if `make guests` should
// have built it, skipping it otherwise.
func binary(t *testing.T, arch, name string) []byte {
	t.Helper()
	bin, err := guest.Read(arch, name)
	if errors.Is(err, guest.ErrNotBuilt) && !guest.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// override applies Target.Override to case name: it skips the test or
// returns the replaced expectation.
func (s *suite) override(t *testing.T, name string) (Override, bool) {
	o, ok := s.target.Override[name]
	if ok && o.Skip {
		t.Skip(o.Reason)
	}
	return o, ok
}

// call loads fn and runs it once with the given deadline. The outputs are
// copied, so the caller need not release anything.
func (s *suite) call(t *testing.T, spec sandbox.Spec, inputs []loader.Set, timeout time.Duration) ([]loader.Set, error) {
	t.Helper()
	if spec.ContextSize == 0 {
		spec.ContextSize = s.target.ContextSize
	}
	fn, err := s.b.Load(spec)
	if err != nil {
		t.Fatalf("loading %s: %v", spec.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	outs, err := fn.Run(ctx, inputs)
	if outs == nil {
		return nil, err
	}
	defer outs.Release()
	return copySets(outs.Sets), err
}

func copySets(sets []loader.Set) []loader.Set {
	out := make([]loader.Set, len(sets))
	for i, s := range sets {
		out[i].Ident = s.Ident
		for _, it := range s.Items {
			out[i].Items = append(out[i].Items, loader.Item{Ident: it.Ident, Key: it.Key, Data: append([]byte(nil), it.Data...)})
		}
	}
	return out
}

func (s *suite) example(t *testing.T, ex guest.Example) {
	if ex.NativeOnly && s.target.Arch == guest.Wasm32 {
		t.Skip("tests hlibc itself, which wasm32 builds do not use")
	}
	if o, ok := s.override(t, ex.Name); ok {
		// An example is either right or wrong; a backend can only skip it.
		t.Fatalf("conformance: override of example %q must skip it (%s)", ex.Name, o.Reason)
	}
	spec := sandbox.Spec{
		Name: ex.Function, Binary: binary(t, s.target.Arch, ex.Function),
		InputSets: ex.InputSets, OutputSets: ex.OutputSets,
	}
	got, err := s.call(t, spec, ex.Inputs, s.target.Timeout)
	if err := ex.Verify(got, err); err != nil {
		t.Error(err)
	}
}

// hostileCase is one hostile function and what it must produce.
type hostileCase struct {
	name       string
	want       error // expected error kind, or nil for success
	status     int   // with want == loader.ErrExitStatus: the status
	inputSets  []string
	inputs     []loader.Set
	outputSets []string
	// stdout is what the function writes when it runs to completion
	// (checked whenever the call returns outputs).
	stdout string
	loop   bool // needs the short deadline
}

func (s *suite) native(t *testing.T) {
	if !guest.IsNative(s.target.Arch) {
		t.Skipf("hostile guests are x86-64 binaries; target arch is %s", s.target.Arch)
	}
}

func (s *suite) hostile(t *testing.T, h hostileCase) {
	s.native(t)
	want := h.want
	if o, ok := s.override(t, h.name); ok {
		want = o.Err
	}
	spec := sandbox.Spec{
		Name: h.name, Binary: binary(t, guest.X86_64, h.name),
		InputSets: h.inputSets, OutputSets: h.outputSets,
	}
	timeout := s.target.Timeout
	if h.loop {
		timeout = s.target.LoopTimeout
	}
	got, err := s.call(t, spec, h.inputs, timeout)
	if e := checkOutcome(got, err, want, h); e != nil {
		t.Error(e)
	}
	// Whatever the hostile function did, the backend must still work.
	s.stillWorks(t)
}

// checkOutcome compares a hostile call's result with its expectation.
func checkOutcome(got []loader.Set, err, want error, h hostileCase) error {
	switch {
	case want == nil && err != nil:
		return fmt.Errorf("want success, got %v", err)
	case want != nil && !errors.Is(err, want):
		return fmt.Errorf("want an error matching %q, got %v", want, err)
	}
	var exit *loader.ExitError
	if errors.Is(want, loader.ErrExitStatus) && (!errors.As(err, &exit) || exit.Status != h.status) {
		return fmt.Errorf("want exit status %d, got %v", h.status, err)
	}
	if (want == nil || errors.Is(want, loader.ErrExitStatus)) && h.stdout != "" {
		if out := guest.Item(got, "stdio", "stdout"); string(out) != h.stdout {
			return fmt.Errorf("stdout %q, want %q", out, h.stdout)
		}
	}
	return nil
}

// stillWorks runs a small example on the same backend after a hostile
// case: it must succeed with the right output.
func (s *suite) stillWorks(t *testing.T) {
	t.Helper()
	for _, ex := range guest.Examples() {
		if ex.Name != "stdio" {
			continue
		}
		spec := sandbox.Spec{Name: ex.Function, Binary: binary(t, s.target.Arch, ex.Function),
			InputSets: ex.InputSets, OutputSets: ex.OutputSets}
		got, err := s.call(t, spec, ex.Inputs, s.target.Timeout)
		if err := ex.Verify(got, err); err != nil {
			t.Errorf("the next call on the same backend failed: %v", err)
		}
		return
	}
	t.Fatal("conformance: example stdio is missing")
}

// isolation runs hostile_scribble, then hostile_scan, which must find none
// of the secrets scribble left in memory and registers.
func (s *suite) isolation(t *testing.T) {
	s.native(t)
	if _, ok := s.override(t, "isolation"); ok {
		t.Fatal("conformance: the isolation pair can only be skipped")
	}
	spec := sandbox.Spec{Name: "hostile_scribble", Binary: binary(t, guest.X86_64, "hostile_scribble"),
		OutputSets: []string{"stdio"}}
	if _, err := s.call(t, spec, nil, s.target.Timeout); err != nil {
		t.Fatalf("hostile_scribble: %v", err)
	}
	spec = sandbox.Spec{Name: "hostile_scan", Binary: binary(t, guest.X86_64, "hostile_scan"),
		OutputSets: []string{"stdio"}}
	got, err := s.call(t, spec, nil, s.target.Timeout)
	if err != nil {
		t.Fatalf("hostile_scan: %v", err)
	}
	if out := guest.Item(got, "stdio", "stdout"); string(out) != "clean\n" {
		t.Errorf("hostile_scan found what hostile_scribble left behind:\n%s", out)
	}
}

// NativeArches returns the native guest builds this CPU can run: the
// generic one and, where the CPU has the instructions, the x86-64-v3 and
// -v4 builds (Mosaic's hardware-specialised variants).
func NativeArches() []string {
	arches := []string{guest.X86_64}
	if cpu.X86.HasAVX2 && cpu.X86.HasBMI2 && cpu.X86.HasFMA {
		arches = append(arches, guest.X86_64v3)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL {
		arches = append(arches, guest.X86_64v4)
	}
	return arches
}
