//go:build linux && amd64

package proctest

import (
	"encoding/binary"
	"fmt"
)

// Reg is an x86-64 general-purpose register, numbered as in ModRM.
type Reg uint8

// The general-purpose registers.
const (
	RAX Reg = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

// noBase marks an absolute memory operand.
const noBase Reg = 0xff

// Mem is a memory operand [Base + Disp], or [Disp] with Abs.
type Mem struct {
	Base Reg
	Disp int32
}

// At is [base + disp].
func At(base Reg, disp int32) Mem { return Mem{Base: base, Disp: disp} }

// Abs is the absolute address [disp] (sign-extended 32-bit).
func Abs(addr int32) Mem { return Mem{Base: noBase, Disp: addr} }

// Asm assembles the few x86-64 instructions the test guests use. Every
// memory operand is encoded with a 32-bit displacement (mod=10), which
// keeps the encoder small; the tests check it against x86asm.
type Asm struct {
	b      []byte
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at    int // where the rel32 goes
	label string
}

// Bytes returns the machine code with every jump resolved.
func (a *Asm) Bytes() []byte {
	for _, f := range a.fixups {
		to, ok := a.labels[f.label]
		if !ok {
			panic(fmt.Sprintf("proctest: undefined label %q", f.label))
		}
		binary.LittleEndian.PutUint32(a.b[f.at:], uint32(int32(to-(f.at+4))))
	}
	a.fixups = nil
	return a.b
}

// Len is the number of bytes so far.
func (a *Asm) Len() int { return len(a.b) }

// Raw appends bytes as they are.
func (a *Asm) Raw(b ...byte) *Asm { a.b = append(a.b, b...); return a }

// Label defines name at the current position.
func (a *Asm) Label(name string) *Asm {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.b)
	return a
}

func rex(w bool, reg, index, base Reg) byte {
	r := byte(0x40)
	if w {
		r |= 8
	}
	if reg&8 != 0 {
		r |= 4
	}
	if index&8 != 0 && index != noBase {
		r |= 2
	}
	if base&8 != 0 && base != noBase {
		r |= 1
	}
	return r
}

// op emits [prefix] REX opcode modrm(reg, m).
func (a *Asm) op(w bool, opcode []byte, reg Reg, m Mem) *Asm {
	if r := rex(w, reg, noBase, m.Base); r != 0x40 || w {
		a.b = append(a.b, r)
	}
	a.b = append(a.b, opcode...)
	var d [4]byte
	binary.LittleEndian.PutUint32(d[:], uint32(m.Disp))
	if m.Base == noBase {
		// mod=00 rm=100, SIB with no base and no index: [disp32].
		a.b = append(a.b, byte(reg&7)<<3|4, 0x25)
	} else {
		a.b = append(a.b, 0x80|byte(reg&7)<<3|byte(m.Base&7))
		if m.Base&7 == 4 { // rsp and r12 need a SIB byte
			a.b = append(a.b, 0x24)
		}
	}
	a.b = append(a.b, d[:]...)
	return a
}

// opRR emits REX opcode modrm(reg, rm) with mod=11.
func (a *Asm) opRR(w bool, opcode []byte, reg, rm Reg) *Asm {
	if r := rex(w, reg, noBase, rm); r != 0x40 || w {
		a.b = append(a.b, r)
	}
	a.b = append(a.b, opcode...)
	a.b = append(a.b, 0xc0|byte(reg&7)<<3|byte(rm&7))
	return a
}

func (a *Asm) imm32(v int32) *Asm {
	a.b = binary.LittleEndian.AppendUint32(a.b, uint32(v))
	return a
}

// MovImm: mov $v, r (64-bit immediate).
func (a *Asm) MovImm(r Reg, v uint64) *Asm {
	a.b = append(a.b, rex(true, 0, noBase, r), 0xb8+byte(r&7))
	a.b = binary.LittleEndian.AppendUint64(a.b, v)
	return a
}

// Load: mov m, dst (64-bit).
func (a *Asm) Load(dst Reg, m Mem) *Asm { return a.op(true, []byte{0x8b}, dst, m) }

// Store: mov src, m (64-bit).
func (a *Asm) Store(m Mem, src Reg) *Asm { return a.op(true, []byte{0x89}, src, m) }

// Store32: mov src32, m.
func (a *Asm) Store32(m Mem, src Reg) *Asm { return a.op(false, []byte{0x89}, src, m) }

// StoreImm: movq $v, m (sign-extended 32-bit immediate).
func (a *Asm) StoreImm(m Mem, v int32) *Asm { return a.op(true, []byte{0xc7}, 0, m).imm32(v) }

// StoreImm32: movl $v, m.
func (a *Asm) StoreImm32(m Mem, v int32) *Asm { return a.op(false, []byte{0xc7}, 0, m).imm32(v) }

// Lea: lea m, dst.
func (a *Asm) Lea(dst Reg, m Mem) *Asm { return a.op(true, []byte{0x8d}, dst, m) }

// Mov: mov src, dst.
func (a *Asm) Mov(dst, src Reg) *Asm { return a.opRR(true, []byte{0x89}, src, dst) }

// Add: add src, dst.
func (a *Asm) Add(dst, src Reg) *Asm { return a.opRR(true, []byte{0x01}, src, dst) }

// Or: or src, dst.
func (a *Asm) Or(dst, src Reg) *Asm { return a.opRR(true, []byte{0x09}, src, dst) }

// AddImm: add $v, dst.
func (a *Asm) AddImm(dst Reg, v int32) *Asm { return a.opRR(true, []byte{0x81}, 0, dst).imm32(v) }

// CmpImm: cmp $v, r.
func (a *Asm) CmpImm(r Reg, v int32) *Asm { return a.opRR(true, []byte{0x81}, 7, r).imm32(v) }

// Cmp: cmp b, a (flags of a - b).
func (a *Asm) Cmp(x, y Reg) *Asm { return a.opRR(true, []byte{0x39}, y, x) }

// CmpMemImm: cmpq $v, m.
func (a *Asm) CmpMemImm(m Mem, v int32) *Asm { return a.op(true, []byte{0x81}, 7, m).imm32(v) }

// Imul: imul $v, src, dst.
func (a *Asm) Imul(dst, src Reg, v int32) *Asm { return a.opRR(true, []byte{0x69}, dst, src).imm32(v) }

// Div: div r (rdx:rax / r).
func (a *Asm) Div(r Reg) *Asm { return a.opRR(true, []byte{0xf7}, 6, r) }

func (a *Asm) rel32(opcode []byte, label string) *Asm {
	a.b = append(a.b, opcode...)
	a.fixups = append(a.fixups, fixup{at: len(a.b), label: label})
	a.b = append(a.b, 0, 0, 0, 0)
	return a
}

// Jmp, Jne, Jb, Jae, Call: relative jumps and calls to labels.
func (a *Asm) Jmp(label string) *Asm  { return a.rel32([]byte{0xe9}, label) }
func (a *Asm) Jne(label string) *Asm  { return a.rel32([]byte{0x0f, 0x85}, label) }
func (a *Asm) Je(label string) *Asm   { return a.rel32([]byte{0x0f, 0x84}, label) }
func (a *Asm) Jb(label string) *Asm   { return a.rel32([]byte{0x0f, 0x82}, label) }
func (a *Asm) Jae(label string) *Asm  { return a.rel32([]byte{0x0f, 0x83}, label) }
func (a *Asm) Call(label string) *Asm { return a.rel32([]byte{0xe8}, label) }

// JmpReg: jmp *r.
func (a *Asm) JmpReg(r Reg) *Asm { return a.opRR(false, []byte{0xff}, 4, r) }

// Instructions without operands.
func (a *Asm) Syscall() *Asm  { return a.Raw(0x0f, 0x05) }
func (a *Asm) Sysenter() *Asm { return a.Raw(0x0f, 0x34) }
func (a *Asm) Int(n byte) *Asm {
	if n == 3 {
		return a.Raw(0xcc)
	}
	return a.Raw(0xcd, n)
}
func (a *Asm) Ud2() *Asm { return a.Raw(0x0f, 0x0b) }
func (a *Asm) Hlt() *Asm { return a.Raw(0xf4) }
func (a *Asm) Ret() *Asm { return a.Raw(0xc3) }

// Rdtsc, Rdtscp: read the time-stamp counter into edx:eax (rdtscp also
// TSC_AUX into ecx).
func (a *Asm) Rdtsc() *Asm  { return a.Raw(0x0f, 0x31) }
func (a *Asm) Rdtscp() *Asm { return a.Raw(0x0f, 0x01, 0xf9) }

// Rdfsbase, Rdgsbase: read the FS or GS base into r.
func (a *Asm) Rdfsbase(r Reg) *Asm {
	a.b = append(a.b, 0xf3)
	return a.opRR(true, []byte{0x0f, 0xae}, 0, r)
}
func (a *Asm) Rdgsbase(r Reg) *Asm {
	a.b = append(a.b, 0xf3)
	return a.opRR(true, []byte{0x0f, 0xae}, 1, r)
}

// LoadFS: mov %fs:disp, dst.
func (a *Asm) LoadFS(dst Reg, disp int32) *Asm {
	a.b = append(a.b, 0x64)
	return a.Load(dst, Abs(disp))
}

// StoreFS: mov src, %fs:disp.
func (a *Asm) StoreFS(disp int32, src Reg) *Asm {
	a.b = append(a.b, 0x64)
	return a.Store(Abs(disp), src)
}

// Stmxcsr: stmxcsr m.
func (a *Asm) Stmxcsr(m Mem) *Asm { return a.op(false, []byte{0x0f, 0xae}, 3, m) }

// Fnstcw: fnstcw m.
func (a *Asm) Fnstcw(m Mem) *Asm { return a.op(false, []byte{0xd9}, 7, m) }

// Ptest: ptest x, x (ZF set when xmm register x is zero).
func (a *Asm) Ptest(x Reg) *Asm {
	a.b = append(a.b, 0x66)
	return a.opRR(false, []byte{0x0f, 0x38, 0x17}, x, x)
}

// Movdqu: movdqu x, m (store an xmm register).
func (a *Asm) Movdqu(m Mem, x Reg) *Asm {
	a.b = append(a.b, 0xf3)
	return a.op(false, []byte{0x0f, 0x7f}, x, m)
}

// Pushfq and Pop.
func (a *Asm) Pushfq() *Asm { return a.Raw(0x9c) }
func (a *Asm) Pop(r Reg) *Asm {
	if r&8 != 0 {
		a.b = append(a.b, 0x41)
	}
	return a.Raw(0x58 + byte(r&7))
}

// Exit: exit_group(status), the ABI's normal end.
func (a *Asm) Exit(status int32) *Asm {
	a.MovImm(RAX, 231)
	a.MovImm(RDI, uint64(int64(status)))
	return a.Syscall()
}
