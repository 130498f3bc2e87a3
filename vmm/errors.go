package vmm

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"tessera/loader"
)

// Errors of the VMM itself (as opposed to the guest).
var (
	// ErrUnsupported: this machine cannot run the KVM backend.
	ErrUnsupported = errors.New("vmm: KVM backend unsupported here")
	// ErrVM: KVM or the vCPU failed in a way that is not the guest's
	// doing; the engine replaced or reset the VM.
	ErrVM = errors.New("vmm: virtual machine failure")
	// ErrWrongThread: an Engine was used from a thread other than the one
	// that created it.
	ErrWrongThread = errors.New("vmm: engine used from another OS thread")
	// ErrClosed: the engine or pool is closed.
	ErrClosed = errors.New("vmm: closed")
	// ErrContextTooLarge: the function needs more memory than the engine
	// was configured for (Config.MaxContextSize).
	ErrContextTooLarge = errors.New("vmm: context larger than the engine's maximum")
)

var vectorNames = [...]string{
	0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
	5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM device not available", 8: "#DF double fault",
	10: "#TS invalid TSS", 11: "#NP segment not present", 12: "#SS stack fault",
	13: "#GP general protection", 14: "#PF page fault", 16: "#MF x87 error", 17: "#AC alignment check",
	18: "#MC machine check", 19: "#XM SIMD error", 20: "#VE virtualization", 21: "#CP control protection",
}

func vectorName(v uint8) string {
	if int(v) < len(vectorNames) && vectorNames[v] != "" {
		return vectorNames[v]
	}
	return fmt.Sprintf("vector %d", v)
}

// hasErrorCode reports whether the CPU pushes an error code for vector v.
func hasErrorCode(v uint8) bool {
	switch v {
	case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30:
		return true
	}
	return false
}

// ExceptionError is a CPU exception raised by guest code.
type ExceptionError struct {
	Vector    uint8
	ErrorCode uint64 // valid when the vector has one
	Addr      uint64 // faulting address (CR2) for page faults
	RIP, RSP  uint64
	Inst      string // the instruction at RIP, decoded, or "" if unreadable
	Detail    string // what the fault means in ABI terms, e.g. "stack overflow"
}

func (e *ExceptionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vmm: guest %s", vectorName(e.Vector))
	if e.Vector == 14 {
		fmt.Fprintf(&b, " at %#x (%s)", e.Addr, pageFaultCause(e.ErrorCode))
	} else if hasErrorCode(e.Vector) && e.ErrorCode != 0 {
		fmt.Fprintf(&b, " (error code %#x)", e.ErrorCode)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	fmt.Fprintf(&b, " at rip %#x", e.RIP)
	if e.Inst != "" {
		fmt.Fprintf(&b, " (%s)", e.Inst)
	}
	fmt.Fprintf(&b, ", rsp %#x", e.RSP)
	return b.String()
}

func (e *ExceptionError) Unwrap() error { return loader.ErrFault }

func pageFaultCause(code uint64) string {
	access := "read"
	switch {
	case code&0x10 != 0:
		access = "instruction fetch"
	case code&0x2 != 0:
		access = "write"
	}
	if code&0x1 == 0 {
		return access + ", not mapped"
	}
	return access + ", not permitted"
}

// SyscallError is a system call the guest attempted: anything but the exit.
type SyscallError struct {
	Nr   uint64    // rax
	Args [6]uint64 // rdi, rsi, rdx, r10, r8, r9
	RIP  uint64    // address of the system-call instruction
	Via  string    // "syscall", "int 0x80" or "sysenter"
}

func (e *SyscallError) Error() string {
	return fmt.Sprintf("vmm: guest made system call %d (%s) via %s at rip %#x, args %#x",
		e.Nr, syscallName(e.Nr), e.Via, e.RIP, e.Args)
}

func (e *SyscallError) Unwrap() error { return loader.ErrSyscall }

// ShutdownError is a triple fault: the CPU could not deliver an exception.
type ShutdownError struct {
	RIP, RSP, CR2 uint64
	Inst          string
}

func (e *ShutdownError) Error() string {
	s := fmt.Sprintf("vmm: guest triple fault at rip %#x, rsp %#x, cr2 %#x", e.RIP, e.RSP, e.CR2)
	if e.Inst != "" {
		s += " (" + e.Inst + ")"
	}
	return s
}

func (e *ShutdownError) Unwrap() error { return loader.ErrFault }

// VMError is an exit the VMM did not expect: an internal KVM error, a
// failed VM entry, or port or memory-mapped I/O the guest cannot do.
type VMError struct {
	Exit   string
	Detail string
	RIP    uint64
	guest  bool // caused by the guest (reported as a fault) rather than KVM
}

func (e *VMError) Error() string {
	return fmt.Sprintf("vmm: unexpected %s at rip %#x: %s", e.Exit, e.RIP, e.Detail)
}

func (e *VMError) Unwrap() error {
	if e.guest {
		return loader.ErrFault
	}
	return ErrVM
}

// decode disassembles the instruction in code (bytes at rip) for reports.
func decode(code []byte, rip uint64) string {
	if len(code) == 0 {
		return ""
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		return fmt.Sprintf("undecodable: % x", code[:min(len(code), 8)])
	}
	return x86asm.GNUSyntax(inst, rip, nil)
}

var syscallNames = map[uint64]string{
	0: "read", 1: "write", 2: "open", 3: "close", 9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk",
	13: "rt_sigaction", 39: "getpid", 41: "socket", 42: "connect", 56: "clone", 57: "fork", 59: "execve",
	60: "exit", 62: "kill", 96: "gettimeofday", 158: "arch_prctl", 186: "gettid", 201: "time",
	228: "clock_gettime", 231: "exit_group", 257: "openat", 318: "getrandom",
}

func syscallName(nr uint64) string {
	if n, ok := syscallNames[nr]; ok {
		return n
	}
	return "unknown"
}
