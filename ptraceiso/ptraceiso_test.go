package ptraceiso_test

import (
	"testing"

	"tessera/internal/proc/proctest"
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
