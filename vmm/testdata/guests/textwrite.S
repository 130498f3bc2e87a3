#include "abi.h"
/* Store into its own code. */
	SYSDATA
_start:
	lea _start(%rip), %rax
	movb $0x90, (%rax)
	EXIT 0
