//go:build linux && amd64

package conformance_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/arch/x86/x86asm"

	"tessera/internal/sandbox"
	"tessera/loader"
)

// tracerBackend is a minimal ptrace sandbox for testing this suite and the
// x86-64 guest builds before (and independently of) the real backends. It
// starts the guest's ELF file as a traced process, replaces its memory
// with the loader's context (the memfd, mapped at the context's addresses
// with the image's permissions, a guard page below the stack), sets the
// registers the ABI prescribes, and lets it run: the exit is allowed, any
// other system call ends the call (loader.ErrSyscall), signals are faults.
// It is a test fixture, not a backend: the Linux stack and vDSO stay
// mapped and nothing limits the process's resources.
type tracerBackend struct {
	dir string
	// leaky, for testing the isolation pair itself, makes every call
	// reuse the previous call's memory (only the image is reset) and
	// start with the registers the previous call exited with.
	leaky *leftovers
}

type leftovers struct {
	mem  *loader.Context
	regs *syscall.PtraceRegs
}

func (b *tracerBackend) Name() string { return "tracer" }
func (b *tracerBackend) Close() error { return nil }

func (b *tracerBackend) Load(spec sandbox.Spec) (sandbox.Function, error) {
	fn, err := sandbox.NativeFunction(spec)
	if err != nil {
		return nil, err
	}
	exit, err := exitInstruction(spec.Binary)
	if err != nil {
		return nil, err
	}
	path, err := writeExecutable(b.dir, spec)
	if err != nil {
		return nil, err
	}
	return &tracedFunction{fn: fn, path: path, syscallAt: exit, leaky: b.leaky}, nil
}

// exitInstruction finds the syscall instruction of hlibc's __tessera_exit,
// which the tracer borrows to make the set-up system calls in the child.
func exitInstruction(bin []byte) (uint64, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return 0, err
	}
	syms, err := f.Symbols()
	if err != nil {
		return 0, err
	}
	for _, s := range syms {
		if s.Name != "__tessera_exit" {
			continue
		}
		text := f.Section(".text")
		data, err := text.Data()
		if err != nil {
			return 0, err
		}
		for pc := s.Value; pc < s.Value+s.Size; {
			inst, err := x86asm.Decode(data[pc-text.Addr:], 64)
			if err != nil {
				return 0, err
			}
			if inst.Op == x86asm.SYSCALL {
				return pc, nil
			}
			pc += uint64(inst.Len)
		}
	}
	return 0, errors.New("tracer: no __tessera_exit in the binary")
}

type tracedFunction struct {
	fn        *loader.Function
	path      string
	syscallAt uint64
	leaky     *leftovers
}

// newContext returns a fresh context, or for a leaky fixture a view of the
// previous call's memory with only the image pages cleared.
func (f *tracedFunction) newContext() (*loader.Context, error) {
	if f.leaky == nil {
		return loader.NewContext(f.fn.ContextSize)
	}
	if f.leaky.mem == nil {
		m, err := loader.NewContext(f.fn.ContextSize)
		if err != nil {
			return nil, err
		}
		f.leaky.mem = m
	}
	m := f.leaky.mem.Bytes()
	clear(m[f.fn.Image.Low:f.fn.Image.End])
	return loader.NewContextOn(m, f.leaky.mem.Fd(), nil)
}

// Linux system-call numbers and ptrace constants the tracer needs.
const (
	sysMmap      = 9
	sysClose     = 3
	sysExit      = 60
	sysExitGroup = 231
	mapShared    = 0x01
	mapFixed     = 0x10
	// PTRACE_O_TRACESYSGOOD marks system-call stops with SIGTRAP|0x80;
	// PTRACE_O_EXITKILL kills the child if the tracer goes away.
	optTraceSysGood = 0x1
	optExitKill     = 0x100000
	sysGoodBit      = 0x80
)

func (f *tracedFunction) Run(ctx context.Context, inputs []loader.Set) (*loader.Outputs, error) {
	sets, err := f.fn.MatchInputs(inputs)
	if err != nil {
		return nil, err
	}
	c, err := f.newContext()
	if err != nil {
		return nil, err
	}
	defer c.Release()
	layout, err := c.Setup(f.fn.Image, sets, f.fn.OutputSets, loader.SetupOptions{StackSize: f.fn.StackSize})
	if err != nil {
		return nil, err
	}

	runtime.LockOSThread() // every ptrace request must come from this thread
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec(f.path, []string{f.path}, &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{^uintptr(0), ^uintptr(0), ^uintptr(0), uintptr(c.Fd())},
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return nil, err
	}
	t := &tracee{pid: pid, leaky: f.leaky}
	defer t.kill()
	if _, err := t.wait(); err != nil { // the stop at exec
		return nil, err
	}
	if err := syscall.PtraceSetOptions(pid, optTraceSysGood|optExitKill); err != nil {
		return nil, err
	}
	if err := t.mapContext(f, c, layout); err != nil {
		return nil, err
	}
	// Killing on ctx.Done (not on a timer of our own) guarantees that
	// ctx.Err() is set once the kill is seen.
	stop := context.AfterFunc(ctx, func() { syscall.Kill(pid, syscall.SIGKILL) })
	runErr := t.run()
	stop()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %v", loader.ErrTimeout, ctx.Err())
	}
	if runErr != nil {
		return nil, runErr
	}
	outs, err := c.ReadOutputs()
	if err != nil {
		return nil, err
	}
	if code, _ := c.ExitCode(); code != 0 {
		return outs, &loader.ExitError{Status: int(code)}
	}
	return outs, nil
}

type tracee struct {
	pid   int
	done  bool
	leaky *leftovers
}

func (t *tracee) kill() {
	if !t.done {
		syscall.Kill(t.pid, syscall.SIGKILL)
	}
}

func (t *tracee) wait() (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(t.pid, &ws, syscall.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err == nil && (ws.Exited() || ws.Signaled()) {
			t.done = true
		}
		return ws, err
	}
}

// inject makes the stopped child execute one system call through the
// borrowed syscall instruction and returns its result.
func (t *tracee) inject(at uint64, nr, a1, a2, a3, a4, a5, a6 uint64) (uint64, error) {
	regs := syscall.PtraceRegs{Rip: at, Rax: nr, Orig_rax: ^uint64(0), Rdi: a1, Rsi: a2, Rdx: a3,
		R10: a4, R8: a5, R9: a6}
	var cur syscall.PtraceRegs
	if err := syscall.PtraceGetRegs(t.pid, &cur); err != nil {
		return 0, err
	}
	regs.Cs, regs.Ss, regs.Ds, regs.Es, regs.Eflags = cur.Cs, cur.Ss, cur.Ds, cur.Es, cur.Eflags
	if err := syscall.PtraceSetRegs(t.pid, &regs); err != nil {
		return 0, err
	}
	if err := syscall.PtraceSingleStep(t.pid); err != nil {
		return 0, err
	}
	if ws, err := t.wait(); err != nil || !ws.Stopped() {
		return 0, fmt.Errorf("tracer: child did not stop after a set-up call: %v %v", ws, err)
	}
	if err := syscall.PtraceGetRegs(t.pid, &cur); err != nil {
		return 0, err
	}
	if int64(cur.Rax) < 0 && int64(cur.Rax) > -4096 {
		return 0, fmt.Errorf("tracer: set-up system call %d failed: %v", nr, syscall.Errno(-int64(cur.Rax)))
	}
	return cur.Rax, nil
}

// mapContext maps the context over the child's address space, the image
// pages with their own permissions, and starts it at the entry point.
func (t *tracee) mapContext(f *tracedFunction, c *loader.Context, l *loader.Layout) error {
	const rw = syscall.PROT_READ | syscall.PROT_WRITE
	type region struct {
		lo, hi uint64
		prot   int
	}
	var regions []region
	if l.ImageLow > loader.MinAddr {
		regions = append(regions, region{loader.MinAddr, l.ImageLow, rw})
	}
	for a := l.ImageLow; a < l.ImageEnd; a += loader.PageSize {
		p := f.fn.Image.PermAt(a)
		prot := 0
		if p&loader.PermRead != 0 {
			prot |= syscall.PROT_READ
		}
		if p&loader.PermWrite != 0 {
			prot |= syscall.PROT_WRITE
		}
		if p&loader.PermExec != 0 {
			prot |= syscall.PROT_EXEC
		}
		if n := len(regions); n > 0 && regions[n-1].hi == a && regions[n-1].prot == prot {
			regions[n-1].hi += loader.PageSize
		} else {
			regions = append(regions, region{a, a + loader.PageSize, prot})
		}
	}
	regions = append(regions, region{l.ImageEnd, l.Guard, rw}, region{l.Guard, l.StackLow, syscall.PROT_NONE},
		region{l.StackLow, l.Size, rw})
	for _, r := range regions {
		if r.hi <= r.lo {
			continue
		}
		if _, err := t.inject(f.syscallAt, sysMmap, r.lo, r.hi-r.lo, uint64(r.prot), mapShared|mapFixed, 3, r.lo); err != nil {
			return err
		}
	}
	if _, err := t.inject(f.syscallAt, sysClose, 3, 0, 0, 0, 0, 0); err != nil {
		return err
	}
	var regs syscall.PtraceRegs
	if err := syscall.PtraceGetRegs(t.pid, &regs); err != nil {
		return err
	}
	start := syscall.PtraceRegs{}
	if t.leaky != nil && t.leaky.regs != nil {
		start = *t.leaky.regs
	}
	start.Rip, start.Rsp, start.Orig_rax, start.Eflags = l.Entry, l.StackTop, ^uint64(0), 0x202
	start.Cs, start.Ss, start.Ds, start.Es, start.Fs, start.Gs = regs.Cs, regs.Ss, regs.Ds, regs.Es, regs.Fs, regs.Gs
	return syscall.PtraceSetRegs(t.pid, &start)
}

// run lets the child go until it exits or does something forbidden.
func (t *tracee) run() error {
	for {
		if err := syscall.PtraceSyscall(t.pid, 0); err != nil {
			return err
		}
		ws, err := t.wait()
		if err != nil {
			return err
		}
		switch {
		case ws.Exited():
			return nil
		case ws.Signaled():
			return fmt.Errorf("%w: killed by %v", loader.ErrFault, ws.Signal())
		case ws.StopSignal() == syscall.SIGTRAP|sysGoodBit:
			var regs syscall.PtraceRegs
			if err := syscall.PtraceGetRegs(t.pid, &regs); err != nil {
				return err
			}
			if regs.Orig_rax == sysExitGroup || regs.Orig_rax == sysExit {
				if t.leaky != nil {
					t.leaky.regs = &regs
				}
				if err := syscall.PtraceCont(t.pid, 0); err != nil {
					return err
				}
				if _, err := t.wait(); err != nil {
					return err
				}
				return nil
			}
			return fmt.Errorf("%w: system call %d at %#x", loader.ErrSyscall, regs.Orig_rax, regs.Rip)
		default:
			return t.classify(ws.StopSignal())
		}
	}
}

// classify turns a signal into an error. A system-call instruction the
// CPU refuses (sysenter in 64-bit mode on AMD raises #UD, int 0x80 on a
// kernel without 32-bit emulation a #GP) is still a system-call attempt.
func (t *tracee) classify(sig syscall.Signal) error {
	var regs syscall.PtraceRegs
	if err := syscall.PtraceGetRegs(t.pid, &regs); err != nil {
		return err
	}
	code := make([]byte, 16)
	if _, err := syscall.PtracePeekText(t.pid, uintptr(regs.Rip), code); err == nil {
		if inst, err := x86asm.Decode(code, 64); err == nil {
			imm, _ := inst.Args[0].(x86asm.Imm)
			if inst.Op == x86asm.SYSENTER || inst.Op == x86asm.SYSCALL || (inst.Op == x86asm.INT && imm == 0x80) {
				return fmt.Errorf("%w: %v at %#x (%v)", loader.ErrSyscall, inst, regs.Rip, sig)
			}
		}
	}
	return fmt.Errorf("%w: %v at %#x", loader.ErrFault, sig, regs.Rip)
}
