package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"
)

// Kinds of targets.
const (
	KindBackend = "backend" // a tessera backend
	KindFloor   = "floor"   // the cheapest thing a backend stands on
	KindPeer    = "peer"    // another sandbox, run through its command line
)

// Phases is the per-call breakdown (Dandelion's Table 1).
type Phases struct {
	Marshal, Load, Transfer, Execute, Outputs, Other time.Duration
}

// Target is one system measured on one workload.
type Target struct {
	System   string // kvm, seccomp, ptrace, wasm, floor/..., peer/...
	Kind     string
	Floor    string // for a backend: the floor System it is compared with
	Function string
	MaxCalls int // 0: as many as the run's n
	// Group: targets are interleaved only with the targets of their own
	// group, and groups run one after another. A backend shares its group
	// with its floor. Backends leave work behind (a dead process's kernel
	// teardown, memory scrubbing) that runs on the other CPUs while the
	// next call is measured: without groups, one family's cleanup lands in
	// another family's numbers. Heavy targets (fresh VMs, peers) take
	// milliseconds and disturb caches: they share the last group.
	Group string

	// call runs once; it returns the breakdown if it has one.
	call  func(ctx context.Context) (Phases, bool, error)
	close func()
}

// Sample is one timed call.
type Sample struct {
	Total  time.Duration
	Phases Phases
	Traced bool
}

// Result is everything measured for one target.
type Result struct {
	Target  *Target
	Samples []Sample
	Errors  int
	LastErr error
}

// Config chooses what to measure.
type Config struct {
	N         int           // calls per target
	PeerCalls int           // calls per peer (peers cost milliseconds each)
	Timeout   time.Duration // per call
	Systems   []string      // empty: every available system
	Functions []string      // empty: every workload
	Peers     bool          // include peer sandboxes
	Log       io.Writer     // progress, may be nil
}

func (c *Config) wantSystem(name string) bool {
	return len(c.Systems) == 0 || contains(c.Systems, name)
}
func (c *Config) wantFunction(name string) bool {
	return len(c.Functions) == 0 || contains(c.Functions, name)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Measure builds every target and runs each group of them interleaved (see
// Target.Group and interleave). It runs on one locked OS thread: the KVM
// targets' VMs belong to it.
func Measure(cfg Config) ([]*Result, []string, error) {
	if cfg.N <= 0 {
		cfg.N = 1000
	}
	if cfg.PeerCalls <= 0 {
		cfg.PeerCalls = min(cfg.N, 200)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	targets, skipped, cleanup := buildTargets(&cfg)
	defer func() {
		for _, t := range targets {
			if t.close != nil {
				t.close()
			}
		}
		cleanup()
	}()
	if len(targets) == 0 {
		return nil, skipped, errors.New("bench: nothing to measure here")
	}
	results := make([]*Result, len(targets))
	for i, t := range targets {
		results[i] = &Result{Target: t, Samples: make([]Sample, 0, cfg.N)}
		// One warm-up call each: first calls build page tables, compile,
		// fault in code; cold starts are about fresh sandboxes, not cold
		// caches of the platform.
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		if _, _, err := t.call(ctx); err != nil {
			results[i].LastErr = err
		}
		cancel()
	}
	var groups [][]*Result
	index := map[string]int{}
	for _, r := range results {
		g := r.Target.Group
		i, ok := index[g]
		if !ok {
			i = len(groups)
			index[g] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	if i, ok := index[groupHeavy]; ok && i != len(groups)-1 {
		groups = append(append(groups[:i:i], groups[i+1:]...), groups[i])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range groups {
		interleave(&cfg, g, rng)
	}
	return results, skipped, nil
}

// interleave runs the group's calls round by round: one call of every
// target per round, in a shuffled order, so that drift and what ran just
// before hit every target alike.
func interleave(cfg *Config, group []*Result, rng *rand.Rand) {
	order := slices.Clone(group)
	for i := 0; i < cfg.N; i++ {
		if cfg.Log != nil && i%max(cfg.N/10, 1) == 0 && len(group) > 0 {
			cfg.logf("round %d of %d (%s, ...)", i, cfg.N, group[0].Target.System)
		}
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, r := range order {
			limit := cfg.N
			if r.Target.MaxCalls > 0 {
				limit = r.Target.MaxCalls
			}
			if len(r.Samples)+r.Errors >= limit {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
			t0 := time.Now()
			ph, traced, err := r.Target.call(ctx)
			d := time.Since(t0)
			cancel()
			if err != nil {
				r.Errors++
				r.LastErr = err
				continue
			}
			if traced {
				ph.Other = d - ph.Marshal - ph.Load - ph.Transfer - ph.Execute - ph.Outputs
			}
			r.Samples = append(r.Samples, Sample{Total: d, Phases: ph, Traced: traced})
		}
	}
}
