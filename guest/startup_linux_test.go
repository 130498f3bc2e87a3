package guest

import (
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// startupBudget bounds the instructions the no-op function executes from
// _start to its exit instruction: hlibc's whole start-up and exit. It is
// about 190 today; the budget is loose on purpose and only catches real
// regressions (an eager file system, argument parsing without input,
// feature probing).
const startupBudget = 1000

// countStartup single-steps bin from its entry point to its first system
// call, as a plain Linux process (a no-op guest runs fine outside a
// sandbox: its system data is all zero, so it has no inputs or outputs).
// It returns the number of instructions executed, the system call
// included, and the addresses of any CPUID executed.
func countStartup(t *testing.T, path string) (n int, cpuids []uint64) {
	runtime.LockOSThread() // ptrace requests must come from the tracer thread
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec(path, []string{path}, &syscall.ProcAttr{
		Env: []string{}, Sys: &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("no stop at exec: %v %v", ws, err)
	}
	code := make([]byte, 16)
	for n = 1; n < 100*startupBudget; n++ {
		var regs syscall.PtraceRegs
		if err := syscall.PtraceGetRegs(pid, &regs); err != nil {
			t.Fatal(err)
		}
		if _, err := syscall.PtracePeekText(pid, uintptr(regs.Rip), code); err != nil {
			t.Fatal(err)
		}
		inst, err := x86asm.Decode(code, 64)
		if err != nil {
			t.Fatalf("undecodable instruction at %#x: % x", regs.Rip, code)
		}
		switch inst.Op {
		case x86asm.SYSCALL:
			return n, cpuids
		case x86asm.CPUID:
			cpuids = append(cpuids, regs.Rip)
		}
		if err := syscall.PtraceSingleStep(pid); err != nil {
			t.Fatal(err)
		}
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
			t.Fatalf("after %d instructions: %v %v", n, ws, err)
		}
	}
	t.Fatalf("no system call within %d instructions", n)
	return
}

// TestStartupInstructions counts what a no-op function costs in hlibc and
// checks that start-up and exit execute no CPUID (about 4 µs each on our
// KVM hosts).
func TestStartupInstructions(t *testing.T) {
	for _, arch := range NativeArches {
		load(t, arch, "noop")
		path, err := Path(arch, "noop")
		if err != nil {
			t.Fatal(err)
		}
		n, cpuids := countStartup(t, path)
		t.Logf("%s/noop: %d instructions from _start to the exit system call", arch, n)
		if n > startupBudget {
			t.Errorf("%s/noop: %d instructions, more than the budget of %d", arch, n, startupBudget)
		}
		if len(cpuids) > 0 {
			t.Errorf("%s/noop: CPUID executed at %#x", arch, cpuids)
		}
	}
}
