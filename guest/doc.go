// Package guest holds tessera's example and test compute functions (C
// sources in guest/src, built by `make guests` into build/guests/<arch>/)
// and the Go helpers that locate the built binaries and compute their
// expected outputs independently (Examples), for the backends'
// conformance suite (internal/conformance).
//
// Examples run on every arch (x86-64, x86-64-v3, x86-64-v4, wasm32,
// debug); hostile functions (hostile_*) are x86-64 only. The tests here
// check every sandbox build for system-call instructions outside hlibc's
// exit path, the start-up cost of a no-op function, and the imports of
// the wasm32 builds.
package guest
