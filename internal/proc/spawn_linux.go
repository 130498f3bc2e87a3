//go:build linux && amd64

package proc

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spawn starts path with argv, the memfd as its fd 0 and nothing else, an
// empty environment, SIGKILL when the spawning thread dies, and a pidfd.
// syscall.ForkExec uses clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) and execve:
// the cheapest spawn Go offers without cgo (docs/process-backends.md).
func spawn(path string, argv []string, fd int) (pid, pidfd int, err error) {
	pidfd = -1
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{uintptr(fd)},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, PidFD: &pidfd},
	}
	if fd < 0 {
		attr.Files = nil
	}
	pid, err = syscall.ForkExec(path, argv, attr)
	if err != nil {
		return 0, -1, err
	}
	if pidfd < 0 {
		// Without a pidfd a late kill could hit a recycled pid; pidfds
		// exist since Linux 5.3.
		unix.Kill(pid, unix.SIGKILL)
		wait(pid)
		return 0, -1, errors.New("proc: the kernel returned no pidfd (CLONE_PIDFD needs Linux 5.3)")
	}
	return pid, pidfd, nil
}

// wait waits for the next state change of pid (including ptrace stops).
func wait(pid int) (unix.WaitStatus, error) { return waitFor(pid, unix.WALL) }

// waitFor waits for a state change of pid that options select.
func waitFor(pid, options int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, options, nil)
		if err == unix.EINTR {
			continue
		}
		return ws, err
	}
}

// reap waits until pid (killed, or about to end) is gone.
func reap(pid int) (unix.WaitStatus, error) {
	for {
		ws, err := wait(pid)
		if err != nil || ws.Exited() || ws.Signaled() {
			return ws, err
		}
	}
}

// kill sends SIGKILL through a pidfd, which cannot name a recycled pid.
func kill(pidfd int) error {
	err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	if err == unix.ESRCH {
		return nil
	}
	return err
}

// release sets the 32-bit word at mem[off] and wakes every stub waiting on
// it (FUTEX_WAIT on its own mapping of the same memfd page: a shared
// futex). Only the call's own process should ever wait there; waking all
// makes sure that it is woken whatever else might.
func release(mem []byte, off uint64) error {
	if off > uint64(len(mem))-4 || off%4 != 0 {
		return fmt.Errorf("proc: handshake word %#x outside the context", off)
	}
	p := (*uint32)(unsafe.Pointer(&mem[off]))
	atomic.StoreUint32(p, 1)
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWake, math.MaxInt32, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("proc: waking the stub: %w", e)
	}
	return nil
}

// futexWake is FUTEX_WAKE without FUTEX_PRIVATE_FLAG: the word is shared
// with another process.
const futexWake = 1

// SpawnAndWait starts path without files or arguments exactly as the
// engine starts the stub (the same primitive and attributes) and reaps it.
// Benchmarks measure the floor of a process sandbox with it.
func SpawnAndWait(path string) (unix.WaitStatus, error) {
	pid, pidfd, err := spawn(path, []string{path}, -1)
	if err != nil {
		return 0, err
	}
	defer unix.Close(pidfd)
	return wait(pid)
}
