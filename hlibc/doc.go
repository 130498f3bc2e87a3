// Package hlibc holds tessera's guest C library: newlib, built freestanding,
// plus the hooks that map its system interface onto an in-memory file
// system (input sets are folders, items are files) so that ordinary C
// programs run as compute functions without making a single system call.
//
// The C sources live here; `make guests` (or `make hlibc`) builds:
//
//	build/newlib/install/x86_64-elf/   newlib 3.3.0 (libc.a, libm.a, headers), built once
//	build/hlibc/crt0.o                 _start
//	build/hlibc/libtessera.a           hooks, file system, sandbox platform
//	build/hlibc/libtessera-debug.a     the same, with the debug platform
//
// Layout of the sources:
//
//	include/tessera.h       the public API beyond C and POSIX (item keys)
//	include/newlib/         headers newlib lacks or gets wrong for us
//	src/fs.c                the file-system tree, output items, keys
//	src/io.c                descriptors and the POSIX file calls
//	src/start.c, args.c     start-up, argv/environ, exit, the heap
//	src/sys.c               time, processes, signals, sysconf
//	src/unsupported.c       threads, sockets, mmap: clean errors
//	src/sandbox.c, exit.S   the platform of every native backend
//	src/debug.c             the native debug platform (real system calls)
//	src/tessera_wasm.c      tessera.h for wasm32-wasi (host imports)
//
// docs/ABI.md §6 is the contract; the Go package only documents it.
package hlibc
