/*
 * hostile_scribble: the first half of the isolation pair (scribble.h).
 * Writes SECRET over every writable byte of its context except the system
 * data and the output set descriptors (so that it still exits cleanly),
 * loads it into every register it can (general-purpose, MMX, XMM, YMM,
 * ZMM and mask registers as the CPU allows; FS and GS base via wrfsbase),
 * then exits with status 0 through the exit instruction, registers still
 * full of the secret.
 */
#include <cpuid.h>

#include "scribble.h"

static void fill(uintptr_t lo, uintptr_t hi, const struct range *skip, int nskip)
{
	lo = (lo + 7) & ~(uintptr_t)7;
	for (uintptr_t a = lo; a + 8 <= hi; a += 8) {
		int keep = 0;
		for (int i = 0; i < nskip; i++)
			keep |= a + 8 > skip[i].lo && a < skip[i].hi;
		if (!keep)
			*(volatile uint64_t *)a = SECRET;
	}
}

/* Vector state the OS (or VMM) has enabled in XCR0 and the CPU has. Kept
 * on the stack: the data segment is about to be overwritten. */
struct vec {
	int avx, avx512, avx512bw;
};

static struct vec probe(void)
{
	struct vec v = {0, 0, 0};
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return v;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	v.avx = (c & bit_AVX) && (lo & 6) == 6;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		v.avx512 = v.avx && (b & bit_AVX512F) && (lo & 0xe6) == 0xe6;
		v.avx512bw = v.avx512 && (b & bit_AVX512BW);
	}
	return v;
}

int main(void)
{
	const struct vec v = probe();
	struct dandelion_system_data *sd = &__dandelion_system_data;
	uintptr_t rsp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	struct range r[16], skip[3] = {
		{(uintptr_t)sd, (uintptr_t)(sd + 1)},
		{(uintptr_t)sd->output_sets, (uintptr_t)(sd->output_sets + sd->output_sets_len + 1)},
		{rsp - 1024, __tessera_mem_hi - 32}, /* live frames; the top 32 bytes are not */
	};
	sd->exit_code = 0;
	int n = writable_ranges(r, __tessera_mem_hi);
	for (int i = 0; i < n; i++)
		fill(r[i].lo, r[i].hi, skip, 3);

	uint64_t s = SECRET;
	__asm__ volatile("movq %0, %%xmm0; punpcklqdq %%xmm0, %%xmm0" : : "r"(s) : "xmm0");
	if (v.avx)
		__asm__ volatile("vinsertf128 $1, %%xmm0, %%ymm0, %%ymm0" : : : "xmm0");
	if (v.avx512) {
		__asm__ volatile("vpbroadcastq %0, %%zmm0" : : "r"(s) : "xmm0");
		__asm__ volatile(
			"vmovdqa64 %%zmm0, %%zmm1; vmovdqa64 %%zmm0, %%zmm2; vmovdqa64 %%zmm0, %%zmm3\n"
			"vmovdqa64 %%zmm0, %%zmm4; vmovdqa64 %%zmm0, %%zmm5; vmovdqa64 %%zmm0, %%zmm6\n"
			"vmovdqa64 %%zmm0, %%zmm7; vmovdqa64 %%zmm0, %%zmm8; vmovdqa64 %%zmm0, %%zmm9\n"
			"vmovdqa64 %%zmm0, %%zmm10; vmovdqa64 %%zmm0, %%zmm11; vmovdqa64 %%zmm0, %%zmm12\n"
			"vmovdqa64 %%zmm0, %%zmm13; vmovdqa64 %%zmm0, %%zmm14; vmovdqa64 %%zmm0, %%zmm15\n"
			"vmovdqa64 %%zmm0, %%zmm16; vmovdqa64 %%zmm0, %%zmm17; vmovdqa64 %%zmm0, %%zmm18\n"
			"vmovdqa64 %%zmm0, %%zmm19; vmovdqa64 %%zmm0, %%zmm20; vmovdqa64 %%zmm0, %%zmm21\n"
			"vmovdqa64 %%zmm0, %%zmm22; vmovdqa64 %%zmm0, %%zmm23; vmovdqa64 %%zmm0, %%zmm24\n"
			"vmovdqa64 %%zmm0, %%zmm25; vmovdqa64 %%zmm0, %%zmm26; vmovdqa64 %%zmm0, %%zmm27\n"
			"vmovdqa64 %%zmm0, %%zmm28; vmovdqa64 %%zmm0, %%zmm29; vmovdqa64 %%zmm0, %%zmm30\n"
			"vmovdqa64 %%zmm0, %%zmm31\n"
			: : : "memory");
		if (v.avx512bw)
			__asm__ volatile("kmovq %0, %%k0; kmovq %0, %%k1; kmovq %0, %%k2; kmovq %0, %%k3\n"
					 "kmovq %0, %%k4; kmovq %0, %%k5; kmovq %0, %%k6; kmovq %0, %%k7"
					 : : "r"(s));
		else
			__asm__ volatile("kmovw %k0, %%k0; kmovw %k0, %%k1; kmovw %k0, %%k2; kmovw %k0, %%k3\n"
					 "kmovw %k0, %%k4; kmovw %k0, %%k5; kmovw %k0, %%k6; kmovw %k0, %%k7"
					 : : "r"(s));
	} else if (v.avx) {
		__asm__ volatile(
			"vmovdqa %%ymm0, %%ymm1; vmovdqa %%ymm0, %%ymm2; vmovdqa %%ymm0, %%ymm3\n"
			"vmovdqa %%ymm0, %%ymm4; vmovdqa %%ymm0, %%ymm5; vmovdqa %%ymm0, %%ymm6\n"
			"vmovdqa %%ymm0, %%ymm7; vmovdqa %%ymm0, %%ymm8; vmovdqa %%ymm0, %%ymm9\n"
			"vmovdqa %%ymm0, %%ymm10; vmovdqa %%ymm0, %%ymm11; vmovdqa %%ymm0, %%ymm12\n"
			"vmovdqa %%ymm0, %%ymm13; vmovdqa %%ymm0, %%ymm14; vmovdqa %%ymm0, %%ymm15\n"
			: : : "memory");
	} else {
		__asm__ volatile(
			"movdqa %%xmm0, %%xmm1; movdqa %%xmm0, %%xmm2; movdqa %%xmm0, %%xmm3\n"
			"movdqa %%xmm0, %%xmm4; movdqa %%xmm0, %%xmm5; movdqa %%xmm0, %%xmm6\n"
			"movdqa %%xmm0, %%xmm7; movdqa %%xmm0, %%xmm8; movdqa %%xmm0, %%xmm9\n"
			"movdqa %%xmm0, %%xmm10; movdqa %%xmm0, %%xmm11; movdqa %%xmm0, %%xmm12\n"
			"movdqa %%xmm0, %%xmm13; movdqa %%xmm0, %%xmm14; movdqa %%xmm0, %%xmm15\n"
			: : : "memory");
	}
	/* MMX last: it puts the x87 unit in MMX state, which nothing after
	 * this point minds. Then FS and GS base, then every general-purpose
	 * register but rsp (kept valid for the exit path) and the exit
	 * arguments, and out through hlibc's exit instruction. */
	__asm__ volatile(
		"movq %0, %%mm0; movq %0, %%mm1; movq %0, %%mm2; movq %0, %%mm3\n"
		"movq %0, %%mm4; movq %0, %%mm5; movq %0, %%mm6; movq %0, %%mm7\n"
		"wrfsbase %1; wrgsbase %1\n"
		"mov %0, %%rbx; mov %0, %%rcx; mov %0, %%rdx; mov %0, %%rsi; mov %0, %%rbp\n"
		"mov %0, %%r8; mov %0, %%r9; mov %0, %%r10; mov %0, %%r11; mov %0, %%r12\n"
		"mov %0, %%r13; mov %0, %%r14; mov %0, %%r15\n"
		"xor %%edi, %%edi\n"
		"jmp __tessera_exit\n"
		: : "a"(s), "D"(SECRET_FS) : "memory");
	__builtin_unreachable();
}
