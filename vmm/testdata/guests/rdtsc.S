#include "abi.h"
/* Reads the time-stamp counter into its exit status. */
	SYSDATA
_start:
	rdtsc
	mov %eax, SYS+SD_EXIT(%rip)
	mov $231, %eax
	syscall
