#include "abi.h"
/* Carries the secret in its read-only data, where no call writes it, and
 * dirties 600 heap pages, more than an engine keeps warm, so that the
 * reset after it hands dirty pages back to the OS. A function run after
 * it must not find the secret anywhere in its context. */
	SYSDATA
_start:
	mov SYS+SD_HEAP_BEGIN(%rip), %rdi
	mov $600, %ecx
1:	movb $1, (%rdi)
	add $4096, %rdi
	loop 1b
	EXIT 0

	.section .rodata
	.balign 4096
	.zero 65536
secret:
	.rept 16
	.long SECRET_LO, SECRET_HI
	.endr
