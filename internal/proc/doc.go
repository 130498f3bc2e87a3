// Package proc is what tessera's two process backends, seccompiso and
// ptraceiso, share: the per-call stub program, spawning it, the seccomp
// filters, the records and errors, and the run loop around a call. The
// packages differ only in how they supervise the running process.
//
// Every call gets a brand-new process: the host creates and fills the call's
// context (a memfd, see loader.Context), execs the stub with the memfd as
// fd 0 and a hex-encoded Params block as its only argument, and the stub
// maps the context at the guest addresses, drops everything it can, installs
// the filter and jumps to the function. The stub is C without libc
// (stub/stub.c), built on demand with the system compiler into a
// content-addressed cache (see StubPath and docs/process-backends.md).
//
// Raw system calls and unsafe are confined to spawn_linux.go; everything
// else is ordinary Go that the tests exercise without starting a process.
package proc
