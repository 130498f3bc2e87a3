/*
 * Start-up, exit and the heap: the part of hlibc every function runs.
 *
 * Kept lean on purpose, since it is the cold-start path: no CPUID, no TLS,
 * no file system (that is built on first use), no allocation unless the
 * stdio input set supplies argv or environ.
 */
#include <errno.h>
#include <reent.h>
#include <stdlib.h>

#include "hlibc.h"

/* Written by the host before the first instruction (docs/ABI.md §3). */
struct dandelion_system_data __dandelion_system_data
	__attribute__((aligned(8), used));

uintptr_t __tessera_mem_lo, __tessera_mem_hi;

extern int main(int argc, char **argv, char **envp);
extern char **environ;
extern void __libc_init_array(void);
extern void __libc_fini_array(void);

#undef errno
extern int errno;

int __tessera_fail(int err)
{
	errno = err;
	_REENT->_errno = err;
	return -1;
}

/* __tessera_start is called by _start (crt0.S) with the stack pointer the
 * function began with. */
__attribute__((noreturn, used)) void __tessera_start(uintptr_t *sp)
{
	int argc;
	char **argv;
	__tessera_platform_init(sp);
	__tessera_args(&argc, &argv);
	atexit(__libc_fini_array);
	__libc_init_array();
	exit(main(argc, argv, environ));
}

/* _exit ends the function: publish the outputs, then leave through the
 * platform. newlib's exit() gets here after atexit handlers and stdio
 * flushing; abort() and fatal signals get here directly. */
void _exit(int status)
{
	__tessera_publish(status);
	__tessera_platform_exit(status);
}

/* The heap is [heap_begin, heap_end) from the system data; heap_end is
 * the stack guard, so running out is an error, never an overlap. */
static uintptr_t brk_begin, brk_cur, brk_end;

void *_sbrk(ptrdiff_t incr)
{
	if (brk_cur == 0) {
		const struct dandelion_system_data *sd = &__dandelion_system_data;
		uintptr_t b = (sd->heap_begin + 15) & ~(uintptr_t)15, e = sd->heap_end;
		if (b < sd->heap_begin || b >= e || !span_ok((void *)b, e - b)) {
			__tessera_fail(ENOMEM);
			return (void *)-1;
		}
		brk_begin = brk_cur = b;
		brk_end = e;
	}
	uintptr_t old = brk_cur;
	if (incr >= 0 ? (uintptr_t)incr > brk_end - old : -(uintptr_t)incr > old - brk_begin) {
		__tessera_fail(ENOMEM);
		return (void *)-1;
	}
	brk_cur = old + (uintptr_t)incr;
	return (void *)old;
}

void *sbrk(ptrdiff_t incr) __attribute__((alias("_sbrk")));
