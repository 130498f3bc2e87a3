//go:build linux && amd64

package vmm_test

import (
	"testing"

	"golang.org/x/sys/cpu"

	"tessera/guest"
	"tessera/internal/backends"
	"tessera/internal/conformance"
	"tessera/vmm"
)

// TestConformance runs the cross-backend suite on the KVM backend, for the
// generic build and for each hardware-specialised build this CPU can run.
func TestConformance(t *testing.T) {
	if err := vmm.Available(); err != nil {
		t.Skipf("KVM backend unavailable here, skipping: %v", err)
	}
	b, err := backends.Open("kvm", backends.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	override := map[string]conformance.Override{
		"hostile_int20": {Reason: "int $0x20 is the exit of Dandelion's KVM backend, which tessera's accepts"},
	}
	arches := []string{guest.X86_64}
	if cpu.X86.HasAVX2 && cpu.X86.HasBMI2 && cpu.X86.HasFMA {
		arches = append(arches, guest.X86_64v3)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL {
		arches = append(arches, guest.X86_64v4)
	}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			conformance.Run(t, b, conformance.Target{Arch: arch, Override: override})
		})
	}
}
