//go:build linux && amd64

package proctest

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tessera/internal/proc"
	"tessera/internal/sandbox"
	"tessera/loader"
)

// Open makes a backend with the given configuration.
type Open func(cfg proc.Config) (sandbox.Backend, error)

// Lifecycle runs the tests about processes rather than guests: what the
// function's process looks like, that every call gets a new one, deadlines
// and cancellation, Close, concurrency, and that many calls leak nothing.
// Every backend it opens uses the given spawn method.
func Lifecycle(t *testing.T, open Open, spawn proc.Spawn) {
	inner := open
	open = func(cfg proc.Config) (sandbox.Backend, error) {
		cfg.Spawn = spawn
		return inner(cfg)
	}
	t.Run("process_state", func(t *testing.T) { processState(t, open) })
	t.Run("setup_code_gone", func(t *testing.T) { setupCodeGone(t, open, spawn) })
	t.Run("forged_record", func(t *testing.T) { forgedRecord(t, open, spawn) })
	t.Run("server_restart", func(t *testing.T) { serverRestart(t, open, spawn) })
	t.Run("stub_swapped", func(t *testing.T) { stubSwapped(t, open) })
	t.Run("server_dies_after_clone", func(t *testing.T) { serverDiesAfterClone(t, open, spawn) })
	t.Run("close_while_forking", func(t *testing.T) { closeWhileForking(t, open, spawn) })
	t.Run("fresh", func(t *testing.T) { fresh(t, open) })
	t.Run("cancel", func(t *testing.T) { cancel(t, open) })
	t.Run("cancel_before_supervision", func(t *testing.T) { cancelBeforeSupervision(t, open) })
	t.Run("stopped_from_outside", func(t *testing.T) { stoppedFromOutside(t, open) })
	t.Run("expired", func(t *testing.T) { expired(t, open) })
	t.Run("cpu_limit", func(t *testing.T) { cpuLimit(t, open) })
	t.Run("spawning_thread_exits", func(t *testing.T) { spawningThreadExits(t, open) })
	t.Run("keep_vdso", func(t *testing.T) { keepVDSO(t, open) })
	t.Run("close", func(t *testing.T) { closeInFlight(t, open) })
	t.Run("concurrent", func(t *testing.T) { concurrent(t, open) })
	t.Run("leaks", func(t *testing.T) { leaks(t, open) })
	// Every backend above is closed: not even a stub server may be left.
	if kids := Children(); len(kids) > 0 {
		t.Errorf("processes left behind: %v", kids)
	}
}

func mustOpen(t *testing.T, open Open, cfg proc.Config) sandbox.Backend {
	t.Helper()
	b, err := open(cfg)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// started starts a Loop guest and returns its pid once the function runs
// (its filter is installed), the call's result channel and its cancel.
func started(t *testing.T, open Open, cfg proc.Config) (int, <-chan error, context.CancelFunc) {
	t.Helper()
	pids := make(chan int, 1)
	cfg.OnStart = func(pid int) { pids <- pid }
	b := mustOpen(t, open, cfg)
	fn := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	done := make(chan error, 1)
	go func() {
		outs, err := fn.Run(ctx, nil)
		outs.Release()
		done <- err
	}()
	var pid int
	select {
	case pid = <-pids:
	case err := <-done:
		t.Fatalf("the call ended before it started: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !running(pid) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("process %d never got to the function: %v", pid, status(pid))
		}
		time.Sleep(100 * time.Microsecond)
	}
	return pid, done, cancel
}

// running tells whether a call's process has reached the function: it has
// its filter (an exec'd stub installs it last), the stub's setup code is
// gone and only its one-page guest page is executable. Once the process is
// not dumpable (near the end) only root may read its maps; for others that
// is the sign.
func running(pid int) bool {
	if status(pid)["Seccomp"] != "2" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return os.IsPermission(err)
	}
	stub := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.Contains(f[1], "x") && strings.Contains(f[5], "stub-") {
			if lo, hi := mapRange(f[0]); hi-lo != loader.PageSize {
				return false
			}
			stub++
		}
	}
	return stub == 1
}

// status parses /proc/pid/status.
func status(pid int) map[string]string {
	m := map[string]string{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func processState(t *testing.T, open Open) {
	b := mustOpen(t, open, proc.Config{})
	traced := b.Name() == "ptrace"
	pid, done, cancel := started(t, open, proc.Config{})
	st := status(pid)
	if st["NoNewPrivs"] != "1" || st["Seccomp_filters"] != "1" {
		t.Errorf("NoNewPrivs %q, Seccomp_filters %q", st["NoNewPrivs"], st["Seccomp_filters"])
	}
	if tracer := st["TracerPid"]; traced != (tracer != "0") {
		t.Errorf("TracerPid %s (ptrace backend: %v)", tracer, traced)
	} else if traced {
		if _, err := os.Stat("/proc/self/task/" + tracer); err != nil {
			t.Errorf("the tracer %s is not one of our threads", tracer)
		}
	}
	if os.Geteuid() == 0 { // the process is not dumpable: its files are root's
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err != nil || len(fds) != 0 {
			t.Errorf("open files %v (%v)", fds, err)
		}
		checkMaps(t, pid)
		checkLimits(t, pid)
	}
	cancel()
	if err := <-done; !errors.Is(err, loader.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("want a canceled call, got %v", err)
	}
	if _, _, alive := Stat(pid); alive {
		t.Errorf("process %d still exists after its call", pid)
	}
}

// checkMaps: the guest part of the address space is exactly the ABI's
// layout (Loop's image: text at 0x10000, data at 0x20000, nothing between), shared from the
// memfd, and there is no vDSO.
func checkMaps(t *testing.T, pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	stackLow := uint64(ContextSize - loader.DefaultStackSize(ContextSize))
	// The gap between text and data is unmapped, as the VMM leaves it.
	want := map[string]string{
		fmt.Sprintf("%08x-%08x", 0x10000, 0x11000):              "r-xs",
		fmt.Sprintf("%08x-%08x", 0x20000, stackLow-0x1000):      "rw-s",
		fmt.Sprintf("%08x-%08x", stackLow, uint64(ContextSize)): "rw-s",
	}
	var guest []string
	code := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && (f[5] == "[vdso]" || strings.HasPrefix(f[5], "[vvar")) {
			t.Errorf("%s is mapped: %s", f[5], line)
		}
		lo, hi := mapRange(f[0])
		if lo >= loader.MaxContextSize {
			// Of the stub only the guest page may be executable.
			if strings.Contains(f[1], "x") && (len(f) < 6 || f[5] != "[vsyscall]") {
				if hi-lo != loader.PageSize || len(f) < 6 || !strings.Contains(f[5], "stub-") {
					t.Errorf("executable mapping besides the stub's guest page: %s", line)
				}
				code++
			}
			continue
		}
		guest = append(guest, line)
		if want[f[0]] != f[1] {
			t.Errorf("unexpected guest mapping %s", line)
		}
		delete(want, f[0])
	}
	if len(want) > 0 {
		t.Errorf("missing guest mappings %v; have:\n%s", want, strings.Join(guest, "\n"))
	}
	if code != 1 {
		t.Errorf("%d executable stub mappings, want the guest page:\n%s", code, b)
	}
}

func mapRange(s string) (lo, hi uint64) {
	a, b, _ := strings.Cut(s, "-")
	lo, _ = strconv.ParseUint(a, 16, 64)
	hi, _ = strconv.ParseUint(b, 16, 64)
	return lo, hi
}

// serverStub opens a backend with one engine, whose stub server's
// children (all of them: they share the server's layout) have the stub at
// the returned base address; syms are the stub's symbols (offsets in the
// PIE). It runs a loop guest and reads its maps, so it needs root (the
// process is not dumpable) and the server spawn method.
func serverStub(t *testing.T, open Open, spawn proc.Spawn) (b sandbox.Backend, base uint64, syms map[string]uint64) {
	if spawn != proc.SpawnServer {
		t.Skip("an exec'd stub has a new random layout per call; process_state checks its maps")
	}
	if os.Geteuid() != 0 {
		t.Skip("reads the maps of a non-dumpable process")
	}
	stub, err := proc.StubPath()
	if err != nil {
		t.Skip(err)
	}
	syms = stubSymbols(t, stub)
	pids := make(chan int, 1)
	b = mustOpen(t, open, proc.Config{Engines: 1, OnStart: func(pid int) {
		select {
		case pids <- pid:
		default:
		}
	}})
	loop := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := loop.Run(ctx, nil); done <- err }()
	pid := <-pids
	for deadline := time.Now().Add(10 * time.Second); !running(pid); {
		if time.Now().After(deadline) {
			t.Fatal("the function's process never got to the function")
		}
		time.Sleep(100 * time.Microsecond)
	}
	maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	cancel()
	<-done
	var page uint64
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.Contains(f[1], "x") && strings.Contains(f[5], "stub-") {
			page, _ = mapRange(f[0])
		}
	}
	return b, page - syms["stub_guest"], syms
}

// setupCodeGone: the stub's setup code (whose system calls a server's
// filter lets through) is unmapped before the function runs. A function
// that knows where it was (children of one server share its layout) and
// jumps there faults.
func setupCodeGone(t *testing.T, open Open, spawn proc.Spawn) {
	b, base, syms := serverStub(t, open, spawn)
	for _, target := range []uint64{base, base + 0x1000, base + syms["stub_gate"]} {
		fn := (&Case{Name: "jump", Code: Code(func(a *Asm) { a.MovImm(RAX, target).JmpReg(RAX) })}).Load(t, b)
		_, err := fn.Run(context.Background(), nil)
		var se *proc.SignalError
		if !errors.As(err, &se) || se.Signal != unix.SIGSEGV || se.Addr != target || se.RIP != target {
			t.Errorf("jump to %#x (stub base %#x): want a fault there, got %v", target, base, err)
		}
	}
}

// forgedRecord: the control page is within a function's reach (the stub's
// cfg page is readable and holds its address), so a function that knows
// where the stub is can write a record of its own. The host must report
// what really happened: it trusts a record only after a death (SIGSYS,
// SIGABRT) that the function cannot cause itself, and the handler rewrites
// every field before that death.
func forgedRecord(t *testing.T, open Open, spawn proc.Spawn) {
	b, base, syms := serverStub(t, open, spawn)
	cfg := base + syms["cfg_page"]
	// forge writes a record at the address in the cfg page's first word: a
	// blocked call (kind 1) of #99, or a stub failure (kind 3) at step 99.
	forge := func(a *Asm, kind int32) {
		a.MovImm(RAX, cfg).Load(RDI, At(RAX, 0))
		a.StoreImm32(At(RDI, 8), kind)
		a.StoreImm32(At(RDI, 12), 31)          // signo
		a.StoreImm32(At(RDI, 20), 0)           // errno
		a.StoreImm32(At(RDI, 24), 99)          // number or step
		a.StoreImm32(At(RDI, 28), -0x3fffffc2) // AUDIT_ARCH_X86_64
		a.MovImm(RAX, 0x3143455241535354).Store(At(RDI, 0), RAX)
	}
	exit := prologue()
	forge(exit, 3)
	exit.MovImm(RBX, DataAddr)
	for _, c := range []Case{
		{Name: "syscall", Code: Code(func(a *Asm) { forge(a, 1); a.MovImm(RAX, 39).Syscall() }),
			Check: WantSyscall(proc.ArchX8664, 39, "getpid")},
		{Name: "fault", Code: Code(func(a *Asm) { forge(a, 3); a.Ud2() }),
			Check: WantSignal(unix.SIGILL, wantInst("ud2"))},
		{Name: "exit", Code: setExit(exit, 0).Exit(0).Bytes(), Check: WantOutputs(nil)},
	} {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, b) })
	}
}

// stubSymbols returns the stub's symbols (offsets in the PIE, linked at
// 0), the guest page, the gate and the cfg page among them.
func stubSymbols(t *testing.T, path string) map[string]uint64 {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, s := range syms {
		m[s.Name] = s.Value
	}
	for _, name := range []string{"stub_guest", "stub_gate", "cfg_page"} {
		if m[name] == 0 {
			t.Fatalf("stub symbol %s not found", name)
		}
	}
	return m
}

// serverRestart: a stub server killed from outside is replaced; calls go on.
func serverRestart(t *testing.T, open Open, spawn proc.Spawn) {
	b := mustOpen(t, open, proc.Config{Engines: 1})
	fn := (&Case{Name: "noop", Code: Noop()}).Load(t, b)
	for round := range 3 {
		outs, err := fn.Run(context.Background(), nil)
		outs.Release()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		killed := 0
		for _, pid := range Children() {
			if comm(pid) == "tessera-serve" {
				unix.Kill(pid, unix.SIGKILL)
				killed++
			}
		}
		if spawn == proc.SpawnServer && killed == 0 {
			t.Fatal("no stub server to kill")
		}
	}
}

// stubSwapped: the stub is checked once, when the backend opens it, and
// every process is started from that same file: replacing what its path
// names afterwards (with a program that just exits 0) changes nothing.
func stubSwapped(t *testing.T, open Open) {
	stub, err := proc.StubPath()
	if err != nil {
		t.Skip(err)
	}
	floor, err := proc.FloorPath()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "stub-copy")
	for _, f := range []struct{ from, to string }{{stub, path}, {floor, path + ".new"}} {
		bin, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.to, bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := mustOpen(t, open, proc.Config{Stub: path, Engines: 1})
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		(&Case{Name: "echo", Code: Echo(0), Inputs: Inputs, Check: WantOutputs(Inputs[0].Items)}).Run(t, b)
	}
}

// hookStub builds a stub whose server misbehaves on every second request.
func hookStub(t *testing.T, spawn proc.Spawn, h proc.StubHook) string {
	t.Helper()
	if spawn != proc.SpawnServer {
		t.Skip("only a stub server forks")
	}
	path, err := proc.TestStub(h)
	if err != nil {
		t.Skip(err)
	}
	return path
}

// serverDiesAfterClone: a server that dies after its clone, before it
// replies, leaves a child the host was never told about, on the call's
// context. The call must still succeed (on a fresh context and a new
// server), and that child must be gone when it returns: not running, not
// waiting for a tracer that never comes, not a zombie.
func serverDiesAfterClone(t *testing.T, open Open, spawn proc.Spawn) {
	stub := hookStub(t, spawn, proc.HookServerDies)
	b := mustOpen(t, open, proc.Config{Stub: stub, Engines: 1})
	echo := (&Case{Name: "echo", Code: Echo(0), Inputs: Inputs, Check: WantOutputs(Inputs[0].Items)})
	for i := range 6 {
		// Calls 1, 3 and 5 are each a server's second request.
		echo.Timeout = time.Minute
		echo.Run(t, b)
		if kids := CallChildren(); len(kids) > 0 {
			t.Fatalf("call %d: processes left behind: %v", i, kids)
		}
	}
}

// closeWhileForking: Close while a server sits on a fork request after its
// clone. When Close returns, the call has ended (ErrClosed) and no process
// is left, the child nobody was told about included.
func closeWhileForking(t *testing.T, open Open, spawn proc.Spawn) {
	stub := hookStub(t, spawn, proc.HookServerHangs)
	b, err := open(proc.Config{Stub: stub, Engines: 1})
	if err != nil {
		t.Skip(err)
	}
	noop := (&Case{Name: "noop", Code: Noop()}).Load(t, b)
	loop := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	if _, err := noop.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := loop.Run(context.Background(), nil); done <- err }()
	// The server's second request: it forks and hangs. Wait for the child.
	for deadline := time.Now().Add(10 * time.Second); len(CallChildren()) == 0; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			b.Close()
			t.Fatal("the server forked no child")
		}
	}
	b.Close()
	if kids := Children(); len(kids) > 0 {
		t.Errorf("processes left after Close: %v", kids)
	}
	if err := <-done; !errors.Is(err, proc.ErrClosed) {
		t.Errorf("want ErrClosed, got %v", err)
	}
}

func checkLimits(t *testing.T, pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Max open files", "Max core file size", "Max processes", "Max file size"} {
		i := strings.Index(string(b), name)
		if f := strings.Fields(string(b[i+len(name):])); i < 0 || len(f) < 2 || f[0] != "0" || f[1] != "0" {
			t.Errorf("%s: want 0 0 in\n%s", name, b)
		}
	}
	i := strings.Index(string(b), "Max cpu time")
	if f := strings.Fields(string(b[i+len("Max cpu time"):])); i < 0 || f[0] == "unlimited" {
		t.Errorf("no CPU time limit in\n%s", b)
	}
}

// fresh: every call has a process of its own and memory no earlier call
// touched. One engine, and before each scan the context the scribble left
// is back in the pool (proc.Settle): the scan gets exactly that context,
// scrubbed, which it must find zero everywhere.
func fresh(t *testing.T, open Open) {
	var mu sync.Mutex
	seen := map[int]bool{}
	b := mustOpen(t, open, proc.Config{Engines: 1, OnStart: func(pid int) {
		mu.Lock()
		defer mu.Unlock()
		if seen[pid] {
			t.Errorf("pid %d used twice", pid)
		}
		seen[pid] = true
	}})
	scribble := (&Case{Name: "scribble", Code: Scribble()}).Load(t, b)
	scan := (&Case{Name: "scan", Code: Scan()}).Load(t, b)
	run := func(i int, fn sandbox.Function) {
		outs, err := fn.Run(context.Background(), nil)
		outs.Release()
		if err != nil {
			t.Fatalf("round %d: %v (scan exits 1 when it finds a scribble)", i, err)
		}
	}
	// Round 0 fills the pool: its scribble's context finds it full.
	for i := range 11 {
		run(i, scribble)
		before := proc.Settle(b)
		run(i, scan)
		if proc.Settle(b) != before+1 && i > 0 {
			t.Fatalf("round %d: the scan did not get the scribbled context back, scrubbed", i)
		}
	}
	if len(seen) != 22 {
		t.Errorf("22 calls started %d processes", len(seen))
	}
}

func cancel(t *testing.T, open Open) {
	pid, done, cancel := started(t, open, proc.Config{})
	cancel()
	if err := <-done; !errors.Is(err, loader.ErrCanceled) {
		t.Errorf("want ErrCanceled, got %v", err)
	}
	if _, _, alive := Stat(pid); alive {
		t.Errorf("process %d outlived its call", pid)
	}
}

// cancelBeforeSupervision: a call canceled (or closed) before its
// supervisor even looked at the process (for ptrace: before it attached)
// reports the cancellation, not whatever the supervisor found. OnStart runs
// between the start and the supervision: it cancels and waits until the
// killed process is a zombie.
func cancelBeforeSupervision(t *testing.T, open Open) {
	var pids []int
	cancel := func() {}
	b := mustOpen(t, open, proc.Config{OnStart: func(pid int) {
		pids = append(pids, pid)
		cancel()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Microsecond) {
			if _, state, ok := Stat(pid); !ok || state == 'Z' || time.Now().After(deadline) {
				return
			}
		}
	}})
	fn := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	for i := range 5 {
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		_, err := fn.Run(ctx, nil)
		cancel()
		if !errors.Is(err, loader.ErrCanceled) || !errors.Is(err, context.Canceled) {
			t.Errorf("call %d: want ErrCanceled, got %v", i, err)
		}
	}
	for _, pid := range pids {
		if _, _, alive := Stat(pid); alive {
			t.Errorf("process %d outlived its call", pid)
		}
	}
}

// stoppedFromOutside: SIGSTOP sent to a function's process by someone else
// does not hang the call, with a deadline or without: it ends with an error
// at once (both backends wait for stops too) and no process is left.
func stoppedFromOutside(t *testing.T, open Open) {
	pids := make(chan int, 1)
	b := mustOpen(t, open, proc.Config{OnStart: func(pid int) { pids <- pid }})
	fn := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	for _, deadline := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		if deadline {
			ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		}
		done := make(chan error, 1)
		go func() { _, err := fn.Run(ctx, nil); done <- err }()
		pid := <-pids
		for wait := time.Now().Add(10 * time.Second); !running(pid) && time.Now().Before(wait); {
			time.Sleep(100 * time.Microsecond)
		}
		unix.Kill(pid, unix.SIGSTOP)
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			// Not a timing check: without this the test would hang.
			t.Errorf("deadline %v: the call of a stopped process did not return", deadline)
			cancel()
			err = <-done
		}
		cancel()
		if err == nil || !strings.Contains(err.Error(), "stopped from outside") {
			t.Errorf("deadline %v: want a call stopped from outside, got %v", deadline, err)
		}
		if _, _, alive := Stat(pid); alive {
			t.Errorf("process %d outlived its call", pid)
		}
	}
}

func expired(t *testing.T, open Open) {
	startedAny := false
	b := mustOpen(t, open, proc.Config{OnStart: func(int) { startedAny = true }})
	fn := (&Case{Name: "noop", Code: Noop()}).Load(t, b)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := fn.Run(ctx, nil); !errors.Is(err, loader.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want ErrTimeout, got %v", err)
	}
	if startedAny {
		t.Error("a process was started for a call past its deadline")
	}
}

// cpuLimit: without a deadline, RLIMIT_CPU stops a spinning function.
func cpuLimit(t *testing.T, open Open) {
	if testing.Short() {
		t.Skip("spins for two seconds of CPU time")
	}
	b := mustOpen(t, open, proc.Config{CPULimit: time.Second})
	fn := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	_, err := fn.Run(context.Background(), nil)
	if !errors.Is(err, loader.ErrTimeout) || !strings.Contains(err.Error(), "RLIMIT_CPU") {
		t.Errorf("want a CPU time limit error, got %v", err)
	}
}

// spawningThreadExits: PDEATHSIG follows the thread that started a
// process, and Go ends a thread when a goroutine locked to it exits. If a
// call's goroutine leaves the thread that started its process and that
// thread ends, the process must live on. With one P, OnStart parks the
// call's goroutine and lets its thread run a goroutine that ends locked to
// it (unless the call keeps its thread).
func spawningThreadExits(t *testing.T, open Open) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	b := mustOpen(t, open, proc.Config{Engines: 1, OnStart: func(int) {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with it
			close(done)
		}()
		<-done
	}})
	loop := (&Case{Name: "loop", Code: Loop(), Timeout: 300 * time.Millisecond, Check: WantErr(loader.ErrTimeout)})
	for range 3 {
		loop.Run(t, b)
	}
}

// keepVDSO: the diagnostics mode that keeps the vDSO (whose clocks read
// the time-stamp counter) keeps rdtsc working too; the suite's rdtsc case
// checks that it faults otherwise.
func keepVDSO(t *testing.T, open Open) {
	b := mustOpen(t, open, proc.Config{KeepVDSO: true})
	(&Case{Name: "rdtsc", Code: Code(func(a *Asm) { a.Rdtsc() }), Check: WantExit(afterForbidden, nil)}).Run(t, b)
}

func closeInFlight(t *testing.T, open Open) {
	pids := make(chan int, 1)
	b, err := open(proc.Config{OnStart: func(pid int) { pids <- pid }})
	if err != nil {
		t.Skip(err)
	}
	fn := (&Case{Name: "loop", Code: Loop()}).Load(t, b)
	done := make(chan error, 1)
	go func() {
		_, err := fn.Run(context.Background(), nil)
		done <- err
	}()
	pid := <-pids
	b.Close()
	if err := <-done; !errors.Is(err, proc.ErrClosed) {
		t.Errorf("in flight: want ErrClosed, got %v", err)
	}
	if _, _, alive := Stat(pid); alive {
		t.Errorf("process %d outlived Close", pid)
	}
	if _, err := fn.Run(context.Background(), nil); !errors.Is(err, proc.ErrClosed) {
		t.Errorf("after Close: want ErrClosed, got %v", err)
	}
}

func concurrent(t *testing.T, open Open) {
	b := mustOpen(t, open, proc.Config{Engines: 3})
	fn := (&Case{Name: "echo", Code: Echo(0)}).Load(t, b)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				item := loader.Item{Ident: fmt.Sprintf("g%d-%d", g, i), Key: uint64(i), Data: []byte(strings.Repeat("x", g*100+i))}
				outs, err := fn.Run(context.Background(), []loader.Set{{Ident: "in", Items: []loader.Item{item}}})
				if err != nil {
					t.Error(err)
					return
				}
				got := outs.Set("out").Items
				if len(got) != 1 || got[0].Ident != item.Ident || string(got[0].Data) != string(item.Data) || got[0].Key != item.Key {
					t.Errorf("goroutine %d call %d: got %+v", g, i, got)
				}
				outs.Release()
			}
		}()
	}
	wg.Wait()
}

// leaks: a thousand calls, half of them failing, leave no file
// descriptors, processes, goroutines or memory behind.
func leaks(t *testing.T, open Open) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	b := mustOpen(t, open, proc.Config{})
	echo := (&Case{Name: "echo", Code: Echo(0)}).Load(t, b)
	bad := (&Case{Name: "write", Code: Syscall(1, 1, DataAddr, 5)}).Load(t, b)
	run := func() {
		outs, err := echo.Run(context.Background(), Inputs)
		if err != nil {
			t.Fatal(err)
		}
		outs.Release()
		if _, err := bad.Run(context.Background(), nil); !errors.Is(err, loader.ErrSyscall) {
			t.Fatal(err)
		}
	}
	for range 20 { // warm up: the runtime's own threads and buffers
		run()
	}
	settle := func() uint64 {
		runtime.GC()
		debug.FreeOSMemory()
		rss, err := RSS()
		if err != nil {
			t.Fatal(err)
		}
		return rss
	}
	fds, goroutines, rss := FDs(), runtime.NumGoroutine(), settle()
	for range n / 2 {
		run()
	}
	// The backend keeps a few fresh contexts (memfds) ready, and how many
	// are ready right now varies by a few; a leak would be one per call.
	if got := FDs(); got > fds+8 || got < fds-8 {
		t.Errorf("%d open files before, %d after %d calls", fds, got, n)
	}
	if kids := CallChildren(); len(kids) > 0 {
		t.Errorf("processes left behind: %v", kids)
	}
	if g := runtime.NumGoroutine(); g > goroutines+2 {
		t.Errorf("%d goroutines before, %d after", goroutines, g)
	}
	// Generous: each call maps a 4 MiB context; leaking them all would
	// add gigabytes.
	const bound = 64 << 20
	if after := settle(); after > rss+bound {
		t.Errorf("RSS grew from %d to %d bytes over %d calls (bound %d)", rss, after, n, bound)
	}
	// The contexts themselves: only the few the backend keeps ready (and
	// those the reaper has not unmapped yet) may still be mapped.
	if maps, err := os.ReadFile("/proc/self/maps"); err == nil {
		if k := strings.Count(string(maps), "tessera-context"); k > 32 {
			t.Errorf("%d contexts still mapped after %d calls whose outputs were all released", k, n)
		}
	}
}

// Run runs the suite and the lifecycle tests on the backends open makes,
// with each way of making a call's process. It skips when the machine
// cannot run the backend at all (no seccomp, no ptrace permission).
func Run(t *testing.T, open Open) {
	b, err := open(proc.Config{})
	if err != nil {
		t.Skipf("unavailable here: %v", err)
	}
	_, err = (&Case{Name: "noop", Code: Noop()}).Load(t, b).Run(context.Background(), nil)
	b.Close()
	if errors.Is(err, unix.EPERM) {
		t.Skipf("not permitted here: %v", err)
	}
	for _, spawn := range []proc.Spawn{proc.SpawnServer, proc.SpawnExec} {
		t.Run(spawn.String(), func(t *testing.T) {
			t.Run("suite", func(t *testing.T) {
				b, err := open(proc.Config{Spawn: spawn})
				if err != nil {
					t.Skip(err)
				}
				defer b.Close()
				Suite(t, b)
			})
			t.Run("lifecycle", func(t *testing.T) { Lifecycle(t, open, spawn) })
		})
	}
}
