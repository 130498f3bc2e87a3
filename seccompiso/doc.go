// Package seccompiso runs a compute function as a fresh host process whose
// memory is the call's context, confined by a seccomp-bpf filter that allows
// nothing but the exit. A blocked system call is reported with its number.
package seccompiso
