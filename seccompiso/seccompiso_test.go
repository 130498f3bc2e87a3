package seccompiso_test

import (
	"testing"

	"tessera/internal/proc/proctest"
	"tessera/seccompiso"
)

func TestSuite(t *testing.T) {
	r, err := seccompiso.New(seccompiso.Config{})
	if err != nil {
		t.Skip(err)
	}
	defer r.Close()
	proctest.Suite(t, r.Backend())
}
