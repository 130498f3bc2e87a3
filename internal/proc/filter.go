package proc

import (
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
	// ModePtrace: the filter hands every system call but the exit and a
	// checked arch_prctl(ARCH_SET_FS) to the tracer (SECCOMP_RET_TRACE),
	// so the process stops only when it does something forbidden.
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
// endian order: the low half of a 64-bit argument comes first.
const (
	sdNr   = 0
	sdArch = 4
	sdArgs = 16
)

const (
	x32SyscallBit = 0x40000000
	archSetFS     = 0x1002
)

// Filter is a seccomp program built once per mode. In ptrace mode the
// bound on arch_prctl's address depends on the context size; For patches it
// into a copy.
type Filter struct {
	mode        Mode
	prog        []bpf.RawInstruction
	hiAt, loAt  int // instructions whose K is the size's high and low word
	deny, allow uint32
}

// NewFilter assembles the filter of a mode:
//
//	arch != AUDIT_ARCH_X86_64         -> deny   (int $0x80, other ABIs)
//	nr >= 0x40000000                  -> deny   (x32 and invalid numbers)
//	nr == exit_group or exit          -> allow
//	ptrace mode only:
//	nr == arch_prctl && args[0] == ARCH_SET_FS && args[1] < size -> allow
//	anything else                     -> deny
//
// where deny is SECCOMP_RET_TRAP (seccomp mode) or SECCOMP_RET_TRACE
// (ptrace mode).
func NewFilter(mode Mode) (*Filter, error) {
	f := &Filter{mode: mode, allow: unix.SECCOMP_RET_ALLOW, hiAt: -1, loAt: -1}
	switch mode {
	case ModeSeccomp:
		f.deny = unix.SECCOMP_RET_TRAP
	case ModePtrace:
		f.deny = unix.SECCOMP_RET_TRACE
	default:
		return nil, fmt.Errorf("proc: no filter for %v", mode)
	}
	// The two returns are the last two instructions. Jumps to them are
	// written with placeholder offsets (0xff: deny, 0xfe: allow) and
	// resolved once the program is complete.
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: sdArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: 0xff}, // -> deny
		bpf.LoadAbsolute{Off: sdNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipTrue: 0xff}, // -> deny
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT_GROUP, SkipTrue: 0xfe},    // -> allow
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_EXIT, SkipTrue: 0xfe},          // -> allow
	}
	if mode == ModePtrace {
		p = append(p,
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.SYS_ARCH_PRCTL, SkipTrue: 0xff}, // -> deny
			bpf.LoadAbsolute{Off: sdArgs + 4, Size: 4},                                   // args[0] high
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 0xff},                   // -> deny
			bpf.LoadAbsolute{Off: sdArgs, Size: 4},                                       // args[0] low
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: archSetFS, SkipTrue: 0xff},           // -> deny
			bpf.LoadAbsolute{Off: sdArgs + 8 + 4, Size: 4},                               // args[1] high
		)
		f.hiAt = len(p)
		p = append(p,
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 0, SkipTrue: 0xff},    // high > size high -> deny
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 0xfe},       // high < size high -> allow
			bpf.LoadAbsolute{Off: sdArgs + 8, Size: 4},                       // args[1] low
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 0, SkipTrue: 0xff}, // low >= size low -> deny
			bpf.Jump{Skip: 1}, // -> allow
		)
		f.loAt = len(p) - 2
	}
	p = append(p,
		bpf.RetConstant{Val: f.deny},
		bpf.RetConstant{Val: f.allow},
	)
	// Resolve the placeholders: 0xff means "to deny", 0xfe "to allow".
	deny, allow := len(p)-2, len(p)-1
	for i, in := range p {
		if j, ok := in.(bpf.JumpIf); ok {
			switch j.SkipTrue {
			case 0xff:
				j.SkipTrue = uint8(deny - i - 1)
			case 0xfe:
				j.SkipTrue = uint8(allow - i - 1)
			}
			p[i] = j
		}
	}
	raw, err := bpf.Assemble(p)
	if err != nil {
		return nil, fmt.Errorf("proc: assembling the %v filter: %w", mode, err)
	}
	f.prog = raw
	return f, nil
}

// For returns the program for a context of the given size.
func (f *Filter) For(size uint64) []bpf.RawInstruction {
	prog := append([]bpf.RawInstruction(nil), f.prog...)
	if f.hiAt >= 0 {
		// Two comparisons against the high word (greater: deny; less:
		// allow), then one against the low word.
		prog[f.hiAt].K = uint32(size >> 32)
		prog[f.hiAt+1].K = uint32(size >> 32)
		prog[f.loAt].K = uint32(size)
	}
	return prog
}

// Mode returns the filter's mode.
func (f *Filter) Mode() Mode { return f.mode }
