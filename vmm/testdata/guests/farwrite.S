#include "abi.h"
/* Store far above any context. */
	SYSDATA
_start:
	mov $0x7f0000000000, %rax
	movl $1, (%rax)
	EXIT 0
