//go:build linux && amd64

package proc

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"tessera/internal/elfgen"
	"tessera/loader"
)

// context returns a set-up 1 MiB context whose code page holds code.
func context1M(t *testing.T, code []byte) *loader.Context {
	t.Helper()
	img, err := loader.Parse(elfgen.Minimal(code).Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := loader.NewContext(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Release() })
	if _, err := ctx.Setup(img, nil, nil, loader.SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestFaultRefusedSyscallInstructions(t *testing.T) {
	// sysenter at 0x10000, int $0x80 at 0x10002, syscall at 0x10004.
	ctx := context1M(t, []byte{0x0f, 0x34, 0xcd, 0x80, 0x0f, 0x05, 0x0f, 0x0b})
	regs := Regs{RAX: 20, RBX: 0xffff_ffff_0000_0001, RCX: 2, RDX: 3, RSI: 4, RDI: 5, RBP: 6}

	regs.RIP = 0x10000
	var se *SyscallError
	if err := Fault(ctx, unix.SIGILL, 2, 0x10000, regs); !errors.As(err, &se) || se.Inst != "sysenter" || se.Arch != ArchI386 || se.Nr != 20 || se.Name != "getpid" || se.Args != [6]uint64{1, 2, 3, 4, 5, 6} {
		t.Errorf("sysenter as SIGILL: %v", err)
	}
	regs.RIP = 0x10002
	if err := Fault(ctx, unix.SIGSEGV, siKernel, 0, regs); !errors.As(err, &se) || se.Inst != "int $0x80" || !errors.Is(err, loader.ErrSyscall) {
		t.Errorf("int $0x80 as #GP: %v", err)
	}
	// An instruction fetch fault at a syscall instruction never ran it.
	regs.RIP = 0x10004
	var sig *SignalError
	if err := Fault(ctx, unix.SIGSEGV, 2, 0x10004, regs); !errors.As(err, &sig) || !errors.Is(err, loader.ErrFault) || sig.Inst != "syscall" {
		t.Errorf("fetch fault at a syscall instruction: %v", err)
	}
	regs.RIP = 0x10006
	if err := Fault(ctx, unix.SIGILL, 2, 0x10006, regs); !errors.As(err, &sig) || sig.Inst != "ud2" {
		t.Errorf("ud2: %v", err)
	}
}

// rdtsc and rdtscp fault with #GP (SIGSEGV, SI_KERNEL) under PR_SET_TSC:
// named as refused instructions; any other fault there is just a fault.
func TestFaultRefusedTSC(t *testing.T) {
	// rdtsc at 0x10000, rdtscp at 0x10002.
	ctx := context1M(t, []byte{0x0f, 0x31, 0x0f, 0x01, 0xf9})
	var sig *SignalError
	for rip, name := range map[uint64]string{0x10000: "rdtsc", 0x10002: "rdtscp"} {
		err := Fault(ctx, unix.SIGSEGV, siKernel, 0, Regs{RIP: rip})
		if !errors.As(err, &sig) || !errors.Is(err, loader.ErrFault) || sig.Inst != name || !strings.Contains(err.Error(), "refused instruction "+name) {
			t.Errorf("%s: %v", name, err)
		}
		if err := Fault(ctx, unix.SIGSEGV, 2, rip, Regs{RIP: rip}); strings.Contains(err.Error(), "refused") {
			t.Errorf("%s, fetch fault: %v", name, err)
		}
	}
}

func TestFaultDetails(t *testing.T) {
	ctx := context1M(t, []byte{0xcc, 0x90})
	l := ctx.Layout()
	var sig *SignalError
	for _, tt := range []struct {
		sig    unix.Signal
		code   int32
		addr   uint64
		rip    uint64
		inst   string
		detail string
	}{
		{unix.SIGSEGV, 1, l.Guard + 8, 0x10001, "nop", "guard"},
		{unix.SIGSEGV, 1, 0, 0x10001, "nop", "null"},
		{unix.SIGSEGV, 2, 0x30000, 0x30000, "add %al,(%rax)", "not executable"},
		{unix.SIGTRAP, siKernel, 0, 0x10001, "int3", ""},                      // int3 reports the next address
		{unix.SIGSEGV, 1, 0x7f00_0000_0000, 0x7f00_0000_0000, "", "unmapped"}, // outside the context: nothing to decode
		{unix.SIGBUS, 2, 0x12345, 1 << 40, "", ""},
	} {
		err := Fault(ctx, tt.sig, tt.code, tt.addr, Regs{RIP: tt.rip})
		if !errors.As(err, &sig) || sig.Inst != tt.inst || !strings.Contains(sig.Detail, tt.detail) || sig.Addr != tt.addr {
			t.Errorf("%v at %#x, rip %#x: %v (inst %q)", tt.sig, tt.addr, tt.rip, err, sig.Inst)
		}
	}
}

func TestRecord(t *testing.T) {
	ctx := context1M(t, []byte{0x0f, 0x05})
	if _, ok := ReadRecord(ctx); ok {
		t.Fatal("a fresh context has a record")
	}
	var b [8 + 6*4 + 8 + 23*8]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], recordMagic)
	le.PutUint32(b[8:], RecordSyscall)
	le.PutUint32(b[12:], uint32(unix.SIGSYS))
	le.PutUint32(b[24:], unix.SYS_OPENAT)
	le.PutUint32(b[28:], unix.AUDIT_ARCH_X86_64)
	le.PutUint64(b[32:], 0x10002) // after the syscall instruction
	for i, v := range map[int]uint64{gRDI: 1, gRSI: 2, gRDX: 3, gR10: 4, gR8: 5, gR9: 6, gRIP: 0x10002} {
		le.PutUint64(b[40+8*i:], v)
	}
	if err := ctx.WriteAt(b[:], RecordOffset); err != nil {
		t.Fatal(err)
	}
	r, ok := ReadRecord(ctx)
	if !ok {
		t.Fatal("record not found")
	}
	var se *SyscallError
	if err := r.Err(ctx); !errors.As(err, &se) || se.Name != "openat" || se.Args != [6]uint64{1, 2, 3, 4, 5, 6} || se.RIP != 0x10000 || se.Inst != "syscall" {
		t.Errorf("record: %v", err)
	}
	le.PutUint32(b[8:], RecordStub)
	le.PutUint32(b[20:], uint32(unix.ENOMEM))
	le.PutUint32(b[24:], 7)
	ctx.WriteAt(b[:], RecordOffset)
	r, _ = ReadRecord(ctx)
	var st *StubError
	if err := r.Err(ctx); !errors.As(err, &st) || st.Step != 7 || st.Errno != unix.ENOMEM || !errors.Is(err, ErrStub) {
		t.Errorf("stub record: %v", err)
	}
}

func TestSyscallErrorText(t *testing.T) {
	e := NewSyscallError(unix.AUDIT_ARCH_X86_64, 0x40000000|unix.SYS_GETPID, [6]uint64{}, 0x10010)
	if e.Arch != ArchX32 || e.Nr != unix.SYS_GETPID || e.Name != "getpid" || e.RIP != 0x1000e {
		t.Errorf("x32: %+v", e)
	}
	e = NewSyscallError(unix.AUDIT_ARCH_I386, 4, [6]uint64{1<<32 | 1, 2}, 0x10010)
	if e.Name != "write" || e.Args[0] != 1 || e.Inst != "int $0x80" {
		t.Errorf("i386: %+v", e)
	}
	if s := e.Error(); !strings.Contains(s, "write(0x1, 0x2") || !strings.Contains(s, "i386 #4") {
		t.Errorf("text: %s", s)
	}
	if s := NewSyscallError(unix.AUDIT_ARCH_X86_64, 9999, [6]uint64{}, 2).Error(); !strings.Contains(s, "syscall_9999(") {
		t.Errorf("unknown number: %s", s)
	}
}
