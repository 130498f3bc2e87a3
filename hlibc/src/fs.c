/*
 * The in-memory file system: the tree, path resolution, output items and
 * keys (docs/ABI.md §6). See fs.h for the data structures.
 *
 * The tree is built lazily, on the first file-system call, so that a
 * function that never touches a file (the no-op cold-start probe) pays
 * nothing for it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tessera.h>

#include "fs.h"
#include "hlibc.h"

struct olist {
	struct node *head, *tail;
};

static struct {
	int ready;
	struct node root;
	struct node **tab; /* hash buckets */
	size_t mask;       /* buckets - 1 */
	size_t count;      /* entries in the table */
	unsigned long ids;
	/* Output items: one list per declared output set, and room for the
	 * io_buffer array published at exit, reserved as items appear so
	 * that exiting never allocates. */
	size_t nsets;
	struct olist *sets;
	size_t nitems;
	io_buffer *obuf;
	size_t ocap;
} fs;

struct node *fs_cwd;

int fs_ready(void) { return fs.ready; }

/* ---- hash table of directory entries ---- */

static size_t hash(const struct node *dir, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)dir;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 31));
}

static struct node *lookup(const struct node *dir, const char *name, size_t len)
{
	if (fs.tab == NULL)
		return NULL;
	for (struct node *n = fs.tab[hash(dir, name, len) & fs.mask]; n; n = n->hnext)
		if (n->parent == dir && n->namelen == len && memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

/* grow doubles the table; on failure the old one stays (chains get longer,
 * lookups stay correct). */
static void grow(void)
{
	size_t nb = fs.tab ? 2 * (fs.mask + 1) : 64;
	struct node **t = calloc(nb, sizeof *t);
	if (t == NULL)
		return;
	if (fs.tab) {
		for (size_t i = 0; i <= fs.mask; i++) {
			struct node *n = fs.tab[i], *next;
			for (; n; n = next) {
				next = n->hnext;
				size_t b = hash(n->parent, n->name, n->namelen) & (nb - 1);
				n->hnext = t[b];
				t[b] = n;
			}
		}
		free(fs.tab);
	}
	fs.tab = t;
	fs.mask = nb - 1;
}

static int hash_insert(struct node *n)
{
	if (fs.tab == NULL || fs.count >= fs.mask + 1)
		grow();
	if (fs.tab == NULL)
		return -1;
	size_t b = hash(n->parent, n->name, n->namelen) & fs.mask;
	n->hnext = fs.tab[b];
	fs.tab[b] = n;
	fs.count++;
	return 0;
}

static void hash_remove(struct node *n)
{
	struct node **p = &fs.tab[hash(n->parent, n->name, n->namelen) & fs.mask];
	for (; *p; p = &(*p)->hnext) {
		if (*p == n) {
			*p = n->hnext;
			fs.count--;
			return;
		}
	}
}

/* ---- output items ---- */

/* out_set returns the output set whose folder holds dir, or -1. */
static int out_set(const struct node *dir)
{
	for (; dir; dir = dir->parent)
		if (dir->outroot >= 0)
			return dir->outroot;
	return -1;
}

static void relist(struct node *n);

/* make_item makes file n an item of output set set: its identifier is its
 * path below the set's folder. */
static int make_item(struct node *n, int set)
{
	size_t len = n->namelen;
	const struct node *d;
	for (d = n->parent; d && d->outroot != set; d = d->parent)
		len += d->namelen + 1;
	if (len > FS_PATH_MAX)
		return __tessera_fail(ENAMETOOLONG);
	if (fs.nitems >= FS_ITEMS_MAX)
		return __tessera_fail(ENOSPC);
	if (fs.nitems >= fs.ocap) {
		size_t cap = fs.ocap ? 2 * fs.ocap : 16;
		io_buffer *b = realloc(fs.obuf, cap * sizeof *b);
		if (b == NULL)
			return __tessera_fail(ENOMEM);
		fs.obuf = b;
		fs.ocap = cap;
	}
	char *id = malloc(len + 1);
	if (id == NULL)
		return __tessera_fail(ENOMEM);
	id[len] = 0;
	size_t at = len;
	const struct node *p = n;
	for (;;) {
		at -= p->namelen;
		memcpy(id + at, p->name, p->namelen);
		p = p->parent;
		if (p == NULL || p->outroot == set)
			break;
		id[--at] = '/';
	}
	n->ident = id;
	n->identlen = len;
	n->item = set;
	n->onext = NULL;
	n->oprev = fs.sets[set].tail;
	relist(n);
	return 0;
}

/* unlist takes item n out of its set's list. n keeps its identifier and
 * its neighbours (oprev, onext), so relist can put it back where it was
 * as long as the list has not changed in between (items unlisted together
 * are relisted in the reverse order). The room reserved for it in obuf
 * stays. */
static void unlist(struct node *n)
{
	struct olist *l = &fs.sets[n->item];
	if (n->oprev)
		n->oprev->onext = n->onext;
	else
		l->head = n->onext;
	if (n->onext)
		n->onext->oprev = n->oprev;
	else
		l->tail = n->oprev;
	n->ino->items--;
	fs.nitems--;
}

static void relist(struct node *n)
{
	struct olist *l = &fs.sets[n->item];
	if (n->oprev)
		n->oprev->onext = n;
	else
		l->head = n;
	if (n->onext)
		n->onext->oprev = n;
	else
		l->tail = n;
	n->ino->items++;
	fs.nitems++;
}

static void drop_item(struct node *n)
{
	unlist(n);
	free(n->ident);
	n->ident = NULL;
	n->item = -1;
}

/* ---- entries ---- */

static struct node *new_node(struct node *parent, const char *name, size_t len,
			     int kind, int copy)
{
	struct node *n = calloc(1, sizeof *n);
	if (n == NULL)
		return NULL;
	if (copy) {
		char *s = malloc(len);
		if (s == NULL) {
			free(n);
			return NULL;
		}
		memcpy(s, name, len);
		name = s;
		n->owned_name = 1;
	}
	n->parent = parent;
	n->name = name;
	n->namelen = len;
	n->kind = kind;
	n->outroot = -1;
	n->item = -1;
	n->id = ++fs.ids;
	return n;
}

static void free_node(struct node *n)
{
	if (n->owned_name)
		free((char *)n->name);
	free(n);
}

/* attach links n into its parent's entries and the hash table. */
static int attach(struct node *n)
{
	if (hash_insert(n) < 0)
		return -1;
	struct node *d = n->parent;
	n->prev = d->last;
	n->next = NULL;
	if (d->last)
		d->last->next = n;
	else
		d->child = n;
	d->last = n;
	return 0;
}

static void detach(struct node *n)
{
	struct node *d = n->parent;
	io_forget(n);
	hash_remove(n);
	if (n->prev)
		n->prev->next = n->next;
	else
		d->child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		d->last = n->prev;
	n->prev = n->next = NULL;
}

/* add_entry creates an entry for ino (a new inode if NULL) in parent and
 * registers it as an output item if parent lies in an output folder; an
 * inode that already is an item cannot become a second one (EMLINK). */
static struct node *add_entry(struct node *parent, const char *name, size_t len,
			      int kind, struct inode *ino)
{
	int set = kind == N_FILE ? out_set(parent) : -1;
	if (set >= 0 && ino && ino->items) {
		__tessera_fail(EMLINK);
		return NULL;
	}
	struct node *n = new_node(parent, name, len, kind, 1);
	if (n == NULL) {
		__tessera_fail(ENOMEM);
		return NULL;
	}
	if (kind == N_FILE) {
		if (ino == NULL) {
			ino = calloc(1, sizeof *ino);
			if (ino == NULL) {
				free_node(n);
				__tessera_fail(ENOMEM);
				return NULL;
			}
			ino->id = n->id;
		}
		n->ino = ino;
		if (set >= 0 && make_item(n, set) < 0) {
			if (ino->nlink == 0)
				free(ino);
			free_node(n);
			return NULL;
		}
	}
	if (attach(n) < 0) {
		if (n->item >= 0)
			drop_item(n);
		if (kind == N_FILE && ino->nlink == 0)
			free(ino);
		free_node(n);
		__tessera_fail(ENOMEM);
		return NULL;
	}
	if (ino)
		ino->nlink++;
	return n;
}

struct node *fs_create(struct node *parent, const char *name, size_t len, int kind)
{
	if (parent->ro || parent->removed) {
		__tessera_fail(parent->removed ? ENOENT : EROFS);
		return NULL;
	}
	return add_entry(parent, name, len, kind, NULL);
}

static void put_inode(struct inode *ino)
{
	if (ino->nlink == 0 && ino->nopen == 0) {
		if (ino->cap)
			free(ino->data);
		free(ino);
	}
}

void fs_inode_release(struct inode *ino)
{
	ino->nopen--;
	put_inode(ino);
}

void fs_dir_release(struct node *n)
{
	if (--n->nopen == 0 && n->removed)
		free_node(n);
}

/* fixed reports whether file entry n cannot be removed or renamed: an
 * input item's own entry (in a folder an input set shares with an output
 * set too), or any entry of a read-only folder. Other links to an input
 * file are ordinary names. */
static int fixed(const struct node *n)
{
	return n->input || n->parent->ro;
}

/* forget removes file entry n, whose item (if it is one) is unlisted. */
static void forget(struct node *n)
{
	detach(n);
	free(n->ident);
	struct inode *ino = n->ino;
	ino->nlink--;
	put_inode(ino);
	free_node(n);
}

int fs_unlink(struct node *n)
{
	if (n->kind == N_DIR)
		return __tessera_fail(EISDIR);
	if (fixed(n))
		return __tessera_fail(EROFS);
	if (n->item >= 0)
		unlist(n);
	forget(n);
	return 0;
}

int fs_rmdir(struct node *n)
{
	if (n->kind != N_DIR)
		return __tessera_fail(ENOTDIR);
	if (n == &fs.root || n->outroot >= 0 || n == fs_cwd)
		return __tessera_fail(EBUSY);
	if (n->ro || n->parent->ro)
		return __tessera_fail(EROFS);
	if (n->child)
		return __tessera_fail(ENOTEMPTY);
	detach(n);
	n->removed = 1;
	/* An open descriptor may still refer to it; a removed directory is
	 * small and is simply kept. */
	if (n->nopen == 0)
		free_node(n);
	return 0;
}

int fs_link(struct node *n, struct node *parent, const char *name, size_t len)
{
	if (n->kind != N_FILE)
		return __tessera_fail(EPERM);
	if (parent->ro || parent->removed)
		return __tessera_fail(parent->removed ? ENOENT : EROFS);
	return add_entry(parent, name, len, N_FILE, n->ino) ? 0 : -1;
}

int fs_move(struct node *n, struct node *parent, const char *name, size_t len, struct node *old)
{
	if (n->kind != N_FILE)
		return __tessera_fail(EXDEV);
	if (old && old->kind != N_FILE)
		return __tessera_fail(EISDIR);
	if (fixed(n) || (old && fixed(old)) || parent->ro || parent->removed)
		return __tessera_fail(parent->removed ? ENOENT : EROFS);
	/* The new name takes the place of n's item (and old's): set them
	 * aside, so that the move neither meets the item limit nor makes
	 * a second item of n's file, and put them back if it fails. */
	if (n->item >= 0)
		unlist(n);
	if (old && old->item >= 0)
		unlist(old);
	if (add_entry(parent, name, len, N_FILE, n->ino) == NULL) {
		if (old && old->item >= 0)
			relist(old);
		if (n->item >= 0)
			relist(n);
		return -1;
	}
	if (old)
		forget(old);
	forget(n);
	return 0;
}

int fs_reserve(struct inode *ino, size_t need)
{
	if (need <= ino->cap)
		return 0;
	if (need > (size_t)PTRDIFF_MAX)
		return __tessera_fail(EFBIG);
	/* Double small files, grow large ones by half: the heap is the
	 * context, so over-allocation is paid for in guest memory. */
	size_t cap = ino->cap < (1u << 20) ? 2 * ino->cap : ino->cap + ino->cap / 2;
	if (cap < need)
		cap = need;
	if (cap < 256)
		cap = 256;
	unsigned char *d = realloc(ino->data, cap);
	if (d == NULL && cap > need)
		d = realloc(ino->data, cap = need);
	if (d == NULL)
		return __tessera_fail(ENOMEM);
	ino->data = d;
	ino->cap = cap;
	return 0;
}

void fs_stat(const struct node *dir, const struct inode *ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = 1;
	st->st_blksize = 4096;
	if (ino) {
		st->st_ino = ino->id;
		st->st_mode = S_IFREG | (ino->ro ? 0444 : 0644);
		if (ino->dev)
			st->st_mode = S_IFCHR | 0666;
		st->st_nlink = ino->nlink;
		st->st_size = (off_t)ino->size;
		st->st_blocks = (blkcnt_t)((ino->size + 511) / 512);
	} else {
		st->st_ino = dir->id;
		st->st_mode = S_IFDIR | (dir->ro ? 0555 : 0755);
		st->st_nlink = 2;
		st->st_size = 0;
	}
}

/* ---- paths ---- */

/* next_component returns the next path component after *p, skipping
 * slashes, and advances *p past it; len 0 means the end. */
static const char *next_component(const char **p, const char *end, size_t *len)
{
	const char *s = *p;
	while (s < end && *s == '/')
		s++;
	const char *c = s;
	while (s < end && *s != '/')
		s++;
	*len = (size_t)(s - c);
	*p = s;
	return c;
}

int fs_resolve(const char *path, struct lookup *l)
{
	memset(l, 0, sizeof *l);
	if (path == NULL)
		return __tessera_fail(EFAULT);
	size_t plen = strnlen(path, FS_PATH_MAX + 1);
	if (plen == 0)
		return __tessera_fail(ENOENT);
	if (plen > FS_PATH_MAX)
		return __tessera_fail(ENAMETOOLONG);
	struct node *root = fs_root();
	if (root == NULL)
		return __tessera_fail(ENOMEM);
	const char *p = path, *end = path + plen;
	struct node *dir = path[0] == '/' ? root : fs_cwd;
	struct node *cur = dir;
	size_t len;
	const char *c = next_component(&p, end, &len);
	if (len == 0) { /* "/" or "///" */
		l->node = dir;
		l->parent = dir;
		l->name = ".";
		l->namelen = 1;
		l->dir = 1;
		return 0;
	}
	for (;;) {
		if (len > FS_NAME_MAX)
			return __tessera_fail(ENAMETOOLONG);
		size_t nlen;
		const char *rest = p;
		const char *nc = next_component(&rest, end, &nlen);
		if (cur->kind != N_DIR)
			return __tessera_fail(ENOTDIR);
		struct node *n;
		if (len == 1 && c[0] == '.')
			n = cur;
		else if (len == 2 && c[0] == '.' && c[1] == '.')
			n = cur->parent ? cur->parent : cur;
		else
			n = cur->removed ? NULL : lookup(cur, c, len);
		if (nlen == 0) { /* c is the last component */
			l->node = n;
			l->parent = cur;
			l->name = c;
			l->namelen = len;
			l->dir = p < end; /* trailing slashes */
			if (n && l->dir && n->kind != N_DIR)
				return __tessera_fail(ENOTDIR);
			return 0;
		}
		if (n == NULL)
			return __tessera_fail(ENOENT);
		cur = n;
		c = nc;
		len = nlen;
		p = rest;
	}
}

int fs_path_of(const struct node *n, char *buf, size_t size)
{
	size_t len = 0;
	for (const struct node *d = n; d->parent; d = d->parent)
		len += d->namelen + 1;
	if (len == 0)
		len = 1;
	if (len + 1 > size)
		return __tessera_fail(ERANGE);
	buf[len] = 0;
	buf[0] = '/';
	size_t at = len;
	for (const struct node *d = n; d->parent; d = d->parent) {
		at -= d->namelen;
		memcpy(buf + at, d->name, d->namelen);
		buf[--at] = '/';
	}
	return 0;
}

/* ---- building the tree from the system data ---- */

/* mkpath walks or creates the directories named by path (a set name or an
 * item identifier without its last component) below root. New directories
 * are read-only if ro is set; their names point into path, which must stay
 * valid for the whole call (the system data's identifiers do). Returns NULL
 * when a component is a file, is "..", is too long, or memory runs out. */
static struct node *mkpath(struct node *dir, const char *path, size_t plen, int ro)
{
	const char *p = path, *end = path + plen;
	size_t len;
	for (const char *c = next_component(&p, end, &len); len; c = next_component(&p, end, &len)) {
		if (len == 1 && c[0] == '.')
			continue;
		if (len > FS_NAME_MAX || (len == 2 && c[0] == '.' && c[1] == '.'))
			return NULL;
		struct node *n = lookup(dir, c, len);
		if (n == NULL) {
			n = new_node(dir, c, len, N_DIR, 0);
			if (n == NULL || attach(n) < 0) {
				free(n);
				return NULL;
			}
			n->ro = ro;
		} else if (n->kind != N_DIR) {
			return NULL;
		}
		dir = n;
	}
	return dir;
}

/* split_last separates an identifier's last component. Returns 0 if the
 * identifier has no usable last component. */
static int split_last(const char *id, size_t len, size_t *dirlen, const char **name, size_t *namelen)
{
	while (len && id[len - 1] == '/')
		len--;
	size_t i = len;
	while (i && id[i - 1] != '/')
		i--;
	*dirlen = i;
	*name = id + i;
	*namelen = len - i;
	if (*namelen == 0 || *namelen > FS_NAME_MAX)
		return 0;
	if ((*namelen == 1 && id[i] == '.') || (*namelen == 2 && id[i] == '.' && id[i + 1] == '.'))
		return 0;
	return 1;
}

/* has_component reports whether a set name has at least one real
 * component: a set never becomes the root itself. */
static int has_component(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '/' && s[i] != '.')
			return 1;
	return 0;
}

static void add_input(struct node *setdir, const io_buffer *b)
{
	size_t dirlen, namelen;
	const char *name;
	if (!split_last(b->ident, b->ident_len, &dirlen, &name, &namelen))
		return;
	struct node *dir = mkpath(setdir, b->ident, dirlen, 1);
	if (dir == NULL || lookup(dir, name, namelen))
		return; /* unreachable name, or a duplicate: the first one wins */
	struct node *n = new_node(dir, name, namelen, N_FILE, 0);
	struct inode *ino = calloc(1, sizeof *ino);
	if (n == NULL || ino == NULL || attach(n) < 0) {
		free(n);
		free(ino);
		return;
	}
	ino->data = b->data_len ? b->data : NULL;
	ino->size = b->data_len;
	ino->key = b->key;
	ino->ro = 1;
	ino->nlink = 1;
	ino->id = n->id;
	n->ino = ino;
	n->input = 1;
}

static void add_inputs(const struct dandelion_system_data *sd)
{
	size_t n = sd->input_sets_len;
	const struct io_set_info *sets = sd->input_sets;
	if (n == 0 || !array_ok(sets, n + 1, sizeof *sets))
		return;
	size_t total = sets[n].offset;
	if (total && !array_ok(sd->input_bufs, total, sizeof(io_buffer)))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct io_set_info *s = &sets[i];
		size_t first = s->offset, end = sets[i + 1].offset;
		if (first > end || end > total)
			continue;
		if (!span_ok(s->ident, s->ident_len) || !has_component(s->ident, s->ident_len))
			continue;
		struct node *dir = mkpath(&fs.root, s->ident, s->ident_len, 1);
		if (dir == NULL)
			continue;
		for (size_t k = first; k < end; k++) {
			const io_buffer *b = &sd->input_bufs[k];
			if (!span_ok(b->ident, b->ident_len))
				continue;
			if (b->data_len && !span_ok(b->data, b->data_len))
				continue;
			add_input(dir, b);
		}
	}
}

static void add_outputs(const struct dandelion_system_data *sd)
{
	size_t n = sd->output_sets_len;
	const struct io_set_info *sets = sd->output_sets;
	if (n == 0 || n > FS_ITEMS_MAX || !array_ok(sets, n + 1, sizeof *sets))
		return;
	fs.sets = calloc(n, sizeof *fs.sets);
	if (fs.sets == NULL)
		return;
	fs.nsets = n;
	for (size_t i = 0; i < n; i++) {
		const struct io_set_info *s = &sets[i];
		if (!span_ok(s->ident, s->ident_len) || !has_component(s->ident, s->ident_len))
			continue;
		struct node *dir = mkpath(&fs.root, s->ident, s->ident_len, 0);
		if (dir == NULL || dir->outroot >= 0)
			continue;
		dir->ro = 0;
		dir->outroot = (int)i;
	}
}

/* add_system_entries provides /tmp for scratch files and /dev/null, unless
 * a set already took those names. */
static void add_system_entries(void)
{
	if (lookup(&fs.root, "tmp", 3) == NULL) {
		struct node *tmp = new_node(&fs.root, "tmp", 3, N_DIR, 0);
		if (tmp && attach(tmp) < 0)
			free(tmp);
	}
	struct node *dev = mkpath(&fs.root, "dev", 3, 0);
	if (dev && lookup(dev, "null", 4) == NULL && out_set(dev) < 0 && !dev->ro) {
		struct node *null = add_entry(dev, "null", 4, N_FILE, NULL);
		if (null) {
			null->ino->dev = DEV_NULL;
			dev->ro = 1;
		}
	}
}

struct node *fs_root(void)
{
	if (fs.ready)
		return &fs.root;
	fs.ready = 1;
	fs.root.kind = N_DIR;
	fs.root.name = "";
	fs.root.outroot = -1;
	fs.root.item = -1;
	fs.root.id = ++fs.ids;
	fs_cwd = &fs.root;
	const struct dandelion_system_data *sd = &__dandelion_system_data;
	add_inputs(sd);
	add_outputs(sd);
	add_system_entries();
	return &fs.root;
}

/* ---- exit ---- */

void __tessera_publish(int status)
{
	struct dandelion_system_data *sd = &__dandelion_system_data;
	sd->exit_code = status;
	size_t n = sd->output_sets_len;
	struct io_set_info *sets = sd->output_sets;
	if (n == 0 || !array_ok(sets, n + 1, sizeof *sets))
		return;
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		sets[i].offset = count;
		if (i >= fs.nsets)
			continue;
		for (const struct node *f = fs.sets[i].head; f; f = f->onext) {
			io_buffer *b = &fs.obuf[count++];
			b->ident = f->ident;
			b->ident_len = f->identlen;
			b->data = f->ino->data;
			b->data_len = f->ino->size;
			b->key = (size_t)f->ino->key;
		}
	}
	sets[n].offset = count;
	sd->output_bufs = count ? fs.obuf : NULL;
}

/* ---- keys ---- */

static struct inode *file_at(const char *path)
{
	if (path == NULL || path[0] == 0) {
		__tessera_fail(EINVAL);
		return NULL;
	}
	struct lookup l;
	if (fs_resolve(path, &l) < 0)
		return NULL;
	if (l.node == NULL) {
		__tessera_fail(ENOENT);
		return NULL;
	}
	if (l.node->kind != N_FILE) {
		__tessera_fail(EISDIR);
		return NULL;
	}
	return l.node->ino;
}

uint64_t tessera_getkey(const char *path)
{
	struct inode *ino = file_at(path);
	return ino ? ino->key : TESSERA_NOKEY;
}

int tessera_setkey(const char *path, uint64_t key)
{
	struct inode *ino = file_at(path);
	if (ino == NULL)
		return -1;
	if (ino->ro)
		return __tessera_fail(EROFS);
	ino->key = key;
	return 0;
}
