#include "abi.h"
/* Read the VMM's system memory (supervisor-only). */
	SYSDATA
_start:
	mov $0x1000000000, %rax
	mov (%rax), %rbx
	EXIT 0
