// Package ptraceiso runs a compute function as a fresh host process under
// ptrace: the process's memory is the call's context (mapped from its memfd
// at the same addresses the VM uses), and every system call other than the
// exit stops the process and is reported as a typed error naming the call
// and its arguments.
//
// The process is made and set up exactly as in seccompiso (package
// tessera/internal/proc: a stub server forks it, or the stub is exec'd;
// the context mapped at the guest addresses, files closed, no vDSO,
// resource limits lowered, no_new_privs, the stub's setup code unmapped).
// Before it jumps to the function it waits until the host has attached
// with PTRACE_SEIZE (PTRACE_O_EXITKILL | PTRACE_O_TRACESECCOMP) from the
// calling goroutine's thread, which Run locks: ptrace takes requests only
// from the tracer thread, and every ptrace and wait call is made there.
//
// The filter returns SECCOMP_RET_ALLOW for exit_group and exit; everything
// else (including int $0x80 and the x32 ABI) is SECCOMP_RET_TRACE. So the
// tracee never stops on the way to a normal exit, and the tracer sees a
// PTRACE_EVENT_SECCOMP stop exactly when the function makes any other call:
// it reads it with PTRACE_GET_SYSCALL_INFO and lets it run only if it is
// arch_prctl(ARCH_SET_FS, addr) with addr inside the context (binaries
// built with Dandelion's SDK for its process backend set their thread
// pointer so); otherwise it kills the process and returns a *SyscallError.
// A fault stops the tracee with its signal: the tracer reads siginfo and
// registers, decodes the instruction at RIP from the context with x86asm
// and returns a *SignalError (or a *SyscallError for a refused sysenter).
// The tracee never outlives the call.
//
// The exit status comes from exit_code in the system data, as the ABI says.
// A deadline kills the process (loader.ErrTimeout); RLIMIT_CPU backs it up.
// docs/process-backends.md has the design and the measurements.
package ptraceiso
