package vmm

import (
	"encoding/binary"

	"tessera/loader"
)

// Guest physical (= virtual) memory map of every VM.
//
//	[0, maxContext)               slot 0: the call's context, identity mapped
//	[sysBase, sysBase+sysSize)    slot 1: read-only system memory: GDT, TSS,
//	                              IDT, stubs, page tables (never written by
//	                              the guest: a write is an MMIO exit)
//	[scratchBase, +PageSize)      slot 2: the exception stack (supervisor only)
//
// sysBase sits at 64 GiB, above the largest context (loader.MaxContextSize).
const (
	sysBase     = loader.MaxContextSize
	sysSize     = 64 << 20
	scratchBase = sysBase + sysSize
	pageSize    = loader.PageSize

	// Pages of the system region.
	sysGDTPage    = 0 // GDT at +0, TSS at +tssOffset
	sysIDTPage    = 1
	sysKStubPage  = 2 // exception stubs, run at CPL0 (supervisor page)
	sysUStubPage  = 3 // syscall entry, entry trampoline, XSAVE init image (user page)
	sysPDPage     = 4 // page directory for the system region, shared by all page tables
	sysPT0Page    = 5 // 4 KiB mappings of the pages above
	sysPT1Page    = 6 // 4 KiB mapping of the scratch page
	sysArenaStart = 8 // first page of the page-table arena
	sysArenaPages = sysSize/pageSize - sysArenaStart

	tssOffset = 0x100
)

// Segment selectors. 0x20 (a 32-bit user code segment) is deliberately
// absent: a far jump into compatibility mode faults.
const (
	selKernelCode = 0x10
	selKernelData = 0x18
	selUserData   = 0x28 | 3
	selUserCode   = 0x30 | 3
	selTSS        = 0x40
	gdtLimit      = 0x4f
)

// I/O ports through which the guest leaves. Only portSyscall is open to
// CPL3 in the TSS I/O bitmap (on PVM hosts the syscall entry runs at CPL3);
// exception stubs run at CPL0, where every port is allowed.
const (
	portException = 0x80 // + vector, 0..31
	portInt20     = 0xa0 // Dandelion's int $0x20 on hosts that deliver it through the IDT
	portSyscall   = 0xa1 // the syscall entry
	numVectors    = 32
	idtEntries    = 0x21 // vectors 0..0x20
)

// Offsets inside the user stub page.
const (
	uSyscallEntry = 0x000
	uFloorEntry   = 0x020
	uTrampoline   = 0x040
	uXSaveInit    = 0x200 // 64-byte aligned, 576 bytes: legacy area + header
)

// Page-table entry bits.
const (
	ptePresent  = 1 << 0
	pteWrite    = 1 << 1
	pteUser     = 1 << 2
	pteAccessed = 1 << 5
	pteDirty    = 1 << 6
	pteLarge    = 1 << 7
	pteNX       = 1 << 63

	// Accessed and dirty are preset: page tables live in read-only memory
	// and the CPU must never need to write them.
	pteTable = ptePresent | pteWrite | pteUser | pteAccessed
)

func sysAddr(page int) uint64 { return sysBase + uint64(page)*pageSize }

// Addresses the vCPU is programmed with.
var (
	gdtAddr      = sysAddr(sysGDTPage)
	tssAddr      = gdtAddr + tssOffset
	idtAddr      = sysAddr(sysIDTPage)
	syscallEntry = sysAddr(sysUStubPage) + uSyscallEntry
	floorEntry   = sysAddr(sysUStubPage) + uFloorEntry
	trampoline   = sysAddr(sysUStubPage) + uTrampoline
	istTop       = uint64(scratchBase + pageSize)
	tssLimit     = uint32(0x68 + ioBitmapBytes) // includes the terminating 0xff byte
)

const ioBitmapBytes = 0x100/8 + 1 // ports 0..255, then the 0xff terminator

// buildSystem writes the fixed part of the system region (pages 0..6) into
// mem, which is the region's first sysArenaStart pages.
func buildSystem(mem []byte) {
	le := binary.LittleEndian
	page := func(p int) []byte { return mem[p*pageSize : (p+1)*pageSize] }

	// GDT. Access bytes have the accessed bit preset: the CPU would set it
	// on the first segment load, and this memory is read-only to the guest.
	gdt := page(sysGDTPage)
	le.PutUint64(gdt[selKernelCode:], 0x00af9b000000ffff)  // code64, DPL0
	le.PutUint64(gdt[selKernelData:], 0x00cf93000000ffff)  // data, DPL0
	le.PutUint64(gdt[selUserData&^3:], 0x00cff3000000ffff) // data, DPL3
	le.PutUint64(gdt[selUserCode&^3:], 0x00affb000000ffff) // code64, DPL3
	putTSSDescriptor(gdt[selTSS:], tssAddr, tssLimit)

	// TSS: RSP0 and IST1 both point at the top of the scratch page, so an
	// exception never depends on the guest's stack pointer.
	tss := gdt[tssOffset:]
	le.PutUint64(tss[4:], istTop)  // RSP0
	le.PutUint64(tss[36:], istTop) // IST1
	le.PutUint16(tss[102:], 0x68)  // I/O bitmap base
	bm := tss[0x68 : 0x68+ioBitmapBytes]
	for i := range bm {
		bm[i] = 0xff
	}
	bm[portSyscall/8] &^= 1 << (portSyscall % 8)

	// IDT: vectors 0..31 and 0x20 go to one-instruction stubs at CPL0 on
	// IST1. Gates are DPL0 so software `int n` cannot reach them, except
	// 0x20, which Dandelion's SDK uses to exit.
	idt := page(sysIDTPage)
	kstub := sysAddr(sysKStubPage)
	for v := 0; v < idtEntries; v++ {
		dpl := 0
		if v == 0x20 {
			dpl = 3
		}
		putGate(idt[v*16:], kstub+uint64(v)*8, dpl)
	}

	// Exception stubs: out %al, $port; ud2. The exit never returns to them.
	ks := page(sysKStubPage)
	for v := 0; v < idtEntries; v++ {
		port := byte(portException + v)
		if v == 0x20 {
			port = portInt20
		}
		copy(ks[v*8:], []byte{0xe6, port, 0x0f, 0x0b})
	}

	us := page(sysUStubPage)
	// syscall entry (LSTAR): out %al, $portSyscall; ud2. The host reads
	// rax (the call number) and the arguments from the registers. A
	// one-byte out: a wider one would need more ports open to CPL3.
	copy(us[uSyscallEntry:], []byte{0xe6, portSyscall, 0x0f, 0x0b})
	// The floor's entry: nop; out %al, $portSyscall; ud2. It starts one
	// byte before its out so that the RIP it starts at never equals the
	// RIP of the previous exit: VMX and SVM hosts complete a port-I/O exit
	// (step past the out) on the next KVM_RUN only if RIP is unchanged.
	copy(us[uFloorEntry:], []byte{0x90, 0xe6, portSyscall, 0x0f, 0x0b})
	// Entry trampoline, run at CPL3 with rax = rdx = -1 and r15 = entry:
	//   xrstor64 xsave_init(%rip)  ; x87/SSE/AVX/AVX-512 to their initial state
	//   xor %eax,%eax ; xor %edx,%edx
	//   push %r15 ; xor %r15d,%r15d ; ret
	tr := []byte{0x48, 0x0f, 0xae, 0x2d, 0, 0, 0, 0, 0x31, 0xc0, 0x31, 0xd2, 0x41, 0x57, 0x45, 0x31, 0xff, 0xc3}
	le.PutUint32(tr[4:], uint32(uXSaveInit-(uTrampoline+8)))
	copy(us[uTrampoline:], tr)
	// XSAVE image with every component in its initial state (XSTATE_BV = 0)
	// except MXCSR, which XRSTOR always loads from the legacy area.
	le.PutUint16(us[uXSaveInit:], 0x37f)         // FCW (ignored: x87 is in init state)
	le.PutUint32(us[uXSaveInit+24:], 0x1f80)     // MXCSR
	le.PutUint32(us[uXSaveInit+28:], 0x0000ffff) // MXCSR_MASK (ignored by XRSTOR)

	// System page tables: the region's first 2 MiB in 4 KiB pages, and
	// the scratch page. Page-table pages themselves need no mapping.
	pd := page(sysPDPage)
	le.PutUint64(pd[0:], sysAddr(sysPT0Page)|pteTable)
	le.PutUint64(pd[(sysSize>>21)*8:], sysAddr(sysPT1Page)|pteTable)
	pt0 := page(sysPT0Page)
	ro := uint64(ptePresent | pteAccessed | pteDirty | pteNX) // supervisor, read-only, no execute
	le.PutUint64(pt0[sysGDTPage*8:], sysAddr(sysGDTPage)|ro)
	le.PutUint64(pt0[sysIDTPage*8:], sysAddr(sysIDTPage)|ro)
	le.PutUint64(pt0[sysKStubPage*8:], sysAddr(sysKStubPage)|ptePresent|pteAccessed|pteDirty)
	le.PutUint64(pt0[sysUStubPage*8:], sysAddr(sysUStubPage)|ptePresent|pteUser|pteAccessed|pteDirty)
	pt1 := page(sysPT1Page)
	le.PutUint64(pt1[0:], scratchBase|ptePresent|pteWrite|pteAccessed|pteDirty|pteNX)
}

// putGate writes a 64-bit interrupt gate to the kernel code segment on IST1.
func putGate(b []byte, target uint64, dpl int) {
	le := binary.LittleEndian
	le.PutUint16(b[0:], uint16(target))
	le.PutUint16(b[2:], selKernelCode)
	b[4] = 1                   // IST1
	b[5] = 0x8e | byte(dpl)<<5 // present, interrupt gate
	le.PutUint16(b[6:], uint16(target>>16))
	le.PutUint32(b[8:], uint32(target>>32))
}

// putTSSDescriptor writes a 16-byte busy 64-bit TSS descriptor.
func putTSSDescriptor(b []byte, base uint64, limit uint32) {
	le := binary.LittleEndian
	le.PutUint16(b[0:], uint16(limit))
	le.PutUint16(b[2:], uint16(base))
	b[4] = byte(base >> 16)
	b[5] = 0x8b // present, busy 64-bit TSS
	b[6] = byte(limit>>16) & 0xf
	b[7] = byte(base >> 24)
	le.PutUint32(b[8:], uint32(base>>32))
}
