package kvm

// Structures mirroring <linux/kvm.h> for x86-64, byte for byte. Sizes are
// checked by tests against the kernel's.

// Regs is struct kvm_regs.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// Segment is struct kvm_segment.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is struct kvm_dtable (GDT/IDT register).
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs is struct kvm_sregs.
type Sregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT Segment
	GDT, IDT                        DTable
	CR0, CR2, CR3, CR4, CR8         uint64
	EFER, APICBase                  uint64
	InterruptBitmap                 [4]uint64
}

// VcpuEvents is struct kvm_vcpu_events.
type VcpuEvents struct {
	Exception struct {
		Injected, Nr, HasErrorCode, Pending uint8
		ErrorCode                           uint32
	}
	Interrupt struct {
		Injected, Nr, Soft, Shadow uint8
	}
	NMI struct {
		Injected, Pending, Masked, _ uint8
	}
	SIPIVector  uint32
	Flags       uint32
	SMI         struct{ SMM, Pending, SMMInsideNMI, LatchedInit uint8 }
	TripleFault struct {
		Pending uint8
	}
	_                   [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}

// SyncRegs is struct kvm_sync_regs: the registers KVM copies into and out
// of the shared run area on every KVM_RUN, saving the register ioctls.
type SyncRegs struct {
	Regs   Regs
	Sregs  Sregs
	Events VcpuEvents
}

// CPUIDEntry is struct kvm_cpuid_entry2.
type CPUIDEntry struct {
	Function, Index, Flags uint32
	EAX, EBX, ECX, EDX     uint32
	_                      [3]uint32
}

// MSR is struct kvm_msr_entry.
type MSR struct {
	Index uint32
	_     uint32
	Data  uint64
}

// XCR is one entry of struct kvm_xcrs.
type XCR struct {
	XCR   uint32
	_     uint32
	Value uint64
}

// XCRs is struct kvm_xcrs.
type XCRs struct {
	NrXCRs uint32
	Flags  uint32
	XCRs   [16]XCR
	_      [16]uint64
}

// MemoryRegion is struct kvm_userspace_memory_region.
type MemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// Memory region flags.
const (
	MemLogDirtyPages = 1 << 0
	MemReadonly      = 1 << 1
)

// Capabilities probed with CheckExtension.
type Cap uint32

const (
	CapNrMemslots               Cap = 10
	CapXSave                    Cap = 55
	CapXCRs                     Cap = 56
	CapSyncRegs                 Cap = 74
	CapReadonlyMem              Cap = 81
	CapImmediateExit            Cap = 136
	CapManualDirtyLogProtect2   Cap = 168
	DirtyLogManualProtectEnable     = 1 << 0
	DirtyLogInitiallySet            = 1 << 1
)

// Register sets for kvm_run's kvm_valid_regs and kvm_dirty_regs.
const (
	SyncGPRs  = 1 << 0
	SyncSregs = 1 << 1
)

// Exit reasons (kvm_run.exit_reason).
type ExitReason uint32

const (
	ExitUnknown       ExitReason = 0
	ExitException     ExitReason = 1
	ExitIO            ExitReason = 2
	ExitHypercall     ExitReason = 3
	ExitDebug         ExitReason = 4
	ExitHLT           ExitReason = 5
	ExitMMIO          ExitReason = 6
	ExitIRQWindowOpen ExitReason = 7
	ExitShutdown      ExitReason = 8
	ExitFailEntry     ExitReason = 9
	ExitIntr          ExitReason = 10
	ExitInternalError ExitReason = 17
	ExitSystemEvent   ExitReason = 24
)

var exitNames = map[ExitReason]string{
	ExitUnknown: "UNKNOWN", ExitException: "EXCEPTION", ExitIO: "IO", ExitHypercall: "HYPERCALL",
	ExitDebug: "DEBUG", ExitHLT: "HLT", ExitMMIO: "MMIO", ExitIRQWindowOpen: "IRQ_WINDOW_OPEN",
	ExitShutdown: "SHUTDOWN", ExitFailEntry: "FAIL_ENTRY", ExitIntr: "INTR",
	ExitInternalError: "INTERNAL_ERROR", ExitSystemEvent: "SYSTEM_EVENT",
}

func (r ExitReason) String() string {
	if n, ok := exitNames[r]; ok {
		return "KVM_EXIT_" + n
	}
	return "KVM_EXIT_" + itoa(uint64(r))
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

// IOExit is the io member of kvm_run's exit union.
type IOExit struct {
	Direction  uint8 // 0 in, 1 out
	Size       uint8
	Port       uint16
	Count      uint32
	DataOffset uint64
}

// MMIOExit is the mmio member of kvm_run's exit union.
type MMIOExit struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
}

// FailEntryExit is the fail_entry member of kvm_run's exit union.
type FailEntryExit struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
}

// InternalExit is the internal member of kvm_run's exit union.
type InternalExit struct {
	Suberror uint32
	NData    uint32
	Data     [16]uint64
}

// Model-specific registers the VMM programs.
const (
	MSRStar   = 0xc0000081
	MSRLStar  = 0xc0000082
	MSRCStar  = 0xc0000083
	MSRSFMask = 0xc0000084
)
