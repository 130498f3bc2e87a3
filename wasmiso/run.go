package wasmiso

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"tessera/loader"
	"tessera/wasmiso/internal/instrument"
)

// stdioSet is the set whose items are stdin/argv/environ and
// stdout/stderr.
const stdioSet = "stdio"

// Call is one run of a module.
type Call struct {
	// Inputs become read-only folders /<set>/, one per set even when it has
	// no items. The stdio set's stdin, argv and environ items are fd 0, the
	// arguments and the environment.
	Inputs []loader.Set
	// Outputs are the declared output sets: writable folders /<set>/ whose
	// files become the output items. A set named stdio also receives stdout
	// and stderr; without one they are discarded.
	Outputs []string
	// MemoryLimit bounds the linear memory (rounded up to 64 KiB pages, at
	// most 4 GiB) and, separately, the files the call writes (outputs and
	// scratch). 0 means loader.DefaultContextSize.
	MemoryLimit uint64
}

// callKey is the context key under which host functions find their call.
type callKey struct{}

// call is the state of one Run.
type call struct {
	fs                    memFS
	stdin, stdout, stderr stdStream
	rand                  guestRand

	mem linearMemory

	// Interruption: set once, by check at the deadline or by
	// Runtime.Close.
	mu      sync.Mutex
	stopped atomic.Bool
	cause   error // context.DeadlineExceeded, context.Canceled or ErrClosed
	// cancel stops an uninstrumented module (InterruptCloseOnDone): it
	// cancels the context the call runs under, and wazero closes the
	// instance at its next loop head. Closing the instance from another
	// goroutine instead would release its resources (the linear memory)
	// while the guest still runs.
	cancel context.CancelCauseFunc
}

// interrupt marks the call stopped; the guest traps at its next check (or,
// uninstrumented, at the next loop head after its context is canceled).
func (c *call) interrupt(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped.Load() {
		c.cause = cause
		c.stopped.Store(true)
		if c.cancel != nil {
			c.cancel(cause)
		}
	}
}

// errStopped is what check panics with to end a call; wazero turns the
// panic into the error _start returns.
var errStopped = errors.New("wasmiso: call stopped")

// check is the host function instrumented modules call every
// instrument.Budget units of work (instrument.CheckModule.CheckName). It
// reads the clock against the deadline itself rather than waiting for a
// timer: timers live on the P that armed them, which may be the one this
// guest keeps busy. Being Go code, it is also where the scheduler can
// preempt the guest's goroutine.
func check(ctx context.Context, _ api.Module, _ []uint64) {
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		return
	}
	if !c.stopped.Load() {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			c.interrupt(context.DeadlineExceeded)
		} else if err := ctx.Err(); err != nil {
			c.interrupt(err)
		}
	}
	if c.stopped.Load() {
		panic(errStopped)
	}
}

// Run runs m once in a new instance with fresh linear memory and returns
// its output sets. A nonzero exit status comes with the outputs and a
// *loader.ExitError; a trap is a *TrapError (loader.ErrFault); running past
// ctx's deadline is loader.ErrTimeout, cancellation loader.ErrCanceled,
// each with no outputs.
func (r *Runtime) Run(ctx context.Context, m *Module, in Call) (*loader.Outputs, error) {
	if err := ctx.Err(); err != nil {
		return nil, stopError(err, "")
	}
	c := &call{mem: linearMemory{limit: uint64(pagesFor(in.MemoryLimit)) * pageSize}}
	if m.MinMemory() > c.mem.limit {
		return nil, fmt.Errorf("wasmiso: %w: the module needs %d bytes of memory at start, its limit is %d",
			loader.ErrMemoryLimit, m.MinMemory(), c.mem.limit)
	}
	budget := in.MemoryLimit
	if budget == 0 {
		budget = loader.DefaultContextSize
	}
	c.fs.init(in.Inputs, in.Outputs, int64(min(budget, 1<<62)))

	cfg := r.base
	if m.wasi {
		cfg = c.configure(cfg, in.Inputs)
	}
	// Always set: wazero's default seeds a math/rand source per instance,
	// which costs microseconds even when the guest never asks.
	cfg = cfg.WithRandSource(&c.rand)
	cctx := experimental.WithMemoryAllocator(context.WithValue(ctx, callKey{}, c), &c.mem)
	if m.im == nil {
		var cancel context.CancelCauseFunc
		cctx, cancel = context.WithCancelCause(cctx)
		defer cancel(nil)
		c.cancel = cancel // before track: from then on Close may use it
	}

	if !r.track(c) {
		return nil, ErrClosed
	}
	defer r.untrack(c)
	// m's compiled code is released once m is unreachable (Compile): not
	// before this call is over.
	defer runtime.KeepAlive(m)
	// The linear memory is recycled once the guest can no longer run,
	// after the instance is closed (deferred below, so run before this).
	defer c.mem.release()
	inst, err := r.rt.InstantiateModule(cctx, m.cm, cfg)
	if err != nil {
		if c.stopped.Load() {
			return nil, stopError(c.cause, "")
		}
		return nil, fmt.Errorf("wasmiso: instantiating: %w", err)
	}
	defer inst.Close(context.Background())

	if m.start {
		err = run(cctx, inst, instrument.StartExport)
	}
	if err == nil {
		err = run(cctx, inst, "_start")
	}
	return r.finish(ctx, m, c, in.Outputs, err)
}

func run(ctx context.Context, inst api.Module, name string) error {
	_, err := inst.ExportedFunction(name).Call(ctx)
	return err
}

// configure adds what a WASI module sees of the call: its arguments,
// environment, standard streams and file system. Each With copies the
// configuration, so only what the call has is added.
func (c *call) configure(cfg wazero.ModuleConfig, inputs []loader.Set) wazero.ModuleConfig {
	var argvItem, envItem []byte
	var haveArgv, haveEnv bool
	for _, s := range inputs {
		if s.Ident != stdioSet {
			continue
		}
		for _, it := range s.Items {
			switch {
			case it.Ident == "argv" && !haveArgv:
				argvItem, haveArgv = it.Data, true
			case it.Ident == "environ" && !haveEnv:
				envItem, haveEnv = it.Data, true
			}
		}
	}
	if haveArgv {
		cfg = cfg.WithArgs(argv(argvItem)...)
	}
	if haveEnv {
		kv := environ(envItem)
		for i := 0; i < len(kv); i += 2 {
			cfg = cfg.WithEnv(kv[i], kv[i+1])
		}
	}
	c.stdin = stdStream{fs: &c.fs, name: "stdin"}
	c.stdout = stdStream{fs: &c.fs, name: "stdout"}
	c.stderr = stdStream{fs: &c.fs, name: "stderr"}
	return cfg.WithStdin(&c.stdin).WithStdout(&c.stdout).WithStderr(&c.stderr).
		WithFSConfig(wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(&c.fs, "/"))
}

// finish turns the outcome of _start into outputs and an error.
func (r *Runtime) finish(ctx context.Context, m *Module, c *call, outputs []string, err error) (*loader.Outputs, error) {
	status := 0
	var exit *sys.ExitError
	switch {
	case err == nil:
	case c.stopped.Load():
		return nil, stopError(c.cause, trapFunction(err, m))
	case errors.As(err, &exit):
		// With InterruptCloseOnDone wazero reports the deadline as an exit
		// code, which a guest could also pass to proc_exit: believe it only
		// when the context is really done.
		if m.im == nil && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled) && ctx.Err() != nil {
			return nil, stopError(ctx.Err(), "")
		}
		status = int(int32(exit.ExitCode()))
	default:
		te := trapOf(err, m)
		if te == nil {
			return nil, fmt.Errorf("wasmiso: running: %w", err)
		}
		if c.limited() {
			return nil, &MemoryLimitError{Limit: c.mem.limit, Err: te}
		}
		return nil, te
	}
	out := loader.NewOutputs(c.fs.collect(outputs))
	if status != 0 {
		var ee error = &loader.ExitError{Status: status}
		if c.limited() {
			ee = &MemoryLimitError{Limit: c.mem.limit, Err: ee}
		}
		return out, ee
	}
	return out, nil
}

// limited reports whether the call was refused memory or output space.
func (c *call) limited() bool { return c.mem.refused || c.fs.exhausted }

func stopError(cause error, where string) error {
	kind := loader.ErrCanceled
	if errors.Is(cause, context.DeadlineExceeded) {
		kind = loader.ErrTimeout
	}
	if where != "" {
		return fmt.Errorf("wasmiso: %w (stopped in %s): %w", kind, where, cause)
	}
	return fmt.Errorf("wasmiso: %w: %w", kind, cause)
}

// trapOf returns the *TrapError for an error from a wazero call, or nil if
// the error is not a trap. wazero wraps a trap with its stack trace, except
// a stack overflow, which it returns bare.
func trapOf(err error, m *Module) *TrapError {
	if t := errors.Unwrap(err); t != nil && strings.HasPrefix(err.Error(), "wasm error: ") {
		return newTrapError(err, t.Error(), m.im)
	}
	if trapKinds[err.Error()] != nil {
		return &TrapError{Trap: err.Error(), kind: trapKinds[err.Error()]}
	}
	return nil
}

// trapFunction names the function an interrupted call was stopped in.
func trapFunction(err error, m *Module) string {
	if te := trapOf(err, m); te != nil {
		return te.Function
	}
	return ""
}

func (r *Runtime) track(c *call) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.inflight[c] = struct{}{}
	r.running.Add(1)
	return true
}

func (r *Runtime) untrack(c *call) {
	r.mu.Lock()
	delete(r.inflight, c)
	r.mu.Unlock()
	r.running.Done()
}

// guestRand is what random_get returns: like wazero's default, the same
// bytes in every call (nothing of the host's randomness is visible), but
// seeded only when the guest first asks.
type guestRand struct {
	seeded bool
	c      rand.ChaCha8
}

// randSeed is fixed: calls are deterministic.
var randSeed = [32]byte([]byte("tessera wasmiso fixed rand seed."))

func (g *guestRand) Read(p []byte) (int, error) {
	if !g.seeded {
		g.c.Seed(randSeed)
		g.seeded = true
	}
	return g.c.Read(p)
}
