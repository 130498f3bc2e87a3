#include "abi.h"
/* Thread-local storage the way Dandelion's SDK sets it up on KVM: FS base
 * set with wrfsbase to a block in .bss, then accessed through %fs. Exits
 * with status 0 only if a store through %fs:8 lands in the block, and
 * then leaves through int $0x20 as SDK binaries do. */
	SYSDATA
_start:
	lea tls(%rip), %rax
	wrfsbase %rax
	movq $0x1234, %fs:8
	cmpq $0x1234, tls+8(%rip)
	jne 1f
	rdfsbase %rbx
	cmp %rax, %rbx
	jne 1f
	movl $0, SYS+SD_EXIT(%rip)
	int $0x20
1:	movl $1, SYS+SD_EXIT(%rip)
	int $0x20

	.bss
	.balign 64
tls:	.zero 256
