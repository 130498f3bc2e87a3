#include "abi.h"
/* hlt at CPL3. */
	SYSDATA
_start:
	hlt
	EXIT 0
