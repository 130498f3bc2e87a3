//go:build linux && amd64

// Package proctest holds hand-assembled test guests and the test suite the
// process backends share. The guests are built with internal/elfgen from
// machine code assembled by Asm, so the tests need no C toolchain for them;
// the suite runs them through the sandbox contract, so any backend can use
// it (the cross-backend conformance suite will cover the C guests).
package proctest

import (
	"debug/elf"

	"tessera/internal/elfgen"
	"tessera/loader"
)

// Where the guests put things.
const (
	TextAddr = 0x10000
	DataAddr = 0x20000 // rw-, 2 pages; the system data is at its start
	DataSize = 0x2000

	outBufs  = DataAddr + 0x100 // IoBuffer array for outputs
	identBuf = DataAddr + 0x200 // identifier bytes
	TLSAddr  = DataAddr + 0x400 // thread pointer of the TLS guests
	RegsAddr = DataAddr + 0x800 // where the Regs guest saves what it found
	RegsLen  = 0x200

	// ContextSize is the context of every guest unless a test says
	// otherwise: 4 MiB, so a 512 KiB stack.
	ContextSize = 4 << 20
)

// Offsets in the system data (docs/ABI.md §3).
const (
	sdExitCode   = 0
	sdHeapBegin  = 8
	sdHeapEnd    = 16
	sdInSetsLen  = 24
	sdInSets     = 32
	sdOutSetsLen = 40
	sdOutSets    = 48
	sdInBufs     = 56
	sdOutBufs    = 64
)

// Secret is the pattern the Scribble guest leaves everywhere it can write.
const Secret = 0x5ec2e75ec2e75ec2

// Binary wraps code in a static executable: code at TextAddr (r-x), the
// system data at DataAddr (rw-).
func Binary(code []byte) []byte {
	return elfgen.File{
		Entry: TextAddr,
		Segments: []elfgen.Segment{
			{Vaddr: TextAddr, Data: code, Flags: elf.PF_R | elf.PF_X},
			{Vaddr: DataAddr, Data: make([]byte, loader.SystemDataSize64), MemSize: DataSize, Flags: elf.PF_R | elf.PF_W},
		},
		Symbols: []elfgen.Symbol{{Name: elfgen.SystemDataSym, Value: DataAddr, Size: loader.SystemDataSize64}},
	}.Bytes()
}

// Function parses a guest binary into a function with one input set "in"
// and one output set "out".
func Function(name string, bin []byte, size uint64) (*loader.Function, error) {
	img, err := loader.Parse(bin)
	if err != nil {
		return nil, err
	}
	fn := &loader.Function{Name: name, Image: img, ContextSize: size, InputSets: []string{"in"}, OutputSets: []string{"out"}}
	return fn, fn.Check()
}

func prologue() *Asm {
	a := &Asm{}
	return a.MovImm(RBX, DataAddr) // rbx = &system data, in every guest
}

// setExit stores the ABI exit code.
func setExit(a *Asm, code int32) *Asm { return a.StoreImm32(At(RBX, sdExitCode), code) }

// oneOutput describes a single output item {ident, data} in set 0.
func oneOutput(a *Asm, ident string, data uint64, n int32) *Asm {
	var w [8]byte
	copy(w[:], ident)
	a.MovImm(RAX, leUint64(w[:]))
	a.Store(Abs(identBuf), RAX)
	a.MovImm(RAX, identBuf).Store(Abs(outBufs), RAX)
	a.StoreImm(Abs(outBufs+8), int32(len(ident)))
	a.MovImm(RAX, data).Store(Abs(outBufs+16), RAX)
	a.StoreImm(Abs(outBufs+24), n)
	a.StoreImm(Abs(outBufs+32), 0)
	a.MovImm(RAX, outBufs).Store(At(RBX, sdOutBufs), RAX)
	// The sentinel after the declared sets holds the item count.
	a.Load(R9, At(RBX, sdOutSets)).Load(R10, At(RBX, sdOutSetsLen))
	a.Imul(R10, R10, 24).Add(R10, R9)
	return a.StoreImm(At(R10, 16), 1)
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// Noop sets exit_code 0 and exits.
func Noop() []byte { return setExit(prologue(), 0).Exit(0).Bytes() }

// Echo returns every input item unchanged (zero copy: the output
// descriptors are the input descriptors) in output set 0, with the given
// exit code.
func Echo(code int32) []byte {
	a := prologue()
	a.Load(RAX, At(RBX, sdInBufs)).Store(At(RBX, sdOutBufs), RAX)
	// total = input_sets[input_sets_len].offset
	a.Load(RCX, At(RBX, sdInSetsLen)).Load(RDX, At(RBX, sdInSets))
	a.Imul(RCX, RCX, 24).Add(RCX, RDX).Load(R8, At(RCX, 16))
	a.Load(R9, At(RBX, sdOutSets)).Load(R10, At(RBX, sdOutSetsLen))
	a.Imul(R10, R10, 24).Add(R10, R9).Store(At(R10, 16), R8)
	return setExit(a, code).Exit(code).Bytes()
}

// NoExitCode exits without writing exit_code (so the host's -1 stays).
func NoExitCode() []byte { return prologue().Exit(0).Bytes() }

// ExitThread ends with exit (60) instead of exit_group.
func ExitThread() []byte {
	a := setExit(prologue(), 0)
	return a.MovImm(RAX, 60).MovImm(RDI, 0).Syscall().Bytes()
}

// afterForbidden is what a guest does if a forbidden call returns: a
// distinctive exit code the tests would see instead of the expected error.
const afterForbidden = 99

// Syscall makes system call nr with the given arguments (x86-64 convention).
func Syscall(nr uint64, args ...uint64) []byte {
	a := prologue()
	for i, r := range []Reg{RDI, RSI, RDX, R10, R8, R9} {
		if i < len(args) {
			a.MovImm(r, args[i])
		}
	}
	a.MovImm(RAX, nr).Syscall()
	return setExit(a, afterForbidden).Exit(afterForbidden).Bytes()
}

// Int80 makes a 32-bit system call with int $0x80.
func Int80(nr uint64, args ...uint64) []byte {
	a := prologue()
	for i, r := range []Reg{RBX, RCX, RDX, RSI, RDI, RBP} {
		if i < len(args) {
			a.MovImm(r, args[i])
		}
	}
	a.MovImm(RAX, nr).Int(0x80)
	a.MovImm(RBX, DataAddr)
	return setExit(a, afterForbidden).Exit(afterForbidden).Bytes()
}

// Sysenter tries the 32-bit fast system call (an invalid opcode in 64-bit
// mode on AMD, a real entry on Intel).
func Sysenter(nr uint64) []byte {
	a := prologue().MovImm(RAX, nr).Sysenter()
	a.MovImm(RBX, DataAddr)
	return setExit(a, afterForbidden).Exit(afterForbidden).Bytes()
}

// Code runs the given instructions after the prologue and then exits 0
// with exit code afterForbidden if they did not stop the guest.
func Code(f func(a *Asm)) []byte {
	a := prologue()
	f(a)
	a.MovImm(RBX, DataAddr)
	return setExit(a, afterForbidden).Exit(afterForbidden).Bytes()
}

// StackOverflow recurses until the stack runs into the guard page.
func StackOverflow() []byte {
	return Code(func(a *Asm) { a.Label("f").Call("f") })
}

// Loop spins forever.
func Loop() []byte { return Code(func(a *Asm) { a.Label("l").Jmp("l") }) }

// ForgedOutputs claims one output item in a buffer array far outside the
// context.
func ForgedOutputs() []byte {
	a := prologue()
	a.MovImm(RAX, 0x7fff_ffff_0000).Store(At(RBX, sdOutBufs), RAX)
	a.Load(R9, At(RBX, sdOutSets)).Load(R10, At(RBX, sdOutSetsLen))
	a.Imul(R10, R10, 24).Add(R10, R9).StoreImm(At(R10, 16), 1)
	return setExit(a, 0).Exit(0).Bytes()
}

// TLS sets the thread pointer with arch_prctl(ARCH_SET_FS, tp) as
// Dandelion's SDK does on its process backend, stores a value through
// %fs:8 and returns the 8 bytes at tp+8 as output item "tls".
func TLS(tp uint64) []byte {
	a := prologue()
	a.MovImm(RDI, 0x1002).MovImm(RSI, tp).MovImm(RAX, 158).Syscall()
	a.MovImm(RAX, 0x1122334455667788).StoreFS(8, RAX)
	oneOutput(a, "tls", tp+8, 8)
	return setExit(a, 0).Exit(0).Bytes()
}

// Regs saves what the guest finds at entry and returns it as output item
// "regs" (RegsLen bytes at RegsAddr): slot i (8 bytes) holds general
// register i (RSP included), then rflags, FS base, GS base, MXCSR, the x87
// control word, and from slot 22 the 16 xmm registers (16 bytes each).
func Regs() []byte {
	a := &Asm{}
	// Nothing may touch a register or the flags before it is saved: plain
	// stores to absolute addresses only.
	for r := RAX; r <= R15; r++ {
		a.Store(Abs(RegsAddr+8*int32(r)), r)
	}
	a.Pushfq().Pop(RAX).Store(Abs(RegsAddr+8*16), RAX)
	a.Rdfsbase(RAX).Store(Abs(RegsAddr+8*17), RAX)
	a.Rdgsbase(RAX).Store(Abs(RegsAddr+8*18), RAX)
	a.Stmxcsr(Abs(RegsAddr + 8*19))
	a.Fnstcw(Abs(RegsAddr + 8*20))
	for x := Reg(0); x < 16; x++ {
		a.Movdqu(Abs(RegsAddr+8*22+16*int32(x)), x)
	}
	a.MovImm(RBX, DataAddr)
	oneOutput(a, "regs", RegsAddr, RegsLen)
	return setExit(a, 0).Exit(0).Bytes()
}

// areas sets [rsi, rdi) to each memory area Scribble writes and Scan
// checks in turn: the heap, the whole stack below the initial stack pointer
// (it starts a guard page above the heap's end), and the spare part of the
// data segment.
func areas(a *Asm, each func(label string)) {
	a.Load(RSI, At(RBX, sdHeapBegin)).Load(RDI, At(RBX, sdHeapEnd))
	each("heap")
	a.Load(RSI, At(RBX, sdHeapEnd)).AddImm(RSI, loader.PageSize).Mov(RDI, RSP)
	each("stack")
	a.MovImm(RSI, DataAddr+loader.SystemDataSize64).MovImm(RDI, DataAddr+DataSize)
	each("data")
}

// Scribble writes Secret over every area (see areas): nearly all of a
// ContextSize context.
func Scribble() []byte {
	a := prologue().MovImm(RAX, Secret)
	areas(a, func(l string) {
		a.Label(l).Store(At(RSI, 0), RAX).AddImm(RSI, 8).Cmp(RSI, RDI).Jb(l)
	})
	return setExit(a, 0).Exit(0).Bytes()
}

// Scan checks that the areas Scribble writes are zero: exit code 0 if
// they are, 1 if not.
func Scan() []byte {
	a := prologue()
	areas(a, func(l string) {
		a.Label(l).CmpMemImm(At(RSI, 0), 0).Jne("dirty").AddImm(RSI, 8).Cmp(RSI, RDI).Jb(l)
	})
	setExit(a, 0).Exit(0)
	a.Label("dirty")
	return setExit(a, 1).Exit(1).Bytes()
}
