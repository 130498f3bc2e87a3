/*
 * Process, time and signal hooks. A compute function is one process that
 * never sees the outside world: there is no clock (time stands at the
 * epoch, so outputs depend only on inputs), its pid is 1, and it cannot
 * create processes.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "hlibc.h"

int _gettimeofday(struct timeval *tv, void *tz)
{
	(void)tz;
	if (tv) {
		tv->tv_sec = 0;
		tv->tv_usec = 0;
	}
	return 0;
}

int gettimeofday(struct timeval *tv, void *tz) __attribute__((alias("_gettimeofday")));

/* Every clock reads zero. */
int clock_gettime(clockid_t clock, struct timespec *ts)
{
	(void)clock;
	ts->tv_sec = 0;
	ts->tv_nsec = 0;
	return 0;
}

clock_t _times(struct tms *t)
{
	if (t)
		memset(t, 0, sizeof *t);
	return 0;
}

clock_t times(struct tms *t) __attribute__((alias("_times")));

int _getpid(void) { return 1; }
int getpid(void) __attribute__((alias("_getpid")));

/* _kill delivers a signal to the function itself: signal 0 probes, any
 * other signal ends the call with status 128 + sig, as a shell reports a
 * process killed by it (abort() gives 134). raise() and abort() get here
 * when no handler is installed. */
int _kill(int pid, int sig)
{
	if (pid != 1 && pid != 0 && pid != -1)
		return __tessera_fail(ESRCH);
	if (sig < 0 || sig >= NSIG)
		return __tessera_fail(EINVAL);
	if (sig == 0)
		return 0;
	_exit(128 + sig);
}

int kill(int pid, int sig) __attribute__((alias("_kill")));

int _fork(void) { return __tessera_fail(ENOSYS); }
int fork(void) __attribute__((alias("_fork")));
int vfork(void) __attribute__((alias("_fork")));

int _execve(const char *path, char *const argv[], char *const envp[])
{
	(void)path, (void)argv, (void)envp;
	return __tessera_fail(ENOSYS);
}

int execve(const char *path, char *const argv[], char *const envp[]) __attribute__((alias("_execve")));

int _wait(int *status)
{
	(void)status;
	return __tessera_fail(ECHILD);
}

int wait(int *status) __attribute__((alias("_wait")));

int pipe(int fds[2])
{
	(void)fds;
	return __tessera_fail(ENOSYS);
}

/* Sleeping succeeds at once: no time passes in a compute function. */
unsigned sleep(unsigned seconds)
{
	(void)seconds;
	return 0;
}

int usleep(useconds_t us)
{
	(void)us;
	return 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	(void)req;
	if (rem)
		rem->tv_sec = rem->tv_nsec = 0;
	return 0;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	(void)how, (void)set;
	if (old)
		*old = 0;
	return 0; /* nothing asynchronous can arrive */
}

long sysconf(int name)
{
	switch (name) {
	case _SC_PAGESIZE:
		return 4096;
	case _SC_NPROCESSORS_CONF:
	case _SC_NPROCESSORS_ONLN:
		return 1;
	case _SC_OPEN_MAX:
		return 1024;
	case _SC_CLK_TCK:
		return 100;
	}
	return __tessera_fail(EINVAL);
}

int getpagesize(void) { return 4096; }

/* There is no entropy source: a function's outputs depend only on its
 * inputs. arc4random() therefore fails (it aborts). */
int getentropy(void *buf, size_t len)
{
	(void)buf, (void)len;
	return __tessera_fail(ENOSYS);
}

/* newlib's aligned_alloc wants posix_memalign from the system. */
int posix_memalign(void **p, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *m = memalign(align, size);
	if (m == NULL)
		return ENOMEM;
	*p = m;
	return 0;
}
