#include "abi.h"
/* Spin forever. */
	SYSDATA
_start:
1:	jmp 1b
