#include "abi.h"
/* Divide by zero. */
	SYSDATA
_start:
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
	div %ecx
	EXIT 0
