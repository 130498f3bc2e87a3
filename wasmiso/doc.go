// Package wasmiso runs compute functions compiled to WebAssembly on wazero:
// each module is compiled once and every call gets a new instance with fresh
// linear memory, its input sets as read-only WASI folders and its output
// sets as writable ones.
//
// # Use
//
// A Runtime compiles modules (Compile, keyed by the SHA-256 of the bytes
// for as long as the caller holds the module, with wazero's compilation
// cache on disk so a restarted process compiles nothing twice) and runs
// calls (Run). NewBackend wraps a Runtime as the
// "wasm" backend of tessera's sandbox.Backend contract.
//
// A module is a WASI preview 1 command: it exports _start and imports
// only wasi_snapshot_preview1 functions and, optionally, the key functions
// tessera.getkey and tessera.setkey. C built with clang for wasm32-wasi
// (hlibc/src/tessera_wasm.c supplies tessera.h) and Go built with
// GOOS=wasip1 GOARCH=wasm both qualify.
//
// # What a call sees (docs/ABI.md §6)
//
// The file system of hlibc, through WASI: each input set a read-only folder
// /<set>/ whose files are read straight from the items; each output set a
// writable folder whose files become the output items in creation order;
// /tmp for scratch and /dev/null. The stdio input set's stdin, argv and
// environ items are standard input, the arguments and the environment;
// standard output and error are the items stdout and stderr of a stdio
// output set, created on the first write. The wall clock reads 0, sleeping
// returns at once, random_get is seeded the same in every call. Nothing of
// the host is visible.
//
// # Outcomes
//
// Run returns the output sets, or a typed error: a nonzero exit status
// (proc_exit) is a *loader.ExitError together with the outputs; a trap is a
// *TrapError (loader.ErrFault and ErrOutOfBounds, ErrStackOverflow, ...)
// naming the function and, with Config.KeepDWARF and a module with DWARF,
// the code offset; a call
// past its deadline is loader.ErrTimeout, a canceled one
// loader.ErrCanceled. A call that failed after the memory limit refused it
// memory is a *MemoryLimitError (loader.ErrMemoryLimit) around how it
// ended.
//
// # Limits and deadlines
//
// Call.MemoryLimit (the function's context size) bounds the linear memory,
// rounded up to 64 KiB pages: memory.grow past it returns -1. Output and
// scratch files are bounded by the same size, as they live in the context
// on native backends.
//
// Deadlines need no help from wazero: Compile rewrites each module
// (internal/instrument) so that loops and calls count down a budget and,
// when it runs out, call a host function that compares the clock with the
// call's deadline and traps the call if it is past. Being Go code, that
// call is also where the scheduler can preempt the goroutine, which
// wazero's machine code never is. That costs a few percent on loops and
// 10-30% on call-heavy code, where wazero's WithCloseOnContextDone costs
// 2.5-20x; docs/wasm-backend.md has the measurements.
//
// Modules' DWARF sections are dropped unless Config.KeepDWARF is set:
// wazero resolves DWARF on every trap, which then costs milliseconds.
package wasmiso
