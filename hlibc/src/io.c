/*
 * File descriptors and the POSIX file calls over the in-memory file
 * system: newlib's hooks (_open, _read, _write, ...) and the POSIX names
 * newlib leaves to the system (open, read, dup, opendir, ...).
 *
 * Descriptors 0, 1 and 2 are bound lazily: fd 0 reads /stdio/stdin if the
 * stdio input set has it (else sees EOF), fds 1 and 2 append to
 * /stdio/stdout and /stdio/stderr, created on the first write when the
 * function declares a stdio output set (else the bytes are discarded).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "hlibc.h"

enum { STD_NONE = 0, STD_IN, STD_OUT, STD_ERR };

/* An open file description: shared by descriptors made with dup. */
struct ofd {
	unsigned refs;
	int flags;          /* O_ACCMODE | O_APPEND */
	unsigned char std;  /* not yet bound standard stream */
	unsigned char console; /* 1 or 2: echo writes to the platform console */
	struct inode *ino;  /* regular files */
	struct node *dir;   /* directories */
	size_t pos;         /* file offset, or directory cursor index */
	struct node *cursor; /* next directory entry to return */
};

static struct ofd *fds[FS_OPEN_MAX];
static struct ofd std_ofd[3] = {
	{.refs = 1, .flags = O_RDONLY, .std = STD_IN},
	{.refs = 1, .flags = O_WRONLY | O_APPEND, .std = STD_OUT, .console = 1},
	{.refs = 1, .flags = O_WRONLY | O_APPEND, .std = STD_ERR, .console = 2},
};
static int std_taken; /* fds 0-2 have been installed */
static unsigned open_dirs;

/* table installs the standard descriptors on first use. */
static struct ofd **table(void)
{
	if (!std_taken) {
		std_taken = 1;
		for (int i = 0; i < 3; i++)
			fds[i] = &std_ofd[i];
	}
	return fds;
}

static struct ofd *get(int fd)
{
	if (fd < 0 || fd >= FS_OPEN_MAX)
		return NULL;
	return table()[fd];
}

static int lowest_free(int from)
{
	struct ofd **t = table();
	for (int fd = from; fd < FS_OPEN_MAX; fd++)
		if (t[fd] == NULL)
			return fd;
	return -1;
}

static int check_fd(int fd, struct ofd **o)
{
	*o = get(fd);
	return *o ? 0 : __tessera_fail(EBADF);
}

/* bind_std resolves a lazily bound standard stream. Output streams without
 * a stdio output set become /dev/null-like sinks (ino stays NULL). */
static int bind_std(struct ofd *o)
{
	static const char *const path[] = {0, "/stdio/stdin", "/stdio/stdout", "/stdio/stderr"};
	int which = o->std, saved = errno;
	o->std = STD_NONE;
	struct lookup l;
	if (fs_resolve(path[which], &l) < 0) {
		if (errno == ENOMEM)
			return -1;
		errno = saved;
		return 0;
	}
	if (which == STD_IN) {
		if (l.node && l.node->kind == N_FILE) {
			o->ino = l.node->ino;
			o->ino->nopen++;
		}
		return 0;
	}
	struct node *n = l.node;
	if (n == NULL) {
		/* Only in an output folder: a stdio input set alone is read-only,
		 * and elsewhere the stream is discarded. */
		if (l.parent->outroot < 0)
			return 0;
		n = fs_create(l.parent, l.name, l.namelen, N_FILE);
		if (n == NULL) {
			if (errno == ENOMEM)
				return -1;
			errno = saved;
			return 0;
		}
	}
	if (n->kind == N_FILE && !n->ino->ro) {
		o->ino = n->ino;
		o->ino->nopen++;
	}
	return 0;
}

/* existing resolves path to an entry that must exist. */
static struct node *existing(const char *path)
{
	struct lookup l;
	if (fs_resolve(path, &l) < 0)
		return NULL;
	if (l.node == NULL)
		__tessera_fail(ENOENT);
	return l.node;
}

/* ---- newlib hooks ---- */

int _open(const char *path, int flags, ...)
{
	int acc = flags & O_ACCMODE;
	if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR)
		return __tessera_fail(EINVAL);
	struct lookup l;
	if (fs_resolve(path, &l) < 0)
		return -1;
	struct node *n = l.node;
	if (n && (flags & O_CREAT) && (flags & O_EXCL))
		return __tessera_fail(EEXIST);
	if (n == NULL) {
		if (!(flags & O_CREAT))
			return __tessera_fail(ENOENT);
		if (l.dir)
			return __tessera_fail(EISDIR);
	}
	if (n && n->kind == N_DIR) {
		if (acc != O_RDONLY)
			return __tessera_fail(EISDIR);
	} else if (flags & O_DIRECTORY) {
		return __tessera_fail(n ? ENOTDIR : ENOENT);
	} else if (n && acc != O_RDONLY && n->ino->ro) {
		return __tessera_fail(EROFS);
	}
	int fd = lowest_free(0);
	if (fd < 0)
		return __tessera_fail(EMFILE);
	struct ofd *o = calloc(1, sizeof *o);
	if (o == NULL)
		return __tessera_fail(ENOMEM);
	if (n == NULL) {
		n = fs_create(l.parent, l.name, l.namelen, N_FILE);
		if (n == NULL) {
			free(o);
			return -1;
		}
	}
	o->refs = 1;
	o->flags = flags & (O_ACCMODE | O_APPEND);
	if (n->kind == N_DIR) {
		o->dir = n;
		n->nopen++;
		open_dirs++;
	} else {
		o->ino = n->ino;
		o->ino->nopen++;
		if ((flags & O_TRUNC) && acc != O_RDONLY && !o->ino->dev)
			o->ino->size = 0;
	}
	fds[fd] = o;
	return fd;
}

static void release(struct ofd *o)
{
	if (--o->refs)
		return;
	if (o->ino)
		fs_inode_release(o->ino);
	if (o->dir) {
		open_dirs--;
		fs_dir_release(o->dir);
	}
	if (o < std_ofd || o >= std_ofd + 3)
		free(o);
}

int _close(int fd)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return -1;
	fds[fd] = NULL;
	release(o);
	return 0;
}

/* bound returns o ready for I/O, binding a standard stream if need be. */
static int bound(int fd, struct ofd **o)
{
	if (check_fd(fd, o) < 0)
		return -1;
	if ((*o)->std && bind_std(*o) < 0)
		return -1;
	return 0;
}

_READ_WRITE_RETURN_TYPE _read(int fd, void *buf, size_t n)
{
	struct ofd *o;
	if (bound(fd, &o) < 0)
		return -1;
	if ((o->flags & O_ACCMODE) == O_WRONLY)
		return __tessera_fail(EBADF);
	if (o->dir)
		return __tessera_fail(EISDIR);
	struct inode *ino = o->ino;
	if (ino == NULL || ino->dev || o->pos >= ino->size)
		return 0;
	size_t left = ino->size - o->pos;
	if (n > left)
		n = left;
	if (n > INT_MAX)
		n = INT_MAX;
	memcpy(buf, ino->data + o->pos, n);
	o->pos += n;
	return (_READ_WRITE_RETURN_TYPE)n;
}

_READ_WRITE_RETURN_TYPE _write(int fd, const void *buf, size_t n)
{
	struct ofd *o;
	if (bound(fd, &o) < 0)
		return -1;
	if ((o->flags & O_ACCMODE) == O_RDONLY || o->dir)
		return __tessera_fail(EBADF);
	if (n > INT_MAX)
		n = INT_MAX;
	if (o->console)
		__tessera_platform_console(o->console, buf, n);
	struct inode *ino = o->ino;
	if (ino == NULL || ino->dev || n == 0)
		return (_READ_WRITE_RETURN_TYPE)n; /* discarded */
	size_t pos = (o->flags & O_APPEND) ? ino->size : o->pos;
	if (n > SIZE_MAX - pos)
		return __tessera_fail(EFBIG);
	if (fs_reserve(ino, pos + n) < 0)
		return -1;
	if (pos > ino->size)
		memset(ino->data + ino->size, 0, pos - ino->size);
	memcpy(ino->data + pos, buf, n);
	if (pos + n > ino->size)
		ino->size = pos + n;
	o->pos = pos + n;
	return (_READ_WRITE_RETURN_TYPE)n;
}

off_t _lseek(int fd, off_t off, int whence)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return -1;
	if (o->std == STD_OUT || o->std == STD_ERR)
		return 0; /* not written yet: do not create the item just for this */
	if (o->std && bind_std(o) < 0)
		return -1;
	if (o->dir) {
		if (off != 0 || whence != SEEK_SET)
			return __tessera_fail(EINVAL);
		o->pos = 0;
		o->cursor = NULL;
		return 0;
	}
	if (o->ino == NULL || o->ino->dev)
		return 0;
	off_t base;
	switch (whence) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (off_t)o->pos; break;
	case SEEK_END: base = (off_t)o->ino->size; break;
	default: return __tessera_fail(EINVAL);
	}
	if ((off > 0 && base > LONG_MAX - off) || base + off < 0)
		return __tessera_fail(off > 0 ? EOVERFLOW : EINVAL);
	o->pos = (size_t)(base + off);
	return (off_t)o->pos;
}

int _fstat(int fd, struct stat *st)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return -1;
	if (o->std == STD_OUT || o->std == STD_ERR) {
		/* Not written yet: describe the stream without creating its file. */
		fs_stat(NULL, &(struct inode){.id = (unsigned long)fd + 1}, st);
		return 0;
	}
	/* Binding stdin creates nothing, and gives its real size. */
	if (o->std && bind_std(o) < 0)
		return -1;
	if (o->dir)
		fs_stat(o->dir, NULL, st);
	else if (o->ino)
		fs_stat(NULL, o->ino, st);
	else
		fs_stat(NULL, &(struct inode){.dev = DEV_NULL}, st);
	return 0;
}

int _stat(const char *path, struct stat *st)
{
	struct node *n = existing(path);
	if (n == NULL)
		return -1;
	fs_stat(n->kind == N_DIR ? n : NULL, n->ino, st);
	return 0;
}

int _isatty(int fd)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return 0;
	__tessera_fail(ENOTTY);
	return 0;
}

int _unlink(const char *path)
{
	struct node *n = existing(path);
	return n ? fs_unlink(n) : -1;
}

/* source_and_target resolves the two paths of link and rename: the first
 * must exist (fs_resolve has checked the length of every name). */
static int source_and_target(const char *old, const char *new, struct lookup *a, struct lookup *b)
{
	if (fs_resolve(old, a) < 0 || fs_resolve(new, b) < 0)
		return -1;
	if (a->node == NULL)
		return __tessera_fail(ENOENT);
	return 0;
}

int _link(const char *old, const char *new)
{
	struct lookup a, b;
	if (source_and_target(old, new, &a, &b) < 0)
		return -1;
	if (b.node)
		return __tessera_fail(EEXIST);
	return fs_link(a.node, b.parent, b.name, b.namelen);
}

int _mkdir(const char *path, mode_t mode)
{
	(void)mode;
	struct lookup l;
	if (fs_resolve(path, &l) < 0)
		return -1;
	if (l.node)
		return __tessera_fail(EEXIST);
	return fs_create(l.parent, l.name, l.namelen, N_DIR) ? 0 : -1;
}

int _fcntl(int fd, int cmd, int arg)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return -1;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		if (arg < 0 || arg >= FS_OPEN_MAX)
			return __tessera_fail(EINVAL);
		int nfd = lowest_free(arg);
		if (nfd < 0)
			return __tessera_fail(EMFILE);
		o->refs++;
		fds[nfd] = o;
		return nfd;
	}
	case F_GETFD:
	case F_SETFD:
		return 0; /* there is no exec to close on */
	case F_GETFL:
		return o->flags;
	case F_SETFL:
		o->flags = (o->flags & ~O_APPEND) | (arg & O_APPEND);
		return 0;
	}
	return __tessera_fail(EINVAL);
}

/* The POSIX names newlib expects the system to provide. newlib itself
 * calls the underscored hooks; a few rarely used parts (dbopen, psignal)
 * call these. */
int open(const char *path, int flags, ...) __attribute__((alias("_open")));
int close(int fd) __attribute__((alias("_close")));
_READ_WRITE_RETURN_TYPE read(int fd, void *buf, size_t n) __attribute__((alias("_read")));
_READ_WRITE_RETURN_TYPE write(int fd, const void *buf, size_t n) __attribute__((alias("_write")));
off_t lseek(int fd, off_t off, int whence) __attribute__((alias("_lseek")));
int fstat(int fd, struct stat *st) __attribute__((alias("_fstat")));
int stat(const char *path, struct stat *st) __attribute__((alias("_stat")));
int lstat(const char *path, struct stat *st) __attribute__((alias("_stat")));
int isatty(int fd) __attribute__((alias("_isatty")));
int unlink(const char *path) __attribute__((alias("_unlink")));
int link(const char *old, const char *new) __attribute__((alias("_link")));
int mkdir(const char *path, mode_t mode) __attribute__((alias("_mkdir")));

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int arg = va_arg(ap, int);
	va_end(ap);
	return _fcntl(fd, cmd, arg);
}

int creat(const char *path, mode_t mode)
{
	return _open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

/* ---- more POSIX file calls ---- */

int dup(int fd)
{
	return _fcntl(fd, F_DUPFD, 0);
}

int dup2(int fd, int nfd)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return -1;
	if (nfd < 0 || nfd >= FS_OPEN_MAX)
		return __tessera_fail(EBADF);
	if (nfd == fd)
		return nfd;
	if (fds[nfd])
		_close(nfd);
	o->refs++;
	fds[nfd] = o;
	return nfd;
}

int ftruncate(int fd, off_t len)
{
	struct ofd *o;
	if (bound(fd, &o) < 0)
		return -1;
	if (len < 0)
		return __tessera_fail(EINVAL);
	if (o->dir || (o->flags & O_ACCMODE) == O_RDONLY)
		return __tessera_fail(o->dir ? EISDIR : EBADF);
	struct inode *ino = o->ino;
	if (ino == NULL || ino->dev)
		return 0;
	size_t n = (size_t)len;
	if (n > ino->size) {
		if (fs_reserve(ino, n) < 0)
			return -1;
		memset(ino->data + ino->size, 0, n - ino->size);
	}
	ino->size = n;
	return 0;
}

int truncate(const char *path, off_t len)
{
	int fd = _open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = ftruncate(fd, len);
	int e = errno;
	_close(fd);
	if (r < 0)
		__tessera_fail(e);
	return r;
}

int fsync(int fd)
{
	struct ofd *o;
	return check_fd(fd, &o);
}

int access(const char *path, int mode)
{
	struct node *n = existing(path);
	if (n == NULL)
		return -1;
	if (mode & X_OK)
		return __tessera_fail(EACCES);
	if ((mode & W_OK) && (n->kind == N_DIR ? n->ro : n->ino->ro))
		return __tessera_fail(EROFS);
	return 0;
}

int rmdir(const char *path)
{
	struct node *n = existing(path);
	return n ? fs_rmdir(n) : -1;
}

/* rename replaces an existing target, as POSIX asks (newlib's own version
 * is link + unlink, which fails when the target exists). */
int rename(const char *old, const char *new)
{
	struct lookup a, b;
	if (source_and_target(old, new, &a, &b) < 0)
		return -1;
	/* Two names of one file: nothing to do (POSIX). */
	if (a.node == b.node || (b.node && a.node->ino && a.node->ino == b.node->ino))
		return 0;
	if (a.node->kind == N_DIR)
		return __tessera_fail(EXDEV); /* callers fall back to copying */
	return fs_move(a.node, b.parent, b.name, b.namelen, b.node);
}

int chdir(const char *path)
{
	struct node *n = existing(path);
	if (n == NULL)
		return -1;
	if (n->kind != N_DIR)
		return __tessera_fail(ENOTDIR);
	fs_cwd = n;
	return 0;
}

char *getcwd(char *buf, size_t size)
{
	if (fs_root() == NULL) {
		__tessera_fail(ENOMEM);
		return NULL;
	}
	if (buf == NULL) {
		size = FS_PATH_MAX + 1;
		buf = malloc(size);
		if (buf == NULL) {
			__tessera_fail(ENOMEM);
			return NULL;
		}
	}
	if (size == 0) {
		__tessera_fail(EINVAL);
		return NULL;
	}
	return fs_path_of(fs_cwd, buf, size) < 0 ? NULL : buf;
}

/* ---- directories ---- */

struct __tessera_dir {
	int fd;
	struct dirent ent;
};

void io_forget(struct node *n)
{
	if (open_dirs == 0)
		return;
	for (int i = 0; i < FS_OPEN_MAX; i++)
		if (fds[i] && fds[i]->cursor == n)
			fds[i]->cursor = n->next;
}

DIR *fdopendir(int fd)
{
	struct ofd *o;
	if (check_fd(fd, &o) < 0)
		return NULL;
	if (o->dir == NULL) {
		__tessera_fail(ENOTDIR);
		return NULL;
	}
	DIR *d = calloc(1, sizeof *d);
	if (d == NULL) {
		__tessera_fail(ENOMEM);
		return NULL;
	}
	d->fd = fd;
	return d;
}

DIR *opendir(const char *path)
{
	int fd = _open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (d == NULL)
		_close(fd);
	return d;
}

/* readdir returns ".", "..", then the entries in creation order (input
 * items in the host's order). */
struct dirent *readdir(DIR *d)
{
	struct ofd *o = get(d->fd);
	if (o == NULL || o->dir == NULL) {
		__tessera_fail(EBADF);
		return NULL;
	}
	const struct node *dir = o->dir, *n;
	const char *name;
	size_t len;
	unsigned char type = DT_DIR;
	unsigned long ino;
	if (dir->removed)
		return NULL;
	if (o->pos == 0) {
		name = ".", len = 1, ino = dir->id;
	} else if (o->pos == 1) {
		name = "..", len = 2, ino = dir->parent ? dir->parent->id : dir->id;
		o->cursor = dir->child;
	} else {
		if ((n = o->cursor) == NULL)
			return NULL;
		o->cursor = n->next;
		name = n->name, len = n->namelen;
		ino = n->kind == N_DIR ? n->id : n->ino->id;
		if (n->kind == N_FILE)
			type = n->ino->dev ? DT_CHR : DT_REG;
	}
	o->pos++;
	d->ent.d_ino = ino;
	d->ent.d_type = type;
	memcpy(d->ent.d_name, name, len);
	d->ent.d_name[len] = 0;
	return &d->ent;
}

void rewinddir(DIR *d)
{
	struct ofd *o = get(d->fd);
	if (o && o->dir) {
		o->pos = 0;
		o->cursor = NULL;
	}
}

int closedir(DIR *d)
{
	int r = _close(d->fd);
	free(d);
	return r;
}

int dirfd(DIR *d)
{
	return d->fd;
}
