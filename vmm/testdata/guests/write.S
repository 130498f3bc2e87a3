#include "abi.h"
/* write(1, buf, 5): a blocked system call. */
	SYSDATA
_start:
	mov $1, %eax
	mov $1, %edi
	lea SYS(%rip), %rsi
	mov $5, %edx
	syscall
	EXIT 0
