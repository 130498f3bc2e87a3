package proc

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"tessera/loader"
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

func vm(t *testing.T, f *Filter, size uint64) *bpf.VM {
	t.Helper()
	prog, ok := bpf.Disassemble(f.For(size))
	if !ok {
		t.Fatal("the filter has instructions x/net/bpf cannot disassemble")
	}
	v, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verdict(t *testing.T, v *bpf.VM, arch, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	out, err := v.Run(seccompData(arch, nr, 0x10000, args))
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

// reference is the policy both filters implement, written plainly.
func reference(mode Mode, size uint64, arch, nr uint32, args [6]uint64) uint32 {
	deny := uint32(unix.SECCOMP_RET_TRAP)
	if mode == ModePtrace {
		deny = unix.SECCOMP_RET_TRACE
	}
	switch {
	case arch != unix.AUDIT_ARCH_X86_64 || nr >= x32SyscallBit:
		return deny
	case nr == unix.SYS_EXIT_GROUP || nr == unix.SYS_EXIT:
		return unix.SECCOMP_RET_ALLOW
	case mode == ModePtrace && nr == unix.SYS_ARCH_PRCTL && args[0] == archSetFS && args[1] < size:
		return unix.SECCOMP_RET_ALLOW
	}
	return deny
}

func TestFilterTable(t *testing.T) {
	const x86, i386 = unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386
	const trap, trace, allow = unix.SECCOMP_RET_TRAP, unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_ALLOW
	const size = 4 << 20
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
		{"x32 read", x86, x32SyscallBit | unix.SYS_READ, [6]uint64{}, trap, trace},
		{"number -1", x86, 0xffffffff, [6]uint64{}, trap, trace},
		{"unknown arch", 0xdeadbeef, unix.SYS_EXIT_GROUP, [6]uint64{}, trap, trace},
		{"arch_prctl SET_FS inside", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0x20400}, trap, allow},
		{"arch_prctl SET_FS 0", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0}, trap, allow},
		{"arch_prctl SET_FS last byte", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, size - 1}, trap, allow},
		{"arch_prctl SET_FS at the end", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, size}, trap, trace},
		{"arch_prctl SET_FS high word", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 1<<32 | 0x20400}, trap, trace},
		{"arch_prctl SET_FS kernel address", x86, unix.SYS_ARCH_PRCTL, [6]uint64{archSetFS, 0xffff_8000_0000_0000}, trap, trace},
		{"arch_prctl SET_FS code with high bits", x86, unix.SYS_ARCH_PRCTL, [6]uint64{1<<32 | archSetFS, 0x20400}, trap, trace},
		{"arch_prctl GET_FS", x86, unix.SYS_ARCH_PRCTL, [6]uint64{0x1003, 0x20400}, trap, trace},
		{"arch_prctl SET_GS", x86, unix.SYS_ARCH_PRCTL, [6]uint64{0x1001, 0x20400}, trap, trace},
		{"arch_prctl via int $0x80", i386, 384, [6]uint64{archSetFS, 0x20400}, trap, trace},
	}
	for _, mode := range []Mode{ModeSeccomp, ModePtrace} {
		f, err := NewFilter(mode)
		if err != nil {
			t.Fatal(err)
		}
		v := vm(t, f, size)
		for _, tt := range tests {
			want := tt.seccomp
			if mode == ModePtrace {
				want = tt.ptrc
			}
			if got := verdict(t, v, tt.arch, tt.nr, tt.args); got != want {
				t.Errorf("%v: %s: got %#x, want %#x", mode, tt.name, got, want)
			}
		}
	}
}

// The ptrace filter's address bound is patched per context size; check it
// around the boundary for sizes whose high word is 0, 1 and 16, and against
// the reference policy for random inputs.
func TestFilterBoundsAndRandom(t *testing.T) {
	f, err := NewFilter(ModePtrace)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewFilter(ModeSeccomp)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []uint64{0x20000, 4 << 20, 1 << 32, 1<<32 + 0x3000, 6 << 30, loader.MaxContextSize} {
		v, vs := vm(t, f, size), vm(t, s, size)
		addrs := []uint64{0, 1, size - 1, size, size + 1, size &^ 0xffffffff, size | 0xffffffff, size - 1<<32, size + 1<<32, ^uint64(0)}
		for range 2000 {
			addrs = append(addrs, rng.Uint64N(2*size), rng.Uint64())
		}
		for _, addr := range addrs {
			for _, nr := range []uint32{unix.SYS_ARCH_PRCTL, uint32(rng.IntN(460)), rng.Uint32()} {
				args := [6]uint64{archSetFS, addr, rng.Uint64()}
				if rng.IntN(4) == 0 {
					args[0] = rng.Uint64N(0x1005)
				}
				arch := uint32(unix.AUDIT_ARCH_X86_64)
				if rng.IntN(8) == 0 {
					arch = unix.AUDIT_ARCH_I386
				}
				if got, want := verdict(t, v, arch, nr, args), reference(ModePtrace, size, arch, nr, args); got != want {
					t.Fatalf("ptrace, size %#x: arch %#x nr %d args %#x: got %#x, want %#x", size, arch, nr, args[:2], got, want)
				}
				if got, want := verdict(t, vs, arch, nr, args), reference(ModeSeccomp, size, arch, nr, args); got != want {
					t.Fatalf("seccomp, size %#x: arch %#x nr %d args %#x: got %#x, want %#x", size, arch, nr, args[:2], got, want)
				}
			}
		}
	}
}

func TestFilterForCopies(t *testing.T) {
	f, err := NewFilter(ModePtrace)
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.For(1<<20), f.For(1<<30)
	if &a[0] == &b[0] || a[f.loAt].K != 1<<20 || b[f.loAt].K != 1<<30 {
		t.Errorf("For must patch a fresh copy: %v %v", a[f.loAt], b[f.loAt])
	}
	if _, err := NewFilter(Mode(9)); err == nil {
		t.Error("NewFilter accepted an unknown mode")
	}
}
