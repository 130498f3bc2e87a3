/*
 * The debug platform layer: the same hlibc (newlib, hooks, file system)
 * as in a sandbox, but a normal static Linux program that reads its input
 * sets from folders and writes its output sets to folders, for running
 * under gdb. This file is the only hlibc code that makes real system
 * calls. Conventions (README "Writing a function", docs/ABI.md §6):
 *
 *   TESSERA_IN=dir       every subfolder of dir is an input set, every file
 *                        below it an item named by its path in the set
 *                        folder; an optional file dir/<set>.keys lists
 *                        "KEY IDENT" lines giving keys and item order
 *   TESSERA_OUT=dir      at exit, output set S is written to dir/S/<ident>
 *                        and dir/S.keys lists "KEY IDENT" in item order
 *   TESSERA_OUTPUTS=a,b  the declared output sets (default: stdio)
 *   TESSERA_HEAP=bytes   heap size (default 1 GiB, reserved lazily)
 *   TESSERA_QUIET=1      do not echo stdout and stderr to the terminal
 *
 * Without a stdio/argv item, the command line's arguments become argv.
 * In .keys files an identifier's backslashes and newlines are written as
 * \\ and \n. Setup errors print a message and exit with status 125.
 */
#include <stdlib.h>
#include <string.h>

#include "hlibc.h"

enum {
	SYS_write = 1,
	SYS_close = 3,
	SYS_mmap = 9,
	SYS_getdents64 = 217,
	SYS_exit_group = 231,
	SYS_openat = 257,
	SYS_mkdirat = 258,
	SYS_newfstatat = 262,
};

#define AT_FDCWD_ (-100)
#define O_RDONLY_ 0
#define O_WRONLY_ 1
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define O_DIRECTORY_ 0200000
#define O_CLOEXEC_ 02000000
#define PROT_READ_ 1
#define PROT_WRITE_ 2
#define MAP_PRIVATE_ 2
#define MAP_ANONYMOUS_ 0x20
#define MAP_NORESERVE_ 0x4000
#define EEXIST_ 17
#define DT_DIR_ 4
#define DT_REG_ 8
#define DT_LNK_ 10
#define DT_UNKNOWN_ 0
#define S_IFMT_ 0170000
#define S_IFDIR_ 0040000
#define S_IFREG_ 0100000

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The kernel's struct stat on x86-64, as far as we need it. */
struct kstat {
	unsigned long dev, ino, nlink;
	unsigned mode, uid, gid, pad;
	unsigned long rdev;
	long size, blksize, blocks;
	unsigned long times[6];
	long reserved[3];
};

static struct {
	const char *in, *out, *outputs;
	int quiet;
	char *arena, *arena_end;
} dbg;

__attribute__((noreturn)) static void die(const char *what, const char *arg, long err)
{
	static const char prefix[] = "tessera debug: ";
	char num[24];
	int i = sizeof num;
	unsigned long e = (unsigned long)(err < 0 ? -err : err);
	num[--i] = '\n';
	do
		num[--i] = (char)('0' + e % 10);
	while ((e /= 10) && i > 0);
	sys(SYS_write, 2, (long)prefix, sizeof prefix - 1, 0, 0, 0);
	sys(SYS_write, 2, (long)what, (long)strlen(what), 0, 0, 0);
	if (arg) {
		sys(SYS_write, 2, (long)" ", 1, 0, 0, 0);
		sys(SYS_write, 2, (long)arg, (long)strlen(arg), 0, 0, 0);
	}
	sys(SYS_write, 2, (long)": error ", 8, 0, 0, 0);
	sys(SYS_write, 2, (long)(num + i), (long)(sizeof num - (size_t)i), 0, 0, 0);
	sys(SYS_exit_group, 125, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}

static void *map_anon(size_t len)
{
	long p = sys(SYS_mmap, 0, (long)len, PROT_READ_ | PROT_WRITE_,
		     MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_NORESERVE_, -1, 0);
	if (p < 0 && p > -4096)
		die("cannot reserve memory", NULL, p);
	return (void *)p;
}

/* alloc hands out zeroed memory from the loader's own arena, never from
 * the function's heap, so the heap starts exactly as in a sandbox. */
static void *alloc(size_t n)
{
	if (dbg.arena == NULL) {
		size_t size = (size_t)1 << 32;
		dbg.arena = map_anon(size);
		dbg.arena_end = dbg.arena + size;
	}
	n = (n + 15) & ~(size_t)15;
	if (n > (size_t)(dbg.arena_end - dbg.arena))
		die("out of loader memory", NULL, 12);
	void *p = dbg.arena;
	dbg.arena += n;
	return p;
}

static char *join(const char *a, const char *sep, const char *b, size_t blen)
{
	size_t al = strlen(a), sl = strlen(sep);
	char *s = alloc(al + sl + blen + 1);
	memcpy(s, a, al);
	memcpy(s + al, sep, sl);
	memcpy(s + al + sl, b, blen);
	return s;
}

static const char *env(char **envp, const char *name)
{
	size_t n = strlen(name);
	for (; *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* ---- reading input folders ---- */

struct item {
	struct item *next;
	char *ident;
	size_t len;
	void *data;
	size_t size;
	size_t key;
	int listed; /* named in the .keys file */
};

struct set {
	struct set *next;
	char *name;
	struct item *items;
	size_t count;
};

static long open_at(const char *path, long flags)
{
	return sys(SYS_openat, AT_FDCWD_, (long)path, flags | O_CLOEXEC_, 0644, 0, 0);
}

static struct item *read_file(const char *path, const char *ident, struct item *list)
{
	long fd = open_at(path, O_RDONLY_);
	if (fd < 0)
		die("cannot open", path, fd);
	struct kstat st;
	long r = sys(SYS_newfstatat, fd, (long)"", (long)&st, 0x1000 /* AT_EMPTY_PATH */, 0, 0);
	if (r < 0)
		die("cannot stat", path, r);
	struct item *it = alloc(sizeof *it);
	it->ident = (char *)ident;
	it->len = strlen(ident);
	it->size = (size_t)st.size;
	if (it->size) {
		long p = sys(SYS_mmap, 0, st.size, PROT_READ_, MAP_PRIVATE_, fd, 0);
		if (p < 0 && p > -4096)
			die("cannot map", path, p);
		it->data = (void *)p;
	}
	sys(SYS_close, fd, 0, 0, 0, 0, 0);
	it->next = list;
	return it;
}

/* walk adds every regular file below dir, named prefix + relative path. */
static struct item *walk(const char *dir, const char *prefix, struct item *list, int top)
{
	long fd = open_at(dir, O_RDONLY_ | O_DIRECTORY_);
	if (fd < 0)
		die("cannot open folder", dir, fd);
	char *buf = alloc(8192);
	for (;;) {
		long n = sys(SYS_getdents64, fd, (long)buf, 8192, 0, 0, 0);
		if (n < 0)
			die("cannot list", dir, n);
		if (n == 0)
			break;
		for (long at = 0; at < n;) {
			unsigned short reclen = *(unsigned short *)(buf + at + 16);
			unsigned char type = *(unsigned char *)(buf + at + 18);
			const char *name = buf + at + 19;
			at += reclen;
			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
				continue;
			char *path = join(dir, "/", name, strlen(name));
			if (type == DT_LNK_ || type == DT_UNKNOWN_) {
				struct kstat st;
				long r = sys(SYS_newfstatat, AT_FDCWD_, (long)path, (long)&st, 0, 0, 0);
				if (r < 0)
					die("cannot stat", path, r);
				type = (st.mode & S_IFMT_) == S_IFDIR_ ? DT_DIR_
				     : (st.mode & S_IFMT_) == S_IFREG_ ? DT_REG_ : DT_UNKNOWN_;
			}
			char *ident = top ? join("", "", name, strlen(name)) : join(prefix, "/", name, strlen(name));
			if (type == DT_DIR_)
				list = walk(path, ident, list, 0);
			else if (type == DT_REG_)
				list = read_file(path, ident, list);
		}
	}
	sys(SYS_close, fd, 0, 0, 0, 0, 0);
	return list;
}

static int by_ident(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->ident, y->ident, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* unescape undoes the \\ and \n escapes of a .keys line in place. */
static size_t unescape(char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			if (c == 'n')
				c = '\n';
		}
		s[o++] = c;
	}
	return o;
}

/* read_keys applies dir/<set>.keys, if any: each line "KEY IDENT" gives
 * an item its key and puts it, in line order, before unlisted items. */
static struct item *read_keys(const char *path, struct item **items, size_t count)
{
	struct item *listed = NULL, **tail = &listed;
	long fd = open_at(path, O_RDONLY_);
	if (fd < 0)
		return NULL;
	sys(SYS_close, fd, 0, 0, 0, 0, 0);
	struct item *f = read_file(path, "", NULL);
	char *s = f->data;
	/* A private copy: the mapping is read-only and identifiers are
	 * unescaped in place. */
	char *text = alloc(f->size + 1);
	memcpy(text, s, f->size);
	for (size_t at = 0; at < f->size;) {
		char *line = text + at;
		size_t len = 0;
		while (at + len < f->size && line[len] != '\n')
			len++;
		at += len + 1;
		if (len == 0)
			continue;
		size_t k = 0;
		unsigned long long key = 0;
		while (k < len && line[k] >= '0' && line[k] <= '9') {
			key = key * 10 + (unsigned)(line[k] - '0');
			k++;
		}
		if (k == 0 || k >= len || line[k] != ' ')
			die("malformed line in", path, 22);
		char *id = line + k + 1;
		size_t idlen = unescape(id, len - k - 1);
		size_t i;
		for (i = 0; i < count; i++)
			if (!items[i]->listed && items[i]->len == idlen && memcmp(items[i]->ident, id, idlen) == 0)
				break;
		if (i == count)
			die("a .keys line names no file:", path, 2);
		items[i]->key = (size_t)key;
		items[i]->listed = 1;
		*tail = items[i];
		tail = &items[i]->next;
	}
	*tail = NULL;
	return listed;
}

static struct set *read_set(const char *name)
{
	struct set *s = alloc(sizeof *s);
	s->name = (char *)name;
	char *dir = join(dbg.in, "/", name, strlen(name));
	struct item *list = walk(dir, "", NULL, 1);
	size_t n = 0;
	for (struct item *it = list; it; it = it->next)
		n++;
	struct item **v = alloc((n + 1) * sizeof *v);
	n = 0;
	for (struct item *it = list; it; it = it->next)
		v[n++] = it;
	qsort(v, n, sizeof *v, by_ident);
	struct item *listed = read_keys(join(dir, "", ".keys", 5), v, n);
	/* listed items first, then the rest by name */
	struct item *head = listed, **tail = &head;
	while (*tail)
		tail = &(*tail)->next;
	for (size_t i = 0; i < n; i++) {
		if (v[i]->listed)
			continue;
		*tail = v[i];
		tail = &v[i]->next;
	}
	*tail = NULL;
	s->items = head;
	s->count = n;
	return s;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct set *const *)a)->name, (*(struct set *const *)b)->name);
}

static size_t read_sets(struct set ***out)
{
	struct set *list = NULL;
	size_t n = 0;
	if (dbg.in) {
		long fd = open_at(dbg.in, O_RDONLY_ | O_DIRECTORY_);
		if (fd < 0)
			die("cannot open TESSERA_IN", dbg.in, fd);
		char *buf = alloc(8192);
		long got;
		while ((got = sys(SYS_getdents64, fd, (long)buf, 8192, 0, 0, 0)) > 0) {
			for (long at = 0; at < got;) {
				unsigned short reclen = *(unsigned short *)(buf + at + 16);
				const char *name = buf + at + 19;
				at += reclen;
				if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
					continue;
				struct kstat st;
				char *path = join(dbg.in, "/", name, strlen(name));
				if (sys(SYS_newfstatat, AT_FDCWD_, (long)path, (long)&st, 0, 0, 0) < 0 ||
				    (st.mode & S_IFMT_) != S_IFDIR_)
					continue; /* .keys files and anything else */
				struct set *s = read_set(join("", "", name, strlen(name)));
				s->next = list;
				list = s;
				n++;
			}
		}
		if (got < 0)
			die("cannot list TESSERA_IN", dbg.in, got);
		sys(SYS_close, fd, 0, 0, 0, 0, 0);
	}
	struct set **v = alloc((n + 2) * sizeof *v);
	n = 0;
	for (struct set *s = list; s; s = s->next)
		v[n++] = s;
	qsort(v, n, sizeof *v, by_name);
	*out = v;
	return n;
}

/* argv_item joins the command line's arguments into a stdio/argv item,
 * escaping what the word splitter would otherwise split or unquote. */
static struct item *argv_item(int argc, char **argv)
{
	size_t len = 0;
	for (int i = 0; i < argc; i++)
		len += 2 * strlen(argv[i]) + 3;
	char *s = alloc(len + 1), *p = s;
	for (int i = 0; i < argc; i++) {
		if (i)
			*p++ = ' ';
		if (argv[i][0] == 0) {
			*p++ = '"';
			*p++ = '"';
		}
		for (const char *c = argv[i]; *c; c++) {
			if (strchr(" \t\n\r\v\f'\"\\", *c))
				*p++ = '\\';
			*p++ = *c;
		}
	}
	struct item *it = alloc(sizeof *it);
	it->ident = "argv";
	it->len = 4;
	it->data = s;
	it->size = (size_t)(p - s);
	return it;
}

static void add_argv(struct set **sets, size_t *n, int argc, char **argv)
{
	struct set *stdio = NULL;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(sets[i]->name, "stdio") == 0)
			stdio = sets[i];
	if (stdio) {
		for (struct item *it = stdio->items; it; it = it->next)
			if (it->len == 4 && memcmp(it->ident, "argv", 4) == 0)
				return;
	} else {
		stdio = alloc(sizeof *stdio);
		stdio->name = "stdio";
		sets[(*n)++] = stdio;
	}
	struct item *it = argv_item(argc, argv);
	it->next = stdio->items;
	stdio->items = it;
	stdio->count++;
}

/* ---- the platform interface ---- */

void __tessera_platform_init(uintptr_t *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
	__tessera_mem_lo = 4096;
	__tessera_mem_hi = UINTPTR_MAX;
	dbg.in = env(envp, "TESSERA_IN");
	dbg.out = env(envp, "TESSERA_OUT");
	dbg.outputs = env(envp, "TESSERA_OUTPUTS");
	if (dbg.outputs == NULL)
		dbg.outputs = "stdio";
	const char *q = env(envp, "TESSERA_QUIET");
	dbg.quiet = q && q[0] && strcmp(q, "0") != 0;

	struct dandelion_system_data *sd = &__dandelion_system_data;
	size_t heap = (size_t)1 << 30;
	const char *h = env(envp, "TESSERA_HEAP");
	if (h) {
		char *end;
		heap = strtoul(h, &end, 0);
		if (*end || heap < 4096)
			die("TESSERA_HEAP must be a byte count of at least 4096, not", h, 22);
	}
	char *base = map_anon(heap);
	sd->heap_begin = (size_t)base;
	sd->heap_end = (size_t)base + heap;

	struct set **sets;
	size_t n = read_sets(&sets);
	if (argc >= 1)
		add_argv(sets, &n, argc, argv);
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += sets[i]->count;
	struct io_set_info *in = alloc((n + 1) * sizeof *in);
	io_buffer *bufs = alloc((total + 1) * sizeof *bufs);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		in[i].ident = sets[i]->name;
		in[i].ident_len = strlen(sets[i]->name);
		in[i].offset = k;
		for (struct item *it = sets[i]->items; it; it = it->next)
			bufs[k++] = (io_buffer){it->ident, it->len, it->data, it->size, it->key};
	}
	in[n].offset = k;
	sd->input_sets_len = n;
	sd->input_sets = in;
	sd->input_bufs = bufs;

	size_t no = 0;
	for (const char *p = dbg.outputs; *p; p++)
		no += *p == ',';
	struct io_set_info *out = alloc((no + 2) * sizeof *out);
	no = 0;
	for (const char *p = dbg.outputs; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len) {
			out[no].ident = p;
			out[no].ident_len = len;
			no++;
		}
		p += len + (e != NULL);
	}
	sd->output_sets_len = no;
	sd->output_sets = out;
	sd->exit_code = -1;
}

/* ---- writing output folders ---- */

static void mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		long r = sys(SYS_mkdirat, AT_FDCWD_, (long)path, 0755, 0, 0, 0);
		*p = '/';
		if (r < 0 && r != -EEXIST_)
			die("cannot create folder for", path, r);
	}
}

static void write_all(long fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;
	while (len) {
		long w = sys(SYS_write, fd, (long)p, (long)len, 0, 0, 0);
		if (w < 0)
			die("cannot write", path, w);
		p += w;
		len -= (size_t)w;
	}
}

static long create(char *path)
{
	mkdirs(path);
	long fd = open_at(path, O_WRONLY_ | O_CREAT_ | O_TRUNC_);
	if (fd < 0)
		die("cannot create", path, fd);
	return fd;
}

static void write_set(const struct io_set_info *set, const io_buffer *bufs, size_t first, size_t end)
{
	char *dir = join(dbg.out, "/", set->ident, set->ident_len);
	char *keys = join(dir, "", ".keys", 5);
	char *slash = join(dir, "", "/", 1);
	mkdirs(slash);
	long kfd = create(keys);
	for (size_t i = first; i < end; i++) {
		const io_buffer *b = &bufs[i];
		char *path = join(dir, "/", b->ident, b->ident_len);
		long fd = create(path);
		write_all(fd, b->data, b->data_len, path);
		sys(SYS_close, fd, 0, 0, 0, 0, 0);
		char *line = alloc(24 + 2 * b->ident_len), *p = line + 22;
		unsigned long long key = b->key;
		do
			*--p = (char)('0' + key % 10);
		while (key /= 10);
		size_t n = (size_t)(line + 22 - p);
		memmove(line, p, n);
		line[n++] = ' ';
		for (size_t c = 0; c < b->ident_len; c++) {
			char ch = b->ident[c];
			if (ch == '\\' || ch == '\n')
				line[n++] = '\\', ch = ch == '\n' ? 'n' : ch;
			line[n++] = ch;
		}
		line[n++] = '\n';
		write_all(kfd, line, n, keys);
	}
	sys(SYS_close, kfd, 0, 0, 0, 0, 0);
}

void __tessera_platform_exit(int status)
{
	const struct dandelion_system_data *sd = &__dandelion_system_data;
	if (dbg.out) {
		for (size_t i = 0; i < sd->output_sets_len; i++)
			write_set(&sd->output_sets[i], sd->output_bufs, sd->output_sets[i].offset,
				  sd->output_sets[i + 1].offset);
	}
	sys(SYS_exit_group, status, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}

void __tessera_platform_console(int fd, const void *buf, size_t len)
{
	if (dbg.quiet)
		return;
	const char *p = buf;
	while (len) {
		long w = sys(SYS_write, fd, (long)p, (long)len, 0, 0, 0);
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}
