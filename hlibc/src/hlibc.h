/*
 * hlibc internals shared by the file system, the newlib hooks and the two
 * platform layers (sandbox and debug). Not installed for guests.
 */
#ifndef HLIBC_INTERNAL_H
#define HLIBC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The system data, exactly as in docs/ABI.md §3 (x86-64 layout). */
struct io_set_info {
	const char *ident;
	size_t ident_len;
	size_t offset;
};

typedef struct {
	const char *ident;
	size_t ident_len;
	void *data;
	size_t data_len;
	size_t key;
} io_buffer;

struct dandelion_system_data {
	int exit_code;
	size_t heap_begin;
	size_t heap_end;
	size_t input_sets_len;
	struct io_set_info *input_sets;
	size_t output_sets_len;
	struct io_set_info *output_sets;
	io_buffer *input_bufs;
	io_buffer *output_bufs;
};

extern struct dandelion_system_data __dandelion_system_data;

/*
 * Guest memory the system data may point into: [mem_lo, mem_hi). In a
 * sandbox that is the context above the null guard up to the top of the
 * stack; in debug mode the whole address space. Every pointer read from
 * the system data is checked against it before use.
 */
extern uintptr_t __tessera_mem_lo, __tessera_mem_hi;

/* span_ok reports whether [p, p+n) lies inside guest memory. */
static inline int span_ok(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	return a >= __tessera_mem_lo && a <= __tessera_mem_hi &&
	       n <= __tessera_mem_hi - a;
}

/* array_ok reports whether count elements of size bytes at p are inside. */
static inline int array_ok(const void *p, size_t count, size_t size)
{
	return count <= SIZE_MAX / size && span_ok(p, count * size);
}

/* Platform layer: sandbox.c or debug.c. */

/* Called first, with the stack pointer _start received. Sets the memory
 * bounds and, in debug mode, builds the system data. */
void __tessera_platform_init(uintptr_t *initial_sp);
/* Called after the outputs are published; never returns. */
__attribute__((noreturn)) void __tessera_platform_exit(int status);
/* Sees everything written to the original stdout (fd 1) and stderr (fd 2);
 * the debug platform echoes it to the terminal. */
void __tessera_platform_console(int fd, const void *buf, size_t len);

/* The exit instruction of the native backends (exit.S). */
__attribute__((noreturn)) void __tessera_exit(int status);

/* Run-time core (start.c, fs.c). */

/* Writes the output descriptors and exit_code into the system data. */
void __tessera_publish(int status);
/* Splits the stdio/argv and stdio/environ items. */
void __tessera_args(int *argc, char ***argv);
/* Finds input set name; returns its index or -1. */
long __tessera_input_set(const char *name, size_t len);

/* errno for hooks: sets both the global errno the _r wrappers copy and the
 * reentrancy structure user code reads. Returns -1 for convenience. */
int __tessera_fail(int err);

#endif
