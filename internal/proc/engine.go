//go:build linux && amd64

package proc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"tessera/loader"
)

// Config configures an Engine. The zero value is ready to use.
type Config struct {
	// Stub is the path of the stub binary; "" uses StubPath (the
	// environment's TESSERA_STUB, or one built on demand).
	Stub string
	// CPULimit is the RLIMIT_CPU backstop for calls without a deadline
	// (default DefaultCPULimit). With a deadline the limit is the time left,
	// rounded up to seconds, plus one.
	CPULimit time.Duration
	// Engines is the number of calls that may run at once; 0 means one per
	// CPU (GOMAXPROCS). More calls wait for a free engine.
	Engines int
	// KeepVDSO leaves the vDSO mapped in the function's process
	// (diagnostics only: it lets the function read the host's clocks).
	KeepVDSO bool
	// OnStart, if set, is called with the pid of every new process right
	// after it started, before it runs the function (tests, tracing). It
	// must return quickly.
	OnStart func(pid int)
	// Spawn chooses how each call's process is made (default SpawnServer).
	Spawn Spawn
	// MaxContextSize is the largest context a function may ask for; a
	// call of a function that wants more fails with ErrContextTooLarge.
	// 0 means loader.MaxContextSize (64 GiB). The memfd is sparse, but a
	// function may touch all of it.
	MaxContextSize uint64
}

// Spawn is how an engine gets a brand-new process for a call.
type Spawn uint8

const (
	// SpawnServer: a stub server per engine slot forks a child per call
	// (clone(CLONE_PARENT)); the child inherits the server's filter, so
	// nothing is compiled per call, and no exec happens. The default.
	SpawnServer Spawn = iota
	// SpawnExec: syscall.ForkExec (clone(CLONE_VM|CLONE_VFORK) + execve)
	// of the stub per call, which installs the filter itself.
	SpawnExec
)

func (s Spawn) String() string {
	switch s {
	case SpawnServer:
		return "server"
	case SpawnExec:
		return "exec"
	}
	return fmt.Sprintf("Spawn(%d)", s)
}

// DefaultCPULimit bounds the CPU time of a call that has no deadline.
const DefaultCPULimit = 60 * time.Second

// asSlack is what RLIMIT_AS allows beyond the context: the stub, its stack
// and its signal stack. The function cannot map anything anyway; the limit
// is a second fence.
const asSlack = 16 << 20

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("backend closed")

// ErrContextTooLarge: the function asks for a larger context than the
// engine allows (Config.MaxContextSize).
var ErrContextTooLarge = errors.New("context larger than the backend allows")

// Engine runs calls in fresh stub processes. It holds what is built once: the
// stub's path and the filter. Safe for concurrent use.
type Engine struct {
	mode     Mode
	stub     *stubBin
	ownStub  bool // Config.Stub: opened for this engine, closed with it
	filter   *Filter
	cpuLimit time.Duration
	maxCtx   uint64
	keepVDSO bool
	onStart  func(pid int)
	spawn    Spawn
	slots    chan *slot
	ctxs     *contexts
	spawner  *spawner // SpawnServer: the thread that starts the servers

	mu      sync.Mutex
	live    map[*Call]struct{}
	servers map[*server]struct{} // running stub servers: Close kills them
	closed  bool
	calls   sync.WaitGroup // calls tracked: Close waits for them
}

// slot is the right to run one call at a time, with its stub server.
type slot struct{ srv *server }

// NewEngine builds the filter for mode and finds (or builds) the stub.
func NewEngine(mode Mode, cfg Config) (*Engine, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	f, err := NewFilter(mode)
	if err != nil {
		return nil, err
	}
	var stub *stubBin
	if cfg.Stub == "" {
		stub, err = openDefaultStub()
	} else {
		stub, err = openStub(cfg.Stub)
	}
	if err != nil {
		return nil, err
	}
	n := cfg.Engines
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	lim := cfg.CPULimit
	if lim <= 0 {
		lim = DefaultCPULimit
	}
	if cfg.Spawn > SpawnExec || cfg.MaxContextSize > loader.MaxContextSize {
		if cfg.Stub != "" {
			stub.close()
		}
		if cfg.Spawn > SpawnExec {
			return nil, fmt.Errorf("proc: unknown spawn method %v", cfg.Spawn)
		}
		return nil, fmt.Errorf("proc: MaxContextSize %#x is above loader.MaxContextSize (%#x)", cfg.MaxContextSize, uint64(loader.MaxContextSize))
	}
	maxCtx := cfg.MaxContextSize
	if maxCtx == 0 {
		maxCtx = loader.MaxContextSize
	}
	e := &Engine{
		mode: mode, stub: stub, ownStub: cfg.Stub != "", filter: f, cpuLimit: lim, maxCtx: maxCtx, keepVDSO: cfg.KeepVDSO, onStart: cfg.OnStart,
		spawn: cfg.Spawn, slots: make(chan *slot, n), live: map[*Call]struct{}{}, servers: map[*server]struct{}{},
		ctxs: newContexts(min(n+1, 8)),
	}
	for range n {
		e.slots <- &slot{}
	}
	if e.spawn == SpawnServer {
		e.spawner = newSpawner()
	}
	return e, nil
}

// Mode returns the engine's mode.
func (e *Engine) Mode() Mode { return e.mode }

// Supervisor watches a started call until its process is gone. It must
// reap the process before it returns (Call.Wait, Call.Reap) and returns the
// final wait status, plus the error it found if it stopped the function
// itself (a blocked system call, a fault).
type Supervisor func(c *Call) (unix.WaitStatus, error)

// Call is one run of a function: its context and its process.
type Call struct {
	Ctx    *loader.Context
	Layout *loader.Layout
	Pid    int

	mu     sync.Mutex
	pidfd  int
	reason error // why the host killed the process, if it did
}

// Kill stops the process with SIGKILL. reason, if not nil and the first
// given, is what the call reports when the process dies of it. Safe to call
// from any goroutine, at any time, any number of times.
func (c *Call) Kill(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == nil {
		c.reason = reason
	}
	if c.pidfd >= 0 {
		kill(c.pidfd)
	}
}

// Reason returns why the host killed the process, or nil.
func (c *Call) Reason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Wait waits for the process's next state change, ptrace stops included.
func (c *Call) Wait() (unix.WaitStatus, error) { return wait(c.Pid) }

// WaitStop waits until the process ends or stops (a SIGSTOP from outside:
// the function cannot send signals), for an untraced process.
func (c *Call) WaitStop() (unix.WaitStatus, error) { return waitFor(c.Pid, unix.WALL|unix.WUNTRACED) }

// Reap kills the process and waits until it is gone.
func (c *Call) Reap() (unix.WaitStatus, error) {
	c.Kill(nil)
	return reap(c.Pid)
}

// Release lets a stub that waits for its tracer (FlagHandshake) go on.
func (c *Call) Release() error { return release(c.Ctx.Bytes(), HandshakeOffset) }

func (c *Call) closePidfd() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
}

// Run executes fn once in a new process supervised by sup: it creates and
// fills a fresh context, spawns the stub, kills the process at ctx's
// deadline, and turns the way the process ended into outputs or an error.
func (e *Engine) Run(ctx context.Context, fn *loader.Function, inputs []loader.Set, sup Supervisor) (*loader.Outputs, error) {
	if err := CtxError(ctx); err != nil {
		return nil, err
	}
	if e.spawn == SpawnExec {
		// The exec'd stub dies (PDEATHSIG) when the thread that started
		// it ends, and Go ends a thread when a goroutine locked to it
		// exits: the call keeps its thread until its process is reaped,
		// so that no such goroutine can run there meanwhile. (A server's
		// children are tied to the spawner's thread instead.)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	// Tracked from here until its slot (and the slot's server, after
	// Close) is given back: Close waits for that.
	c := &Call{pidfd: -1}
	if !e.track(c) {
		return nil, ErrClosed
	}
	defer e.untrack(c)
	var sl *slot
	select {
	case sl = <-e.slots:
	case <-ctx.Done():
		return nil, CtxError(ctx)
	}
	defer e.putSlot(sl)
	if fn == nil || fn.Image == nil {
		return nil, errors.New("proc: no function")
	}
	if fn.ContextSize > e.maxCtx {
		return nil, fmt.Errorf("proc: %w: %s needs a %#x-byte context, the backend allows %#x", ErrContextTooLarge, fn.Name, fn.ContextSize, e.maxCtx)
	}
	inputs, err := fn.MatchInputs(inputs)
	if err != nil {
		return nil, err
	}
	// A fork request whose answer was lost may have left a process on the
	// call's context (errNoPid): that context is never used again, and the
	// call starts over with a fresh one and a new server, once.
	var pid, pidfd int
	for attempt := 0; ; attempt++ {
		if pid, pidfd, err = e.launch(ctx, sl, c, fn, inputs); err == nil {
			break
		}
		if e.isClosed() {
			return nil, ErrClosed
		}
		if attempt > 0 || !errors.Is(err, errNoPid) || ctx.Err() != nil {
			return nil, err
		}
	}
	defer c.Ctx.Release()
	c.mu.Lock()
	c.Pid, c.pidfd = pid, pidfd
	closed := e.isClosed()
	c.mu.Unlock()
	if closed {
		c.Kill(ErrClosed)
	}
	stop := context.AfterFunc(ctx, func() { c.Kill(CtxError(ctx)) })
	if e.onStart != nil {
		e.onStart(pid)
	}
	ws, failure := sup(c)
	stop()
	c.closePidfd()
	if failure != nil {
		return nil, failure
	}
	return finish(c, ws)
}

// launch fills a fresh context for the call and starts its process. On
// success c has its context and layout; on failure the context is
// released, poisoned after errNoPid.
func (e *Engine) launch(ctx context.Context, sl *slot, c *Call, fn *loader.Function, inputs []loader.Set) (pid, pidfd int, err error) {
	lctx, poison, err := e.ctxs.get(fn.ContextSize)
	if err != nil {
		return 0, -1, err
	}
	l, err := lctx.Setup(fn.Image, inputs, fn.OutputSets, loader.SetupOptions{StackSize: fn.StackSize})
	if err == nil {
		var p *Params
		if p, err = e.params(ctx, fn, l); err == nil {
			pid, pidfd, err = e.start(sl, p, lctx)
		}
	}
	if err != nil {
		if errors.Is(err, errNoPid) {
			poison()
		}
		lctx.Release()
		return 0, -1, err
	}
	c.Ctx, c.Layout = lctx, l
	return pid, pidfd, nil
}

// params builds the stub's parameters for one call.
func (e *Engine) params(ctx context.Context, fn *loader.Function, l *loader.Layout) (*Params, error) {
	regions, err := Regions(fn.Image, l)
	if err != nil {
		return nil, err
	}
	cpu := e.cpuLimit
	if d, ok := ctx.Deadline(); ok {
		cpu = time.Until(d)
	}
	soft := uint64(math.Ceil(max(cpu.Seconds(), 0))) + 1
	p := &Params{
		Size: l.Size, Entry: l.Entry, StackTop: l.StackTop,
		CPUSoft: soft, CPUHard: soft + 1, ASLimit: l.Size + asSlack, PPid: uint64(os.Getpid()),
		Regions: regions,
	}
	if e.mode == ModePtrace {
		p.Flags |= FlagHandshake
	}
	if e.spawn == SpawnExec {
		p.Filter = e.filter.Program()
		p.Flags |= e.serverFlags()
	}
	return p, nil
}

// serverFlags are the flags that hold for every call of the engine: a
// server gets them once, an exec'd stub with each call.
func (e *Engine) serverFlags() uint64 {
	var f uint64
	if e.mode == ModeSeccomp {
		f |= FlagSeccompHandlers
	}
	if e.keepVDSO {
		f |= FlagKeepVDSO
	}
	return f
}

// start makes the call's process on lctx. After errNoPid the server is
// abandoned (the child it may have made is found, killed and reaped) and
// lctx must never be used again.
func (e *Engine) start(sl *slot, p *Params, lctx *loader.Context) (pid, pidfd int, err error) {
	memfd := lctx.Fd()
	if e.spawn == SpawnExec {
		arg, err := p.Arg()
		if err != nil {
			return 0, -1, err
		}
		pid, pidfd, err = spawn(e.stub.exec(), []string{"tessera-stub", arg}, memfd)
		if err != nil {
			return 0, -1, fmt.Errorf("proc: starting %s: %w", e.stub.path, err)
		}
		return pid, pidfd, nil
	}
	b, err := p.Encode()
	if err != nil {
		return 0, -1, err
	}
	// A server that died (killed from outside) is replaced once.
	for attempt := 0; ; attempt++ {
		if sl.srv == nil {
			if sl.srv, err = e.startServer(); err != nil {
				return 0, -1, err
			}
		}
		pid, pidfd, err = sl.srv.fork(b, memfd)
		switch {
		case err == nil:
			return pid, pidfd, nil
		case errors.Is(err, errNoPid):
			e.dropServer(sl.srv)
			if _, aerr := sl.srv.abandon(lctx.Bytes()); aerr != nil {
				err = fmt.Errorf("%w; %v", err, aerr)
			}
			sl.srv = nil
			return 0, -1, err
		case attempt > 0 || !errors.Is(err, errServerGone):
			return 0, -1, err
		}
		// The request never reached the server: no child, and the
		// context is as good as new.
		e.stopServer(sl)
	}
}

func (e *Engine) startServer() (*server, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	// The kernel places the stub at random; in the rare layout where its
	// code crosses a 4 GiB boundary the gate does not fit, and a new
	// server gets a new layout.
	var err error
	for range 3 {
		var srv *server
		if srv, err = startServer(e.spawner, e.stub.exec(), e.serverFlags(), e.filter); err == nil {
			e.mu.Lock()
			closed := e.closed
			if !closed {
				e.servers[srv] = struct{}{}
			}
			e.mu.Unlock()
			if closed {
				srv.close()
				return nil, ErrClosed
			}
			return srv, nil
		}
		if !errors.Is(err, errGateSplit) {
			return nil, err
		}
	}
	return nil, err
}

// dropServer forgets a server that is about to be closed: Close no longer
// kills it (its pidfd is about to go).
func (e *Engine) dropServer(s *server) {
	e.mu.Lock()
	delete(e.servers, s)
	e.mu.Unlock()
}

func (e *Engine) stopServer(sl *slot) {
	if sl.srv != nil {
		e.dropServer(sl.srv)
		sl.srv.close()
		sl.srv = nil
	}
}

// putSlot returns a slot after a call; after Close its server goes.
func (e *Engine) putSlot(sl *slot) {
	if e.isClosed() {
		e.stopServer(sl)
	}
	e.slots <- sl
}

// finish turns the final wait status into the call's result.
func finish(c *Call, ws unix.WaitStatus) (*loader.Outputs, error) {
	switch {
	case ws.Exited():
		// The status the process passed to exit is the guest's to choose
		// and means nothing: the ABI's exit code is in the system data.
		code, err := c.Ctx.ExitCode()
		if err != nil {
			return nil, err
		}
		outs, err := c.Ctx.ReadOutputs()
		if err != nil {
			return nil, err
		}
		if code != 0 {
			return outs, &loader.ExitError{Status: int(code)}
		}
		return outs, nil
	case ws.Signaled():
		return nil, DeathError(c, ws.Signal())
	}
	return nil, fmt.Errorf("proc: unexpected wait status %#x", uint32(ws))
}

// DeathError explains a process that died of sig, for the signals both
// modes see the same way.
func DeathError(c *Call, sig unix.Signal) error {
	switch sig {
	case unix.SIGKILL:
		if r := c.Reason(); r != nil {
			return r
		}
		return errors.New("proc: the function's process was killed by SIGKILL from outside tessera")
	case unix.SIGXCPU:
		return fmt.Errorf("%w: CPU time limit (RLIMIT_CPU) reached", loader.ErrTimeout)
	case unix.SIGABRT:
		// Only the stub raises SIGABRT: the function cannot send signals.
		if r, ok := ReadRecord(c.Ctx); ok && r.Kind == RecordStub {
			return r.Err(c.Ctx)
		}
		return &StubError{Step: -1}
	}
	return &SignalError{Signal: sig, Detail: "the process died of it; no details recorded"}
}

// CtxError maps a done context to the loader's sentinels (keeping the
// context's own error in the chain), or returns nil.
func CtxError(ctx context.Context) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (%w)", loader.ErrTimeout, err)
	}
	return fmt.Errorf("%w (%w)", loader.ErrCanceled, context.Cause(ctx))
}

func (e *Engine) track(c *Call) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.live[c] = struct{}{}
	e.calls.Add(1)
	return true
}

func (e *Engine) untrack(c *Call) {
	e.mu.Lock()
	delete(e.live, c)
	e.mu.Unlock()
	e.calls.Done()
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// Close makes further calls fail with ErrClosed, kills the processes of
// calls in flight (they return ErrClosed once their process is reaped) and
// waits until those calls are done: when it returns, no process it made is
// left, not even one a dying stub server forked without telling. It must
// not be called from OnStart or a Supervisor.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	live := make([]*Call, 0, len(e.live))
	for c := range e.live {
		live = append(live, c)
	}
	// Every server dies now; a busy one may be forking a call's child,
	// which its call then finds (start). Not left to PDEATHSIG when the
	// spawner's thread ends: Go does not end the main thread, so that
	// thread may never end.
	for s := range e.servers {
		kill(s.pidfd)
	}
	e.mu.Unlock()
	for _, c := range live {
		c.Kill(ErrClosed)
	}
	e.ctxs.close()
	// Idle slots give up (reap) their servers now, busy ones when their
	// call returns them (putSlot).
	for range cap(e.slots) {
		select {
		case sl := <-e.slots:
			e.stopServer(sl)
			e.slots <- sl
		default:
		}
	}
	if e.spawner != nil {
		e.spawner.close()
	}
	// A call whose server was killed while it forked finds the child it
	// may have made, and reaps it (start), before it returns.
	e.calls.Wait()
	if e.ownStub {
		e.stub.close() // no call is left to start it
	}
	return nil
}
