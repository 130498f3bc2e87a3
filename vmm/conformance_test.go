//go:build linux && amd64

package vmm_test

import (
	"testing"

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
	for _, arch := range conformance.NativeArches() {
		t.Run(arch, func(t *testing.T) {
			conformance.Run(t, b, conformance.Target{Arch: arch, Override: override})
		})
	}
}
