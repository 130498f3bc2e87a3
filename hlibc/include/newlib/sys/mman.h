/*
 * hlibc's <sys/mman.h>. Anonymous private mappings are served from the
 * heap (zeroed, page aligned) and can be unmapped whole; mapping files
 * fails with ENODEV (read them instead: input files cost no copy in the
 * file system), and changing protections fails with ENOSYS.
 */
#ifndef _HLIBC_SYS_MMAN_H
#define _HLIBC_SYS_MMAN_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROT_NONE 0
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_ANON MAP_ANONYMOUS
#define MAP_FAILED ((void *)-1)

void *mmap(void *, size_t, int, int, int, off_t);
int munmap(void *, size_t);
int mprotect(void *, size_t, int);

#ifdef __cplusplus
}
#endif

#endif
