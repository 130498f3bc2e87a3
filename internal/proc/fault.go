//go:build linux && amd64

package proc

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

	"tessera/loader"
)

// Regs are the registers a fault report needs, from ptrace or from the
// record the stub's handler wrote.
type Regs struct {
	RIP, RSP                     uint64
	RAX, RBX, RCX, RDX, RSI, RDI uint64
	RBP, R8, R9, R10             uint64
}

const (
	siKernel   = 0x80
	segvAccerr = 2
)

// maxInst is the longest x86 instruction.
const maxInst = 15

// decodeAt decodes the instruction at rip from guest memory. Every byte
// comes from the guest: the read is bounded by the context and a decoding
// failure is just "unknown".
func decodeAt(mem []byte, rip uint64) (x86asm.Inst, bool) {
	if rip >= uint64(len(mem)) {
		return x86asm.Inst{}, false
	}
	b := mem[rip:min(uint64(len(mem)), rip+maxInst)]
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		return x86asm.Inst{}, false
	}
	return inst, true
}

// syscallInst tells whether inst enters the kernel for a system call, and
// the convention it uses.
func syscallInst(inst x86asm.Inst) (Arch, string, bool) {
	switch inst.Op {
	case x86asm.SYSCALL:
		return ArchX8664, "syscall", true
	case x86asm.SYSENTER:
		return ArchI386, "sysenter", true
	case x86asm.INT:
		if imm, ok := inst.Args[0].(x86asm.Imm); ok && imm == 0x80 {
			return ArchI386, "int $0x80", true
		}
	}
	return "", "", false
}

// refusedInst tells whether inst is one the sandbox makes fault on purpose
// (#GP, so SIGSEGV with SI_KERNEL): rdtsc and rdtscp, under PR_SET_TSC.
func refusedInst(inst x86asm.Inst) (string, bool) {
	switch inst.Op {
	case x86asm.RDTSC:
		return "rdtsc", true
	case x86asm.RDTSCP:
		return "rdtscp", true
	}
	return "", false
}

// Fault turns a fault signal into the error the caller sees. A system call
// instruction that the CPU refused (sysenter is #UD on AMD in 64-bit mode;
// int $0x80 is #GP without IA32 emulation) is still a system call the
// function tried: it becomes a *SyscallError. Everything else is a
// *SignalError with the instruction decoded from the context; for rdtsc
// and rdtscp, which the sandbox refuses, its Detail says so.
func Fault(ctx *loader.Context, sig syscall.Signal, code int32, addr uint64, r Regs) error {
	mem := ctx.Bytes()
	if sig == unix.SIGTRAP && code == siKernel && r.RIP > 0 && r.RIP <= uint64(len(mem)) && mem[r.RIP-1] == 0xcc {
		// int3 reports the address after itself.
		r.RIP--
	}
	inst, ok := decodeAt(mem, r.RIP)
	// Only an instruction that executed can be a refused system call: an
	// instruction fetch fault (si_addr == rip) never ran what is there.
	refused := sig == unix.SIGILL || (sig == unix.SIGSEGV && code == siKernel)
	if ok && refused {
		if arch, name, is := syscallInst(inst); is {
			e := &SyscallError{Arch: arch, RIP: r.RIP, Inst: name}
			if arch == ArchI386 {
				e.Nr = int(uint32(r.RAX))
				for i, v := range [6]uint64{r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP} {
					e.Args[i] = uint64(uint32(v))
				}
			} else {
				e.Nr = int(r.RAX)
				e.Args = [6]uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9}
			}
			e.Name = SyscallName(arch, e.Nr)
			return e
		}
	}
	e := &SignalError{Signal: sig, Code: code, Addr: addr, RIP: r.RIP}
	if ok {
		e.Inst = x86asm.GNUSyntax(inst, r.RIP, nil)
		if name, is := refusedInst(inst); is && sig == unix.SIGSEGV && code == siKernel {
			e.Detail = "refused instruction " + name + ": the time-stamp counter is not readable in the sandbox"
			return e
		}
	}
	if l := ctx.Layout(); l != nil && sig == unix.SIGSEGV {
		switch {
		case addr >= l.Guard && addr-l.Guard < loader.PageSize && code != siKernel:
			e.Detail = "stack overflow into the guard page"
		case addr < loader.MinAddr && code != siKernel:
			e.Detail = "null pointer access"
		case addr == r.RIP && code == segvAccerr:
			e.Detail = "executing memory that is not executable"
		case addr == r.RIP:
			e.Detail = "jump to an unmapped address"
		}
	}
	return e
}

// Record is what the stub's handlers (seccomp mode) and its failure path
// leave in the control page. Its layout mirrors struct record in stub/stub.c.
type Record struct {
	Kind  uint32
	Signo int32
	Code  int32
	Errno int32 // si_errno, or the errno of a failed stub step
	Nr    int32 // system call number, or the failed stub step
	Arch  uint32
	Addr  uint64
	Gregs [23]uint64
}

// Record kinds.
const (
	RecordSyscall = 1
	RecordFault   = 2
	RecordStub    = 3
)

const recordMagic = 0x3143455241535354 // "TSSAREC1"

// Indices into ucontext gregs.
const (
	gR8, gR9, gR10 = 0, 1, 2
	gRDI, gRSI     = 8, 9
	gRBP, gRBX     = 10, 11
	gRDX, gRAX     = 12, 13
	gRCX, gRSP     = 14, 15
	gRIP           = 16
)

// ReadRecord reads the record of a context. The function can write the
// control page too (see RecordOffset), so callers use a record only when
// the way the process died says the stub wrote it last: death by SIGSYS
// (seccompiso: the handler rewrote the whole record just before) or by
// SIGABRT (only the stub raises it, before the function runs).
func ReadRecord(ctx *loader.Context) (Record, bool) {
	at := uint64(RecordOffset)
	var b [8 + 6*4 + 8 + 23*8]byte
	if err := ctx.ReadAt(b[:], at); err != nil {
		return Record{}, false
	}
	le := binary.LittleEndian
	if le.Uint64(b[0:]) != recordMagic {
		return Record{}, false
	}
	r := Record{
		Kind: le.Uint32(b[8:]), Signo: int32(le.Uint32(b[12:])), Code: int32(le.Uint32(b[16:])),
		Errno: int32(le.Uint32(b[20:])), Nr: int32(le.Uint32(b[24:])), Arch: le.Uint32(b[28:]),
		Addr: le.Uint64(b[32:]),
	}
	for i := range r.Gregs {
		r.Gregs[i] = le.Uint64(b[40+8*i:])
	}
	return r, true
}

// Regs returns the registers the record holds.
func (r *Record) Regs() Regs {
	g := &r.Gregs
	return Regs{
		RIP: g[gRIP], RSP: g[gRSP], RAX: g[gRAX], RBX: g[gRBX], RCX: g[gRCX], RDX: g[gRDX],
		RSI: g[gRSI], RDI: g[gRDI], RBP: g[gRBP], R8: g[gR8], R9: g[gR9], R10: g[gR10],
	}
}

// Err turns a record into the error it reports.
func (r *Record) Err(ctx *loader.Context) error {
	switch r.Kind {
	case RecordSyscall:
		g := r.Regs()
		args := [6]uint64{g.RDI, g.RSI, g.RDX, g.R10, g.R8, g.R9}
		if r.Arch == unix.AUDIT_ARCH_I386 {
			args = [6]uint64{g.RBX, g.RCX, g.RDX, g.RSI, g.RDI, g.RBP}
		}
		return NewSyscallError(r.Arch, int(r.Nr), args, r.Addr)
	case RecordFault:
		return Fault(ctx, syscall.Signal(r.Signo), r.Code, r.Addr, r.Regs())
	case RecordStub:
		return &StubError{Step: int(r.Nr), Errno: syscall.Errno(r.Errno)}
	}
	return nil
}
