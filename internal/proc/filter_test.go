//go:build linux && amd64

package proc

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData lays out struct seccomp_data for x/net/bpf's VM. The kernel
// reads it in native (little-endian) order, 32 bits at a time; the VM
// loads words big-endian. So each 32-bit word is written big-endian at the
// offset where the kernel would find it: a 64-bit argument's low word first.
func seccompData(arch uint32, nr uint32, ip uint64, args [6]uint64) []byte {
	b := make([]byte, 64)
	be := binary.BigEndian
	be.PutUint32(b[0:], nr)
	be.PutUint32(b[4:], arch)
	be.PutUint32(b[8:], uint32(ip))
	be.PutUint32(b[12:], uint32(ip>>32))
	for i, a := range args {
		be.PutUint32(b[16+8*i:], uint32(a))
		be.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	return b
}

func vm(t *testing.T, prog []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("the filter has instructions x/net/bpf cannot disassemble")
	}
	v, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verdict(t *testing.T, v *bpf.VM, arch, nr uint32, ip uint64, args [6]uint64) uint32 {
	t.Helper()
	out, err := v.Run(seccompData(arch, nr, ip, args))
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

// policy is what both filters implement, written plainly.
func policy(mode Mode, arch, nr uint32) uint32 {
	if arch == unix.AUDIT_ARCH_X86_64 && (nr == unix.SYS_EXIT_GROUP || nr == unix.SYS_EXIT) {
		return unix.SECCOMP_RET_ALLOW
	}
	if mode == ModePtrace {
		return unix.SECCOMP_RET_TRACE
	}
	return unix.SECCOMP_RET_TRAP
}

func TestFilterPolicy(t *testing.T) {
	const x86, i386 = unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386
	const trap, trace, allow = unix.SECCOMP_RET_TRAP, unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_ALLOW
	tests := []struct {
		name          string
		arch, nr      uint32
		args          [6]uint64
		seccomp, ptrc uint32
	}{
		{"exit_group", x86, unix.SYS_EXIT_GROUP, [6]uint64{3}, allow, allow},
		{"exit", x86, unix.SYS_EXIT, [6]uint64{}, allow, allow},
		{"read", x86, unix.SYS_READ, [6]uint64{}, trap, trace},
		{"write", x86, unix.SYS_WRITE, [6]uint64{1, 2, 3}, trap, trace},
		{"exit_group via int $0x80", i386, 252, [6]uint64{}, trap, trace},
		{"exit via int $0x80", i386, 1, [6]uint64{}, trap, trace},
		{"x32 exit_group", x86, x32SyscallBit | unix.SYS_EXIT_GROUP, [6]uint64{}, trap, trace},
		{"x32 exit", x86, x32SyscallBit | unix.SYS_EXIT, [6]uint64{}, trap, trace},
		{"number -1", x86, 0xffffffff, [6]uint64{}, trap, trace},
		{"unknown arch", 0xdeadbeef, unix.SYS_EXIT_GROUP, [6]uint64{}, trap, trace},
		// arch_prctl goes to the tracer, which checks it (TraceAllows).
		{"arch_prctl SET_FS", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0x20400}, trap, trace},
	}
	for _, mode := range []Mode{ModeSeccomp, ModePtrace} {
		f, err := NewFilter(mode)
		if err != nil {
			t.Fatal(err)
		}
		v := vm(t, f.Program())
		for _, tt := range tests {
			want := tt.seccomp
			if mode == ModePtrace {
				want = tt.ptrc
			}
			if got := verdict(t, v, tt.arch, tt.nr, 0x10002, tt.args); got != want {
				t.Errorf("%v: %s: got %#x, want %#x", mode, tt.name, got, want)
			}
		}
	}
	if _, err := NewFilter(Mode(9)); err == nil {
		t.Error("NewFilter accepted an unknown mode")
	}
}

// The server's filter lets through exactly the calls whose instruction ends
// in (lo, hi] and applies the policy to all others, for gates anywhere.
func TestFilterGate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range []Mode{ModeSeccomp, ModePtrace} {
		f, err := NewFilter(mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, gate := range [][2]uint64{
			{0x7f12_3456_0000, 0x7f12_3456_3002},
			{0x5555_0000_0000, 0x5555_0000_1000},
			{0x7fff_ffff_0000, 0x7fff_ffff_fff0},
			{0x1_0000_0000, 0x1_0000_4000},
		} {
			lo, hi := gate[0], gate[1]
			prog, err := f.Gated(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			v := vm(t, prog)
			ips := []uint64{0, lo - 1, lo, lo + 1, lo + 2, hi - 1, hi, hi + 1, hi + 2, lo - 1<<32, hi + 1<<32, lo ^ 1<<63, hi | 0xffffffff, 0x10002}
			for range 3000 {
				ips = append(ips, lo-0x10000+rng.Uint64N(hi-lo+0x20000), rng.Uint64())
			}
			for _, ip := range ips {
				arch, nr := uint32(unix.AUDIT_ARCH_X86_64), rng.Uint32N(460)
				switch rng.IntN(6) {
				case 0:
					arch = unix.AUDIT_ARCH_I386
				case 1:
					nr = unix.SYS_EXIT_GROUP
				}
				want := policy(mode, arch, nr)
				if ip > lo && ip <= hi {
					want = unix.SECCOMP_RET_ALLOW
				}
				if got := verdict(t, v, arch, nr, ip, [6]uint64{}); got != want {
					t.Fatalf("%v gate (%#x, %#x]: ip %#x arch %#x nr %d: got %#x, want %#x", mode, lo, hi, ip, arch, nr, got, want)
				}
			}
		}
		if _, err := f.Gated(0x7fff_ffff_f000, 0x8000_0000_1000); err == nil {
			t.Error("a gate across a 4 GiB boundary was accepted")
		}
		if _, err := f.Gated(0x5000, 0x5000); err == nil {
			t.Error("an empty gate was accepted")
		}
	}
}

func TestTraceAllows(t *testing.T) {
	const size = 4 << 20
	x86 := uint32(unix.AUDIT_ARCH_X86_64)
	for _, tt := range []struct {
		arch uint32
		nr   uint64
		args [6]uint64
		want bool
	}{
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0x20400}, true},
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0}, true},
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, size - 1}, true},
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, size}, false},
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 1<<32 | 0x20400}, false},
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{1<<32 | archSetFS, 0x20400}, false},
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{0x1003, 0x20400}, false}, // ARCH_GET_FS writes memory
		{x86, unix.SYS_ARCH_PRCTL, [6]uint64{0x1001, 0x20400}, false}, // ARCH_SET_GS
		{unix.AUDIT_ARCH_I386, 384, [6]uint64{archSetFS, 0x20400}, false},
		{x86, unix.SYS_WRITE, [6]uint64{archSetFS, 0x20400}, false},
	} {
		if got := TraceAllows(tt.arch, tt.nr, tt.args, size); got != tt.want {
			t.Errorf("%#x %d %#x: got %v", tt.arch, tt.nr, tt.args[:2], got)
		}
	}
}
