// Package kvm is a minimal binding to the Linux KVM API for x86-64: the
// ioctls and structures tessera's VMM needs, nothing else.
//
// It is our own rather than gokvm's kvm package because the version the
// module proxy serves (2023) does not retry ioctls on EINTR, has no
// sync_regs, read-only or manually protected dirty-logged memory slots, and
// we need only about twenty ioctls. Structures mirror <linux/kvm.h> byte for
// byte (checked by tests); names follow the kernel's.
//
// vCPU ioctls must come from the OS thread that created the vCPU.
package kvm
