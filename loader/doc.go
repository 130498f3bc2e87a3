// Package loader is the host side of tessera's guest ABI: it turns a static
// ELF64 x86-64 binary into an immutable Image, lays an Image and a call's
// input sets out in a Context (one bounded, memfd-backed guest address space
// per call), and reads the output sets a guest describes at exit back with
// every pointer, length and count checked.
//
// The ABI itself (Dandelion's system interface) is specified in docs/ABI.md.
// In short: a context offset is the guest virtual address; the image sits at
// its link address (>= 0x10000); inputs, descriptors and the heap follow it;
// the stack is at the top of the context with a guard page below it; host
// and guest exchange everything through the symbol __dandelion_system_data.
//
// Everything a guest can write is hostile to the host. Parse rejects
// malformed binaries with a *FormatError, ReadOutputs rejects inconsistent
// descriptors with an *OutputError; both wrap sentinel errors for errors.Is.
// The errors for how a call ended (ErrExitStatus, ErrTimeout, ErrSyscall,
// ErrFault, ...) are defined here too, so callers handle every backend's
// failures alike.
//
// A Context is reference counted: the sandbox that runs in it holds one
// reference and the Outputs read from it another, so outputs can be consumed
// zero-copy and the memory goes back to the OS when the last is released.
package loader
