//go:build linux && amd64

package ptraceiso_test

import (
	"testing"

	"tessera/internal/conformance"
	"tessera/ptraceiso"
)

// TestConformance runs the cross-backend suite on ptraceiso.
func TestConformance(t *testing.T) {
	r, err := ptraceiso.New(ptraceiso.Config{})
	if err != nil {
		t.Skipf("ptraceiso unavailable here: %v", err)
	}
	defer r.Close()
	for _, arch := range conformance.NativeArches() {
		t.Run(arch, func(t *testing.T) {
			conformance.Run(t, r.Backend(), conformance.Target{Arch: arch, Override: map[string]conformance.Override{
				"hostile_archprctl": {Reason: "ptraceiso lets arch_prctl(ARCH_SET_FS) with an address inside the context through, for Dandelion SDK binaries"},
			}})
		})
	}
}
