//go:build linux && amd64

package proc

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Mode is the kind of supervision a process gets.
type Mode uint8

const (
	// ModeSeccomp: the filter traps every system call but the exit
	// (SECCOMP_RET_TRAP); the stub's SIGSYS handler records it.
	ModeSeccomp Mode = iota + 1
	// ModePtrace: the filter hands every system call but the exit to the
	// tracer (SECCOMP_RET_TRACE), so the process stops only when it does
	// something the tracer must judge.
	ModePtrace
)

func (m Mode) String() string {
	switch m {
	case ModeSeccomp:
		return "seccomp"
	case ModePtrace:
		return "ptrace"
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// Offsets in struct seccomp_data. The kernel stores it in native (little)
// endian order: the low half of a 64-bit value comes first.
const (
	sdNr     = 0
	sdArch   = 4
	sdIPLow  = 8
	sdIPHigh = 12
)

const (
	x32SyscallBit = 0x40000000
	archSetFS     = 0x1002
)

// Filter is the seccomp policy of a mode, assembled once:
//
//	arch != AUDIT_ARCH_X86_64  -> deny   (int $0x80, sysenter on Intel)
//	nr >= 0x40000000           -> deny   (x32 and invalid numbers)
//	nr == exit_group or exit   -> allow
//	anything else              -> deny
//
// where deny is SECCOMP_RET_TRAP (seccomp mode) or SECCOMP_RET_TRACE (ptrace
// mode: the tracer allows arch_prctl(ARCH_SET_FS, addr) with addr inside
// the context, see TraceAllows, and kills for everything else). The full
// 32-bit comparisons alone would keep x32 numbers out; the explicit check
// says so.
type Filter struct {
	mode Mode
	prog []bpf.RawInstruction
	deny uint32
}

// Placeholder jump offsets, resolved once a program is complete.
const (
	toDeny  = 0xff
	toAllow = 0xfe
)

// NewFilter assembles the policy of a mode.
func NewFilter(mode Mode) (*Filter, error) {
	f := &Filter{mode: mode}
	switch mode {
	case ModeSeccomp:
		f.deny = unix.SECCOMP_RET_TRAP
	case ModePtrace:
		f.deny = unix.SECCOMP_RET_TRACE
	default:
		return nil, fmt.Errorf("proc: no filter for %v", mode)
	}
	prog, err := f.assemble(nil)
	if err != nil {
		return nil, err
	}
	f.prog = prog
	return f, nil
}

// assemble builds head followed by the policy and the two returns.
func (f *Filter) assemble(head []bpf.Instruction) ([]bpf.RawInstruction, error) {
	p := append(head,
		bpf.LoadAbsolute{Off: sdArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: toDeny},
		bpf.LoadAbsolute{Off: sdNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipTrue: toDeny},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT_GROUP, SkipTrue: toAllow},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT, SkipTrue: toAllow},
		bpf.RetConstant{Val: f.deny},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
	)
	deny, allow := len(p)-2, len(p)-1
	resolve := func(skip uint8, at int) uint8 {
		switch skip {
		case toDeny:
			return uint8(deny - at - 1)
		case toAllow:
			return uint8(allow - at - 1)
		}
		return skip
	}
	for i, in := range p {
		if j, ok := in.(bpf.JumpIf); ok {
			j.SkipTrue, j.SkipFalse = resolve(j.SkipTrue, i), resolve(j.SkipFalse, i)
			p[i] = j
		}
	}
	raw, err := bpf.Assemble(p)
	if err != nil {
		return nil, fmt.Errorf("proc: assembling the %v filter: %w", f.mode, err)
	}
	return raw, nil
}

// Program returns the policy alone: what the exec'd stub installs right
// before it jumps to the function.
func (f *Filter) Program() []bpf.RawInstruction { return append([]bpf.RawInstruction(nil), f.prog...) }

// Gated returns the program the stub server installs once: a system call
// whose instruction ends in (lo, hi] (the stub's setup code, which every
// call's process unmaps before it jumps to the function; see stub.c) is
// allowed, everything else meets the policy. lo and hi must lie in the same
// 4 GiB (the stub is a few pages; the server asks again if not).
func (f *Filter) Gated(lo, hi uint64) ([]bpf.RawInstruction, error) {
	if lo >= hi || lo>>32 != hi>>32 {
		return nil, fmt.Errorf("%w: (%#x, %#x]", errGateSplit, lo, hi)
	}
	return f.assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: sdIPHigh, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(hi >> 32), SkipTrue: 3},     // -> policy
		bpf.LoadAbsolute{Off: sdIPLow, Size: 4},                                    //
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(lo), SkipFalse: 1},       // ip <= lo -> policy
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(hi), SkipFalse: toAllow}, // ip <= hi -> allow
	})
}

// errGateSplit: a gate that is empty or crosses a 4 GiB boundary.
var errGateSplit = errors.New("proc: the gate is empty or crosses a 4 GiB boundary")

// Mode returns the filter's mode.
func (f *Filter) Mode() Mode { return f.mode }

// TraceAllows reports whether the tracer lets a traced system call run: only
// arch_prctl(ARCH_SET_FS, addr) with addr inside a context of size bytes,
// which binaries built with Dandelion's SDK make to set their thread
// pointer.
func TraceAllows(audit uint32, nr uint64, args [6]uint64, size uint64) bool {
	return audit == unix.AUDIT_ARCH_X86_64 && nr == unix.SYS_ARCH_PRCTL && args[0] == archSetFS && args[1] < size
}
