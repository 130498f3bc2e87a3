/* The Wasm side of tessera's key functions (docs/ABI.md §6), as hlibc's
 * tessera.h will declare them for wasm32: imports from module "tessera". */
#ifndef TESSERA_H
#define TESSERA_H
#include <stdint.h>
#include <string.h>

__attribute__((import_module("tessera"), import_name("getkey")))
int64_t __tessera_getkey(const char *path, size_t len);
__attribute__((import_module("tessera"), import_name("setkey")))
int32_t __tessera_setkey(const char *path, size_t len, int64_t key);

/* The key of the input (or output) file at path, or -1. */
static inline int64_t tessera_getkey(const char *path) { return __tessera_getkey(path, strlen(path)); }
/* Sets the key an output file will carry; 0, or -1 if path is not one. */
static inline int tessera_setkey(const char *path, uint64_t key) { return __tessera_setkey(path, strlen(path), (int64_t)key); }
#endif
