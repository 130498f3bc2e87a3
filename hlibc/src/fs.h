/*
 * The in-memory file system behind hlibc's hooks (docs/ABI.md §6).
 *
 * Directory entries (struct node) form a tree; a global hash table maps
 * (parent, name) to an entry. Regular files keep their bytes in a struct
 * inode: either an input item's memory (read-only, never copied) or a heap
 * buffer the function writes. Files created under an output set's folder
 * are output items; each output set keeps them in a list in creation order.
 * An inode is at most one output item: the host counts every item's bytes
 * against the context, so two items sharing bytes would count them twice.
 */
#ifndef HLIBC_FS_H
#define HLIBC_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define FS_NAME_MAX 255  /* longest path component */
#define FS_PATH_MAX 4096 /* longest path, and longest output identifier */
#define FS_OPEN_MAX 1024 /* file descriptors */
#define FS_ITEMS_MAX 65536 /* output items the host accepts (loader.MaxOutputItems) */

enum { N_DIR = 1, N_FILE = 2 };
enum { DEV_NONE = 0, DEV_NULL = 1 };

struct inode {
	unsigned char *data; /* file bytes; NULL when empty */
	size_t size;
	size_t cap;          /* bytes allocated at data; 0: not ours (input) */
	uint64_t key;
	unsigned long id;    /* st_ino */
	unsigned nlink;      /* directory entries naming it */
	unsigned nopen;      /* open file descriptions using it */
	unsigned items;      /* entries that are output items: 0 or 1 */
	unsigned char ro;    /* an input item: never written */
	unsigned char dev;   /* DEV_NULL: reads see EOF, writes vanish */
};

struct node {
	struct node *parent;
	struct node *prev, *next;  /* siblings, in creation order */
	struct node *child, *last; /* a directory's entries */
	struct node *hnext;        /* hash chain */
	const char *name;          /* not NUL-terminated */
	size_t namelen;
	struct inode *ino;         /* regular files */
	unsigned long id;          /* st_ino of a directory */
	unsigned char kind;        /* N_DIR or N_FILE */
	unsigned char ro;          /* directory: entries cannot be added or removed */
	unsigned char owned_name;  /* name was allocated (free it with the node) */
	unsigned char removed;     /* directory removed while open */
	unsigned char input;       /* file: an input item's own entry (never removed) */
	int outroot;               /* directory: index of the output set it holds, else -1 */
	int item;                  /* file: output set it is an item of, else -1 */
	struct node *onext, *oprev; /* the output set's items, in creation order */
	char *ident;               /* file under an output folder: its identifier */
	size_t identlen;
	unsigned nopen;            /* directory: open descriptors (for cursors) */
};

/* fs_root returns the root, building the tree from the system data on the
 * first call. NULL only if even the root could not be allocated. */
struct node *fs_root(void);
/* fs_ready reports whether the tree has been built. */
int fs_ready(void);

/* Result of resolving a path. */
struct lookup {
	struct node *node;   /* the entry, or NULL if the last component is missing */
	struct node *parent; /* the directory that holds (or would hold) it */
	const char *name;    /* the last component, inside the path */
	size_t namelen;
	int dir;             /* the path ended in '/' */
};

/* fs_resolve resolves path against the current directory. It fails with
 * errno ENOENT, ENOTDIR, ENAMETOOLONG or EINVAL when an intermediate
 * component is missing or wrong, and with ENAMETOOLONG when any component,
 * the last included, is longer than FS_NAME_MAX; a missing last component
 * is not an error (node is NULL then). Returns 0 or -1 with errno set. */
int fs_resolve(const char *path, struct lookup *l);

/* fs_create adds a regular file or directory to parent. */
struct node *fs_create(struct node *parent, const char *name, size_t len, int kind);
/* fs_unlink removes a file's entry (EROFS/EISDIR/...); 0 or -1. */
int fs_unlink(struct node *n);
/* fs_rmdir removes an empty directory; 0 or -1. */
int fs_rmdir(struct node *n);
/* fs_link adds a new entry for file n in parent (EMLINK if that would make
 * a file that already is an output item a second one); 0 or -1. */
int fs_link(struct node *n, struct node *parent, const char *name, size_t len);
/* fs_move renames file n to name in parent, replacing file old there if
 * old is not NULL (old is not a name of n's file). All or nothing: on failure both stay as they
 * were. 0 or -1. */
int fs_move(struct node *n, struct node *parent, const char *name, size_t len, struct node *old);

/* fs_reserve makes room for need bytes in a writable inode. 0 or -1
 * (ENOMEM, EFBIG). The bytes between size and need are not initialised. */
int fs_reserve(struct inode *ino, size_t need);
/* fs_dir_release drops an open reference to a directory. */
void fs_dir_release(struct node *n);
/* fs_inode_release drops an open reference and frees an orphaned inode. */
void fs_inode_release(struct inode *ino);

/* fs_stat fills st for a directory (n) or a file (ino). */
void fs_stat(const struct node *dir, const struct inode *ino, struct stat *st);

/* The current directory (chdir). */
extern struct node *fs_cwd;

/* fs_path_of writes n's absolute path into buf (getcwd); 0 or -1. */
int fs_path_of(const struct node *n, char *buf, size_t size);

/* Hook for directory cursors: called before n leaves its directory. */
void io_forget(struct node *n);

#endif
