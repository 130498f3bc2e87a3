// Package hlibc holds tessera's guest C library: newlib, built freestanding,
// plus the hooks that map its system interface onto an in-memory file
// system (input sets are folders, items are files) so that ordinary C
// programs run as compute functions without making a single system call.
//
// The C sources live here; `make guests` builds the library into
// build/hlibc. The Go package only documents it.
package hlibc
