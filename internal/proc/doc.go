// Package proc is what tessera's two process backends, seccompiso and
// ptraceiso, share: the stub that turns a fresh process into a sandbox,
// the two ways of making that process, the seccomp filters, the records
// and errors, and the run loop around a call. The backends differ only in
// how they supervise the running process (a Supervisor).
//
// Every call gets a brand-new process. The host creates and fills the
// call's context (a memfd, see loader.Context; fresh ones are kept ready
// by a background goroutine, used ones freed by another), and then either
// asks the engine slot's stub server to fork a child for it (SpawnServer,
// the default: the request carries the Params block and the memfd) or
// execs the stub with the memfd as fd 0 and the hex-encoded Params as its
// argument (SpawnExec). The process maps the context at the guest
// addresses, drops everything it can, unmaps the stub's setup code and
// jumps to the function. The stub is C without libc (stub/stub.c), built
// on demand with the system compiler into a content-addressed cache (see
// StubPath and docs/process-backends.md).
//
// unsafe and unix.Syscall are confined to spawn_linux.go, the stub server's
// socket calls to server_linux.go; everything else is ordinary Go, most of
// it tested without starting a process.
package proc
