// Package guest holds tessera's example and test compute functions (C
// sources built by `make guests` into build/guests/) and the Go helpers that
// locate the built binaries and compute their expected outputs
// independently, for the backends' conformance tests.
package guest
