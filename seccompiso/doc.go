// Package seccompiso runs a compute function as a fresh host process whose
// memory is the call's context, confined by a seccomp-bpf filter that allows
// nothing but the exit. A blocked system call is reported with its number.
//
// Every call gets a process no earlier call ran in: the host fills a new
// context (loader.Context, a memfd), execs the stub (package
// tessera/internal/proc) with the memfd as its only file, and the stub maps
// the context at the guest addresses (context offset = address, 64 KiB
// unmapped at the bottom, image pages with their segment permissions,
// everything else read-write and not executable, the page below the stack
// unmapped), closes every file, unmaps the vDSO, lowers its resource limits
// and sets no_new_privs, installs SIGSYS and fault handlers on an alternate
// stack, installs the filter, clears every register and jumps to the entry
// with rsp at the ABI's initial stack pointer.
//
// The filter (built once, in Go, with golang.org/x/net/bpf) allows
// exit_group and exit and answers everything else (another number, the x32
// ABI, int $0x80) with SECCOMP_RET_TRAP. The handler writes what the kernel
// reported into a record at the top of the context and then makes another
// refused call with SIGSYS blocked, so the process dies of SIGSYS: nothing
// a function can do by itself kills it that way, so a host that sees it
// knows the record came from the handler. Faults take the same route; a
// sysenter (#UD on AMD) is reported as the system call it attempted.
//
// The exit status comes from exit_code in the system data, as the ABI says,
// never from the process. A deadline kills the process (loader.ErrTimeout);
// RLIMIT_CPU backs it up. Run returns *SyscallError, *SignalError, output
// and exit errors from package loader.
package seccompiso
