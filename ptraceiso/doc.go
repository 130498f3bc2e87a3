// Package ptraceiso runs a compute function as a fresh host process under
// ptrace: the process's memory is the call's context (mapped from its memfd
// at the same addresses the VM uses), and every system call other than the
// exit stops the process and is reported as a typed error naming the call
// and its arguments.
package ptraceiso
