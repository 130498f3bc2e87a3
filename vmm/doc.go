// Package vmm is a small KVM virtual machine monitor built for one job:
// running a tessera compute function in a brand-new, isolated micro-VM per
// call, with no guest operating system, in tens of microseconds.
//
// Nothing that can be done once is done per call: each engine thread
// creates its VM and vCPU once and keeps them; the system structures (GDT,
// IDT, TSS, exit stubs, page tables) live in one sealed, read-only memory
// slot shared by every VM. Per call the engine writes the image and inputs
// into guest memory, resets the vCPU's registers through sync_regs, runs,
// reads the outputs with every guest pointer checked, and zeroes exactly the
// pages that were written, so no call can observe another.
//
// Guest code runs at CPL3 in 64-bit mode with an identity map (guest
// virtual address = context offset). It finishes with exit_group through
// the syscall instruction (caught through LSTAR) or, for Dandelion SDK
// binaries, with int $0x20. Every exception is reported as a typed error
// with the vector, error code, faulting address, RIP and the faulting
// instruction decoded.
package vmm
