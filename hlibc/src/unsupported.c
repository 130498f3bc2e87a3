/*
 * What a compute function cannot have: threads, sockets, file mappings.
 * Each call fails cleanly with an error (see the headers in
 * hlibc/include/newlib for the exact behaviour); single-threaded uses of
 * pthread mutexes, once and keys, and anonymous mmap, simply work.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "hlibc.h"

/* ---- threads ---- */

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	(void)t, (void)a, (void)fn, (void)arg;
	__tessera_fail(ENOSYS);
	return ENOSYS;
}

int pthread_join(pthread_t t, void **ret)
{
	(void)ret;
	return t == 1 ? EDEADLK : ESRCH;
}

int pthread_detach(pthread_t t) { return t == 1 ? 0 : ESRCH; }
pthread_t pthread_self(void) { return 1; }
int pthread_equal(pthread_t a, pthread_t b) { return a == b; }
void pthread_exit(void *ret) { (void)ret; exit(0); }

int pthread_attr_init(pthread_attr_t *a)
{
	memset(a, 0, sizeof *a);
	a->is_initialized = 1;
	a->detachstate = PTHREAD_CREATE_JOINABLE;
	return 0;
}

int pthread_attr_destroy(pthread_attr_t *a) { a->is_initialized = 0; return 0; }

int pthread_attr_setdetachstate(pthread_attr_t *a, int d)
{
	if (d != PTHREAD_CREATE_JOINABLE && d != PTHREAD_CREATE_DETACHED)
		return EINVAL;
	a->detachstate = d;
	return 0;
}

int pthread_attr_setstacksize(pthread_attr_t *a, size_t s)
{
	if (s > 0x7fffffff)
		return EINVAL;
	a->stacksize = (int)s;
	return 0;
}

int pthread_mutexattr_init(pthread_mutexattr_t *a)
{
	memset(a, 0, sizeof *a);
	a->is_initialized = 1;
	return 0;
}

int pthread_mutexattr_destroy(pthread_mutexattr_t *a) { a->is_initialized = 0; return 0; }

int pthread_mutexattr_settype(pthread_mutexattr_t *a, int type)
{
	if (type < PTHREAD_MUTEX_NORMAL || type > PTHREAD_MUTEX_DEFAULT)
		return EINVAL;
	a->recursive = type == PTHREAD_MUTEX_RECURSIVE;
	return 0;
}

int pthread_mutexattr_gettype(const pthread_mutexattr_t *a, int *type)
{
	*type = a->recursive ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_DEFAULT;
	return 0;
}

/* A mutex is a 32-bit word: the lock count in the low 30 bits, bit 30 for
 * a recursive mutex. PTHREAD_MUTEX_INITIALIZER (all ones) is an unlocked
 * default mutex. */
#define M_RECURSIVE 0x40000000u
#define M_COUNT 0x3fffffffu

static pthread_mutex_t mutex_word(pthread_mutex_t *m)
{
	if (*m == _PTHREAD_MUTEX_INITIALIZER)
		*m = 0;
	return *m;
}

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	*m = a && a->recursive ? M_RECURSIVE : 0;
	return 0;
}

int pthread_mutex_destroy(pthread_mutex_t *m) { return mutex_word(m) & M_COUNT ? EBUSY : 0; }

/* With one thread, locking a locked non-recursive mutex could only wait
 * forever: report the deadlock instead. */
int pthread_mutex_lock(pthread_mutex_t *m)
{
	pthread_mutex_t w = mutex_word(m);
	if ((w & M_COUNT) && !(w & M_RECURSIVE))
		return EDEADLK;
	if ((w & M_COUNT) == M_COUNT)
		return EAGAIN;
	*m = w + 1;
	return 0;
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	pthread_mutex_t w = mutex_word(m);
	if ((w & M_COUNT) && !(w & M_RECURSIVE))
		return EBUSY;
	return pthread_mutex_lock(m);
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_t w = mutex_word(m);
	if ((w & M_COUNT) == 0)
		return EPERM;
	*m = w - 1;
	return 0;
}

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c, (void)a; return 0; }
int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c, (void)m; return EDEADLK; }

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	(void)c, (void)m, (void)t;
	return ETIMEDOUT; /* nothing can signal it: the wait times out */
}

int pthread_once(pthread_once_t *once, void (*fn)(void))
{
	if (!once->init_executed) {
		once->init_executed = 1;
		fn();
	}
	return 0;
}

static struct {
	int used;
	const void *value;
} keys[PTHREAD_KEYS_MAX];

int pthread_key_create(pthread_key_t *k, void (*dtor)(void *))
{
	(void)dtor; /* destructors run at thread exit, which never comes */
	for (unsigned i = 0; i < PTHREAD_KEYS_MAX; i++) {
		if (!keys[i].used) {
			keys[i].used = 1;
			keys[i].value = NULL;
			*k = i;
			return 0;
		}
	}
	return EAGAIN;
}

int pthread_key_delete(pthread_key_t k)
{
	if (k >= PTHREAD_KEYS_MAX || !keys[k].used)
		return EINVAL;
	keys[k].used = 0;
	return 0;
}

void *pthread_getspecific(pthread_key_t k)
{
	return k < PTHREAD_KEYS_MAX && keys[k].used ? (void *)keys[k].value : NULL;
}

int pthread_setspecific(pthread_key_t k, const void *v)
{
	if (k >= PTHREAD_KEYS_MAX || !keys[k].used)
		return EINVAL;
	keys[k].value = v;
	return 0;
}

/* ---- sockets ---- */

int socket(int domain, int type, int proto)
{
	(void)domain, (void)type, (void)proto;
	return __tessera_fail(EAFNOSUPPORT);
}

int socketpair(int domain, int type, int proto, int sv[2])
{
	(void)domain, (void)type, (void)proto, (void)sv;
	return __tessera_fail(EAFNOSUPPORT);
}

/* Every other socket call names a socket, and there are none. */
#define NOSOCK(decl) \
	decl { return __tessera_fail(EBADF); }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"

NOSOCK(int bind(int s, const struct sockaddr *a, socklen_t l))
NOSOCK(int connect(int s, const struct sockaddr *a, socklen_t l))
NOSOCK(int listen(int s, int n))
NOSOCK(int accept(int s, struct sockaddr *a, socklen_t *l))
NOSOCK(ssize_t send(int s, const void *b, size_t n, int f))
NOSOCK(ssize_t recv(int s, void *b, size_t n, int f))
NOSOCK(ssize_t sendto(int s, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l))
NOSOCK(ssize_t recvfrom(int s, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l))
NOSOCK(int shutdown(int s, int how))
NOSOCK(int getsockopt(int s, int lv, int o, void *v, socklen_t *l))
NOSOCK(int setsockopt(int s, int lv, int o, const void *v, socklen_t l))
#pragma GCC diagnostic pop

/* ---- memory mappings ---- */

/* Anonymous mappings, kept in a list so munmap can tell them apart. */
struct mapping {
	struct mapping *next;
	void *addr;
	size_t len;
};

static struct mapping *mappings;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	(void)addr, (void)prot;
	if (!(flags & MAP_ANONYMOUS)) {
		__tessera_fail(fd < 0 ? EBADF : ENODEV);
		return MAP_FAILED;
	}
	if (len == 0 || off != 0 || (flags & (MAP_SHARED | MAP_PRIVATE)) == 0 || (flags & MAP_FIXED)) {
		__tessera_fail(EINVAL);
		return MAP_FAILED;
	}
	struct mapping *m = malloc(sizeof *m);
	void *p = len > SIZE_MAX - 4095 ? NULL : memalign(4096, (len + 4095) & ~(size_t)4095);
	if (m == NULL || p == NULL) {
		free(m);
		free(p);
		__tessera_fail(ENOMEM);
		return MAP_FAILED;
	}
	memset(p, 0, len);
	m->addr = p;
	m->len = len;
	m->next = mappings;
	mappings = m;
	return p;
}

int munmap(void *addr, size_t len)
{
	for (struct mapping **pp = &mappings; *pp; pp = &(*pp)->next) {
		struct mapping *m = *pp;
		if (m->addr == addr && (len + 4095) / 4096 == (m->len + 4095) / 4096) {
			*pp = m->next;
			free(m->addr);
			free(m);
			return 0;
		}
	}
	return __tessera_fail(EINVAL); /* only whole anonymous mappings */
}

int mprotect(void *addr, size_t len, int prot)
{
	(void)addr, (void)len, (void)prot;
	return __tessera_fail(ENOSYS);
}
