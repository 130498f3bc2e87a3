#include "abi.h"
/* Store through a null pointer. */
	SYSDATA
_start:
	xor %eax, %eax
	movl $1, 8(%rax)
	EXIT 0
