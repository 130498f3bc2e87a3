#include "abi.h"
/* sysenter. */
	SYSDATA
_start:
	sysenter
	EXIT 0
