//go:build linux && amd64

package seccompiso_test

import (
	"testing"

	"tessera/internal/conformance"
	"tessera/seccompiso"
)

// TestConformance runs the cross-backend suite on seccompiso.
func TestConformance(t *testing.T) {
	r, err := seccompiso.New(seccompiso.Config{})
	if err != nil {
		t.Skipf("seccompiso unavailable here: %v", err)
	}
	defer r.Close()
	for _, arch := range conformance.NativeArches() {
		t.Run(arch, func(t *testing.T) {
			conformance.Run(t, r.Backend(), conformance.Target{Arch: arch})
		})
	}
}
