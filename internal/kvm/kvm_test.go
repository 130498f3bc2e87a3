//go:build linux && amd64

package kvm

import (
	"testing"
	"unsafe"
)

// Sizes and offsets from <linux/kvm.h> on x86-64.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"kvm_regs", unsafe.Sizeof(Regs{}), 144},
		{"kvm_segment", unsafe.Sizeof(Segment{}), 24},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), 312},
		{"kvm_vcpu_events", unsafe.Sizeof(VcpuEvents{}), 64},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry{}), 40},
		{"kvm_msr_entry", unsafe.Sizeof(MSR{}), 16},
		{"kvm_xcrs", unsafe.Sizeof(XCRs{}), 392},
		{"kvm_userspace_memory_region", unsafe.Sizeof(MemoryRegion{}), 32},
		{"kvm_run.exit_reason", unsafe.Offsetof(runArea{}.ExitReason), 8},
		{"kvm_run exit union", unsafe.Offsetof(runArea{}.Exit), 32},
		{"kvm_run.kvm_valid_regs", unsafe.Offsetof(runArea{}.ValidRegs), 288},
		{"kvm_run.s", unsafe.Offsetof(runArea{}.Sync), 304},
		{"kvm_sync_regs.sregs", unsafe.Offsetof(SyncRegs{}.Sregs), 144},
		{"kvm_sync_regs.events", unsafe.Offsetof(SyncRegs{}.Events), 456},
		{"kvm_sregs.gdt", unsafe.Offsetof(Sregs{}.GDT), 192},
		{"kvm_sregs.cr0", unsafe.Offsetof(Sregs{}.CR0), 224},
		{"kvm_vcpu_events.exception_payload", unsafe.Offsetof(VcpuEvents{}.ExceptionPayload), 56},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if ioRun != 0xae80 || ioSetUserMemRegion != 0x4020ae46 || ioSetSregs != 0x4138ae84 || ioClearDirtyLog != 0xc018aec0 || ioGetSupportedCPUID != 0xc008ae05 {
		t.Errorf("ioctl numbers: run %#x memregion %#x setsregs %#x clear %#x cpuid %#x", ioRun, ioSetUserMemRegion, ioSetSregs, ioClearDirtyLog, ioGetSupportedCPUID)
	}
}
