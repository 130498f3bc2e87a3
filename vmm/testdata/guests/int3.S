#include "abi.h"
/* int3. */
	SYSDATA
_start:
	int3
	EXIT 0
