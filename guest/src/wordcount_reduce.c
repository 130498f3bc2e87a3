/*
 * wordcount_reduce: the reduce half of the word count.
 *
 * Input set "counts": items "WORD COUNT\n" (from wordcount_map), each
 * carrying its bucket as key; items of several buckets may arrive
 * together. Output set "totals": for each key k present, in increasing
 * order, an item "bucket-<k>" with key k holding the summed counts,
 * "WORD COUNT\n" sorted by word. A malformed line, or a word with a NUL
 * byte (words are C strings here), is an error.
 */
#include "wordcount.h"

struct group {
	uint64_t key;
	struct counts c;
};

static int by_key(const void *a, const void *b)
{
	uint64_t x = ((const struct group *)a)->key, y = ((const struct group *)b)->key;
	return (x > y) - (x < y);
}

int main(void)
{
	struct file *files;
	size_t count = list_files("/counts", &files), ng = 0;
	struct group *g = xmalloc((count ? count : 1) * sizeof *g);
	for (size_t i = 0; i < count; i++) {
		const char *path = files[i].path;
		uint64_t key = key_of(path);
		size_t k = 0;
		while (k < ng && g[k].key != key)
			k++;
		if (k == ng)
			g[ng++] = (struct group){key, {NULL, 0, 0}};
		size_t len;
		char *t = (char *)read_file(path, &len);
		for (size_t at = 0, l; at < len;) {
			const char *line = next_line(t, len, &at, &l);
			size_t sp = 0;
			while (sp < l && line[sp] != ' ')
				sp++;
			unsigned long long n = 0;
			size_t d = sp + 1;
			for (; d < l && line[d] >= '0' && line[d] <= '9'; d++) {
				if (n > (~0ull - 9) / 10)
					die("%s: count too large", path);
				n = n * 10 + (unsigned)(line[d] - '0');
			}
			if (sp == 0 || sp == l || d != l || d == sp + 1)
				die("%s: malformed line: %.*s", path, (int)l, line);
			if (memchr(line, 0, sp))
				die("%s: a word contains a NUL byte", path);
			counts_add(&g[k].c, line, sp, n);
		}
		free(t);
	}
	qsort(g, ng, sizeof *g, by_key);
	for (size_t k = 0; k < ng; k++) {
		char path[64];
		snprintf(path, sizeof path, "/totals/bucket-%llu", (unsigned long long)g[k].key);
		counts_write(&g[k].c, path);
		set_key(path, g[k].key);
	}
	return 0;
}
