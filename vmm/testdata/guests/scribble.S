#include "abi.h"
/* Leaves the secret everywhere a call can: every writable byte of the
 * context outside the system data (data, inputs, heap, stack), every
 * general-purpose register, x87/MMX, the vector and opmask registers, MXCSR
 * and the x87 control word, and the FS and GS bases. */
	SYSDATA
_start:
	LOAD_SECRET %rax
	mov SYS+SD_HEAP_END(%rip), %r8     /* the stack guard page */
	/* [end of the system data, guard) */
	lea SYS+72(%rip), %rdi
1:	mov %rax, (%rdi)
	add $8, %rdi
	cmp %r8, %rdi
	jb 1b
	/* [guard + 4096, top of the stack) */
	lea 4096(%r8), %rdi
	lea 32(%rsp), %r9
2:	mov %rax, (%rdi)
	add $8, %rdi
	cmp %r9, %rdi
	jb 2b

	wrfsbase %rax
	wrgsbase %rax
	movq %rax, %mm0
	movq %rax, %mm1
	movq %rax, %mm2
	movq %rax, %mm3
	movq %rax, %mm4
	movq %rax, %mm5
	movq %rax, %mm6
	movq %rax, %mm7
	emms
	sub $8, %rsp
	movl $0x7f80, (%rsp)      /* MXCSR: round toward zero */
	ldmxcsr (%rsp)
	movw $0x0c7f, (%rsp)       /* FCW: round toward zero */
	fldcw (%rsp)
	add $8, %rsp
#ifdef AVX512
	vpbroadcastq %rax, %zmm0
	vpbroadcastq %rax, %zmm1
	vpbroadcastq %rax, %zmm2
	vpbroadcastq %rax, %zmm3
	vpbroadcastq %rax, %zmm4
	vpbroadcastq %rax, %zmm5
	vpbroadcastq %rax, %zmm6
	vpbroadcastq %rax, %zmm7
	vpbroadcastq %rax, %zmm8
	vpbroadcastq %rax, %zmm9
	vpbroadcastq %rax, %zmm10
	vpbroadcastq %rax, %zmm11
	vpbroadcastq %rax, %zmm12
	vpbroadcastq %rax, %zmm13
	vpbroadcastq %rax, %zmm14
	vpbroadcastq %rax, %zmm15
	vpbroadcastq %rax, %zmm16
	vpbroadcastq %rax, %zmm17
	vpbroadcastq %rax, %zmm18
	vpbroadcastq %rax, %zmm19
	vpbroadcastq %rax, %zmm20
	vpbroadcastq %rax, %zmm21
	vpbroadcastq %rax, %zmm22
	vpbroadcastq %rax, %zmm23
	vpbroadcastq %rax, %zmm24
	vpbroadcastq %rax, %zmm25
	vpbroadcastq %rax, %zmm26
	vpbroadcastq %rax, %zmm27
	vpbroadcastq %rax, %zmm28
	vpbroadcastq %rax, %zmm29
	vpbroadcastq %rax, %zmm30
	vpbroadcastq %rax, %zmm31
	kmovq %rax, %k0
	kmovq %rax, %k1
	kmovq %rax, %k2
	kmovq %rax, %k3
	kmovq %rax, %k4
	kmovq %rax, %k5
	kmovq %rax, %k6
	kmovq %rax, %k7
#else
	vmovq %rax, %xmm0
	vpbroadcastq %xmm0, %ymm0
	vmovq %rax, %xmm1
	vpbroadcastq %xmm1, %ymm1
	vmovq %rax, %xmm2
	vpbroadcastq %xmm2, %ymm2
	vmovq %rax, %xmm3
	vpbroadcastq %xmm3, %ymm3
	vmovq %rax, %xmm4
	vpbroadcastq %xmm4, %ymm4
	vmovq %rax, %xmm5
	vpbroadcastq %xmm5, %ymm5
	vmovq %rax, %xmm6
	vpbroadcastq %xmm6, %ymm6
	vmovq %rax, %xmm7
	vpbroadcastq %xmm7, %ymm7
	vmovq %rax, %xmm8
	vpbroadcastq %xmm8, %ymm8
	vmovq %rax, %xmm9
	vpbroadcastq %xmm9, %ymm9
	vmovq %rax, %xmm10
	vpbroadcastq %xmm10, %ymm10
	vmovq %rax, %xmm11
	vpbroadcastq %xmm11, %ymm11
	vmovq %rax, %xmm12
	vpbroadcastq %xmm12, %ymm12
	vmovq %rax, %xmm13
	vpbroadcastq %xmm13, %ymm13
	vmovq %rax, %xmm14
	vpbroadcastq %xmm14, %ymm14
	vmovq %rax, %xmm15
	vpbroadcastq %xmm15, %ymm15
#endif
	mov %rax, %rbx
	mov %rax, %rcx
	mov %rax, %rdx
	mov %rax, %rsi
	mov %rax, %rdi
	mov %rax, %rbp
	mov %rax, %r8
	mov %rax, %r9
	mov %rax, %r10
	mov %rax, %r11
	mov %rax, %r12
	mov %rax, %r13
	mov %rax, %r14
	mov %rax, %r15
	movl $0, SYS+SD_EXIT(%rip)
	mov $231, %eax
	syscall
