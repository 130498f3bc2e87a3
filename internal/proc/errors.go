//go:build linux && amd64

package proc

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"tessera/loader"
)

//go:generate go run mksyscalls.go

// Arch names the system call convention a blocked call used.
type Arch string

const (
	ArchX8664 Arch = "x86_64" // the syscall instruction
	ArchI386  Arch = "i386"   // int $0x80 or sysenter: 32-bit numbers and registers
	ArchX32   Arch = "x32"    // syscall with __X32_SYSCALL_BIT set
)

// SyscallError reports a system call the function was not allowed to make.
// The process was killed before the call ran.
type SyscallError struct {
	Nr   int    // system call number in Arch's table
	Name string // its name, or "" for a number no table knows
	Args [6]uint64
	Arch Arch
	RIP  uint64 // address of the system call instruction
	Inst string // the instruction: "syscall", "int $0x80", "sysenter"
}

func (e *SyscallError) Error() string {
	var b strings.Builder
	name := e.Name
	if name == "" {
		name = fmt.Sprintf("syscall_%d", e.Nr)
	}
	fmt.Fprintf(&b, "%v: %s(", loader.ErrSyscall, name)
	for i, a := range e.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%#x", a)
	}
	fmt.Fprintf(&b, ") [%s #%d", e.Arch, e.Nr)
	if e.Inst != "" {
		fmt.Fprintf(&b, " via %s", e.Inst)
	}
	fmt.Fprintf(&b, " at %#x]", e.RIP)
	return b.String()
}

func (e *SyscallError) Unwrap() error { return loader.ErrSyscall }

// SignalError reports a fault: the function was stopped by a signal the
// CPU raised (bad memory access, illegal instruction, arithmetic error,
// breakpoint).
type SignalError struct {
	Signal syscall.Signal
	Code   int32  // si_code, e.g. SEGV_MAPERR
	Addr   uint64 // si_addr: the faulting address (0 when the CPU does not say)
	RIP    uint64 // the instruction that faulted
	Inst   string // that instruction, decoded from the context, or ""
	Detail string // what the host concluded, e.g. "stack overflow into the guard page"
}

func (e *SignalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %v", loader.ErrFault, unix.SignalName(e.Signal))
	if c := codeName(e.Signal, e.Code); c != "" {
		fmt.Fprintf(&b, " (%s)", c)
	}
	fmt.Fprintf(&b, " at address %#x, rip %#x", e.Addr, e.RIP)
	if e.Inst != "" {
		fmt.Fprintf(&b, ": %s", e.Inst)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

func (e *SignalError) Unwrap() error { return loader.ErrFault }

// SyscallName returns the name of system call nr in arch's table, or "".
func SyscallName(arch Arch, nr int) string {
	switch arch {
	case ArchX8664, ArchX32:
		return syscallsX8664[nr]
	case ArchI386:
		return syscallsI386[nr]
	}
	return ""
}

// archOf maps seccomp's AUDIT_ARCH value and number to a convention.
func archOf(audit uint32, nr int) Arch {
	switch {
	case audit == unix.AUDIT_ARCH_I386:
		return ArchI386
	case audit == unix.AUDIT_ARCH_X86_64 && nr&x32SyscallBit != 0:
		return ArchX32
	case audit == unix.AUDIT_ARCH_X86_64:
		return ArchX8664
	}
	return Arch(fmt.Sprintf("audit-arch-%#x", audit))
}

// NewSyscallError builds the error for a blocked call reported by seccomp
// (audit arch, number, the six argument registers of that convention, and
// the address after the instruction, as the kernel reports it).
func NewSyscallError(audit uint32, nr int, args [6]uint64, ipAfter uint64) *SyscallError {
	arch := archOf(audit, nr)
	e := &SyscallError{Nr: nr, Args: args, Arch: arch, RIP: ipAfter - min(ipAfter, 2)}
	if arch == ArchX32 {
		e.Nr = nr &^ x32SyscallBit
	}
	e.Name = SyscallName(arch, e.Nr)
	switch arch {
	case ArchI386:
		e.Inst = "int $0x80"
		for i := range e.Args {
			e.Args[i] = uint64(uint32(e.Args[i]))
		}
	default:
		e.Inst = "syscall"
	}
	return e
}

var segvCodes = map[int32]string{1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"}
var busCodes = map[int32]string{1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR"}
var illCodes = map[int32]string{1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC", 6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK"}
var fpeCodes = map[int32]string{1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND", 6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB"}
var trapCodes = map[int32]string{1: "TRAP_BRKPT", 2: "TRAP_TRACE", 3: "TRAP_BRANCH", 4: "TRAP_HWBKPT"}

// codeName names a si_code; 0x80 (SI_KERNEL) is what #GP and int3 give.
func codeName(sig syscall.Signal, code int32) string {
	if code == 0x80 {
		return "SI_KERNEL"
	}
	var m map[int32]string
	switch sig {
	case unix.SIGSEGV:
		m = segvCodes
	case unix.SIGBUS:
		m = busCodes
	case unix.SIGILL:
		m = illCodes
	case unix.SIGFPE:
		m = fpeCodes
	case unix.SIGTRAP:
		m = trapCodes
	}
	if s, ok := m[code]; ok {
		return s
	}
	if code != 0 {
		return fmt.Sprintf("code %d", code)
	}
	return ""
}

// ErrStub reports that the stub could not set up the process; the function
// never ran. It is a host problem, not the function's.
var ErrStub = errors.New("process stub failed")

// StubError says which step of the stub failed and with which errno.
type StubError struct {
	Step  int // see fail() calls in stub/stub.c
	Errno syscall.Errno
}

func (e *StubError) Error() string {
	if e.Step < 0 {
		return ErrStub.Error() + " before mapping the context"
	}
	if e.Errno != 0 {
		return fmt.Sprintf("%v at step %d: %v", ErrStub, e.Step, e.Errno)
	}
	return fmt.Sprintf("%v at step %d", ErrStub, e.Step)
}

func (e *StubError) Unwrap() error { return ErrStub }
