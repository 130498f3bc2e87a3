#include "abi.h"
/* Describe an output item far outside the context. */
	SYSDATA
_start:
	mov SYS+SD_OUT_SETS(%rip), %rdi
	movq $1, 40(%rdi)
	lea buf(%rip), %rax
	mov %rax, SYS+SD_OUT_BUFS(%rip)
	EXIT 0
	.data
buf:	.quad 0, 0, 0x7fff00000000, 16, 0
