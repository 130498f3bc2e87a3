/*
 * tessera.h for wasm32-wasi: keys come from the host through two imports
 * from the module "tessera" (docs/ABI.md §6):
 *
 *   getkey(path_ptr i32, path_len i32) -> i64
 *       the key (0 .. 2^32-1) of the file at path, or -errno (a WASI errno
 *       number: 44 ENOENT, 31 EISDIR, ...) as a negative value
 *   setkey(path_ptr i32, path_len i32, key i64) -> i32
 *       0, or a WASI errno number
 *
 * path is absolute and canonical: it starts with '/', has no "." or ".."
 * components, no repeated or trailing '/', and is not NUL-terminated.
 * This file makes it so, relative to the current directory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tessera.h>

__attribute__((import_module("tessera"), import_name("getkey")))
long long __tessera_import_getkey(const char *path, size_t len);

__attribute__((import_module("tessera"), import_name("setkey")))
int __tessera_import_setkey(const char *path, size_t len, long long key);

#define PATH_LIMIT 4096

/* canonical writes the canonical absolute form of path into out and
 * returns its length, or -1 with errno set. */
static long canonical(const char *path, char *out)
{
	if (path == NULL || path[0] == 0) {
		errno = EINVAL;
		return -1;
	}
	char cwd[PATH_LIMIT + 1];
	const char *base = "/";
	if (path[0] != '/') {
		if (getcwd(cwd, sizeof cwd))
			base = cwd;
	}
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		const char *p = pass == 0 ? base : path;
		if (pass == 0 && path[0] == '/')
			continue;
		while (*p) {
			while (*p == '/')
				p++;
			const char *c = p;
			while (*p && *p != '/')
				p++;
			size_t len = (size_t)(p - c);
			if (len == 0 || (len == 1 && c[0] == '.'))
				continue;
			if (len == 2 && c[0] == '.' && c[1] == '.') {
				while (n > 0 && out[--n] != '/')
					;
				continue;
			}
			if (n + 1 + len > PATH_LIMIT) {
				errno = ENAMETOOLONG;
				return -1;
			}
			out[n++] = '/';
			memcpy(out + n, c, len);
			n += len;
		}
	}
	if (n == 0)
		out[n++] = '/';
	return (long)n;
}

uint64_t tessera_getkey(const char *path)
{
	char buf[PATH_LIMIT];
	long n = canonical(path, buf);
	if (n < 0)
		return TESSERA_NOKEY;
	long long r = __tessera_import_getkey(buf, (size_t)n);
	if (r < 0) {
		errno = (int)-r;
		return TESSERA_NOKEY;
	}
	return (uint64_t)r;
}

int tessera_setkey(const char *path, uint64_t key)
{
	char buf[PATH_LIMIT];
	if (key > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	long n = canonical(path, buf);
	if (n < 0)
		return -1;
	int r = __tessera_import_setkey(buf, (size_t)n, (long long)key);
	if (r != 0) {
		errno = r;
		return -1;
	}
	return 0;
}
