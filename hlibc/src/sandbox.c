/*
 * The sandbox platform layer: the same binary on KVM, ptraceiso and
 * seccompiso. The host has placed everything (docs/ABI.md §2-4); the
 * function leaves through __tessera_exit (exit.S).
 */
#include "hlibc.h"

/* The context is [0, top) with rsp = top - 32 at entry; nothing below
 * 0x10000 is ever mapped. */
void __tessera_platform_init(uintptr_t *initial_sp)
{
	__tessera_mem_lo = 0x10000;
	__tessera_mem_hi = (uintptr_t)initial_sp + 32;
}

void __tessera_platform_exit(int status)
{
	__tessera_exit(status);
}

/* There is no console in a sandbox: stdout and stderr are items. */
void __tessera_platform_console(int fd, const void *buf, size_t len)
{
	(void)fd, (void)buf, (void)len;
}
