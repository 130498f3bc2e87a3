/*
 * hlibc's <sys/dirent.h>: newlib leaves directories to the system (its own
 * header is an #error); hlibc lists the folders of its in-memory file
 * system (hlibc/src/io.c).
 */
#ifndef _SYS_DIRENT_H
#define _SYS_DIRENT_H

#include <sys/types.h>

#define MAXNAMLEN 255

#define DT_UNKNOWN 0
#define DT_CHR 2
#define DT_DIR 4
#define DT_REG 8

struct dirent {
	ino_t d_ino;
	unsigned char d_type;
	char d_name[MAXNAMLEN + 1];
};

typedef struct __tessera_dir DIR;

#endif
