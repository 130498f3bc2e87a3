//go:build linux && amd64

package guest

import (
	"encoding/binary"
	"os"
	"path/filepath"
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

// BenchmarkNoopProcess runs the no-op function as a plain Linux process
// (fork, exec, exit, wait), next to a three-instruction program that only
// exits: the difference is what hlibc's start-up and exit cost beyond the
// process itself. It reports the page faults of each, since touched pages
// are what a sandbox pays to reset.
func BenchmarkNoopProcess(b *testing.B) {
	exit0 := exitOnlyELF()
	tiny := filepath.Join(b.TempDir(), "exit0")
	if err := os.WriteFile(tiny, exit0, 0o755); err != nil {
		b.Fatal(err)
	}
	noop, err := Path(X86_64, "noop")
	if err != nil {
		b.Skip(err)
	}
	for _, c := range []struct{ name, path string }{{"exit0", tiny}, {"noop", noop}} {
		b.Run(c.name, func(b *testing.B) {
			var faults int64
			for b.Loop() {
				pid, err := syscall.ForkExec(c.path, []string{c.path}, &syscall.ProcAttr{Env: []string{}})
				if err != nil {
					b.Fatal(err)
				}
				var ws syscall.WaitStatus
				var ru syscall.Rusage
				if _, err := syscall.Wait4(pid, &ws, 0, &ru); err != nil || ws.ExitStatus() != 0 {
					b.Fatalf("%v %v", ws, err)
				}
				faults += ru.Minflt
			}
			b.ReportMetric(float64(faults)/float64(b.N), "minflt/op")
		})
	}
}

// exitOnlyELF returns a Linux executable that only does exit_group(0):
// one PT_LOAD mapping the file at 0x10000, the code after the headers.
func exitOnlyELF() []byte {
	code := []byte{
		0xb8, 0xe7, 0x00, 0x00, 0x00, // mov $231, %eax
		0x31, 0xff, // xor %edi, %edi
		0x0f, 0x05, // syscall
	}
	const base, hdrs = 0x10000, 64 + 56
	le := binary.LittleEndian
	b := make([]byte, hdrs, hdrs+len(code))
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], base+hdrs) // entry
	le.PutUint64(b[32:], 64)        // phoff
	le.PutUint16(b[52:], 64)        // ehsize
	le.PutUint16(b[54:], 56)        // phentsize
	le.PutUint16(b[56:], 1)         // phnum
	ph := b[64:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5) // R+X
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[24:], base)
	le.PutUint64(ph[32:], uint64(hdrs+len(code)))
	le.PutUint64(ph[40:], uint64(hdrs+len(code)))
	le.PutUint64(ph[48:], 0x1000)
	return append(b, code...)
}
