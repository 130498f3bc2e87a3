/*
 * hostile_scan: the second half of the isolation pair (scribble.h). Run
 * after hostile_scribble on the same backend, it looks for SECRET and
 * SECRET_FS in its registers as they were at entry (general-purpose, MMX,
 * XMM/YMM/ZMM, mask registers, FS and GS base) and in every 8-byte word of
 * its context's writable memory (image data, inputs, heap, stack).
 *
 * stdout: "clean\n", or one line per finding ("leak reg rbx", "leak zmm5",
 * "leak mem 0x12340", ...; at most 64, then a count).
 *
 * The entry point is scan_entry (linked with -e scan_entry), which saves
 * the registers before hlibc's _start touches them. The secrets appear in
 * this binary only as two halves each, XORed together in a register at the
 * moment of comparison, so the scan never finds its own needle.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scribble.h"

#define HALF 0x0123456789abcdefull

struct regs {
	uint64_t gpr[16]; /* rax rbx rcx rdx rsi rdi rbp rsp r8..r15 */
	uint64_t mm[8];
	uint64_t vec[32][8]; /* zmm0-31 as far as saved; xmm in [i][0..1] */
	uint64_t k[8];
	uint64_t fsbase, gsbase;
	uint64_t level; /* 0: SSE only, 1: AVX, 2: AVX-512 */
};

struct regs scan_regs;

/* scan_entry saves everything, then continues at hlibc's _start. */
__asm__(
	".text\n"
	".globl scan_entry\n"
	"scan_entry:\n"
	"  mov %rax, scan_regs+0(%rip);   mov %rbx, scan_regs+8(%rip)\n"
	"  mov %rcx, scan_regs+16(%rip);  mov %rdx, scan_regs+24(%rip)\n"
	"  mov %rsi, scan_regs+32(%rip);  mov %rdi, scan_regs+40(%rip)\n"
	"  mov %rbp, scan_regs+48(%rip);  mov %rsp, scan_regs+56(%rip)\n"
	"  mov %r8, scan_regs+64(%rip);   mov %r9, scan_regs+72(%rip)\n"
	"  mov %r10, scan_regs+80(%rip);  mov %r11, scan_regs+88(%rip)\n"
	"  mov %r12, scan_regs+96(%rip);  mov %r13, scan_regs+104(%rip)\n"
	"  mov %r14, scan_regs+112(%rip); mov %r15, scan_regs+120(%rip)\n"
	"  lea scan_regs+128(%rip), %rdi\n"
	"  .irp n,0,1,2,3,4,5,6,7\n"
	"  movq %mm\\n, \\n*8(%rdi)\n"
	"  .endr\n"
	"  emms\n"
	"  lea scan_regs+192(%rip), %rdi\n"
	"  .irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"  movdqu %xmm\\n, \\n*64(%rdi)\n"
	"  .endr\n"
	"  rdfsbase %rax; mov %rax, scan_regs+2304(%rip)\n"
	"  rdgsbase %rax; mov %rax, scan_regs+2312(%rip)\n"
	"  mov $1, %eax; cpuid\n"
	"  bt $27, %ecx; jnc 9f\n"          /* OSXSAVE */
	"  bt $28, %ecx; jnc 9f\n"          /* AVX */
	"  mov %ecx, %r8d; xor %ecx, %ecx; xgetbv\n"
	"  mov %eax, %r9d; and $6, %eax; cmp $6, %eax; jne 9f\n"
	"  movq $1, scan_regs+2320(%rip)\n"
	"  .irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	"  vextractf128 $1, %ymm\\n, \\n*64+16(%rdi)\n"
	"  .endr\n"
	"  mov %r9d, %eax; and $0xe6, %eax; cmp $0xe6, %eax; jne 9f\n"
	"  mov $7, %eax; xor %ecx, %ecx; cpuid\n"
	"  bt $16, %ebx; jnc 9f\n"          /* AVX512F */
	"  movq $2, scan_regs+2320(%rip)\n"
	"  .irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	"  vmovdqu64 %zmm\\n, \\n*64(%rdi)\n"
	"  .endr\n"
	"  lea scan_regs+2240(%rip), %rdi\n"
	"  bt $30, %ebx; jnc 1f\n"          /* AVX512BW: 64-bit masks */
	"  .irp n,0,1,2,3,4,5,6,7\n"
	"  kmovq %k\\n, \\n*8(%rdi)\n"
	"  .endr\n"
	"  jmp 9f\n"
	"1:\n"
	"  .irp n,0,1,2,3,4,5,6,7\n"
	"  kmovw %k\\n, \\n*8(%rdi)\n"
	"  .endr\n"
	"9:\n"
	"  jmp _start\n");

_Static_assert(__builtin_offsetof(struct regs, vec) == 192, "scan_entry offsets");
_Static_assert(__builtin_offsetof(struct regs, k) == 2240, "scan_entry offsets");
_Static_assert(__builtin_offsetof(struct regs, fsbase) == 2304, "scan_entry offsets");
_Static_assert(__builtin_offsetof(struct regs, level) == 2320, "scan_entry offsets");

/* find returns the first 8-byte word in [p, end) equal to HALF ^ other,
 * or end. The needle exists only in rax, which is cleared again. */
static const uint64_t *find(const uint64_t *p, const uint64_t *end, uint64_t other)
{
	__asm__ volatile(
		"movabs $0x0123456789abcdef, %%rax\n"
		"xor %2, %%rax\n"
		"1: cmp %1, %0\n"
		"jae 2f\n"
		"cmp (%0), %%rax\n"
		"je 2f\n"
		"add $8, %0\n"
		"jmp 1b\n"
		"2: xor %%eax, %%eax\n"
		: "+r"(p)
		: "r"(end), "r"(other)
		: "rax", "cc", "memory");
	return p;
}

/* The other halves: HALF ^ SECRET and HALF ^ SECRET_FS, written so the
 * compiler keeps them as they are. */
#define OTHER (HALF ^ SECRET)
#define OTHER_FS (HALF ^ SECRET_FS)

static int is_secret(uint64_t v)
{
	return find(&v, &v + 1, OTHER) != &v + 1 || find(&v, &v + 1, OTHER_FS) != &v + 1;
}

static char report[64][48];
static int findings;

__attribute__((format(printf, 1, 2))) static void found(const char *fmt, ...)
{
	if (findings < 64) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(report[findings], sizeof report[0], fmt, ap);
		va_end(ap);
	}
	findings++;
}

static void check_regs(const struct regs *r)
{
	static const char *const gpr[16] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
					    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
	for (int i = 0; i < 16; i++)
		if (is_secret(r->gpr[i]))
			found("leak reg %s", gpr[i]);
	for (int i = 0; i < 8; i++)
		if (is_secret(r->mm[i]))
			found("leak mm%d", i);
	int lanes = r->level == 2 ? 8 : r->level == 1 ? 4 : 2, regs = r->level == 2 ? 32 : 16;
	for (int i = 0; i < regs; i++)
		for (int l = 0; l < lanes; l++)
			if (is_secret(r->vec[i][l])) {
				found("leak %s%d", r->level == 2 ? "zmm" : r->level == 1 ? "ymm" : "xmm", i);
				break;
			}
	for (int i = 0; i < 8; i++)
		if (r->k[i] && (is_secret(r->k[i]) || r->k[i] == (SECRET & 0xffff)))
			found("leak k%d", i);
	if (is_secret(r->fsbase))
		found("leak fsbase");
	if (is_secret(r->gsbase))
		found("leak gsbase");
}

static void scan(uintptr_t lo, uintptr_t hi)
{
	const uint64_t *p = (const uint64_t *)((lo + 7) & ~(uintptr_t)7);
	const uint64_t *end = (const uint64_t *)(hi & ~(uintptr_t)7);
	for (uint64_t other = OTHER;; other = OTHER_FS) {
		for (const uint64_t *q = p; q < end; q++) {
			q = find(q, end, other);
			if (q < end)
				found("leak mem %#lx", (unsigned long)(uintptr_t)q);
		}
		if (other == OTHER_FS)
			break;
	}
}

int main(void)
{
	check_regs(&scan_regs);
	memset(&scan_regs, 0, sizeof scan_regs);
	struct range r[16];
	int n = writable_ranges(r, __tessera_mem_hi);
	for (int i = 0; i < n; i++)
		scan(r[i].lo, r[i].hi);
	if (findings == 0)
		printf("clean\n");
	for (int i = 0; i < findings && i < 64; i++)
		printf("%s\n", report[i]);
	if (findings > 64)
		printf("... %d findings in all\n", findings);
	return 0;
}
