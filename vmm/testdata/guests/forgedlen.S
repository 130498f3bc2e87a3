#include "abi.h"
/* Describe an output item with a length that wraps. */
	SYSDATA
_start:
	mov SYS+SD_OUT_SETS(%rip), %rdi
	movq $1, 40(%rdi)
	lea buf(%rip), %rax
	mov %rax, SYS+SD_OUT_BUFS(%rip)
	EXIT 0
	.data
buf:	.quad 0, 0, 0x20000, 0xfffffffffffffff0, 0
