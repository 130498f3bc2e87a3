/*
 * tessera process stub: the program that turns a fresh process into a
 * compute function's sandbox on the seccomp and ptrace backends. It runs in
 * one of two ways (Config.Spawn in package tessera/internal/proc chooses):
 *
 *   server  exec'd once per engine slot as "tessera-stub serve FLAGS" with a
 *           SOCK_SEQPACKET socket as fd 0. It drops what it can, installs
 *           the signal handlers (seccomp mode), reports the range of its
 *           setup code, installs the filter the host sends back (which
 *           allows any system call made from that range), and then forks
 *           one child per request: the request is a parameter block plus
 *           the call's context memfd (SCM_RIGHTS); the reply is the pid.
 *           Children are created with CLONE_PARENT, so they are the host's
 *           children, and inherit the filter: nothing is compiled per call.
 *           The server never runs a function.
 *   exec    exec'd per call with the memfd as fd 0 and the hex-encoded
 *           parameter block (with the filter) as its only argument.
 *
 * Either way the process of a call (child()) then
 *
 *   1. maps the control page (page 0 of the memfd, which is never guest
 *      memory: guest addresses start at 0x10000) wherever the kernel likes,
 *      and the context at the guest addresses (context offset = address),
 *      region by region with the permissions the host computed, never over
 *      anything already mapped (MAP_FIXED_NOREPLACE);
 *   2. closes every file descriptor, lowers its resource limits, sets
 *      no_new_privs and PDEATHSIG (what holds for every call, including
 *      unmapping the vDSO and vvar pages, a server does once before it
 *      forks; the exec'd stub does it all itself);
 *   3. ptrace mode: waits until the host has attached (a futex word in the
 *      control page);
 *   4. makes itself non-dumpable, makes the page the handlers read
 *      read-only, and jumps to the gate: the last two bytes of the setup
 *      code, a syscall that unmaps all of the setup code, itself included.
 *      It returns into the guest page right behind it, which (exec mode)
 *      installs the filter, clears every register and jumps to the entry
 *      with rsp = the initial stack pointer.
 *
 * So a function's process holds no stub code but the guest page (the
 * entry trampoline and the signal handlers), and in server mode no
 * instruction that the filter's range lets through still exists. The
 * guest page and the handlers are assembly, so that their layout and the
 * registers they touch are exactly what is written here.
 *
 * It is a static PIE: the kernel loads it at a random address near the top
 * of the address space (far above any context, which ends at 64 GiB); _start
 * applies its own R_X86_64_RELATIVE relocations first. No libc: it must run
 * before anything else in a process that is about to lose every system
 * call. Built with -mgeneral-regs-only so that the vector and x87 state stay
 * as execve left them (the ABI's initial state; fork copies the server's,
 * which is the same). The layouts of the parameter block, the record and
 * the server's messages are shared with internal/proc; change them together.
 */

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;

/* System call numbers (x86-64). */
#define NR_close 3
#define NR_pwrite64 18
#define NR_pause 34
#define NR_mmap 9
#define NR_mprotect 10
#define NR_munmap 11
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_mincore 27
#define NR_getpid 39
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_clone 56
#define NR_kill 62
#define NR_getppid 110
#define NR_sigaltstack 131
#define NR_prctl 157
#define NR_futex 202
#define NR_exit_group 231
#define NR_prlimit64 302
#define NR_seccomp 317
#define NR_close_range 436

#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 0x01
#define MAP_FIXED_NOREPLACE 0x100000
#define PR_SET_PDEATHSIG 1
#define PR_SET_DUMPABLE 4
#define PR_SET_NAME 15
#define PR_SET_TSC 26
#define PR_TSC_SIGSEGV 2
#define PR_SET_NO_NEW_PRIVS 38
#define FUTEX_WAIT 0
#define SECCOMP_SET_MODE_FILTER 1
#define CLONE_PARENT 0x00008000
#define MSG_NOSIGNAL 0x4000
#define MSG_CMSG_CLOEXEC 0x40000000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
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
#define SIGKILL 9
#define SIGSEGV 11
#define SIGCHLD 17
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
#define RLIMIT_AS 9

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

/*
 * The control area, pages of the memfd below MIN_ADDR (never guest
 * memory): the record at RECORD_OFFSET and ptrace's handshake word at
 * HANDSHAKE_OFFSET in the control page (page 0), which the stub maps; and
 * at PID_OFFSET, in page 1, which no process but the host ever maps (so no
 * function can forge it), the pid a forked child writes first thing. The
 * offsets are proc.RecordOffset, HandshakeOffset and PidOffset, which the
 * build passes as -D flags: Go holds them, in one place.
 */
#if !defined(RECORD_OFFSET) || !defined(HANDSHAKE_OFFSET) || !defined(PID_OFFSET)
#error "build with internal/proc's Build, which defines the control area's offsets"
#endif

struct params {
	u64 magic, flags, size, entry, stack_top;
	u64 cpu_soft, cpu_hard, as_limit, ppid, nregions, nfilter;
	/* then nregions x struct region, then nfilter x struct sock_filter */
};
struct region { u64 addr, len, prot; };
struct sock_filter { u16 code; u8 jt, jf; u32 k; };
struct sock_fprog { u16 len; struct sock_filter *filter; };

/* The server's messages (proc/server_linux.go). */
#define HELLO_MAGIC 0x3130565253535354UL /* "TSSSRV01" */
#define READY_MAGIC 0x3130594452535354UL /* "TSSRDY01" */

/* Record written into the control page for the host (proc.Record). */
#define RECORD_MAGIC 0x3143455241535354UL /* "TSSAREC1" */
#define KIND_STUB 3
struct record {
	u64 magic;
	u32 kind;
	i32 signo, code, err; /* err: si_errno, or errno for KIND_STUB */
	i32 nr;               /* system call number, or the failed step */
	u32 arch;             /* AUDIT_ARCH_* of the blocked call */
	u64 addr;             /* si_addr / si_call_addr */
	u64 gregs[23];        /* ucontext gregs, kernel order (REG_R8 .. REG_CR2) */
};
/* The assembly below (and proc.ReadRecord) use these offsets. */
_Static_assert(__builtin_offsetof(struct record, kind) == 8 && __builtin_offsetof(struct record, signo) == 12 &&
		       __builtin_offsetof(struct record, code) == 16 && __builtin_offsetof(struct record, err) == 20 &&
		       __builtin_offsetof(struct record, nr) == 24 && __builtin_offsetof(struct record, arch) == 28 &&
		       __builtin_offsetof(struct record, addr) == 32 && __builtin_offsetof(struct record, gregs) == 40,
	       "struct record");
_Static_assert(RECORD_OFFSET % 8 == 0 && RECORD_OFFSET + sizeof(struct record) <= 4096 && HANDSHAKE_OFFSET % 4 == 0 &&
		       HANDSHAKE_OFFSET + 4 <= 4096 &&
		       (HANDSHAKE_OFFSET >= RECORD_OFFSET + sizeof(struct record) || HANDSHAKE_OFFSET + 4 <= RECORD_OFFSET) &&
		       PID_OFFSET % 8 == 0 && PID_OFFSET >= 4096 && PID_OFFSET + 8 <= 0x10000,
	       "control area");

struct ksigaction { void *handler; u64 flags; void *restorer; u64 mask; };
struct kstack { void *sp; i32 flags; u64 size; };
struct rlimit { u64 cur, max; };
struct iovec { void *base; u64 len; };
struct msghdr { void *name; u32 namelen; struct iovec *iov; u64 iovlen; void *control; u64 controllen; i32 flags; };
struct cmsghdr { u64 len; i32 level, type; };

/*
 * What the guest page reads: a page of its own, made read-only before the
 * function runs (the function shares this address space and must not
 * redirect the handlers or the entry). The assembly below uses the offsets.
 * Read-only is not unreadable: a function that finds this page learns
 * where the control page is, and can write records there. The host never
 * believes one unless the process then died of SIGSYS, after the handler
 * rewrote all of it, or of SIGABRT, which only the stub raises (see
 * proc.RecordOffset).
 */
struct cfg {
	u64 record;    /*  0: address of the record in the control page */
	u64 entry;     /*  8 */
	u64 stack_top; /* 16 */
	u64 prog;      /* 24: struct sock_fprog to install (exec mode), or 0 */
	u64 mapped;    /* 32: the control page is mapped */
};
union cfg_page {
	struct cfg v;
	u8 pad[4096];
};
__attribute__((visibility("hidden"), aligned(4096))) union cfg_page cfg_page;
#define cfg cfg_page.v

static u8 params[MAX_PARAMS] __attribute__((aligned(16)));
static u8 altstack[64 * 1024] __attribute__((aligned(16)));

/* The gate and the guest page (assembly at the end of this file). */
extern const u8 stub_gate[] __attribute__((visibility("hidden")));    /* the unmapping syscall */
extern const u8 stub_guest[] __attribute__((visibility("hidden")));   /* page after the gate */
extern const u8 stub_on_signal[] __attribute__((visibility("hidden")));
extern const u8 stub_restorer[] __attribute__((visibility("hidden")));
extern const u8 __ehdr_start[] __attribute__((visibility("hidden")));
extern const u8 _end[] __attribute__((visibility("hidden")));
extern const u64 _DYNAMIC[] __attribute__((visibility("hidden")));

static inline __attribute__((always_inline)) i64 sys6(i64 n, u64 a, u64 b, u64 c, u64 d, u64 e, u64 f)
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

/* SIGSYS and the fault signals go to stub_on_signal (seccomp mode), on the
 * alternate stack: the guest's rsp may point anywhere. */
static void install_handlers(void)
{
	static const int sigs[] = {SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
	struct kstack ss = {altstack, 0, sizeof altstack};
	i64 err = sys(NR_sigaltstack, &ss, 0, 0);
	if (err)
		fail(20, err);
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct ksigaction sa = {(void *)stub_on_signal, SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_RESTORER,
					(void *)stub_restorer, ~0UL};
		err = sys6(NR_rt_sigaction, sigs[i], (u64)&sa, 0, 8, 0, 0);
		if (err)
			fail(21, err);
	}
}

/* Unmap [vvar][vvar_vclock][vdso]: the vDSO reads the host's clocks without
 * a system call. The vDSO's extent comes from its own program headers; the
 * vvar pages just below it are found with mincore, which fails with ENOMEM
 * where nothing is mapped. Called before anything else is mapped; the walk
 * never enters the stub's own pages (the kernel may place the vDSO right
 * next to them). */
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

/* Check a parameter block of n bytes; the filter is present in exec mode
 * only (a forked child inherits the server's). */
static struct params *check_params(u64 n, int with_filter)
{
	struct params *p = (struct params *)params;
	if (n < sizeof *p || p->magic != PARAMS_MAGIC || p->nregions > MAX_REGIONS || p->nfilter > MAX_FILTER ||
	    (with_filter != (p->nfilter != 0)) ||
	    n != sizeof *p + p->nregions * sizeof(struct region) + p->nfilter * sizeof(struct sock_filter))
		fail(3, 0);
	if (p->size < MIN_ADDR || p->size > MAX_CONTEXT || p->size % PAGE || p->stack_top > p->size ||
	    p->entry >= p->size)
		fail(4, 0);
	return p;
}

/* FLAG_KEEP_VDSO of the server or the exec'd stub (forked children inherit
 * it with the rest of memory). */
static u64 keep_vdso;

/* What holds for every call: a server does it once, before it forks (its
 * children inherit all of it). */
static void drop_common(u64 flags)
{
	i64 err;
	keep_vdso = flags & FLAG_KEEP_VDSO;
	set_limit(RLIMIT_CORE, 0, 0);
	if ((err = sys(NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0)))
		fail(11, err);
	/* SIGXCPU (the CPU-time backstop) must kill; exec keeps an ignored
	 * disposition, so set the default explicitly. */
	struct ksigaction dfl = {0, SA_RESTORER, (void *)stub_restorer, 0};
	if ((err = sys6(NR_rt_sigaction, SIGXCPU, (u64)&dfl, 0, 8, 0, 0)))
		fail(12, err);
	u64 empty = 0;
	if ((err = sys6(NR_rt_sigprocmask, SIG_SETMASK, (u64)&empty, 0, 8, 0, 0)))
		fail(13, err);
}

/* The process of one call, from a checked parameter block and the context
 * memfd; forked by a server, or exec'd. Never returns: it ends in the
 * function. */
static void __attribute__((noreturn)) child(struct params *p, int fd, int forked)
{
	struct region *rg = (struct region *)(p + 1);
	struct sock_filter *filter = (struct sock_filter *)(rg + p->nregions);
	i64 err;

	/* A server's child says who it is before anything else, and before it
	 * closes the server's socket: a host that lost the server's reply
	 * reads the socket until every end of it is closed, then finds the
	 * pid here (server_linux.go, abandon). */
	if (forked) {
		i64 pid = sys(NR_getpid, 0, 0, 0);
		if ((err = sys6(NR_pwrite64, fd, (u64)&pid, sizeof pid, PID_OFFSET, 0, 0)) != sizeof pid)
			fail(18, err < 0 ? err : 0);
	}
	/* A name for ps and the tests: the kernel's copy of argv is wiped. */
	sys(NR_prctl, PR_SET_NAME, "tessera-call", 0);
	/* Die with the host: PDEATHSIG (cleared by fork, so set here), then
	 * make sure the host did not die before it was set. */
	if ((err = sys(NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0)))
		fail(8, err);
	if (p->ppid && (u64)sys(NR_getppid, 0, 0, 0) != p->ppid)
		fail(9, 0);

	/* 1. The control page, then the context region by region. */
	i64 ctl = sys6(NR_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ctl < 0)
		fail(5, ctl);
	cfg.record = (u64)ctl + RECORD_OFFSET;
	cfg.mapped = 1;
	for (u64 i = 0; i < p->nregions; i++) {
		u64 a = rg[i].addr, len = rg[i].len;
		if (a < MIN_ADDR || a % PAGE || len == 0 || len % PAGE || a > p->size || len > p->size - a ||
		    rg[i].prot > 7)
			fail(6, 0);
		i64 got = sys6(NR_mmap, a, len, rg[i].prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, a);
		if (got != (i64)a)
			fail(7, got < 0 ? got : 0);
	}
	cfg.entry = p->entry;
	cfg.stack_top = p->stack_top;

	/* 2. Drop what the function must not have (a server did the part
	 * that holds for every call once; its children inherit it). */
	if ((err = sys(NR_close_range, 0, ~0U, 0)))
		fail(10, err);
	set_limit(RLIMIT_CPU, p->cpu_soft, p->cpu_hard);
	set_limit(RLIMIT_AS, p->as_limit, p->as_limit);
	set_limit(RLIMIT_NOFILE, 0, 0);
	set_limit(RLIMIT_NPROC, 0, 0);
	set_limit(RLIMIT_FSIZE, 0, 0); /* per call: the pid write above needs it */
	if (!forked)
		drop_common(p->flags);

	/* 3. ptrace mode: the host sets the word after PTRACE_SEIZE. */
	if (p->flags & FLAG_HANDSHAKE) {
		volatile u32 *word = (u32 *)(ctl + HANDSHAKE_OFFSET);
		while (*word == 0)
			sys6(NR_futex, (u64)word, FUTEX_WAIT, 0, 0, 0, 0);
	}

	/* 4. Point of no return. */
	/* rdtsc and rdtscp fault from here on (CR4.TSD while this process
	 * runs): the time-stamp counter is a clock fine enough for side
	 * channels, and differs from run to run. Set per call, this late,
	 * because every switch to or from a process with it set rewrites CR4,
	 * which costs a VM exit on a nested host (docs/process-backends.md);
	 * the vDSO's clocks read the counter, so a process that keeps the vDSO
	 * (diagnostics) keeps the counter. */
	if (!keep_vdso && (err = sys(NR_prctl, PR_SET_TSC, PR_TSC_SIGSEGV, 0)))
		fail(14, err);
	if ((err = sys(NR_prctl, PR_SET_DUMPABLE, 0, 0)))
		fail(15, err);
	static struct sock_fprog prog;
	if (p->nfilter) {
		prog.len = (u16)p->nfilter;
		prog.filter = filter;
		cfg.prog = (u64)&prog;
	}
	if ((err = sys(NR_mprotect, &cfg_page, PAGE, PROT_READ)))
		fail(16, err);
	/* Unmap everything from the ELF header to the end of the gate, which
	 * returns into the guest page. */
	u64 base = (u64)__ehdr_start, end = (u64)stub_gate + 2;
	__asm__ volatile("jmp stub_gate" : : "a"(NR_munmap), "D"(base), "S"(end - base) : "memory");
	__builtin_unreachable();
}

/* Wipe what the kernel put on the initial stack (arguments, auxiliary
 * vector, the stub's path): nothing of the host's stays readable. */
static void wipe(u64 *sp, char *end)
{
	if (end)
		zero((volatile u8 *)(sp + 1), (u64)(end - (char *)(sp + 1)));
}

/* Test builds only (proc.TestStub defines TESSERA_TEST_HOOK): after every
 * second clone the server dies (1) or hangs (2) instead of replying, so
 * that the tests can check what the host does with a child it was never
 * told about. */
static void test_hook(i64 pid)
{
#ifdef TESSERA_TEST_HOOK
	static u64 served;
	if (pid <= 0 || ++served % 2)
		return;
	if (TESSERA_TEST_HOOK == 1)
		sys(NR_kill, sys(NR_getpid, 0, 0, 0), SIGKILL, 0);
	for (;;)
		sys(NR_pause, 0, 0, 0);
#else
	(void)pid;
#endif
}

/* Send exactly one message on the server socket. */
static void reply(const void *b, u64 n)
{
	struct iovec iov = {(void *)b, n};
	struct msghdr m = {0, 0, &iov, 1, 0, 0, 0};
	if (sys(NR_sendmsg, 0, &m, MSG_NOSIGNAL) != (i64)n)
		sys(NR_exit_group, 0, 0, 0); /* the host is gone */
}

static void __attribute__((noreturn)) serve(u64 flags, u64 *sp, char *strings_end)
{
	i64 err;
	sys(NR_prctl, PR_SET_NAME, "tessera-serve", 0);
	if ((err = sys(NR_close_range, 1, ~0U, 0)))
		fail(50, err);
	drop_common(flags);
	if (flags & FLAG_SECCOMP_HANDLERS)
		install_handlers();
	wipe(sp, strings_end);

	/* Hello: the range (lo, hi] of instruction pointers after a system
	 * call instruction that the filter must let through (this server's
	 * code and its children's until the gate unmaps it); then the filter. */
	u64 hello[3] = {HELLO_MAGIC, (u64)__ehdr_start, (u64)stub_gate + 2};
	reply(hello, sizeof hello);
	struct iovec iov = {params, sizeof params};
	struct msghdr m = {0, 0, &iov, 1, 0, 0, 0};
	i64 n = sys(NR_recvmsg, 0, &m, 0);
	if (n <= 0 || n % sizeof(struct sock_filter) || n / sizeof(struct sock_filter) > MAX_FILTER)
		fail(52, n);
	struct sock_fprog prog = {(u16)(n / sizeof(struct sock_filter)), (struct sock_filter *)params};
	if ((err = sys(NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)))
		fail(53, err);
	u64 ready = READY_MAGIC;
	reply(&ready, sizeof ready);

	for (;;) {
		union {
			struct cmsghdr h;
			u8 b[64];
		} ctl;
		iov.base = params;
		iov.len = sizeof params;
		m.control = &ctl;
		m.controllen = sizeof ctl;
		m.flags = 0;
		n = sys(NR_recvmsg, 0, &m, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			sys(NR_exit_group, 0, 0, 0); /* the host closed its end */
		int fd = -1;
		if (m.controllen >= sizeof ctl.h + 4 && ctl.h.level == SOL_SOCKET && ctl.h.type == SCM_RIGHTS &&
		    ctl.h.len == sizeof ctl.h + 4)
			fd = *(i32 *)(ctl.b + sizeof ctl.h);
		i64 pid = -22; /* EINVAL: no memfd */
		if (fd >= 0 && !(m.flags & 0x8 /* MSG_CTRUNC */)) {
			pid = sys(NR_clone, CLONE_PARENT | SIGCHLD, 0, 0);
			if (pid == 0)
				child(check_params((u64)n, 0), fd, 1);
			test_hook(pid);
		}
		reply(&pid, sizeof pid);
		/* Off the host's path: the next child must not find this
		 * request in its copy, nor this memfd. */
		if (fd >= 0)
			sys(NR_close, fd, 0, 0);
		zero(params, (u64)n);
	}
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
	u64 vdso = 0;
	char *strings_end = 0;
	for (u64 *a = (u64 *)(envp + 1); a[0] != AT_NULL; a += 2) {
		if (a[0] == AT_SYSINFO_EHDR)
			vdso = a[1];
		if (a[0] == AT_EXECFN) {
			char *s = (char *)a[1];
			while (*s++)
				;
			strings_end = s;
		}
	}
	/* Parameters: hex in argv[1] (exec mode), or "serve" and the flags. */
	if (argc < 2)
		fail(1, 0);
	const char *hex = argv[argc - 1];
	u64 n = 0;
	for (; hex[2 * n] && hex[2 * n + 1]; n++) {
		int h = unhex(hex[2 * n]), l = unhex(hex[2 * n + 1]);
		if (n >= MAX_PARAMS || h < 0 || l < 0)
			fail(2, 0);
		params[n] = (u8)(h << 4 | l);
	}
	if (hex[2 * n])
		fail(2, 0);
	const char *a1 = argv[1];
	int server = argc == 3 && a1[0] == 's' && a1[1] == 'e' && a1[2] == 'r' && a1[3] == 'v' && a1[4] == 'e' && !a1[5];
	if (!server && argc != 2)
		fail(1, 0);
	u64 flags = server && n == 8 ? *(u64 *)params : ((struct params *)params)->flags;
	/* First, while nothing but the stub, its stack and the vDSO exists:
	 * the walk in unmap_vdso relies on it. */
	if (vdso && !(flags & FLAG_KEEP_VDSO))
		unmap_vdso(vdso);
	if (server) {
		if (n != 8)
			fail(2, 0);
		serve(flags, sp, strings_end);
	}
	struct params *p = check_params(n, 1);
	if (p->flags & FLAG_SECCOMP_HANDLERS)
		install_handlers();
	wipe(sp, strings_end);
	child(p, 0, 0);
}

/*
 * _start, the gate and the guest page.
 *
 * The gate is the last two bytes of a page-aligned page of int3 in section
 * .tguest, which the linker places after .text (all setup code). Its
 * syscall unmaps [ELF header, gate end) and returns to stub_guest, the first
 * byte of the next page, which stays mapped: stub_guest (the entry),
 * stub_on_signal and stub_restorer are all the code a function's process
 * still has.
 */
__asm__(".text\n"
	".globl _start\n"
	"_start:\n\t"
	"xorl %ebp, %ebp\n\t"
	"movq %rsp, %rbx\n\t"
	"andq $-16, %rsp\n\t"
	"call relocate\n\t"
	"movq %rbx, %rdi\n\t"
	"movl %eax, %esi\n\t"
	"call stub_main\n\t"
	"ud2\n"

	".section .tguest, \"ax\", @progbits\n"
	".balign 4096\n"
	".skip 4094, 0xcc\n"
	".globl stub_gate\n"
	".hidden stub_gate\n"
	"stub_gate:\n\t"
	"syscall\n"

	/* The entry. rax holds munmap's result. Exec mode installs the filter
	 * here, after the setup code is gone; a failure is a stub failure. */
	".globl stub_guest\n"
	".hidden stub_guest\n"
	"stub_guest:\n\t"
	"testq %rax, %rax\n\t"
	"jnz 9f\n\t"
	"movq cfg_page+24(%rip), %rdx\n\t"
	"testq %rdx, %rdx\n\t"
	"jz 1f\n\t"
	"movl $317, %eax\n\t" /* seccomp(SECCOMP_SET_MODE_FILTER, 0, prog) */
	"movl $1, %edi\n\t"
	"xorl %esi, %esi\n\t"
	"syscall\n\t"
	"testq %rax, %rax\n\t"
	"jnz 9f\n"
	/* Clear rflags (DF, AC, TF...), then every general-purpose register;
	 * jump through the read-only cfg page. mov leaves the flags alone. */
	"1:\n\t"
	"pushq $0\n\t"
	"popfq\n\t"
	"movq cfg_page+16(%rip), %rsp\n\t"
	"movq $0, %rax\n\t"
	"movq $0, %rbx\n\t"
	"movq $0, %rcx\n\t"
	"movq $0, %rdx\n\t"
	"movq $0, %rsi\n\t"
	"movq $0, %rdi\n\t"
	"movq $0, %rbp\n\t"
	"movq $0, %r8\n\t"
	"movq $0, %r9\n\t"
	"movq $0, %r10\n\t"
	"movq $0, %r11\n\t"
	"movq $0, %r12\n\t"
	"movq $0, %r13\n\t"
	"movq $0, %r14\n\t"
	"movq $0, %r15\n\t"
	"jmpq *cfg_page+8(%rip)\n"
	/* Stub failure at step 17 (errno = -rax): record, then SIGABRT. */
	"9:\n\t"
	"movq cfg_page(%rip), %rdi\n\t"
	"movl $3, 8(%rdi)\n\t"
	"movl $17, 24(%rdi)\n\t"
	"negl %eax\n\t"
	"movl %eax, 20(%rdi)\n\t"
	"movabsq $0x3143455241535354, %rax\n\t"
	"movq %rax, (%rdi)\n\t"
	"movl $39, %eax\n\t"
	"syscall\n\t"
	"movq %rax, %rdi\n\t"
	"movl $6, %esi\n\t"
	"movl $62, %eax\n\t"
	"syscall\n\t"
	"ud2\n"

	/*
	 * stub_on_signal(sig, siginfo, ucontext): SIGSYS and the fault
	 * signals in seccomp mode, on the alternate stack. It records what
	 * the kernel reported, then makes a system call the filter refuses:
	 * with every signal blocked (sa_mask) the kernel resets SIGSYS to its
	 * default action and the process dies of SIGSYS, which only seccomp
	 * can cause. So a host that sees death by SIGSYS knows the record was
	 * written here, after the guest's last instruction. Layouts: struct
	 * record above; siginfo: signo 0, errno 4, code 8, addr 16, syscall
	 * 24, arch 28; ucontext: gregs at 40.
	 */
	".globl stub_on_signal\n"
	".hidden stub_on_signal\n"
	"stub_on_signal:\n\t"
	"movq cfg_page(%rip), %r8\n\t"
	"movl 0(%rsi), %eax\n\t"
	"movl %eax, 12(%r8)\n\t"
	"movl 8(%rsi), %eax\n\t"
	"movl %eax, 16(%r8)\n\t"
	"movl 4(%rsi), %eax\n\t"
	"movl %eax, 20(%r8)\n\t"
	"movq 16(%rsi), %rax\n\t"
	"movq %rax, 32(%r8)\n\t"
	"xorl %eax, %eax\n\t"
	"xorl %ecx, %ecx\n\t"
	"movl $2, 8(%r8)\n\t" /* a fault */
	"cmpl $31, %edi\n\t"
	"jne 2f\n\t"
	"movl $1, 8(%r8)\n\t" /* a system call */
	"movl 24(%rsi), %eax\n\t"
	"movl 28(%rsi), %ecx\n"
	"2:\n\t"
	"movl %eax, 24(%r8)\n\t"
	"movl %ecx, 28(%r8)\n\t"
	"leaq 40(%rdx), %rsi\n\t"
	"leaq 40(%r8), %rdi\n\t"
	"movl $23, %ecx\n\t"
	"cld\n\t"
	"rep movsq\n\t"
	"movabsq $0x3143455241535354, %rax\n\t"
	"movq %rax, (%r8)\n"
	"3:\n\t"
	"movl $39, %eax\n\t" /* getpid: refused */
	"syscall\n\t"
	"jmp 3b\n"

	/* Never used (the handlers do not return), but x86-64 signal delivery
	 * requires SA_RESTORER. */
	".globl stub_restorer\n"
	".hidden stub_restorer\n"
	"stub_restorer:\n\t"
	"movl $39, %eax\n\t"
	"syscall\n\t"
	"jmp stub_restorer\n"
	".text\n");
