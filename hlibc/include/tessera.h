/*
 * tessera.h: what a compute function can ask tessera beyond ISO C and POSIX.
 *
 * A function sees its input sets as read-only folders /<set>/ and writes
 * its output items as files under /<output set>/ (docs/ABI.md §6). Every
 * item also carries a key, used by `keyed` distribution; these two calls
 * read and set it. They work the same in every build: native (hlibc, on
 * every native backend and in debug mode) and wasm32-wasi (imports from the
 * module "tessera", implemented by the Wasm backend).
 */
#ifndef TESSERA_H
#define TESSERA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by tessera_getkey on error. */
#define TESSERA_NOKEY UINT64_MAX

/*
 * tessera_getkey returns the key of the regular file at path: for an input
 * item the key the host gave it, for a file the function wrote the key it
 * set (0 unless set). On error it returns TESSERA_NOKEY and sets errno:
 * ENOENT (no such file), EISDIR (a folder), ENAMETOOLONG, EINVAL (path NULL
 * or empty). A real key equal to TESSERA_NOKEY is possible only on 64-bit
 * builds; clear errno first to tell it apart.
 */
uint64_t tessera_getkey(const char *path);

/*
 * tessera_setkey sets the key the regular file at path will carry as an
 * output item. Returns 0, or -1 with errno set: ENOENT, EISDIR, EROFS (an
 * input item), ENAMETOOLONG, EINVAL (path NULL or empty, or a key that does
 * not fit the ABI's size_t: above UINT32_MAX on wasm32). Setting the key
 * of a file outside any output folder is allowed and has no effect on the
 * outputs.
 */
int tessera_setkey(const char *path, uint64_t key);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_H */
