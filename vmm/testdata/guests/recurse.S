#include "abi.h"
/* Recurse until the stack runs into its guard page. */
	SYSDATA
_start:
1:	call 1b
