//go:build linux && amd64

package proctest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tessera/internal/proc"
	"tessera/internal/sandbox"
	"tessera/loader"
)

// Case is one guest run and what must come of it.
type Case struct {
	Name    string
	Code    []byte // machine code at TextAddr (see Binary)
	Size    uint64 // context size; 0 means ContextSize
	Inputs  []loader.Set
	Timeout time.Duration // 0 means 10 s
	Hostile bool          // an error is expected; the next call must still work
	Check   func(t *testing.T, outs *loader.Outputs, err error)
}

// Load loads a case's guest on b.
func (c *Case) Load(t testing.TB, b sandbox.Backend) sandbox.Function {
	t.Helper()
	size := c.Size
	if size == 0 {
		size = ContextSize
	}
	fn, err := b.Load(sandbox.Spec{Name: c.Name, Binary: Binary(c.Code), ContextSize: size, InputSets: []string{"in"}, OutputSets: []string{"out"}})
	if err != nil {
		t.Fatalf("loading %s: %v", c.Name, err)
	}
	return fn
}

// Run runs the case once on b and checks the result.
func (c *Case) Run(t *testing.T, b sandbox.Backend) {
	t.Helper()
	fn := c.Load(t, b)
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	outs, err := fn.Run(ctx, c.Inputs)
	defer outs.Release()
	c.Check(t, outs, err)
}

// Inputs is the input of the echo cases.
var Inputs = []loader.Set{{Ident: "in", Items: []loader.Item{
	{Ident: "greeting", Data: []byte("hello, sandbox")},
	{Ident: "empty"},
	{Ident: "keyed", Key: 7, Data: bytes.Repeat([]byte{0xa5}, 5000)},
}}}

// Suite runs every case on b; after each hostile case a no-op call must
// succeed, and after every case no process of ours may be left.
func Suite(t *testing.T, b sandbox.Backend) {
	noop := Case{Name: "noop", Code: Noop(), Check: WantOutputs(nil)}
	for _, c := range Cases(b.Name()) {
		t.Run(c.Name, func(t *testing.T) {
			c.Run(t, b)
			if c.Hostile {
				noop.Run(t, b)
			}
			if kids := CallChildren(); len(kids) > 0 {
				t.Errorf("processes left behind: %v", kids)
			}
		})
	}
}

// Cases returns the suite for the named backend ("seccomp" or "ptrace").
func Cases(backend string) []Case {
	const nrWrite, nrGetpid, nrOpenat, nrArchPrctl = 1, 39, 257, 158
	tlsOK := WantOutputs([]loader.Item{{Ident: "tls", Data: le64(0x1122334455667788)}})
	if backend != "ptrace" {
		// The ABI allows arch_prctl(ARCH_SET_FS) on ptraceiso only.
		tlsOK = WantSyscall(proc.ArchX8664, nrArchPrctl, "arch_prctl", 0x1002, TLSAddr)
	}
	overflow := WantSignal(unix.SIGSEGV, func(t *testing.T, e *proc.SignalError) {
		if !strings.Contains(e.Detail, "guard") {
			t.Errorf("want a stack overflow into the guard page, got %v", e)
		}
	})
	return []Case{
		{Name: "noop", Code: Noop(), Check: WantOutputs(nil)},
		{Name: "echo", Code: Echo(0), Inputs: Inputs, Check: WantOutputs(Inputs[0].Items)},
		{Name: "exit_thread", Code: ExitThread(), Check: WantOutputs(nil)},
		{Name: "exit_code", Code: Echo(3), Inputs: Inputs, Check: WantExit(3, Inputs[0].Items)},
		{Name: "no_exit_code", Code: NoExitCode(), Check: WantExit(-1, nil)},
		{Name: "tls", Code: TLS(TLSAddr), Check: tlsOK, Hostile: backend != "ptrace"},
		{Name: "regs", Code: Regs(), Check: WantCleanRegs},
		{Name: "big_context", Code: Noop(), Size: loader.MaxContextSize, Check: WantOutputs(nil)},

		{Name: "write", Hostile: true, Code: Syscall(nrWrite, 1, DataAddr, 5),
			Check: WantSyscall(proc.ArchX8664, nrWrite, "write", 1, DataAddr, 5)},
		{Name: "openat", Hostile: true, Code: Syscall(nrOpenat, ^uint64(99), 0x2000, 0, 0, 0, 7),
			Check: WantSyscall(proc.ArchX8664, nrOpenat, "openat", ^uint64(99), 0x2000, 0, 0, 0, 7)},
		{Name: "x32", Hostile: true, Code: Syscall(0x40000000 | nrGetpid),
			Check: WantSyscall(proc.ArchX32, nrGetpid, "getpid")},
		{Name: "int80", Hostile: true, Code: Int80(20, 1, 2, 3),
			Check: WantSyscall(proc.ArchI386, 20, "getpid", 1, 2, 3)},
		{Name: "sysenter", Hostile: true, Code: Sysenter(20),
			Check: WantSyscall(proc.ArchI386, 20, "getpid")},
		{Name: "arch_prctl_outside", Hostile: true, Code: TLS(ContextSize),
			Check: WantSyscall(proc.ArchX8664, nrArchPrctl, "arch_prctl", 0x1002, ContextSize)},
		{Name: "arch_prctl_get", Hostile: true, Code: Syscall(nrArchPrctl, 0x1003, TLSAddr),
			Check: WantSyscall(proc.ArchX8664, nrArchPrctl, "arch_prctl", 0x1003, TLSAddr)},

		{Name: "null_store", Hostile: true, Code: Code(func(a *Asm) { a.StoreImm(Abs(8), 1) }),
			Check: WantFault(unix.SIGSEGV, 8, "null pointer")},
		{Name: "ud2", Hostile: true, Code: Code(func(a *Asm) { a.Ud2() }),
			Check: WantSignal(unix.SIGILL, wantInst("ud2"))},
		{Name: "hlt", Hostile: true, Code: Code(func(a *Asm) { a.Hlt() }),
			Check: WantSignal(unix.SIGSEGV, wantInst("hlt"))},
		{Name: "int3", Hostile: true, Code: Code(func(a *Asm) { a.Int(3) }),
			Check: WantSignal(unix.SIGTRAP, wantInst("int3"))},
		{Name: "int20", Hostile: true, Code: Code(func(a *Asm) { a.Int(0x20) }),
			Check: WantSignal(unix.SIGSEGV, wantInst("int $0x20"))},
		// The time-stamp counter is a high-resolution clock (side channels)
		// and differs from run to run: the stub makes it unreadable
		// (PR_SET_TSC), and the host names the refused instruction.
		{Name: "rdtsc", Hostile: true, Code: Code(func(a *Asm) { a.Rdtsc() }),
			Check: WantSignal(unix.SIGSEGV, wantRefused("rdtsc"))},
		{Name: "rdtscp", Hostile: true, Code: Code(func(a *Asm) { a.Rdtscp() }),
			Check: WantSignal(unix.SIGSEGV, wantRefused("rdtscp"))},
		{Name: "divide_error", Hostile: true, Code: Code(func(a *Asm) { a.MovImm(RAX, 1).MovImm(RDX, 0).MovImm(RCX, 0).Div(RCX) }),
			Check: WantSignal(unix.SIGFPE, wantInst("div %rcx"))},
		{Name: "write_code", Hostile: true, Code: Code(func(a *Asm) { a.StoreImm(Abs(TextAddr), 0) }),
			Check: WantFault(unix.SIGSEGV, TextAddr, "")},
		{Name: "exec_data", Hostile: true, Code: Code(func(a *Asm) { a.MovImm(RAX, DataAddr+0x1000).JmpReg(RAX) }),
			Check: WantFault(unix.SIGSEGV, DataAddr+0x1000, "not executable")},
		{Name: "exec_stack", Hostile: true, Code: Code(func(a *Asm) { a.Lea(RAX, At(RSP, -64)).JmpReg(RAX) }),
			Check: WantFault(unix.SIGSEGV, ContextSize-32-64, "not executable")},
		{Name: "read_beyond", Hostile: true, Code: Code(func(a *Asm) { a.MovImm(RAX, ContextSize).Load(RCX, At(RAX, 0)) }),
			Check: WantFault(unix.SIGSEGV, ContextSize, "")},
		{Name: "read_low", Hostile: true, Code: Code(func(a *Asm) { a.MovImm(RAX, loader.MinAddr-8).Load(RCX, At(RAX, 0)) }),
			Check: WantFault(unix.SIGSEGV, loader.MinAddr-8, "null pointer")},
		{Name: "stack_overflow", Hostile: true, Code: StackOverflow(), Check: overflow},
		{Name: "forged_outputs", Hostile: true, Code: ForgedOutputs(), Check: WantErr(loader.ErrOutputDescriptor)},
		{Name: "loop", Hostile: true, Code: Loop(), Timeout: 200 * time.Millisecond, Check: WantErr(loader.ErrTimeout)},
	}
}

// WantOutputs expects success with exactly these items in set "out".
func WantOutputs(items []loader.Item) func(*testing.T, *loader.Outputs, error) {
	return func(t *testing.T, outs *loader.Outputs, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		checkItems(t, outs, items)
	}
}

// WantExit expects a *loader.ExitError with status and the outputs.
func WantExit(status int, items []loader.Item) func(*testing.T, *loader.Outputs, error) {
	return func(t *testing.T, outs *loader.Outputs, err error) {
		t.Helper()
		var ee *loader.ExitError
		if !errors.As(err, &ee) || ee.Status != status || !errors.Is(err, loader.ErrExitStatus) {
			t.Fatalf("want exit status %d, got %v", status, err)
		}
		checkItems(t, outs, items)
	}
}

func checkItems(t *testing.T, outs *loader.Outputs, items []loader.Item) {
	t.Helper()
	if outs == nil || len(outs.Sets) != 1 || outs.Sets[0].Ident != "out" {
		t.Fatalf("want one output set \"out\", got %+v", outs)
	}
	got := outs.Sets[0].Items
	if len(got) != len(items) {
		t.Fatalf("want %d items, got %d: %+v", len(items), len(got), got)
	}
	for i := range items {
		if got[i].Ident != items[i].Ident || got[i].Key != items[i].Key || !bytes.Equal(got[i].Data, items[i].Data) {
			t.Errorf("item %d: want %q key %d %d bytes, got %q key %d %d bytes", i, items[i].Ident, items[i].Key, len(items[i].Data), got[i].Ident, got[i].Key, len(got[i].Data))
		}
	}
}

// WantErr expects an error matching target, and no outputs.
func WantErr(target error) func(*testing.T, *loader.Outputs, error) {
	return func(t *testing.T, outs *loader.Outputs, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("want %v, got %v", target, err)
		}
		if outs != nil {
			t.Errorf("want no outputs with %v, got %+v", err, outs)
		}
	}
}

// WantSyscall expects a *proc.SyscallError for nr with the leading args.
func WantSyscall(arch proc.Arch, nr int, name string, args ...uint64) func(*testing.T, *loader.Outputs, error) {
	return func(t *testing.T, outs *loader.Outputs, err error) {
		t.Helper()
		WantErr(loader.ErrSyscall)(t, outs, err)
		var se *proc.SyscallError
		if !errors.As(err, &se) {
			t.Fatalf("want a *SyscallError, got %T %v", err, err)
		}
		if se.Arch != arch || se.Nr != nr || se.Name != name {
			t.Errorf("want %s #%d %s, got %v", arch, nr, name, se)
		}
		for i, a := range args {
			if se.Args[i] != a {
				t.Errorf("argument %d: want %#x, got %#x (%v)", i, a, se.Args[i], se)
			}
		}
		if se.RIP < TextAddr || se.RIP >= TextAddr+0x1000 {
			t.Errorf("rip %#x is not in the guest's code", se.RIP)
		}
		t.Log(err)
	}
}

// WantSignal expects a *proc.SignalError for sig and runs more checks.
func WantSignal(sig syscall.Signal, more func(*testing.T, *proc.SignalError)) func(*testing.T, *loader.Outputs, error) {
	return func(t *testing.T, outs *loader.Outputs, err error) {
		t.Helper()
		WantErr(loader.ErrFault)(t, outs, err)
		var se *proc.SignalError
		if !errors.As(err, &se) {
			t.Fatalf("want a *SignalError, got %T %v", err, err)
		}
		if se.Signal != sig {
			t.Errorf("want %v, got %v", sig, se)
		}
		if more != nil {
			more(t, se)
		}
		t.Log(err)
	}
}

// WantFault expects a SIGSEGV-like fault at addr whose detail mentions
// detail.
func WantFault(sig syscall.Signal, addr uint64, detail string) func(*testing.T, *loader.Outputs, error) {
	return WantSignal(sig, func(t *testing.T, e *proc.SignalError) {
		if e.Addr != addr {
			t.Errorf("want fault address %#x, got %v", addr, e)
		}
		if !strings.Contains(e.Detail, detail) {
			t.Errorf("want detail %q, got %v", detail, e)
		}
		if e.Inst == "" && e.RIP >= TextAddr && e.RIP < TextAddr+0x1000 {
			t.Errorf("no instruction decoded at %#x", e.RIP)
		}
	})
}

func wantInst(inst string) func(*testing.T, *proc.SignalError) {
	return func(t *testing.T, e *proc.SignalError) {
		if e.Inst != inst {
			t.Errorf("want instruction %q, got %v", inst, e)
		}
		if e.RIP < TextAddr || e.RIP >= TextAddr+0x1000 {
			t.Errorf("rip %#x is not in the guest's code", e.RIP)
		}
	}
}

// wantRefused expects a fault at inst reported as a refused instruction.
func wantRefused(inst string) func(*testing.T, *proc.SignalError) {
	return func(t *testing.T, e *proc.SignalError) {
		wantInst(inst)(t, e)
		if !strings.Contains(e.Detail, "refused instruction "+inst) {
			t.Errorf("want a refused %s, got %v", inst, e)
		}
	}
}

// WantCleanRegs checks the Regs guest's report against docs/ABI.md §4.
func WantCleanRegs(t *testing.T, outs *loader.Outputs, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("want success, got %v", err)
	}
	if len(outs.Sets) != 1 || len(outs.Sets[0].Items) != 1 || len(outs.Sets[0].Items[0].Data) != RegsLen {
		t.Fatalf("want one %d-byte item, got %+v", RegsLen, outs.Sets)
	}
	d := outs.Sets[0].Items[0].Data
	slot := func(i int) uint64 { return binary.LittleEndian.Uint64(d[8*i:]) }
	names := []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
	for i, n := range names {
		want := uint64(0)
		if n == "rsp" {
			want = ContextSize - loader.StackTopReserve
		}
		if slot(i) != want {
			t.Errorf("%s = %#x at entry, want %#x", n, slot(i), want)
		}
	}
	// IF is always set in user mode; bit 1 is reserved and reads 1.
	if fl := slot(16); fl != 0x202 {
		t.Errorf("rflags = %#x at entry, want 0x202", fl)
	}
	if slot(17) != 0 || slot(18) != 0 {
		t.Errorf("fs base %#x, gs base %#x at entry, want 0", slot(17), slot(18))
	}
	if m := uint32(slot(19)); m != 0x1f80 {
		t.Errorf("mxcsr = %#x, want 0x1f80", m)
	}
	if cw := uint16(slot(20)); cw != 0x37f {
		t.Errorf("x87 control word = %#x, want 0x37f", cw)
	}
	if x := d[8*22 : 8*22+256]; !bytes.Equal(x, make([]byte, 256)) {
		t.Errorf("xmm registers not zero at entry: %x", x)
	}
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// Children returns the processes whose parent is this process (zombies
// included), read from /proc.
func Children() []int {
	me := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := Stat(pid); ok && ppid == me {
			kids = append(kids, pid)
		}
	}
	return kids
}

// CallChildren is Children without the backends' stub servers, which live
// as long as their backend: the processes of calls, which must never
// outlive them.
func CallChildren() []int {
	var kids []int
	for _, pid := range Children() {
		if comm(pid) != "tessera-serve" {
			kids = append(kids, pid)
		}
	}
	return kids
}

// comm returns a process's name.
func comm(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}

// Stat returns a process's parent and state letter from /proc/pid/stat.
func Stat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may contain anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// FDs counts this process's open file descriptors.
func FDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// RSS returns this process's resident set size in bytes.
func RSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}
