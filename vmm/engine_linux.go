//go:build linux && amd64

package vmm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"tessera/internal/kvm"
	"tessera/loader"
)

// Memory slots of every VM.
const (
	slotData    = 0
	slotSystem  = 1
	slotScratch = 2
)

// Defaults for Config.
const (
	DefaultMaxContextSize = 256 << 20
	DefaultWarmPages      = 512
)

// Config tunes an Engine. The zero value picks defaults.
type Config struct {
	// MaxContextSize is the largest context (function memory) the engine
	// accepts. Guest memory is reserved, not committed: only pages a call
	// touches cost memory. Default 256 MiB; at most loader.MaxContextSize.
	MaxContextSize uint64
	// WarmPages is how many pages of guest memory an engine keeps
	// resident, zeroed, between calls so that small functions do not
	// fault them in again. Pages beyond it are returned to the OS after
	// every call. Default 512 (2 MiB).
	WarmPages int
}

func (c Config) withDefaults() (Config, error) {
	if c.MaxContextSize == 0 {
		c.MaxContextSize = DefaultMaxContextSize
	}
	if c.MaxContextSize%(2<<20) != 0 || c.MaxContextSize > loader.MaxContextSize {
		return c, fmt.Errorf("vmm: MaxContextSize %#x must be a multiple of 2 MiB up to %#x", c.MaxContextSize, uint64(loader.MaxContextSize))
	}
	if c.WarmPages == 0 {
		c.WarmPages = DefaultWarmPages
	}
	return c, nil
}

var openKVM = sync.OnceValues(kvm.Open)

// Available reports why the KVM backend cannot run here, or nil.
func Available() error {
	sys, err := openKVM()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	for _, c := range []kvm.Cap{kvm.CapSyncRegs, kvm.CapReadonlyMem, kvm.CapImmediateExit, kvm.CapManualDirtyLogProtect2, kvm.CapXCRs} {
		if sys.CheckExtension(c) == 0 {
			return fmt.Errorf("%w: KVM lacks capability %d", ErrUnsupported, c)
		}
	}
	return nil
}

// Engine is one VM with one vCPU, created once and reused for every call:
// a brand-new sandbox per call costs little more than one KVM_RUN round
// trip. An Engine belongs to the OS thread that created it: call NewEngine
// after runtime.LockOSThread and use the engine only from that goroutine.
// Pool does this for you.
type Engine struct {
	cfg     Config
	tid     int
	vm      *kvm.VM
	vcpu    *kvm.VCPU
	sys     []byte // the system region, host view (the guest sees it read-only)
	scratch []byte // the exception stack page
	mem     *guestMemory
	arena   arena
	tables  map[tableKey]uint64 // CR3 for each image and layout
	sregs   kvm.Sregs           // vCPU state every call starts from
	floor   uint64              // CR3 of page tables mapping only the system region
	timer   *deadlineTimer
	kickMu  sync.Mutex // serialises kicks with replacing the VM

	gen    atomic.Uint64 // call generation, for kicks
	kicked atomic.Uint64 // generation that was kicked
	closed bool
}

type tableKey struct {
	digest      [32]byte
	size, stack uint64
}

// NewEngine creates a VM and its vCPU on the calling OS thread.
func NewEngine(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	sys, _ := openKVM()
	e := &Engine{cfg: cfg, tid: unix.Gettid(), tables: map[tableKey]uint64{}}
	if err := e.create(sys); err != nil {
		e.destroy()
		return nil, err
	}
	return e, nil
}

func (e *Engine) create(sys *kvm.System) error {
	var err error
	if e.timer, err = newDeadlineTimer(e.tid); err != nil {
		return fmt.Errorf("vmm: creating the deadline timer: %w", err)
	}
	vm, err := sys.CreateVM()
	if err != nil {
		return err
	}
	e.vm = vm
	// Intel hosts without unrestricted guest support want three pages of
	// guest-physical space for real-mode emulation; give them some above
	// every slot. Elsewhere this is a no-op or unsupported: ignore errors.
	_ = vm.SetTSSAddr(scratchBase + 1<<20)
	// Dirty pages stay writable until we clear them: pages a function
	// writes on every call need not fault on every call (see guestMemory).
	if err := vm.EnableCap(kvm.CapManualDirtyLogProtect2, kvm.DirtyLogManualProtectEnable); err != nil {
		return err
	}
	if e.mem, err = newGuestMemory(vm, e.cfg.MaxContextSize, e.cfg.WarmPages); err != nil {
		return err
	}
	if e.sys, err = anonMap(sysSize); err != nil {
		return err
	}
	buildSystem(e.sys)
	e.arena = arena{mem: e.sys, next: sysArenaStart}
	if e.floor, err = buildSystemTables(&e.arena); err != nil {
		return err
	}
	if err := vm.SetMemoryRegion(slotSystem, kvm.MemReadonly, sysBase, e.sys); err != nil {
		return err
	}
	if e.scratch, err = anonMap(pageSize); err != nil {
		return err
	}
	if err := vm.SetMemoryRegion(slotScratch, 0, scratchBase, e.scratch); err != nil {
		return err
	}
	mmapSize, err := sys.VcpuMmapSize()
	if err != nil {
		return err
	}
	if e.vcpu, err = vm.CreateVCPU(0, mmapSize); err != nil {
		return err
	}
	return e.initVCPU(sys)
}

// initVCPU programs the state that never changes between calls: CPUID,
// the syscall MSRs, XCR0, and the segment/control register template.
func (e *Engine) initVCPU(sys *kvm.System) error {
	cpuid, err := sys.SupportedCPUID()
	if err != nil {
		return err
	}
	fpu := planFPU(cpuid)
	if err := e.vcpu.SetCPUID(fpu.cpuid); err != nil {
		return err
	}
	if err := e.vcpu.SetMSRs([]kvm.MSR{
		// syscall: CS = 0x10, SS = 0x18; sysret (never used) would load
		// CS = 0x30|3, SS = 0x28|3.
		{Index: kvm.MSRStar, Data: uint64(selKernelCode)<<32 | uint64(selUserData&^3-8)<<48},
		// Always set: PVM hosts enter LSTAR whatever EFER.SCE says.
		{Index: kvm.MSRLStar, Data: syscallEntry},
		{Index: kvm.MSRCStar, Data: syscallEntry},
		{Index: kvm.MSRSFMask, Data: 0x47700}, // TF, DF, IF, IOPL, NT, AC
	}); err != nil {
		return err
	}
	if fpu.xcr0 != 0 {
		x := kvm.XCRs{NrXCRs: 1}
		x.XCRs[0].Value = fpu.xcr0
		if err := e.vcpu.SetXCRs(&x); err != nil {
			return err
		}
	}
	e.sregs = initialSregs(fpu)
	if err := e.vcpu.SetSregs(&e.sregs); err != nil {
		return err
	}
	e.vcpu.SetValidRegs(kvm.SyncGPRs | kvm.SyncSregs)
	return nil
}

func initialSregs(f fpuSetup) kvm.Sregs {
	code := kvm.Segment{Limit: 0xffffffff, Selector: selUserCode, Type: 11, Present: 1, DPL: 3, S: 1, L: 1, G: 1}
	data := kvm.Segment{Limit: 0xffffffff, Selector: selUserData, Type: 3, Present: 1, DPL: 3, DB: 1, S: 1, G: 1}
	s := kvm.Sregs{
		CS: code, DS: data, ES: data, FS: data, GS: data, SS: data,
		TR:  kvm.Segment{Base: tssAddr, Limit: tssLimit, Selector: selTSS, Type: 11, Present: 1},
		LDT: kvm.Segment{Type: 2, Present: 1, Unusable: 1},
		GDT: kvm.DTable{Base: gdtAddr, Limit: gdtLimit},
		IDT: kvm.DTable{Base: idtAddr, Limit: idtEntries*16 - 1},
		// PE, MP, ET, NE, WP, AM, PG
		CR0: 0x80050033,
		// PAE, OSFXSR, OSXMMEXCPT, TSD (no rdtsc at CPL3: a timer for side
		// channels and a source of nondeterminism; PVM hosts ignore it),
		// plus OSXSAVE and FSGSBASE where usable.
		CR4:  0x624 | f.cr4,
		EFER: 0x1 | 0x100 | 0x400 | 0x800, // SCE, LME, LMA, NXE
	}
	return s
}

// destroy releases everything create made.
func (e *Engine) destroy() {
	e.kickMu.Lock()
	defer e.kickMu.Unlock()
	if e.timer != nil {
		e.timer.delete()
	}
	if e.vcpu != nil {
		e.vcpu.Close()
	}
	if e.vm != nil {
		e.vm.Close()
	}
	if e.mem != nil {
		e.mem.free()
	}
	if e.sys != nil {
		unix.Munmap(e.sys)
	}
	if e.scratch != nil {
		unix.Munmap(e.scratch)
	}
	e.vm, e.vcpu, e.mem, e.sys, e.scratch, e.timer = nil, nil, nil, nil, nil, nil
	e.closed = true
}

// Close destroys the VM. It issues no vCPU ioctls, so any thread may call
// it while the engine is not running a call.
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.destroy()
	return nil
}

// ResidentBytes is how much guest memory the engine holds between calls.
func (e *Engine) ResidentBytes() uint64 {
	if e.closed {
		return 0
	}
	return uint64(e.mem.residentPages()) * pageSize
}

// Trim returns all guest memory to the OS. Pool calls it on engines that
// sit idle; call it yourself on an Engine you will not use for a while.
func (e *Engine) Trim() error {
	if e.closed {
		return ErrClosed
	}
	return e.mem.trim()
}

// FloorRoundTrip is the floor a call stands on: one KVM_RUN round trip
// with the same register reset a call gets (general registers and segment
// and control registers through sync_regs), into a guest that executes a
// single instruction at CPL3 (the exit stub's out). Nothing else: no
// memory is touched.
func (e *Engine) FloorRoundTrip() error {
	if e.closed {
		return ErrClosed
	}
	s := e.vcpu.Sync()
	s.Regs = kvm.Regs{RIP: floorEntry, RFLAGS: 0x2, RAX: 231}
	s.Sregs = e.sregs
	s.Sregs.CR3 = e.floor
	e.vcpu.MarkDirty(kvm.SyncGPRs | kvm.SyncSregs)
	for {
		err := e.vcpu.Run()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if r := e.vcpu.ExitReason(); r != kvm.ExitIO || e.vcpu.IO().Port != portSyscall {
			return &VMError{Exit: r.String(), RIP: s.Regs.RIP, Detail: "floor round trip"}
		}
		return nil
	}
}

// Trace receives where the time of one call went, in the spirit of
// Dandelion's Table 1.
type Trace struct {
	Load     time.Duration // page tables and the image placed in guest memory
	Transfer time.Duration // inputs and system data written
	Execute  time.Duration // the guest ran (KVM_RUN until its exit)
	Outputs  time.Duration // outputs validated and copied out
	Reset    time.Duration // dirty memory zeroed, state ready for the next call
	Exits    int           // KVM_RUN round trips
}

// Run executes fn once in a fresh sandbox on this engine. The deadline and
// cancellation of ctx bound the run. On a nonzero exit status it returns
// the outputs and a *loader.ExitError.
func (e *Engine) Run(ctx context.Context, fn *loader.Function, inputs []loader.Set) (*loader.Outputs, error) {
	return e.RunTrace(ctx, fn, inputs, nil)
}

// RunTrace is Run, filling tr (if not nil) with the call's breakdown.
func (e *Engine) RunTrace(ctx context.Context, fn *loader.Function, inputs []loader.Set, tr *Trace) (*loader.Outputs, error) {
	if e.closed {
		return nil, ErrClosed
	}
	if unix.Gettid() != e.tid {
		return nil, ErrWrongThread
	}
	if fn.ContextSize > e.cfg.MaxContextSize {
		return nil, fmt.Errorf("%w: %s needs %#x bytes, the engine allows %#x", ErrContextTooLarge, fn.Name, fn.ContextSize, e.cfg.MaxContextSize)
	}
	in, err := fn.MatchInputs(inputs)
	if err != nil {
		return nil, err
	}
	if tr == nil {
		tr = new(Trace) // a handful of clock reads; simpler than branching
	}
	*tr = Trace{}
	t0 := time.Now()
	lap := func(d *time.Duration) {
		now := time.Now()
		*d, t0 = now.Sub(t0), now
	}

	img := fn.Image
	plan, err := loader.PlanLayout(img, fn.ContextSize, loader.SetupOptions{StackSize: fn.StackSize})
	if err != nil {
		return nil, err
	}
	cr3, err := e.pageTables(img, plan)
	if err != nil {
		return nil, err
	}
	e.mem.place(img)
	lap(&tr.Load)

	// The memory is zero except for the resident image, as Setup wants.
	c, err := loader.NewContextOn(e.mem.mem[:fn.ContextSize], -1, nil)
	var l *loader.Layout
	if err == nil {
		l, err = c.Setup(img, in, fn.OutputSets, loader.SetupOptions{StackSize: fn.StackSize, ImageLoaded: true})
	}
	if err != nil {
		// Setup may have written anywhere in the input area before it
		// found the inputs do not fit.
		e.mem.hostWrote(plan.ImageEnd, plan.HeapEnd)
		e.reset(false)
		return nil, err
	}
	e.mem.hostWrote(l.ImageEnd, l.HeapBegin)
	lap(&tr.Transfer)

	res := e.execute(ctx, l, cr3, tr)
	lap(&tr.Execute)

	var outs *loader.Outputs
	if res.err == nil {
		outs, res.err = e.collect(c, res.status)
	}
	lap(&tr.Outputs)
	c.Release()
	e.reset(res.dirtyVCPU)
	lap(&tr.Reset)
	return outs, res.err
}

// pageTables returns the CR3 for img laid out as l, building the tables on
// first use.
func (e *Engine) pageTables(img *loader.Image, l *loader.Layout) (uint64, error) {
	key := tableKey{img.Digest, l.Size, l.Size - l.StackLow}
	if cr3, ok := e.tables[key]; ok {
		return cr3, nil
	}
	cr3, err := buildTables(&e.arena, img, l)
	if errors.Is(err, errArenaFull) {
		if err := e.renewArena(); err != nil {
			return 0, err
		}
		cr3, err = buildTables(&e.arena, img, l)
	}
	if err != nil {
		return 0, err
	}
	e.tables[key] = cr3
	return cr3, nil
}

// renewArena forgets every page table. Deleting and re-adding the system
// slot makes KVM drop its shadow copies, after which the pages may be
// rewritten safely.
func (e *Engine) renewArena() error {
	if err := e.vm.SetMemoryRegion(slotSystem, kvm.MemReadonly, sysBase, nil); err != nil {
		return err
	}
	clear(e.sys[sysArenaStart*pageSize:])
	e.arena.next = sysArenaStart
	clear(e.tables)
	var err error
	if e.floor, err = buildSystemTables(&e.arena); err != nil {
		return err
	}
	return e.vm.SetMemoryRegion(slotSystem, kvm.MemReadonly, sysBase, e.sys)
}

type runResult struct {
	status    int32
	err       error
	dirtyVCPU bool // state beyond GPRs and sregs may be off: reset it fully
}

// execute runs the guest from its entry until it exits, faults, or its
// deadline passes.
func (e *Engine) execute(ctx context.Context, l *loader.Layout, cr3 uint64, tr *Trace) runResult {
	gen := e.gen.Add(1)
	defer e.gen.Add(1)
	e.vcpu.SetImmediateExit(false)
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		d := time.Until(deadline)
		if d <= 0 {
			return e.stopped(ctx, false)
		}
		if err := e.timer.set(d); err != nil {
			return runResult{err: fmt.Errorf("%w: arming the deadline timer: %v", ErrVM, err)}
		}
		defer e.timer.set(0)
	}
	if ctx.Done() != nil {
		// Cancellation before the deadline: a kick from another goroutine.
		stop := context.AfterFunc(ctx, func() { e.kick(gen) })
		defer stop()
	}

	s := e.vcpu.Sync()
	s.Regs = kvm.Regs{
		RIP: trampoline, RSP: l.StackTop, RFLAGS: 0x2,
		// The trampoline restores the initial FPU state with XRSTOR (all
		// components: edx:eax = -1), then jumps to r15 and clears it.
		RAX: 0xffffffff, RDX: 0xffffffff, R15: l.Entry,
	}
	s.Sregs = e.sregs
	s.Sregs.CR3 = cr3
	e.vcpu.MarkDirty(kvm.SyncGPRs | kvm.SyncSregs)

	for {
		err := e.vcpu.Run()
		tr.Exits++
		if err == unix.EINTR || (err == nil && e.vcpu.ExitReason() == kvm.ExitIntr) {
			// Clear immediate_exit before looking at why we stopped: a
			// kick landing between the two would otherwise be lost, and
			// without a deadline nothing would kick again.
			e.vcpu.SetImmediateExit(false)
			if e.kicked.Load() == gen || (hasDeadline && !time.Now().Before(deadline)) {
				return e.stopped(ctx, true)
			}
			continue // a signal for someone else (the Go runtime's, or a stale kick)
		}
		if err != nil {
			return runResult{err: &VMError{Exit: "KVM_RUN error", Detail: err.Error(), RIP: s.Regs.RIP}, dirtyVCPU: true}
		}
		return e.exit(l)
	}
}

// kick stops generation gen if it is still running: immediate_exit makes
// KVM_RUN return at once, the signal interrupts a guest already inside it.
// SIGURG is what the Go runtime itself uses to interrupt threads, so every
// Go program tolerates a spurious one.
func (e *Engine) kick(gen uint64) {
	e.kickMu.Lock()
	defer e.kickMu.Unlock()
	if e.gen.Load() != gen || e.vcpu == nil {
		return
	}
	e.kicked.Store(gen)
	e.vcpu.SetImmediateExit(true)
	unix.Tgkill(unix.Getpid(), e.tid, unix.SIGURG)
}

// stopped reports a call stopped by its deadline or cancellation. started
// says whether the guest was entered: the registers then show where it
// was; otherwise they still hold the previous call's and say nothing.
func (e *Engine) stopped(ctx context.Context, started bool) runResult {
	where := "before it started"
	if started {
		where = fmt.Sprintf("at rip %#x", e.vcpu.Sync().Regs.RIP)
	}
	err := loader.ErrCanceled
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = loader.ErrTimeout
	}
	return runResult{err: fmt.Errorf("vmm: %w (stopped %s)", err, where), dirtyVCPU: started}
}

// exit interprets a KVM exit.
func (e *Engine) exit(l *loader.Layout) runResult {
	s := e.vcpu.Sync()
	r := &s.Regs
	switch reason := e.vcpu.ExitReason(); reason {
	case kvm.ExitIO:
		io := e.vcpu.IO()
		switch port := io.Port; {
		case port == portSyscall:
			// RIP is at the stub's out (VMX and SVM hosts step past it only
			// when the vCPU is run again) or past it (PVM hosts emulate it).
			// Anything else is the guest doing port I/O itself.
			if r.RIP != syscallEntry && r.RIP != syscallEntry+2 {
				return runResult{err: e.guestIO(port, r.RIP), dirtyVCPU: true}
			}
			switch r.RAX {
			case 60, 231: // exit, exit_group
				return e.exited(l)
			}
			return runResult{err: &SyscallError{
				Nr: r.RAX, Args: [6]uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9},
				RIP: r.RCX - 2, Via: "syscall",
			}}
		case port >= portException && port < portException+numVectors:
			return e.exception(uint8(port-portException), l)
		case port == portInt20:
			return e.exited(l)
		default:
			return runResult{err: e.guestIO(port, r.RIP), dirtyVCPU: true}
		}
	case kvm.ExitMMIO:
		m := e.vcpu.MMIO()
		what := "read"
		if m.IsWrite != 0 {
			what = "write"
		}
		return runResult{err: &VMError{Exit: reason.String(), RIP: r.RIP, guest: true,
			Detail: fmt.Sprintf("guest %s of %d bytes at physical address %#x", what, m.Len, m.PhysAddr)}, dirtyVCPU: true}
	case kvm.ExitShutdown:
		return runResult{err: &ShutdownError{RIP: r.RIP, RSP: r.RSP, CR2: s.Sregs.CR2, Inst: e.instAt(r.RIP)}, dirtyVCPU: true}
	case kvm.ExitFailEntry:
		return runResult{err: &VMError{Exit: reason.String(), RIP: r.RIP,
			Detail: fmt.Sprintf("hardware entry failure reason %#x", e.vcpu.FailEntry().HardwareEntryFailureReason)}, dirtyVCPU: true}
	case kvm.ExitInternalError:
		in := e.vcpu.Internal()
		return runResult{err: &VMError{Exit: reason.String(), RIP: r.RIP,
			Detail: fmt.Sprintf("suberror %d, data %#x", in.Suberror, in.Data[:min(in.NData, 16)])}, dirtyVCPU: true}
	default:
		return runResult{err: &VMError{Exit: reason.String(), RIP: r.RIP, Detail: "no handler"}, dirtyVCPU: true}
	}
}

func (e *Engine) guestIO(port uint16, rip uint64) error {
	return &VMError{Exit: kvm.ExitIO.String(), RIP: rip, guest: true, Detail: fmt.Sprintf("port I/O to %#x outside the exit path", port)}
}

// exited handles a normal exit: the status is the exit_code field of the
// system data (docs/ABI.md §5).
func (e *Engine) exited(l *loader.Layout) runResult {
	var b [4]byte
	copy(b[:], e.mem.mem[l.SystemData:])
	return runResult{status: int32(binary.LittleEndian.Uint32(b[:]))}
}

// exception reports a CPU exception from the frame the CPU pushed on the
// scratch stack. Dandelion's int $0x20 exit and system-call instructions
// that fault (int 0x80, sysenter) are recognised by the bytes at RIP.
func (e *Engine) exception(v uint8, l *loader.Layout) runResult {
	le := binary.LittleEndian
	frame := e.scratch[pageSize-40:]
	var code uint64
	if hasErrorCode(v) {
		frame = e.scratch[pageSize-48:]
		code = le.Uint64(frame)
		frame = frame[8:]
	}
	rip, rsp := le.Uint64(frame[0:]), le.Uint64(frame[24:])
	clear(e.scratch) // the frame is the last thing this call leaves there
	s := e.vcpu.Sync()
	r := &s.Regs
	at := e.codeAt(rip)
	switch {
	case v == 6 && len(at) >= 2 && at[0] == 0xcd && at[1] == 0x20:
		return e.exited(l)
	case (v == 6 || v == 13) && len(at) >= 2 && at[0] == 0xcd && at[1] == 0x80:
		return runResult{err: &SyscallError{Nr: r.RAX, Args: [6]uint64{r.RBX, r.RCX, r.RDX, r.RSI, r.RDI, r.RBP}, RIP: rip, Via: "int 0x80"}}
	case (v == 6 || v == 13) && len(at) >= 2 && at[0] == 0x0f && at[1] == 0x34:
		// #UD on AMD in long mode; #GP on Intel with IA32_SYSENTER_CS 0.
		return runResult{err: &SyscallError{Nr: r.RAX, Args: [6]uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9}, RIP: rip, Via: "sysenter"}}
	}
	ex := &ExceptionError{Vector: v, ErrorCode: code, RIP: rip, RSP: rsp, Inst: decode(at, rip)}
	if v == 14 {
		ex.Addr = s.Sregs.CR2
		switch {
		case ex.Addr >= l.Guard && ex.Addr < l.StackLow:
			ex.Detail = "stack overflow into the guard page"
		case ex.Addr < loader.MinAddr:
			ex.Detail = "null pointer"
		case ex.Addr >= sysBase && ex.Addr < scratchBase+pageSize:
			ex.Detail = "VMM memory"
		case ex.Addr >= l.Size:
			ex.Detail = fmt.Sprintf("outside the %#x-byte context", l.Size)
		}
	}
	// The stub left the vCPU at CPL0 with nothing pending; the next call's
	// sync_regs reset covers that.
	return runResult{err: ex}
}

// codeAt returns up to 15 bytes of guest memory at rip, or nil when rip is
// outside the context.
func (e *Engine) codeAt(rip uint64) []byte {
	m := e.mem.mem
	if rip >= uint64(len(m)) {
		return nil
	}
	return m[rip:min(rip+15, uint64(len(m)))]
}

func (e *Engine) instAt(rip uint64) string { return decode(e.codeAt(rip), rip) }

// collect reads the outputs and copies them out of guest memory, which the
// next call reuses.
func (e *Engine) collect(c *loader.Context, status int32) (*loader.Outputs, error) {
	outs, err := c.ReadOutputs()
	if err != nil {
		return nil, err
	}
	defer outs.Release()
	n := 0
	for _, s := range outs.Sets {
		for _, it := range s.Items {
			n += len(it.Data)
		}
	}
	buf := make([]byte, 0, n)
	sets := make([]loader.Set, len(outs.Sets))
	for i, s := range outs.Sets {
		sets[i] = loader.Set{Ident: s.Ident, Items: make([]loader.Item, len(s.Items))}
		for j, it := range s.Items {
			start := len(buf)
			buf = append(buf, it.Data...)
			sets[i].Items[j] = loader.Item{Ident: it.Ident, Key: it.Key, Data: buf[start:len(buf):len(buf)]}
		}
	}
	res := loader.NewOutputs(sets)
	if status != 0 {
		return res, &loader.ExitError{Status: int(status)}
	}
	return res, nil
}

// reset returns guest memory to zero and, after anything but a clean exit,
// the vCPU to a known state through the ioctls.
func (e *Engine) reset(fullVCPU bool) {
	if err := e.mem.reset(); err != nil {
		// The memory is clean (reset dropped all of it), but a VM whose
		// dirty log fails cannot be trusted with the next call.
		e.replace()
		return
	}
	if fullVCPU {
		clear(e.scratch)
		if err := e.resetVCPU(); err != nil {
			// Keep the engine honest: a vCPU we cannot reset is replaced.
			e.replace()
		}
	}
}

func (e *Engine) resetVCPU() error {
	var ev kvm.VcpuEvents
	if err := e.vcpu.SetEvents(&ev); err != nil {
		return err
	}
	regs := kvm.Regs{RFLAGS: 2}
	if err := e.vcpu.SetRegs(&regs); err != nil {
		return err
	}
	return e.vcpu.SetSregs(&e.sregs)
}

// replace throws the VM away and builds a new one.
func (e *Engine) replace() {
	sys, _ := openKVM()
	e.destroy()
	e.closed = false
	e.tables = map[tableKey]uint64{}
	if err := e.create(sys); err != nil {
		e.destroy()
	}
}

func anonMap(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}
