#include "abi.h"
/* Outputs the first input item unchanged (zero copy: the output descriptor
 * is the input's IoBuffer), as the only item of output set 0. */
	SYSDATA
_start:
	mov SYS+SD_IN_BUFS(%rip), %rsi
	mov SYS+SD_OUT_SETS(%rip), %rdi
	mov %rsi, SYS+SD_OUT_BUFS(%rip)
	movq $0, 16(%rdi)        /* output_sets[0].offset */
	movq $1, 40(%rdi)        /* sentinel: one item */
	EXIT 0
