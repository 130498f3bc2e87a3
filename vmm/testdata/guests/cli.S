#include "abi.h"
/* cli at CPL3. */
	SYSDATA
_start:
	cli
	EXIT 0
