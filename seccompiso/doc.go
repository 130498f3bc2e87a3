// Package seccompiso runs a compute function as a fresh host process whose
// memory is the call's context, confined by a seccomp-bpf filter that allows
// nothing but the exit. A blocked system call is reported with its number.
//
// Every call gets a process no earlier call ran in. The host fills a new
// context (loader.Context, a memfd) and hands it to the process stub
// (package tessera/internal/proc): by default a stub server, one per engine,
// forks a child for the call (with CLONE_PARENT, so the child is the host's
// own); with Config.Spawn = SpawnExec the stub is exec'd per call instead.
// The call's process maps the context at the guest addresses (context
// offset = address, 64 KiB unmapped at the bottom, image pages with their
// segment permissions, everything else read-write and not executable, the
// page below the stack unmapped), closes every file, has no vDSO, lowers its
// resource limits, has no_new_privs and dies with the host, unmaps all of
// the stub's setup code, clears every register and jumps to the entry with
// rsp at the ABI's initial stack pointer.
//
// The filter (built once, in Go, with golang.org/x/net/bpf) allows
// exit_group and exit and answers everything else (another number, the x32
// ABI, int $0x80) with SECCOMP_RET_TRAP. A server installs it once, with a
// gate that lets the stub's own setup code through, and its children
// inherit it: nothing is compiled per call, and the setup code is unmapped
// before the function runs. The exec'd stub installs the plain filter
// itself, last.
//
// A trapped call reaches the stub's SIGSYS handler (on an alternate stack),
// which writes all of what the kernel reported into the context's control
// page, and then makes another refused call with SIGSYS blocked, so the
// process dies of SIGSYS: nothing a function can do by itself kills it that
// way, so a host that sees it knows the record came from the handler (a
// function that finds the stub can write the control page too, but the
// handler rewrites the whole record before that death, and no other death
// makes the host read it). Faults take the same route; a sysenter (#UD on
// AMD) is reported as the system call it attempted, and rdtsc or rdtscp
// (made to fault) as a refused instruction.
//
// The exit status comes from exit_code in the system data, as the ABI says,
// never from the process. A deadline kills the process (loader.ErrTimeout);
// RLIMIT_CPU backs it up. Run returns a *SyscallError, a *SignalError, or
// output and exit errors from package loader. docs/process-backends.md has
// the design and the measurements.
package seccompiso
