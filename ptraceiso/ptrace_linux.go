//go:build linux && amd64

package ptraceiso

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"

	"tessera/internal/proc"
)

// The ptrace requests x/sys has no wrappers for. Every call must come from
// the thread that seized the tracee (Run locks it).

// seize attaches to pid with options, without stopping it.
func seize(pid int, options int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(options), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// syscallInfo is what PTRACE_GET_SYSCALL_INFO reports at a seccomp stop.
type syscallInfo struct {
	op   uint8
	arch uint32
	ip   uint64 // after the system call instruction
	nr   uint64
	args [6]uint64
}

func getSyscallInfo(pid int) (syscallInfo, error) {
	// struct ptrace_syscall_info: op u8, 3 bytes, arch u32, ip u64, sp u64,
	// then for a seccomp stop: nr u64, args [6]u64, ret_data u32.
	var b [96]byte
	n, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(pid), uintptr(len(b)), uintptr(unsafe.Pointer(&b[0])), 0, 0)
	if e != 0 {
		return syscallInfo{}, e
	}
	le := binary.LittleEndian
	si := syscallInfo{op: b[0], arch: le.Uint32(b[4:]), ip: le.Uint64(b[8:]), nr: le.Uint64(b[24:])}
	if n < 80 || si.op != unix.PTRACE_SYSCALL_INFO_SECCOMP {
		return si, unix.EINVAL
	}
	for i := range si.args {
		si.args[i] = le.Uint64(b[32+8*i:])
	}
	return si, nil
}

// getSiginfo returns the signal's code and address (si_code, si_addr).
func getSiginfo(pid int) (code int32, addr uint64, err error) {
	var b [128]byte
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(pid), 0, uintptr(unsafe.Pointer(&b[0])), 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	return int32(binary.LittleEndian.Uint32(b[8:])), binary.LittleEndian.Uint64(b[16:]), nil
}

func getRegs(pid int) (proc.Regs, error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &r); err != nil {
		return proc.Regs{}, err
	}
	return proc.Regs{
		RIP: r.Rip, RSP: r.Rsp, RAX: r.Rax, RBX: r.Rbx, RCX: r.Rcx, RDX: r.Rdx,
		RSI: r.Rsi, RDI: r.Rdi, RBP: r.Rbp, R8: r.R8, R9: r.R9, R10: r.R10,
	}, nil
}
