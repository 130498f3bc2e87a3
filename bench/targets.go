package bench

import (
	"context"
	"fmt"
	"time"

	"tessera/guest"
	"tessera/internal/backends"
	"tessera/internal/sandbox"
	"tessera/loader"
)

// familyOf is the backend family of each backend and floor: a family's
// targets for one function, with the family's floor, are interleaved.
var familyOf = map[string]string{
	"kvm": "kvm", "floor/kvm-run": "kvm",
	"seccomp": "process", "ptrace": "process", "floor/vfork-exec": "process",
	"wasm": "wasm", "floor/wazero": "wasm",
}

// group is the interleaving group of a target: its family and function.
// Floors (function "-") join the family's noop group.
func group(system, function string) string {
	if function == "-" {
		function = "noop"
	}
	return familyOf[system] + "/" + function
}

// floorer is a backend that can measure its own floor on the VM its calls
// run on (the KVM backend).
type floorer interface{ FloorRoundTrip() error }

const groupHeavy = "heavy"

// floorOf names the floor each backend is reported against.
var floorOf = map[string]string{
	"kvm":     "floor/kvm-run",
	"seccomp": "floor/vfork-exec",
	"ptrace":  "floor/vfork-exec",
	"wasm":    "floor/wazero",
}

// archOf is the guest build each backend runs.
func archOf(backend string) string {
	if backend == "wasm" {
		return guest.Wasm32
	}
	return guest.X86_64
}

// floorMakers build the floor targets; files for each platform register
// theirs. A maker returns no targets when it does not apply to the
// workload.
var floorMakers []func(cfg *Config, w Workload) ([]*Target, error)

// buildTargets opens every backend and floor that can run here, and the
// peers if asked, for every workload. cleanup closes the backends.
func buildTargets(cfg *Config) (targets []*Target, skipped []string, cleanup func()) {
	skip := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		skipped = append(skipped, s)
		cfg.logf("skip: %s", s)
	}

	// Each workload gets its own backend instance (its own engines): the
	// memory a VM keeps warm for one function would otherwise be zeroed
	// on every call of another, and that is a property of the mix, not of
	// either function's cold start.
	var opened []sandbox.Backend
	cleanup = func() {
		for _, b := range opened {
			b.Close()
		}
	}
	for _, w := range Workloads {
		if !cfg.wantFunction(w.Name) {
			continue
		}
		for _, name := range backends.Available() {
			if !cfg.wantSystem(name) {
				continue
			}
			b, err := backends.Open(name, backends.Options{Engines: 1})
			if err != nil {
				skip("%s: %v", name, err)
				continue
			}
			opened = append(opened, b)
			t, err := backendTarget(b, w)
			if err != nil {
				skip("%s %s: %v", name, w.Name, err)
				continue
			}
			targets = append(targets, t)
			if f, ok := b.(floorer); ok && w.Name == "noop" && floorOf[name] != "" {
				targets = append(targets, &Target{System: floorOf[name], Kind: KindFloor, Function: "-",
					Group: group(floorOf[name], "-"),
					call:  func(context.Context) (Phases, bool, error) { return Phases{}, false, f.FloorRoundTrip() }})
			}
		}
		for _, mk := range floorMakers {
			ts, err := mk(cfg, w)
			if err != nil {
				skip("floor for %s: %v", w.Name, err)
				continue
			}
			for _, t := range ts {
				if t.Group == "" {
					t.Group = group(t.System, t.Function)
				}
				if cfg.wantSystem(t.System) || cfg.wantSystem(t.Floor) {
					targets = append(targets, t)
				} else if t.close != nil {
					t.close()
				}
			}
		}
		if cfg.Peers && w.Name == "noop" {
			ps, sk := peerTargets(cfg, w)
			targets = append(targets, ps...)
			skipped = append(skipped, sk...)
		}
	}
	return targets, skipped, cleanup
}

func backendTarget(b sandbox.Backend, w Workload) (*Target, error) {
	bin, err := w.binaryFor(archOf(b.Name()))
	if err != nil {
		return nil, err
	}
	fn, err := b.Load(sandbox.Spec{Name: w.Guest, Binary: bin, ContextSize: w.ContextSize,
		InputSets: w.InputSets, OutputSets: w.OutputSets})
	if err != nil {
		return nil, err
	}
	tracer, _ := fn.(sandbox.Tracer)
	checked := false
	call := func(ctx context.Context) (Phases, bool, error) {
		t0 := time.Now()
		in := w.Inputs()
		var ph Phases
		ph.Marshal = time.Since(t0)
		var outs *loader.Outputs
		var err error
		traced := tracer != nil
		if traced {
			var sp sandbox.Phases
			outs, err = tracer.RunTrace(ctx, in, &sp)
			ph.Load, ph.Transfer, ph.Execute, ph.Outputs = sp.Load, sp.Transfer, sp.Execute, sp.Outputs
		} else {
			outs, err = fn.Run(ctx, in)
		}
		if err == nil && !checked {
			// Outputs are checked once; recomputing a 128×128 product in
			// Go on every call would dominate the measurement loop.
			err = w.Check(outs)
			checked = err == nil
		}
		outs.Release()
		return ph, traced, err
	}
	return &Target{System: b.Name(), Kind: KindBackend, Floor: floorOf[b.Name()], Group: group(b.Name(), w.Name), Function: w.Name, call: call}, nil
}
