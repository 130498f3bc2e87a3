#include "abi.h"
/* Load CR3. */
	SYSDATA
_start:
	xor %eax, %eax
	mov %rax, %cr3
	EXIT 0
