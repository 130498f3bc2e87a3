package ptraceiso_test

import (
	"testing"

	"tessera/internal/proc"
	"tessera/internal/proc/proctest"
	"tessera/internal/sandbox"
	"tessera/ptraceiso"
)

func TestSuite(t *testing.T) {
	r, err := ptraceiso.New(ptraceiso.Config{})
	if err != nil {
		t.Skip(err)
	}
	defer r.Close()
	proctest.Suite(t, r.Backend())
}

func TestLifecycle(t *testing.T) {
	proctest.Lifecycle(t, func(cfg proc.Config) (sandbox.Backend, error) {
		r, err := ptraceiso.New(cfg)
		if err != nil {
			return nil, err
		}
		return r.Backend(), nil
	})
}
