/*
 * tessera process stub: the first and only program of every process that
 * runs a compute function on the seccomp and ptrace backends.
 *
 * The host (package tessera/internal/proc) execs it with the call's context
 * memfd as fd 0, an empty environment and one argument: the hex-encoded
 * parameter block described by proc.Params. The stub
 *
 *   1. maps the control page (page 0 of the memfd, which is never guest
 *      memory: guest addresses start at 0x10000) wherever the kernel likes,
 *      then the context at the guest addresses (context offset = address),
 *      region by region with the permissions the host computed, never over
 *      anything already mapped (MAP_FIXED_NOREPLACE);
 *   2. closes every file descriptor, lowers its resource limits, sets
 *      no_new_privs (and, before anything else, unmaps the vDSO and vvar
 *      pages: no host time without a system call);
 *   3. seccomp mode: installs SIGSYS and fault handlers on an alternate
 *      stack that write a record for the host into the control page;
 *      ptrace mode: waits until the host has attached (a futex word in the
 *      control page);
 *   4. makes itself non-dumpable, wipes its arguments and auxiliary vector,
 *      installs the host's seccomp filter, clears every register and jumps
 *      to the function's entry with rsp = the initial stack pointer.
 *
 * It is a static PIE: the kernel loads it at a random address near the top
 * of the address space (far above any context, which ends at 64 GiB), so a
 * function cannot guess where the stub's pages are; _start applies its own
 * R_X86_64_RELATIVE relocations first.
 *
 * No libc: it must run before anything else in a process that is about to
 * lose every system call. Built with -mgeneral-regs-only so that the vector
 * and x87 state stay exactly as execve left them (the ABI's initial state).
 * The layout of the parameter block and of the record is shared with
 * internal/proc/params.go and record.go; change them together.
 */

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;

/* System call numbers (x86-64). */
#define NR_mmap 9
#define NR_mprotect 10
#define NR_munmap 11
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_mincore 27
#define NR_getpid 39
#define NR_exit_group 231
#define NR_kill 62
#define NR_sigaltstack 131
#define NR_prctl 157
#define NR_futex 202
#define NR_prlimit64 302
#define NR_seccomp 317
#define NR_close_range 436

#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 0x01
#define MAP_FIXED_NOREPLACE 0x100000
#define PR_SET_DUMPABLE 4
#define PR_SET_NO_NEW_PRIVS 38
#define FUTEX_WAIT 0
#define SECCOMP_SET_MODE_FILTER 1
#define AT_NULL 0
#define AT_EXECFN 31
#define AT_SYSINFO_EHDR 33
#define DT_NULL 0
#define DT_RELA 7
#define DT_RELASZ 8
#define R_X86_64_RELATIVE 8

#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11
#define SIGXCPU 24
#define SIGSYS 31
#define SA_SIGINFO 0x00000004
#define SA_ONSTACK 0x08000000
#define SA_RESETHAND 0x80000000
#define SA_RESTORER 0x04000000
#define SIG_SETMASK 2

#define RLIMIT_CPU 0
#define RLIMIT_FSIZE 1
#define RLIMIT_CORE 4
#define RLIMIT_NPROC 6
#define RLIMIT_NOFILE 7
#define RLIMIT_MEMLOCK 8
#define RLIMIT_AS 9
#define RLIMIT_MSGQUEUE 12

#define PAGE 4096UL
#define MIN_ADDR 0x10000UL
#define MAX_CONTEXT (1UL << 36)

/* Parameter block (proc.Params). */
#define PARAMS_MAGIC 0x3130425554535354UL /* "TSSTUB01" little-endian */
#define FLAG_SECCOMP_HANDLERS 1UL
#define FLAG_HANDSHAKE 2UL
#define FLAG_KEEP_VDSO 4UL
#define MAX_PARAMS 8192
#define MAX_REGIONS 256
#define MAX_FILTER 512

struct params {
	u64 magic, flags, size, entry, stack_top;
	u64 record, handshake; /* offsets in the control page */
	u64 cpu_soft, cpu_hard, as_limit, nregions, nfilter;
	/* then nregions x struct region, then nfilter x struct sock_filter */
};
struct region { u64 addr, len, prot; };
struct sock_filter { u16 code; u8 jt, jf; u32 k; };
struct sock_fprog { u16 len; struct sock_filter *filter; };

/* Record written into the control page for the host (proc.Record). */
#define RECORD_MAGIC 0x3143455241535354UL /* "TSSAREC1" */
#define KIND_SYSCALL 1
#define KIND_FAULT 2
#define KIND_STUB 3
struct record {
	u64 magic;
	u32 kind;
	i32 signo, code, err; /* err: si_errno, or errno for KIND_STUB */
	i32 nr;               /* system call number (KIND_SYSCALL), or failed step */
	u32 arch;             /* AUDIT_ARCH_* of the blocked call */
	u64 addr;             /* si_addr / si_call_addr */
	u64 gregs[23];        /* ucontext gregs, kernel order (REG_R8 .. REG_CR2) */
};

struct ksigaction { void *handler; u64 flags; void *restorer; u64 mask; };
struct kstack { void *sp; i32 flags; u64 size; };
struct rlimit { u64 cur, max; };

/* What the signal handlers and the final jump need. It fills a page of its
 * own, made read-only before the guest runs: the guest shares this address
 * space and must not redirect the handlers. */
static union {
	struct {
		u64 record; /* address of the record in the control page */
		u64 entry;
		u64 stack_top;
		u64 mapped; /* the control page is mapped */
	} v;
	u8 pad[4096];
} cfg_page __attribute__((aligned(4096)));
#define cfg cfg_page.v

static u8 params[MAX_PARAMS] __attribute__((aligned(16)));
static u8 altstack[64 * 1024] __attribute__((aligned(16)));

static inline i64 sys6(i64 n, u64 a, u64 b, u64 c, u64 d, u64 e, u64 f)
{
	i64 ret;
	register u64 r10 __asm__("r10") = d;
	register u64 r8 __asm__("r8") = e;
	register u64 r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define sys(n, a, b, c) sys6(n, (u64)(a), (u64)(b), (u64)(c), 0, 0, 0)

/* Die in a way the host can tell from anything a guest can do: no guest
 * can raise SIGABRT. step and err go to the record when it is mapped. */
static void __attribute__((noreturn)) fail(int step, i64 err)
{
	if (cfg.mapped) {
		volatile struct record *r = (struct record *)cfg.record;
		r->kind = KIND_STUB;
		r->nr = step;
		r->err = (i32)-err;
		r->magic = RECORD_MAGIC;
	}
	sys(NR_kill, sys(NR_getpid, 0, 0, 0), SIGABRT, 0);
	for (;;)
		sys(NR_exit_group, 127, 0, 0);
}

static void zero(volatile u8 *p, u64 n)
{
	while (n--)
		*p++ = 0;
}

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * The handler for SIGSYS and the fault signals in seccomp mode. It runs on
 * the alternate stack (the guest's rsp may point anywhere), records what
 * the kernel reported, then makes a system call the filter refuses: with
 * every signal blocked (sa_mask) the kernel resets SIGSYS to its default
 * action and the process dies by SIGSYS, which only seccomp can cause. So a
 * host that sees death by SIGSYS knows the record was written by this
 * handler, after the guest's last instruction.
 */
static void on_signal(int sig, u8 *si, u8 *uc)
{
	volatile struct record *r = (struct record *)cfg.record;
	u64 *gregs = (u64 *)(uc + 40); /* uc_flags, uc_link, uc_stack */
	r->kind = sig == SIGSYS ? KIND_SYSCALL : KIND_FAULT;
	r->signo = *(i32 *)(si + 0);
	r->err = *(i32 *)(si + 4);
	r->code = *(i32 *)(si + 8);
	r->addr = *(u64 *)(si + 16);
	r->nr = sig == SIGSYS ? *(i32 *)(si + 24) : 0;
	r->arch = sig == SIGSYS ? *(u32 *)(si + 28) : 0;
	for (int i = 0; i < 23; i++)
		r->gregs[i] = gregs[i];
	r->magic = RECORD_MAGIC;
	for (;;)
		sys(NR_getpid, 0, 0, 0);
}

/* Never used (the handlers do not return), but x86-64 signal delivery
 * requires SA_RESTORER. */
static void restorer(void)
{
	for (;;)
		sys(NR_getpid, 0, 0, 0);
}

static void install_handlers(void)
{
	static const int sigs[] = {SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
	struct kstack ss = {altstack, 0, sizeof altstack};
	i64 err = sys(NR_sigaltstack, &ss, 0, 0);
	if (err)
		fail(20, err);
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct ksigaction sa = {(void *)on_signal, SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_RESTORER,
					(void *)restorer, ~0UL};
		err = sys6(NR_rt_sigaction, sigs[i], (u64)&sa, 0, 8, 0, 0);
		if (err)
			fail(21, err);
	}
}

extern const u8 __ehdr_start[] __attribute__((visibility("hidden")));
extern const u8 _end[] __attribute__((visibility("hidden")));
extern const u64 _DYNAMIC[] __attribute__((visibility("hidden")));

/* Unmap [vvar][vvar_vclock][vdso]: the vDSO reads the host's clocks without
 * a system call. The vDSO's extent comes from its own program headers; the
 * vvar pages just below it are found with mincore, which fails with ENOMEM
 * where nothing is mapped. The walk never enters the stub's own pages
 * (the kernel may place the vDSO right next to them). */
static void unmap_vdso(u64 vdso)
{
	const u8 *eh = (const u8 *)vdso;
	u64 phoff = *(const u64 *)(eh + 32), end = 0;
	u16 phentsize = *(const u16 *)(eh + 54), phnum = *(const u16 *)(eh + 56);
	if (*(const u32 *)eh != 0x464c457f || phentsize < 56 || phnum > 64)
		fail(30, 0);
	for (u16 i = 0; i < phnum; i++) {
		const u8 *ph = eh + phoff + (u64)i * phentsize;
		if (*(const u32 *)ph == 1 /* PT_LOAD */) {
			u64 e = *(const u64 *)(ph + 16) + *(const u64 *)(ph + 40); /* p_vaddr + p_memsz */
			if (e > end)
				end = e;
		}
	}
	u64 lo = vdso & ~(PAGE - 1), hi = (vdso + end + PAGE - 1) & ~(PAGE - 1);
	u64 self_lo = (u64)__ehdr_start, self_hi = ((u64)_end + PAGE - 1) & ~(PAGE - 1);
	u8 vec[1];
	for (int i = 0; i < 32; i++) {
		u64 below = lo - PAGE;
		if ((below >= self_lo && below < self_hi) || sys(NR_mincore, below, PAGE, vec) != 0)
			break;
		lo = below;
	}
	i64 err = sys(NR_munmap, lo, hi - lo, 0);
	if (err)
		fail(31, err);
}

static void set_limit(int res, u64 cur, u64 max)
{
	struct rlimit rl = {cur, max};
	i64 err = sys6(NR_prlimit64, 0, res, (u64)&rl, 0, 0, 0);
	if (err)
		fail(40 + res, err);
}

/* Apply the stub's own relocations (pointers in initialised data). Runs
 * before anything reads such data, and uses only PC-relative addresses. */
static int __attribute__((used)) relocate(void)
{
	u64 base = (u64)__ehdr_start, rela = 0, size = 0;
	for (const u64 *d = _DYNAMIC; d[0] != DT_NULL; d += 2) {
		if (d[0] == DT_RELA)
			rela = base + d[1];
		if (d[0] == DT_RELASZ)
			size = d[1];
	}
	for (u64 off = 0; off + 24 <= size; off += 24) {
		const u64 *r = (const u64 *)(rela + off);
		if ((u32)r[1] != R_X86_64_RELATIVE)
			return -1;
		*(u64 *)(base + r[0]) = base + r[2];
	}
	return 0;
}

static void __attribute__((noreturn, used)) stub_main(u64 *sp, int relocated)
{
	if (relocated != 0)
		fail(0, 0);
	/* Contexts end at 64 GiB at most and are mapped without replacing
	 * anything; a stub below that would be in their way. */
	if ((u64)__ehdr_start < MAX_CONTEXT)
		fail(0, 0);

	u64 argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	while (*envp)
		envp++;
	u64 *auxv = (u64 *)(envp + 1);
	u64 vdso = 0;
	char *strings_end = 0;
	for (u64 *a = auxv; a[0] != AT_NULL; a += 2) {
		if (a[0] == AT_SYSINFO_EHDR)
			vdso = a[1];
		if (a[0] == AT_EXECFN) {
			char *s = (char *)a[1];
			while (*s++)
				;
			strings_end = s;
		}
	}

	/* Parameters: hex in argv[1]. */
	if (argc != 2)
		fail(1, 0);
	const char *hex = argv[1];
	u64 n = 0;
	for (; hex[2 * n] && hex[2 * n + 1]; n++) {
		int h = unhex(hex[2 * n]), l = unhex(hex[2 * n + 1]);
		if (n >= MAX_PARAMS || h < 0 || l < 0)
			fail(2, 0);
		params[n] = (u8)(h << 4 | l);
	}
	if (hex[2 * n])
		fail(2, 0);
	struct params *p = (struct params *)params;
	if (n < sizeof *p || p->magic != PARAMS_MAGIC || p->nregions > MAX_REGIONS ||
	    p->nfilter == 0 || p->nfilter > MAX_FILTER ||
	    n != sizeof *p + p->nregions * sizeof(struct region) + p->nfilter * sizeof(struct sock_filter))
		fail(3, 0);
	if (p->size < MIN_ADDR || p->size > MAX_CONTEXT || p->size % PAGE || p->record > PAGE - sizeof(struct record) ||
	    p->record % 8 || p->stack_top > p->size || p->entry >= p->size || p->handshake > PAGE - 4 || p->handshake % 4)
		fail(4, 0);
	struct region *rg = (struct region *)(p + 1);
	struct sock_filter *filter = (struct sock_filter *)(rg + p->nregions);

	/* First, while nothing but the stub, its stack and the vDSO exists:
	 * the walk in unmap_vdso relies on it. */
	if (vdso && !(p->flags & FLAG_KEEP_VDSO))
		unmap_vdso(vdso);

	/* 1. The control page, then the context region by region. */
	i64 ctl = sys6(NR_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0, 0);
	if (ctl < 0)
		fail(5, ctl);
	cfg.record = (u64)ctl + p->record;
	cfg.mapped = 1;
	for (u64 i = 0; i < p->nregions; i++) {
		u64 a = rg[i].addr, len = rg[i].len;
		if (a < MIN_ADDR || a % PAGE || len == 0 || len % PAGE || a > p->size || len > p->size - a ||
		    rg[i].prot > 7)
			fail(6, 0);
		i64 got = sys6(NR_mmap, a, len, rg[i].prot, MAP_SHARED | MAP_FIXED_NOREPLACE, 0, a);
		if (got != (i64)a)
			fail(7, got < 0 ? got : 0);
	}
	cfg.entry = p->entry;
	cfg.stack_top = p->stack_top;

	/* 2. Drop what the function must not have. */
	i64 err = sys(NR_close_range, 0, ~0U, 0);
	if (err)
		fail(10, err);
	set_limit(RLIMIT_CPU, p->cpu_soft, p->cpu_hard);
	set_limit(RLIMIT_AS, p->as_limit, p->as_limit);
	set_limit(RLIMIT_CORE, 0, 0);
	set_limit(RLIMIT_FSIZE, 0, 0);
	set_limit(RLIMIT_NOFILE, 0, 0);
	set_limit(RLIMIT_NPROC, 0, 0);
	set_limit(RLIMIT_MEMLOCK, 0, 0);
	set_limit(RLIMIT_MSGQUEUE, 0, 0);
	if ((err = sys6(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)))
		fail(11, err);

	/* SIGXCPU (the CPU-time backstop) must kill; exec keeps an ignored
	 * disposition, so set the default explicitly. */
	struct ksigaction dfl = {0, SA_RESTORER, (void *)restorer, 0};
	if ((err = sys6(NR_rt_sigaction, SIGXCPU, (u64)&dfl, 0, 8, 0, 0)))
		fail(12, err);
	u64 empty = 0;
	if ((err = sys6(NR_rt_sigprocmask, SIG_SETMASK, (u64)&empty, 0, 8, 0, 0)))
		fail(13, err);

	/* 3. Mode. */
	if (p->flags & FLAG_SECCOMP_HANDLERS)
		install_handlers();
	if (p->flags & FLAG_HANDSHAKE) {
		/* The host sets the word after PTRACE_SEIZE. */
		volatile u32 *word = (u32 *)(ctl + p->handshake);
		while (*word == 0)
			sys6(NR_futex, (u64)word, FUTEX_WAIT, 0, 0, 0, 0);
	}

	/* 4. Point of no return. */
	if ((err = sys6(NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0)))
		fail(15, err);
	if ((err = sys(NR_mprotect, &cfg_page, PAGE, PROT_READ)))
		fail(16, err);
	struct sock_fprog prog = {(u16)p->nfilter, filter};
	/* Wipe what the kernel put on the initial stack (arguments, auxiliary
	 * vector, the stub's path): nothing of the host's stays readable. */
	if (strings_end)
		zero((volatile u8 *)(sp + 1), (u64)(strings_end - (char *)(sp + 1)));
	if ((err = sys(NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)))
		fail(17, err);

	/* Clear rflags (DF, AC, TF...), then every general-purpose register;
	 * jump through cfg, which the guest cannot write. mov does not touch
	 * the flags. */
	__asm__ volatile("pushq $0\n\t"
			 "popfq\n\t"
			 "movq %[top], %%rsp\n\t"
			 "movq $0, %%rax\n\t"
			 "movq $0, %%rbx\n\t"
			 "movq $0, %%rcx\n\t"
			 "movq $0, %%rdx\n\t"
			 "movq $0, %%rsi\n\t"
			 "movq $0, %%rdi\n\t"
			 "movq $0, %%rbp\n\t"
			 "movq $0, %%r8\n\t"
			 "movq $0, %%r9\n\t"
			 "movq $0, %%r10\n\t"
			 "movq $0, %%r11\n\t"
			 "movq $0, %%r12\n\t"
			 "movq $0, %%r13\n\t"
			 "movq $0, %%r14\n\t"
			 "movq $0, %%r15\n\t"
			 "jmpq *%[entry]"
			 :
			 : [top] "m"(cfg.stack_top), [entry] "m"(cfg.entry)
			 : "memory");
	__builtin_unreachable();
}

__asm__(".globl _start\n"
	"_start:\n\t"
	"xorl %ebp, %ebp\n\t"
	"movq %rsp, %rbx\n\t"
	"andq $-16, %rsp\n\t"
	"call relocate\n\t"
	"movq %rbx, %rdi\n\t"
	"movl %eax, %esi\n\t"
	"call stub_main\n\t"
	"ud2\n");
