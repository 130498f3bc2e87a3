/*
 * Word counts shared by wordcount_map and wordcount_reduce: a hash table
 * from word to count, and the item format "WORD COUNT\n" per word, sorted
 * bytewise by word.
 */
#ifndef GUEST_WORDCOUNT_H
#define GUEST_WORDCOUNT_H

#include "util.h"

struct entry {
	char *word;
	unsigned long long count;
};

struct counts {
	struct entry *e; /* open addressing, power-of-two size */
	size_t cap, n;
};

/* fnv1a is the 32-bit FNV-1a hash: the bucket of word w is
 * fnv1a(w) % buckets. */
static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void counts_add(struct counts *c, const char *w, size_t n, unsigned long long k)
{
	if (2 * (c->n + 1) > c->cap) {
		struct counts g = {NULL, c->cap ? 2 * c->cap : 64, 0};
		g.e = xmalloc(g.cap * sizeof *g.e);
		memset(g.e, 0, g.cap * sizeof *g.e);
		for (size_t i = 0; i < c->cap; i++) {
			if (!c->e[i].word)
				continue;
			size_t j = fnv1a(c->e[i].word, strlen(c->e[i].word)) & (g.cap - 1);
			while (g.e[j].word)
				j = (j + 1) & (g.cap - 1);
			g.e[j] = c->e[i];
			g.n++;
		}
		free(c->e);
		*c = g;
	}
	size_t j = fnv1a(w, n) & (c->cap - 1);
	for (; c->e[j].word; j = (j + 1) & (c->cap - 1)) {
		if (strlen(c->e[j].word) == n && memcmp(c->e[j].word, w, n) == 0) {
			if (c->e[j].count > ~0ull - k)
				die("word count overflows");
			c->e[j].count += k;
			return;
		}
	}
	c->e[j].word = xmalloc(n + 1);
	memcpy(c->e[j].word, w, n);
	c->e[j].word[n] = 0;
	c->e[j].count = k;
	c->n++;
}

static int by_word(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->word, ((const struct entry *)b)->word);
}

/* counts_write writes the counts, sorted by word, to path. */
static void counts_write(struct counts *c, const char *path)
{
	struct entry *v = xmalloc((c->n ? c->n : 1) * sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < c->cap; i++)
		if (c->e[i].word)
			v[n++] = c->e[i];
	qsort(v, n, sizeof *v, by_word);
	struct buf b = {0};
	for (size_t i = 0; i < n; i++) {
		buf_puts(&b, v[i].word);
		buf_printf(&b, " %llu\n", v[i].count);
	}
	write_file(path, b.data, b.len);
	free(b.data);
	free(v);
}

#endif
