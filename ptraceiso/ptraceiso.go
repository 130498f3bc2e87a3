//go:build linux && amd64

package ptraceiso

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"tessera/internal/proc"
	"tessera/loader"
)

// Config configures a Runner. The zero value is ready to use.
type Config = proc.Config

// Spawn is how a call's process is made (Config.Spawn).
type Spawn = proc.Spawn

// How a call's process is made (Config.Spawn); see docs/process-backends.md.
const (
	SpawnServer = proc.SpawnServer // forked by a stub server (the default)
	SpawnExec   = proc.SpawnExec   // vfork+exec of the stub per call
)

// SyscallError reports a blocked system call: its number, name, arguments
// and the instruction that made it. errors.Is(err, loader.ErrSyscall).
type SyscallError = proc.SyscallError

// SignalError reports a fault: the signal, its code and address, RIP and
// the decoded instruction. errors.Is(err, loader.ErrFault).
type SignalError = proc.SignalError

// Runner runs functions, each call in a new traced process: Run, Close,
// and Backend for the sandbox contract.
type Runner struct{ *proc.Runner }

// New builds the filter and finds (or builds) the stub.
func New(cfg Config) (*Runner, error) {
	r, err := proc.NewRunner("ptrace", proc.ModePtrace, cfg, supervise)
	if err != nil {
		return nil, err
	}
	return &Runner{r}, nil
}

// options: the tracee dies with its tracer, and stops for the filter's
// SECCOMP_RET_TRACE verdicts (PTRACE_EVENT_SECCOMP).
const options = unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACESECCOMP

// supervise attaches to the new process (which waits for that before it
// runs the function), lets it go, and waits. A well-behaved function stops
// at most for arch_prctl(ARCH_SET_FS) (Dandelion's SDK), which the tracer
// checks and lets run; the filter allows its exit. Anything else stops it,
// is explained, and kills it.
func supervise(c *proc.Call) (unix.WaitStatus, error) {
	if err := seize(c.Pid, options); err != nil {
		ws, _ := c.Reap()
		if died(ws) || c.Reason() != nil {
			// The stub failed before we attached, or the host killed the
			// process (cancellation, deadline, Close): proc explains it.
			return ws, nil
		}
		return ws, fmt.Errorf("ptraceiso: attaching to the function's process: %w", err)
	}
	if err := c.Release(); err != nil {
		ws, _ := c.Reap()
		return ws, err
	}
	for {
		ws, err := c.Wait()
		if err != nil {
			ws, _ = c.Reap()
			return ws, fmt.Errorf("ptraceiso: waiting for the function's process: %w", err)
		}
		switch {
		case ws.Exited() || ws.Signaled():
			return ws, nil
		case !ws.Stopped():
			continue
		}
		deliver, failure := stopped(c, ws)
		if failure == nil {
			// An allowed call, or a signal that is not the function's
			// doing (from outside, or raised by the stub): go on.
			if err := unix.PtraceCont(c.Pid, int(deliver)); err != nil && !errors.Is(err, unix.ESRCH) {
				ws, _ = c.Reap()
				return ws, fmt.Errorf("ptraceiso: resuming the function's process: %w", err)
			}
			continue
		}
		ws, _ = c.Reap()
		return ws, failure
	}
}

// died tells whether the process ended by itself.
func died(ws unix.WaitStatus) bool {
	return ws.Exited() || (ws.Signaled() && ws.Signal() != unix.SIGKILL)
}

// stopped explains a ptrace stop: the function's failure (the process must
// die), or no failure and the signal to deliver when it resumes.
func stopped(c *proc.Call, ws unix.WaitStatus) (deliver syscall.Signal, failure error) {
	sig := ws.StopSignal()
	event := int(uint32(ws)>>16) & 0xff // PTRACE_EVENT_*, 0 for a signal
	switch {
	case sig == unix.SIGTRAP && event == unix.PTRACE_EVENT_SECCOMP:
		si, err := getSyscallInfo(c.Pid)
		if err != nil {
			return 0, fmt.Errorf("ptraceiso: %w: reading the blocked call: %v", loader.ErrSyscall, err)
		}
		if proc.TraceAllows(si.arch, si.nr, si.args, c.Layout.Size) {
			return 0, nil // arch_prctl(ARCH_SET_FS) inside the context: let it run
		}
		return 0, proc.NewSyscallError(si.arch, int(si.nr), si.args, si.ip)
	case event != 0:
		// PTRACE_EVENT_STOP: a group stop (SIGSTOP from outside) or an
		// interrupt. A function cannot do this itself; the call ends.
		return 0, fmt.Errorf("ptraceiso: the function's process was stopped from outside (%s, event %d)", unix.SignalName(sig), event)
	}
	switch sig {
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGILL, unix.SIGFPE, unix.SIGTRAP:
		code, addr, err := getSiginfo(c.Pid)
		if err != nil {
			return 0, &proc.SignalError{Signal: sig, Detail: "siginfo unavailable: " + err.Error()}
		}
		regs, err := getRegs(c.Pid)
		if err != nil {
			return 0, &proc.SignalError{Signal: sig, Code: code, Addr: addr, Detail: "registers unavailable: " + err.Error()}
		}
		return 0, proc.Fault(c.Ctx, sig, code, addr, regs)
	}
	// SIGXCPU (the CPU-time backstop), SIGABRT (the stub failed) or a
	// signal from outside: the process dies of it (or ignores it), and
	// proc explains the death.
	return sig, nil
}
