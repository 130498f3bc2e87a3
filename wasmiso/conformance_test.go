package wasmiso_test

import (
	"testing"

	"tessera/guest"
	"tessera/internal/backends"
	"tessera/internal/conformance"
)

// TestConformance runs the cross-backend suite on the wasm backend, as the
// registry opens it, with the wasm32 builds of the examples. (Hostile cases
// and the isolation pair are x86-64 binaries and skip for wasm32; the Wasm
// versions of those threats are this package's own tests: TestTraps,
// TestDeadline, TestMemoryLimitTrap, TestFreshInstance.)
func TestConformance(t *testing.T) {
	b, err := backends.Open("wasm", backends.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	conformance.Run(t, b, conformance.Target{Arch: guest.Wasm32})
}
