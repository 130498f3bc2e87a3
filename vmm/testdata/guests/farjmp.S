#include "abi.h"
/* Far jump to a 32-bit code selector (compatibility mode). */
	SYSDATA
_start:
	ljmpl *1f(%rip)
1:	.long 0
	.word 0x23
