/*
 * wordcount_map: the map half of a word count over keyed distribution.
 *
 * Input set "text": every item (top level) is text. A word is a maximal
 * run of ASCII letters and digits, lower-cased. Words are spread over B
 * buckets (B = argv[1] from the optional stdio set, default 4) by
 * fnv1a(word) % B (wordcount.h).
 * Output set "counts": for each non-empty bucket b, in increasing order, an
 * item "bucket-<b>" with key b holding "WORD COUNT\n" lines sorted by word.
 * A downstream `keyed` distribution sends all items of one bucket, from
 * every mapper, to the same reducer.
 */
#include <ctype.h>

#include "wordcount.h"

int main(int argc, char **argv)
{
	unsigned long buckets = 4;
	if (argc > 1) {
		char *end;
		buckets = strtoul(argv[1], &end, 10);
		if (*end || buckets == 0 || buckets > 4096)
			die("wordcount_map: bucket count must be 1..4096, not %s", argv[1]);
	}
	struct counts *c = xmalloc(buckets * sizeof *c);
	memset(c, 0, buckets * sizeof *c);
	struct file *files;
	size_t count = list_files("/text", &files);
	for (size_t i = 0; i < count; i++) {
		size_t len;
		unsigned char *t = read_file(files[i].path, &len);
		for (size_t at = 0; at < len;) {
			if (!isalnum(t[at])) {
				at++;
				continue;
			}
			size_t start = at;
			for (; at < len && isalnum(t[at]); at++)
				t[at] = (unsigned char)tolower(t[at]);
			const char *w = (const char *)t + start;
			counts_add(&c[fnv1a(w, at - start) % buckets], w, at - start, 1);
		}
		free(t);
	}
	for (unsigned long b = 0; b < buckets; b++) {
		if (c[b].n == 0)
			continue;
		char path[64];
		snprintf(path, sizeof path, "/counts/bucket-%lu", b);
		counts_write(&c[b], path);
		set_key(path, b);
	}
	return 0;
}
