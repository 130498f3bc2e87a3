//go:build linux && amd64

package seccompiso

import (
	"fmt"

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

// Runner runs functions, each call in a new process: Run, Close, and
// Backend for the sandbox contract.
type Runner struct{ *proc.Runner }

// New builds the filter and finds (or builds) the stub.
func New(cfg Config) (*Runner, error) {
	r, err := proc.NewRunner("seccomp", proc.ModeSeccomp, cfg, supervise)
	if err != nil {
		return nil, err
	}
	return &Runner{r}, nil
}

// supervise waits for the process to end. Death by SIGSYS can only come from
// the filter, through the stub's handler, which wrote the record last (see
// stub.c); every other ending is explained by proc's common rules. A
// process stopped from outside (SIGSTOP: the function cannot send signals)
// would never end by itself: it is killed and the call reports the stop.
func supervise(c *proc.Call) (unix.WaitStatus, error) {
	ws, err := c.WaitStop()
	if err != nil {
		ws, _ = c.Reap()
		return ws, fmt.Errorf("seccompiso: waiting for the function's process: %w", err)
	}
	if ws.Stopped() {
		sig := ws.StopSignal()
		ws, _ = c.Reap()
		return ws, fmt.Errorf("seccompiso: the function's process was stopped from outside (%s)", unix.SignalName(sig))
	}
	if ws.Signaled() && ws.Signal() == unix.SIGSYS {
		if rec, ok := proc.ReadRecord(c.Ctx); ok {
			if err := rec.Err(c.Ctx); err != nil {
				return ws, err
			}
		}
		return ws, fmt.Errorf("seccompiso: %w: the process died of SIGSYS without a record", loader.ErrSyscall)
	}
	return ws, nil
}
