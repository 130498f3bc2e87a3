/*
 * Hostile functions for the backends' tests (x86-64 only). Each binary
 * hostile_<case> is this file built with -DCASE_<case>; it does one
 * forbidden thing. The error each must produce is in
 * internal/conformance/hostile.go (docs/ABI.md §5):
 *
 *   system-call instructions            loader.ErrSyscall
 *   faults, privileged instructions     loader.ErrFault
 *   endless loop                        loader.ErrTimeout
 *   forged output descriptors           loader.ErrOutputDescriptor
 *   exit status 3                       *loader.ExitError, with outputs
 *
 * Inline assembly keeps the compiler from "optimising" the crime into a
 * different one (a store through NULL would become ud2, for instance).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hlibc.h" /* the system data and __tessera_exit, to bypass exit() */

/* opaque returns v in a way the compiler cannot see through. */
static uintptr_t opaque(uintptr_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

static void call(const void *code)
{
	((void (*)(void))opaque((uintptr_t)code))();
}

/* forge_exit leaves through the raw exit instruction, skipping hlibc's
 * exit, so the forged descriptors are what the host reads. */
__attribute__((noreturn)) static void forge_exit(void)
{
	__dandelion_system_data.exit_code = 0;
	__tessera_exit(0);
}

static struct dandelion_system_data *sd(void)
{
	return &__dandelion_system_data;
}

static io_buffer forged[1];
static unsigned char data_code[16] = {0xc3}; /* ret, in the data segment */

int main(void)
{
#if defined(CASE_syscall) /* write(1, "hello", 5) */
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"("hello"), "d"(5L) : "rcx", "r11", "memory");
#elif defined(CASE_sysenter)
	__asm__ volatile("sysenter" : : "a"(20L) : "rcx", "r11", "memory");
#elif defined(CASE_int80) /* 32-bit write(1, "hello", 5) */
	__asm__ volatile("int $0x80" : : "a"(4L), "b"(1L), "c"("hello"), "d"(5L) : "memory");
#elif defined(CASE_null_write)
	__asm__ volatile("movq $1, (%0)" : : "r"(opaque(0)) : "memory");
#elif defined(CASE_far_write) /* 1 TiB: far above any context */
	__asm__ volatile("movq $1, (%0)" : : "r"(opaque(1ULL << 40)) : "memory");
#elif defined(CASE_code_write)
	__asm__ volatile("movb $0xcc, (%0)" : : "r"(opaque((uintptr_t)main)) : "memory");
#elif defined(CASE_exec_heap)
	unsigned char *p = malloc(64);
	p[0] = 0xc3;
	call(p);
#elif defined(CASE_exec_stack)
	volatile unsigned char code[64] = {0xc3};
	call((const void *)code);
#elif defined(CASE_exec_data)
	call(data_code);
#elif defined(CASE_exec_input) /* the first input item, e.g. in/code = {0xc3} */
	if (sd()->input_sets_len == 0 || sd()->input_sets[sd()->input_sets_len].offset == 0)
		return 2;
	call(sd()->input_bufs[0].data);
#elif defined(CASE_hlt)
	__asm__ volatile("hlt");
#elif defined(CASE_cli)
	__asm__ volatile("cli");
#elif defined(CASE_in)
	unsigned char v;
	__asm__ volatile("inb $0x71, %0" : "=a"(v));
#elif defined(CASE_out)
	__asm__ volatile("outb %0, $0x80" : : "a"((unsigned char)0x42));
#elif defined(CASE_cr3)
	uintptr_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
#elif defined(CASE_ud2)
	__asm__ volatile("ud2");
#elif defined(CASE_int3)
	__asm__ volatile("int3");
#elif defined(CASE_div0)
	long q = 1, zero = (long)opaque(0);
	__asm__ volatile("cqto; idivq %2" : "+a"(q) : "d"(0L), "r"(zero));
#elif defined(CASE_loop)
	for (;;)
		__asm__ volatile("");
#elif defined(CASE_stack_overflow)
	extern int deep(int);
	return deep(0);
#elif defined(CASE_forge_bufs) /* output_bufs outside the context */
	struct io_set_info *s = sd()->output_sets;
	s[0].offset = 0;
	s[sd()->output_sets_len].offset = 1;
	sd()->output_bufs = (io_buffer *)opaque(1ULL << 40);
	forge_exit();
#elif defined(CASE_forge_len) /* an item claiming 1 TiB of data */
	forged[0] = (io_buffer){"x", 1, forged, 1ULL << 40, 0};
	sd()->output_sets[sd()->output_sets_len].offset = 1;
	sd()->output_bufs = forged;
	forge_exit();
#elif defined(CASE_forge_ident) /* an identifier outside the context */
	forged[0] = (io_buffer){(const char *)opaque(1ULL << 40), 8, forged, 8, 0};
	sd()->output_sets[sd()->output_sets_len].offset = 1;
	sd()->output_bufs = forged;
	forge_exit();
#elif defined(CASE_forge_count) /* a million items */
	sd()->output_sets[sd()->output_sets_len].offset = 1 << 20;
	sd()->output_bufs = forged;
	forge_exit();
#elif defined(CASE_forge_sets_len) /* more output sets than declared */
	sd()->output_sets_len += 1000;
	forge_exit();
#elif defined(CASE_exit3) /* fails, but its stdout still arrives */
	printf("partial output\n");
	exit(3);
#elif defined(CASE_int20) /* Dandelion's KVM exit: valid only on KVM */
	printf("int20 exit\n");
	fflush(stdout);
	__tessera_publish(0);
	__asm__ volatile("int $0x20");
	return 4; /* never: elsewhere int $0x20 faults */
#elif defined(CASE_archprctl) /* TLS the way ptraceiso allows it */
	static uint64_t tls[2] = {0x1122334455667788ull};
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(158L), "D"(0x1002L), "S"(tls) : "rcx", "r11", "memory");
	uint64_t v;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(v));
	printf(r == 0 && v == tls[0] ? "fs ok\n" : "fs broken\n");
#else
#error "build with -DCASE_<name>"
#endif
	(void)forged, (void)data_code, (void)call, (void)sd, (void)forge_exit;
	return 0;
}

#if defined(CASE_stack_overflow)
#pragma GCC diagnostic ignored "-Winfinite-recursion" /* the point */
/* deep recurses with a page-sized frame until it hits the stack guard; the
 * addition after the call keeps it from becoming a loop. */
__attribute__((noinline)) int deep(int n)
{
	volatile char frame[4096];
	frame[0] = (char)n;
	return deep(n + 1) + frame[0];
}
#endif
