/*
 * Small helpers the example functions share. Plain ISO C and POSIX, so
 * the same code builds against hlibc (native and debug) and wasi-libc.
 */
#ifndef GUEST_UTIL_H
#define GUEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tessera.h>

/* die reports a fatal error on stderr and fails the call with status 1. */
__attribute__((noreturn, format(printf, 1, 2), unused))
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* xmalloc allocates or dies. */
__attribute__((unused)) static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

__attribute__((unused)) static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* read_file returns the whole file at path (NUL-terminated for
 * convenience) and its length. */
__attribute__((unused)) static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	size_t cap = 4096, n = 0;
	unsigned char *buf = xmalloc(cap + 1);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = xrealloc(buf, (cap *= 2) + 1);
	}
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* write_file creates path (and the folders above it) holding data. */
__attribute__((unused)) static void write_file(const char *path, const void *data, size_t len)
{
	char dir[4096];
	size_t plen = strlen(path);
	if (plen >= sizeof dir)
		die("%s: path too long", path);
	memcpy(dir, path, plen + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			die("mkdir %s: %s", dir, strerror(errno));
		*p = '/';
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	if (len && fwrite(data, 1, len, f) != len)
		die("%s: write error", path);
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* A growable byte buffer for building outputs. */
struct buf {
	char *data;
	size_t len, cap;
};

__attribute__((unused)) static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n > SIZE_MAX / 2 - b->len)
		die("output too large");
	if (b->len + n > b->cap) {
		b->cap = b->cap ? b->cap : 256;
		while (b->cap < b->len + n)
			b->cap *= 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

__attribute__((unused, format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		die("buf_printf: line too long");
	buf_add(b, tmp, (size_t)n);
}

__attribute__((unused)) static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir returns the names in folder path, without "." and "..",
 * sorted bytewise, so results do not depend on the order a file system
 * lists them in. *isdir[i] tells folders from files. */
__attribute__((unused))
static size_t list_dir(const char *path, char ***names, unsigned char **isdir)
{
	DIR *d = opendir(path);
	if (d == NULL)
		die("%s: %s", path, strerror(errno));
	size_t n = 0, cap = 16;
	char **v = xmalloc(cap * sizeof *v);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof *v);
		v[n] = xmalloc(strlen(e->d_name) + 1);
		strcpy(v[n], e->d_name);
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof *v, cmp_names);
	unsigned char *dir = xmalloc(n);
	for (size_t i = 0; i < n; i++) {
		char full[4096];
		struct stat st;
		if (snprintf(full, sizeof full, "%s/%s", path, v[i]) >= (int)sizeof full)
			die("%s/%s: path too long", path, v[i]);
		if (stat(full, &st) < 0)
			die("%s: %s", full, strerror(errno));
		dir[i] = S_ISDIR(st.st_mode);
	}
	*names = v;
	*isdir = dir;
	return n;
}

/* A regular file found by list_files. */
struct file {
	char *path;       /* DIR/NAME */
	const char *name; /* inside path */
};

/* list_files returns the regular files directly in folder dir, sorted by
 * name (subfolders are skipped). */
__attribute__((unused)) static size_t list_files(const char *dir, struct file **out)
{
	char **names;
	unsigned char *isdir;
	size_t count = list_dir(dir, &names, &isdir), n = 0;
	struct file *f = xmalloc((count ? count : 1) * sizeof *f);
	size_t dlen = strlen(dir);
	for (size_t i = 0; i < count; i++) {
		if (!isdir[i]) {
			size_t len = dlen + 1 + strlen(names[i]);
			f[n].path = xmalloc(len + 1);
			snprintf(f[n].path, len + 1, "%s/%s", dir, names[i]);
			f[n].name = f[n].path + dlen + 1;
			n++;
		}
		free(names[i]);
	}
	free(names);
	free(isdir);
	*out = f;
	return n;
}

/* key_of returns the key of the file at path, or dies. */
__attribute__((unused)) static uint64_t key_of(const char *path)
{
	errno = 0;
	uint64_t key = tessera_getkey(path);
	if (key == TESSERA_NOKEY && errno)
		die("getkey %s: %s", path, strerror(errno));
	return key;
}

/* set_key gives the file at path its key, or dies. */
__attribute__((unused)) static void set_key(const char *path, uint64_t key)
{
	if (tessera_setkey(path, key) < 0)
		die("setkey %s: %s", path, strerror(errno));
}

/* next_line returns the line starting at *at in t[0..len) (without its
 * LF), its length in *n, and moves *at past it. */
__attribute__((unused)) static const char *next_line(const char *t, size_t len, size_t *at, size_t *n)
{
	size_t start = *at, end = start;
	while (end < len && t[end] != '\n')
		end++;
	*n = end - start;
	*at = end + 1;
	return t + start;
}

#endif
