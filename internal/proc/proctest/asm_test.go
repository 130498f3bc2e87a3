//go:build linux && amd64

package proctest

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// The guests are only as good as their encodings: decode everything Asm
// emits and compare with what was meant.
func TestAsmEncodings(t *testing.T) {
	var a Asm
	want := []string{}
	emit := func(w string, f func()) { f(); want = append(want, w) }
	emit("mov 0x8(%rbx),%rax", func() { a.Load(RAX, At(RBX, 8)) })
	emit("mov 0xfffffff8(%r12,%riz),%r9", func() { a.Load(R9, At(R12, -8)) }) // SIB for r12, no index
	emit("mov 0x20000,%rsp", func() { a.Load(RSP, Abs(0x20000)) })
	emit("mov %r15,0x10(%rsp)", func() { a.Store(At(RSP, 16), R15) })
	emit("mov %edi,(%rbx)", func() { a.Store32(At(RBX, 0), RDI) })
	emit("movq $0x1,0x8", func() { a.StoreImm(Abs(8), 1) })
	emit("movl $-0x1,(%rbx)", func() { a.StoreImm32(At(RBX, 0), -1) })
	emit("lea 0xffffffc0(%rsp),%rax", func() { a.Lea(RAX, At(RSP, -64)) })
	emit("mov %rsp,%rdi", func() { a.Mov(RDI, RSP) })
	emit("mov %r13,%r8", func() { a.Mov(R8, R13) })
	emit("add %r9,%r10", func() { a.Add(R10, R9) })
	emit("or %r11,%rax", func() { a.Or(RAX, R11) })
	emit("add $0x8,%rsi", func() { a.AddImm(RSI, 8) })
	emit("cmp $0x1234,%r14", func() { a.CmpImm(R14, 0x1234) })
	emit("cmp %rdi,%rsi", func() { a.Cmp(RSI, RDI) })
	emit("cmpq $0x0,(%rsi)", func() { a.CmpMemImm(At(RSI, 0), 0) })
	emit("imul $0x18,%r10,%r10", func() { a.Imul(R10, R10, 24) })
	emit("div %rcx", func() { a.Div(RCX) })
	emit("jmp *%r11", func() { a.JmpReg(R11) })
	emit("rdfsbase %rax", func() { a.Rdfsbase(RAX) })
	emit("rdgsbase %r9", func() { a.Rdgsbase(R9) })
	emit("mov %fs:0x8,%rax", func() { a.LoadFS(RAX, 8) })
	emit("mov %rcx,%fs:0x8", func() { a.StoreFS(8, RCX) })
	emit("stmxcsr 0x20898", func() { a.Stmxcsr(Abs(0x20898)) })
	emit("fnstcw (%rbx)", func() { a.Fnstcw(At(RBX, 0)) })
	emit("ptest %xmm15,%xmm15", func() { a.Ptest(15) })
	emit("movdqu %xmm8,0x20900", func() { a.Movdqu(Abs(0x20900), 8) })
	emit("pushfq", func() { a.Pushfq() })
	emit("pop %r12", func() { a.Pop(R12) })
	emit("mov $0x10000000000,%r15", func() { a.MovImm(R15, 1<<40) })
	emit("syscall", func() { a.Syscall() })
	emit("sysenter", func() { a.Sysenter() })
	emit("int3", func() { a.Int(3) })
	emit("int $0x80", func() { a.Int(0x80) })
	emit("ud2", func() { a.Ud2() })
	emit("hlt", func() { a.Hlt() })
	emit("retq", func() { a.Ret() })
	// Relative targets print as absolute addresses (pc = offset in b): the
	// jne at 0xca goes to the next instruction, the call at 0xd0 to itself.
	emit("jne 0xd0", func() { a.Jne("next"); a.Label("next") })
	emit("callq 0xd0", func() { a.Label("self"); a.Call("self") })
	emit("rdtsc", func() { a.Rdtsc() })
	emit("rdtscp", func() { a.Rdtscp() })

	b := a.Bytes()
	pc := uint64(0)
	for i, w := range want {
		in, err := x86asm.Decode(b, 64)
		if err != nil {
			t.Fatalf("instruction %d (%s): %v", i, w, err)
		}
		if got := x86asm.GNUSyntax(in, pc, nil); got != w {
			t.Errorf("instruction %d: got %q, want %q", i, got, w)
		}
		b = b[in.Len:]
		pc += uint64(in.Len)
	}
	if len(b) != 0 {
		t.Errorf("%d bytes left over", len(b))
	}
}
