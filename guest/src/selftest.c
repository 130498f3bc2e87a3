/*
 * selftest: checks hlibc's file system, descriptors, unsupported calls and
 * heap from inside a function, on every native backend and in debug mode.
 * Built for wasm32-wasi, it runs the file-system checks only, holding the
 * Wasm backend to the same convention (docs/ABI.md §6); the places where
 * wasi-libc cannot express a check are marked WASI.
 *
 * Inputs: set "in" with items "a" = "alpha" (key 5) and "dir/b" = "beta";
 * optionally set "stdio" with "stdin" (checked if present).
 * Outputs: set "out" gets, in this order, "sub/f" = "F" (key 9), "y" =
 * "hello world!" and "keep" = "" ; stdout (set stdio) ends with
 * "selftest: N checks, 0 failed\n". A failed check is reported on stderr
 * and makes the exit status 1.
 *
 * "selftest limit" (argv) instead fills the output sets to the host's limit
 * of items (native builds only; it needs a context of 64 MiB) and leaves
 * the items "lim/1" and "lim/2" in set "out".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tessera.h>
#include <unistd.h>

#ifndef __wasi__ /* what only hlibc's native builds provide */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#endif

static int checks, failed;

#define CHECK(cond)                                                                 \
	do {                                                                        \
		checks++;                                                           \
		if (!(cond)) {                                                      \
			failed++;                                                   \
			fprintf(stderr, "selftest:%d: failed: %s (errno %d: %s)\n", \
				__LINE__, #cond, errno, strerror(errno));           \
		}                                                                   \
	} while (0)

/* FAILS checks that expr returns -1 with errno e. */
#define FAILS(expr, e)                               \
	do {                                         \
		errno = 0;                           \
		long r_ = (long)(expr);              \
		CHECK(r_ == -1 && errno == (e));     \
	} while (0)

#ifndef __wasi__ /* WASI: fd 0 is the backend's stream, not hlibc's */
/* std_in checks fd 0 against /stdio/stdin, if there is one: "fstat, then
 * allocate, then read" must read it all. Runs before anything reads fd 0. */
static void std_in(void)
{
	struct stat in, st;
	if (stat("/stdio/stdin", &in) != 0)
		return;
	CHECK(fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == in.st_size);
	char *buf = malloc((size_t)st.st_size + 1);
	CHECK(buf && read(0, buf, (size_t)st.st_size + 1) == in.st_size);
	free(buf);
	CHECK(fstat(1, &st) == 0 && S_ISREG(st.st_mode));
}
#endif

static void inputs(void)
{
	struct stat st;
	int fd;
	CHECK(stat("/in/a", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 5);
	CHECK((st.st_mode & 0222) == 0);
	CHECK(stat("/in/dir", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(stat("/in//dir/./b", &st) == 0 && st.st_size == 4);
	CHECK(tessera_getkey("/in/a") == 5);
	CHECK(tessera_getkey("in/dir/../a") == 5);
	errno = 0;
	CHECK(tessera_getkey("/in/missing") == TESSERA_NOKEY && errno == ENOENT);
	errno = 0;
	CHECK(tessera_getkey("/in/dir") == TESSERA_NOKEY && errno == EISDIR);
	FAILS(tessera_setkey("/in/a", 1), EROFS);
	FAILS(open("/in/a", O_WRONLY), EROFS);
	FAILS(open("/in/a", O_RDWR | O_APPEND), EROFS);
	FAILS(open("/in/new", O_WRONLY | O_CREAT, 0644), EROFS);
	FAILS(unlink("/in/a"), EROFS);
	FAILS(rename("/in/a", "/out/stolen"), EROFS);
	FAILS(mkdir("/in/d2", 0755), EROFS);
	FAILS(rmdir("/in/dir"), EROFS);
	FAILS(open("/in/a/x", O_RDONLY), ENOTDIR);
	FAILS(open("/in/missing", O_RDONLY), ENOENT);
	FAILS(open("/nope/x", O_RDONLY | O_CREAT, 0644), ENOENT);
#ifndef __wasi__
	/* WASI: wasi-libc's access() consults only the rights of the preopened
	 * folder, so W_OK succeeds on an input (writing it still fails). */
	FAILS(access("/in/a", W_OK), EROFS);
#endif
	CHECK(access("/in/a", R_OK) == 0);

	/* A link to an input file is a name like any other: it can go, and
	 * the file stays read-only. */
	CHECK(link("/in/a", "/tmp/a") == 0 && stat("/in/a", &st) == 0 && st.st_nlink == 2);
	FAILS(open("/tmp/a", O_WRONLY), EROFS);
	CHECK(rename("/tmp/a", "/tmp/a2") == 0 && unlink("/tmp/a2") == 0);
	CHECK(stat("/in/a", &st) == 0 && st.st_nlink == 1);
	/* In a folder an input set shares with an output set, the input
	 * files still cannot be removed, renamed or replaced. */
	if (stat("/stdio/stdin", &st) == 0) {
		FAILS(unlink("/stdio/stdin"), EROFS);
		FAILS(rename("/stdio/stdin", "/stdio/x"), EROFS);
		CHECK((fd = open("/tmp/new", O_WRONLY | O_CREAT, 0644)) >= 0 && close(fd) == 0);
		FAILS(rename("/tmp/new", "/stdio/stdin"), EROFS);
		CHECK(unlink("/tmp/new") == 0 && stat("/stdio/stdin", &st) == 0);
	}

	fd = open("/in/a", O_RDONLY);
	char buf[16] = {0};
	CHECK(fd >= 3 && read(fd, buf, sizeof buf) == 5 && memcmp(buf, "alpha", 5) == 0);
	CHECK(read(fd, buf, sizeof buf) == 0);
	CHECK(lseek(fd, 1, SEEK_SET) == 1 && read(fd, buf, 2) == 2 && memcmp(buf, "lp", 2) == 0);
	FAILS(write(fd, "x", 1), EBADF);
	CHECK(close(fd) == 0);
	FAILS(close(fd), EBADF);

	/* readdir: ".", "..", then entries in the host's order */
	DIR *d = opendir("/in");
	CHECK(d != NULL);
	const char *want[] = {".", "..", "a", "dir"};
	int i = 0, ok = d != NULL;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		ok &= i < 4 && strcmp(e->d_name, want[i]) == 0;
		ok &= i < 2 || e->d_type == (i == 2 ? DT_REG : DT_DIR);
		i++;
	}
	CHECK(ok && i == 4);
	if (d)
		closedir(d);
}

/* pread_like checks, through a second descriptor, that the hole written
 * past the end of /out/x reads as zeros. */
static int pread_like(void)
{
	int r = open("/out/x", O_RDONLY);
	char buf[21];
	if (r < 0 || read(r, buf, 21) != 21)
		return -1;
	close(r);
	for (int i = 12; i < 20; i++)
		if (buf[i] != 0)
			return -1;
	return buf[20] == 'z' ? 0 : -1;
}

static void files(void)
{
	int fd = open("/out/x", O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	FAILS(open("/out/x", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	CHECK(write(fd, "hello", 5) == 5);
	CHECK(lseek(fd, 0, SEEK_CUR) == 5);
#ifdef __wasi__
	/* WASI: no dup or dup2; write through the same descriptor. */
	CHECK(write(fd, " world", 6) == 6 && lseek(fd, 0, SEEK_CUR) == 11);
	CHECK(write(fd, "!", 1) == 1);
#else
	int fd2 = dup(fd);
	CHECK(fd2 > fd && write(fd2, " world", 6) == 6 && lseek(fd, 0, SEEK_CUR) == 11);
	CHECK(dup2(fd, 100) == 100 && write(100, "!", 1) == 1);
	close(100);
	close(fd2);
#endif
	char buf[32] = {0};
	CHECK(lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, sizeof buf) == 12);
	CHECK(strcmp(buf, "hello world!") == 0);
	/* holes read as zeros, truncation shrinks */
	CHECK(lseek(fd, 20, SEEK_SET) == 20 && write(fd, "z", 1) == 1);
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == 21 && S_ISREG(st.st_mode));
	CHECK(pread_like() == 0);
	CHECK(ftruncate(fd, 12) == 0 && fstat(fd, &st) == 0 && st.st_size == 12);
	FAILS(lseek(fd, -1, SEEK_SET), EINVAL);
	CHECK(close(fd) == 0);

	CHECK(rename("/out/x", "/out/y") == 0);
	FAILS(stat("/out/x", &st), ENOENT);
	CHECK(link("/out/y", "/tmp/z") == 0 && stat("/tmp/z", &st) == 0 && st.st_nlink == 2);
	CHECK(unlink("/tmp/z") == 0);

	CHECK(mkdir("/out/sub", 0755) == 0);
	FAILS(mkdir("/out/sub", 0755), EEXIST);
	FILE *f = fopen("/out/sub/f", "w");
	CHECK(f && fputs("F", f) >= 0 && fclose(f) == 0);
	CHECK(tessera_setkey("/out/sub/f", 9) == 0 && tessera_getkey("/out/sub/f") == 9);
	FAILS(rmdir("/out/sub"), ENOTEMPTY);
	FAILS(unlink("/out/sub"), EISDIR);

	/* a file created and removed leaves no output item */
	f = fopen("/out/gone", "w");
	CHECK(f && fclose(f) == 0 && unlink("/out/gone") == 0);
	/* rename replaces the target: "y" moves after "sub/f" */
	f = fopen("/out/y2", "w");
	CHECK(f && fputs("hello world!", f) >= 0 && fclose(f) == 0);
	CHECK(rename("/out/y2", "/out/y") == 0);
	/* WASI has no creat; open with O_CREAT|O_TRUNC is the same call. */
	CHECK((fd = open("/out/keep", O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0 && close(fd) == 0);

	/* relative paths and the current directory */
	char cwd[64];
	CHECK(chdir("/out/sub") == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/out/sub") == 0);
	CHECK(stat("f", &st) == 0 && stat("../y", &st) == 0 && st.st_size == 12);
	CHECK(chdir("..") == 0 && chdir("/") == 0);
	FAILS(chdir("/in/a"), ENOTDIR);

	char longname[300];
	memset(longname, 'n', sizeof longname - 1);
	longname[0] = '/';
	longname[sizeof longname - 1] = 0;
	FAILS(open(longname, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	FAILS(mkdir(longname, 0755), ENAMETOOLONG);
	FAILS(rename("/out/y", longname), ENAMETOOLONG);
	FAILS(link("/out/y", longname), ENAMETOOLONG);

	/* /dev/null and /tmp */
	CHECK((fd = open("/dev/null", O_RDWR)) >= 0 && write(fd, "x", 1) == 1 && read(fd, buf, 1) == 0);
	close(fd);
	f = fopen("/tmp/scratch", "w+");
	CHECK(f && fprintf(f, "%d", 12345) == 5 && fseek(f, 0, SEEK_SET) == 0);
	int v = 0;
	CHECK(f && fscanf(f, "%d", &v) == 1 && v == 12345);
	if (f)
		fclose(f);
}

/* links checks hard links and renames into and within the output folder:
 * a file is at most one output item (docs/ABI.md §6). It leaves no item. */
static void links(void)
{
	struct stat st;
	int fd;
	CHECK((fd = open("/out/l1", O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0 && write(fd, "L", 1) == 1 && close(fd) == 0);
	/* a second name in an output folder would be a second item */
	FAILS(link("/out/l1", "/out/l2"), EMLINK);
	FAILS(link("/out/l1", "/out/sub/l2"), EMLINK);
	FAILS(stat("/out/l2", &st), ENOENT);
	/* names elsewhere are no items */
	CHECK(link("/out/l1", "/tmp/l1") == 0 && stat("/out/l1", &st) == 0 && st.st_nlink == 2);
	/* ... and cannot be moved into an output folder while it is one;
	 * the target of such a rename stays */
	FAILS(rename("/tmp/l1", "/out/l3"), EMLINK);
	CHECK((fd = open("/out/l3", O_WRONLY | O_CREAT, 0644)) >= 0 && close(fd) == 0);
	FAILS(rename("/tmp/l1", "/out/l3"), EMLINK);
	CHECK(stat("/out/l3", &st) == 0 && st.st_size == 0 && unlink("/out/l3") == 0);
	CHECK(stat("/tmp/l1", &st) == 0 && st.st_nlink == 2);
	/* renaming the item keeps it one item */
	CHECK(rename("/out/l1", "/out/l4") == 0 && stat("/out/l4", &st) == 0 && st.st_nlink == 2);
	CHECK(rename("/out/l4", "/out/sub/l5") == 0 && stat("/tmp/l1", &st) == 0 && st.st_nlink == 2);
	/* once the file is no item, a name in an output folder makes it one */
	CHECK(unlink("/out/sub/l5") == 0 && link("/tmp/l1", "/out/l6") == 0);
	CHECK(unlink("/out/l6") == 0 && unlink("/tmp/l1") == 0);
	/* rename from one name of a file to another does nothing (POSIX) */
	CHECK(link("/out/y", "/tmp/y") == 0 && rename("/tmp/y", "/out/y") == 0);
	CHECK(rename("/out/y", "/tmp/y") == 0 && stat("/out/y", &st) == 0 && st.st_nlink == 2);
	CHECK(stat("/tmp/y", &st) == 0 && unlink("/tmp/y") == 0);
}

#ifndef __wasi__
/* limit fills the output sets to the limit of items (docs/ABI.md §6):
 * renaming an item must still work there, and a rename that fails must
 * put the item back where it was. stdout and stderr cannot be created at
 * the limit, so a failure there only shows in the count. */
static void limit(void)
{
	char path[32], name[256];
	struct stat st;
	int fd, n;
	/* 16 folders deep with 255-byte names: no identifier fits there */
	memset(name, 'd', 255);
	name[255] = 0;
	CHECK(mkdir("/out/deep", 0755) == 0 && chdir("/out/deep") == 0);
	for (int i = 0; i < 16; i++)
		CHECK(mkdir(name, 0755) == 0 && chdir(name) == 0);
	FAILS(open("f", O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);

	CHECK(mkdir("/out/lim", 0755) == 0);
	for (n = 0;; n++) {
		snprintf(path, sizeof path, "/out/lim/%d", n);
		errno = 0;
		if ((fd = open(path, O_WRONLY | O_CREAT, 0644)) < 0)
			break;
		close(fd);
	}
	CHECK(errno == ENOSPC && n == 65536);
	/* at the limit an item can be renamed, also over another item */
	CHECK(rename("/out/lim/0", "/out/lim/zero") == 0 && stat("/out/lim/zero", &st) == 0);
	CHECK(rename("/out/lim/zero", "/out/lim/3") == 0 && stat("/out/lim/zero", &st) < 0);
	CHECK((fd = open("/out/lim/0", O_WRONLY | O_CREAT, 0644)) >= 0 && close(fd) == 0);
	FAILS(open("/out/lim/full", O_WRONLY | O_CREAT, 0644), ENOSPC);
	/* a rename that fails leaves the item (and the count) as it was */
	FAILS(rename("/out/lim/1", "f"), ENAMETOOLONG);
	CHECK(stat("/out/lim/1", &st) == 0);
	FAILS(open("/out/lim/full", O_WRONLY | O_CREAT, 0644), ENOSPC);
	CHECK(chdir("/") == 0);

	int left = 0;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/out/lim/%d", i);
		if (i != 1 && i != 2 && unlink(path) < 0)
			left++;
	}
	CHECK(left == 0);
}

static void *thread_fn(void *arg) { return arg; }

static void unsupported(void)
{
	FAILS(fork(), ENOSYS);
	FAILS(socket(AF_INET, SOCK_STREAM, 0), EAFNOSUPPORT);
	FAILS(connect(3, NULL, 0), EBADF);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, thread_fn, NULL) == ENOSYS);
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	CHECK(pthread_mutex_lock(&m) == 0 && pthread_mutex_lock(&m) == EDEADLK && pthread_mutex_unlock(&m) == 0);
	errno = 0;
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 0, 0) == MAP_FAILED && errno == ENODEV);
	char *p = mmap(NULL, 10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED && ((unsigned long)p & 4095) == 0 && p[9999] == 0);
	CHECK(p == MAP_FAILED || munmap(p, 10000) == 0);
	FAILS(pipe((int[2]){0, 0}), ENOSYS);
	CHECK(time(NULL) == 0 && getpid() == 1 && sleep(5) == 0);
	CHECK(kill(getpid(), 0) == 0);
	FAILS(kill(42, SIGTERM), ESRCH);
}

static void heap(void)
{
	/* Exhaust the heap: malloc must fail cleanly, and recover once the
	 * memory is freed. */
	enum { CHUNK = 1 << 20, MAX = 1 << 16 };
	static void *blocks[MAX];
	int n = 0;
	errno = 0;
	while (n < MAX && (blocks[n] = malloc(CHUNK)) != NULL)
		n++;
	CHECK(n > 0 && n < MAX && errno == ENOMEM);
	errno = 0;
	CHECK(sbrk(1 << 30) == (void *)-1 && errno == ENOMEM);
	for (int i = 0; i < n; i++)
		free(blocks[i]);
	void *again = malloc(CHUNK);
	CHECK(again != NULL);
	free(again);
}

#endif

int main(int argc, char **argv)
{
#ifndef __wasi__
	if (argc > 1 && strcmp(argv[1], "limit") == 0) {
		limit();
		printf("selftest: %d checks, %d failed\n", checks, failed);
		return failed != 0;
	}
	std_in();
#else
	(void)argc, (void)argv;
#endif
	inputs();
	files();
	links();
#ifndef __wasi__
	unsupported();
	heap();
#endif
	printf("selftest: %d checks, %d failed\n", checks, failed);
	return failed != 0;
}
