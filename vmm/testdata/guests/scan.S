#include "abi.h"
/* Looks for the secret in its initial state: it saves every register it
 * starts with into its own memory, then scans every readable byte of its
 * context (image, inputs, heap, stack) for the secret. The exit status is
 * the number of 8-byte words holding the secret, plus 1000 if MXCSR or the
 * x87 control word did not start in their initial state. */
	SYSDATA
_start:
	mov %rax, regs+0(%rip)
	mov %rbx, regs+8(%rip)
	mov %rcx, regs+16(%rip)
	mov %rdx, regs+24(%rip)
	mov %rsi, regs+32(%rip)
	mov %rdi, regs+40(%rip)
	mov %rbp, regs+48(%rip)
	mov %r8, regs+56(%rip)
	mov %r9, regs+64(%rip)
	mov %r10, regs+72(%rip)
	mov %r11, regs+80(%rip)
	mov %r12, regs+88(%rip)
	mov %r13, regs+96(%rip)
	mov %r14, regs+104(%rip)
	mov %r15, regs+112(%rip)
	rdfsbase %rax
	mov %rax, regs+120(%rip)
	rdgsbase %rax
	mov %rax, regs+128(%rip)
	movq %mm0, regs+136(%rip)
	movq %mm1, regs+144(%rip)
	movq %mm2, regs+152(%rip)
	movq %mm3, regs+160(%rip)
	movq %mm4, regs+168(%rip)
	movq %mm5, regs+176(%rip)
	movq %mm6, regs+184(%rip)
	movq %mm7, regs+192(%rip)
	emms
#ifdef AVX512
	vmovdqu64 %zmm0, vregs+0(%rip)
	vmovdqu64 %zmm1, vregs+64(%rip)
	vmovdqu64 %zmm2, vregs+128(%rip)
	vmovdqu64 %zmm3, vregs+192(%rip)
	vmovdqu64 %zmm4, vregs+256(%rip)
	vmovdqu64 %zmm5, vregs+320(%rip)
	vmovdqu64 %zmm6, vregs+384(%rip)
	vmovdqu64 %zmm7, vregs+448(%rip)
	vmovdqu64 %zmm8, vregs+512(%rip)
	vmovdqu64 %zmm9, vregs+576(%rip)
	vmovdqu64 %zmm10, vregs+640(%rip)
	vmovdqu64 %zmm11, vregs+704(%rip)
	vmovdqu64 %zmm12, vregs+768(%rip)
	vmovdqu64 %zmm13, vregs+832(%rip)
	vmovdqu64 %zmm14, vregs+896(%rip)
	vmovdqu64 %zmm15, vregs+960(%rip)
	vmovdqu64 %zmm16, vregs+1024(%rip)
	vmovdqu64 %zmm17, vregs+1088(%rip)
	vmovdqu64 %zmm18, vregs+1152(%rip)
	vmovdqu64 %zmm19, vregs+1216(%rip)
	vmovdqu64 %zmm20, vregs+1280(%rip)
	vmovdqu64 %zmm21, vregs+1344(%rip)
	vmovdqu64 %zmm22, vregs+1408(%rip)
	vmovdqu64 %zmm23, vregs+1472(%rip)
	vmovdqu64 %zmm24, vregs+1536(%rip)
	vmovdqu64 %zmm25, vregs+1600(%rip)
	vmovdqu64 %zmm26, vregs+1664(%rip)
	vmovdqu64 %zmm27, vregs+1728(%rip)
	vmovdqu64 %zmm28, vregs+1792(%rip)
	vmovdqu64 %zmm29, vregs+1856(%rip)
	vmovdqu64 %zmm30, vregs+1920(%rip)
	vmovdqu64 %zmm31, vregs+1984(%rip)
	kmovq %k0, regs+200(%rip)
	kmovq %k1, regs+208(%rip)
	kmovq %k2, regs+216(%rip)
	kmovq %k3, regs+224(%rip)
	kmovq %k4, regs+232(%rip)
	kmovq %k5, regs+240(%rip)
	kmovq %k6, regs+248(%rip)
	kmovq %k7, regs+256(%rip)
#else
	vmovdqu %ymm0, vregs+0(%rip)
	vmovdqu %ymm1, vregs+64(%rip)
	vmovdqu %ymm2, vregs+128(%rip)
	vmovdqu %ymm3, vregs+192(%rip)
	vmovdqu %ymm4, vregs+256(%rip)
	vmovdqu %ymm5, vregs+320(%rip)
	vmovdqu %ymm6, vregs+384(%rip)
	vmovdqu %ymm7, vregs+448(%rip)
	vmovdqu %ymm8, vregs+512(%rip)
	vmovdqu %ymm9, vregs+576(%rip)
	vmovdqu %ymm10, vregs+640(%rip)
	vmovdqu %ymm11, vregs+704(%rip)
	vmovdqu %ymm12, vregs+768(%rip)
	vmovdqu %ymm13, vregs+832(%rip)
	vmovdqu %ymm14, vregs+896(%rip)
	vmovdqu %ymm15, vregs+960(%rip)
#endif
	xor %r12d, %r12d                 /* hits */
	stmxcsr mxcsr(%rip)
	cmpl $0x1f80, mxcsr(%rip)
	je 1f
	add $1000, %r12
1:	fnstcw fcw(%rip)
	cmpw $0x37f, fcw(%rip)
	je 2f
	add $1000, %r12
2:	LOAD_SECRET %rax
	mov SYS+SD_HEAP_END(%rip), %r8   /* the stack guard page */
	mov $0x10000, %rdi
3:	cmp (%rdi), %rax
	jne 4f
	inc %r12
4:	add $8, %rdi
	cmp %r8, %rdi
	jb 3b
	lea 4096(%r8), %rdi
	lea 32(%rsp), %r9
5:	cmp (%rdi), %rax
	jne 6f
	inc %r12
6:	add $8, %rdi
	cmp %r9, %rdi
	jb 5b
	mov %r12d, SYS+SD_EXIT(%rip)
	mov $231, %eax
	syscall

	.bss
	.balign 64
vregs:	.zero 64*32
regs:	.zero 8*40
mxcsr:	.zero 4
fcw:	.zero 4
