package vmm

import (
	"tessera/internal/kvm"
)

// fpuSetup is how the vCPU's extended state is configured: the CPUID the
// guest sees, XCR0, and the CR4 bits that go with them.
type fpuSetup struct {
	cpuid []kvm.CPUIDEntry
	xcr0  uint64
	cr4   uint64
}

const (
	cr4FSGSBASE = 1 << 16
	cr4OSXSAVE  = 1 << 18

	// User-visible XSAVE components: x87, SSE, AVX, and AVX-512's opmask,
	// ZMM_Hi256 and Hi16_ZMM.
	xcr0User = 0xe7
)

func findLeaf(e []kvm.CPUIDEntry, fn, idx uint32) *kvm.CPUIDEntry {
	for i := range e {
		if e[i].Function == fn && (e[i].Index == idx || e[i].Flags&1 == 0) {
			return &e[i]
		}
	}
	return nil
}

// planFPU decides the guest's CPUID, XCR0 and CR4 from what KVM supports.
func planFPU(supported []kvm.CPUIDEntry) fpuSetup {
	f := fpuSetup{cpuid: append([]kvm.CPUIDEntry(nil), supported...)}
	leaf1, leaf7, leafD := findLeaf(f.cpuid, 1, 0), findLeaf(f.cpuid, 7, 0), findLeaf(f.cpuid, 0xd, 0)
	if leaf1 != nil && leaf1.ECX&(1<<26) != 0 && leafD != nil {
		f.xcr0 = (uint64(leafD.EAX) | uint64(leafD.EDX)<<32) & xcr0User
		f.cr4 |= cr4OSXSAVE
	}
	if leaf7 != nil && leaf7.EBX&1 != 0 {
		f.cr4 |= cr4FSGSBASE
	}
	return f
}
