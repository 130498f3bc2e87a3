#include "abi.h"
/* ud2. */
	SYSDATA
_start:
	ud2
	EXIT 0
