//go:build linux && amd64

package seccompiso_test

import (
	"testing"

	"tessera/internal/proc"
	"tessera/internal/proc/proctest"
	"tessera/internal/sandbox"
	"tessera/seccompiso"
)

// TestBackend runs every example and hostile guest and the process
// lifecycle tests, with both ways of making a call's process.
func TestBackend(t *testing.T) {
	proctest.Run(t, func(cfg proc.Config) (sandbox.Backend, error) {
		r, err := seccompiso.New(cfg)
		if err != nil {
			return nil, err
		}
		return r.Backend(), nil
	})
}
