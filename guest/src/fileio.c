/*
 * fileio: reads every file of the input set "in" (folders included) and
 * writes a transformed copy of each to the output set "out": ASCII letters
 * upper-cased, same relative path, key = input key + 1. Folders are
 * walked in name order, so outputs appear in the same order everywhere.
 *
 * stdout: "PATH SIZE KEY\n" per file (path relative to /in), then
 * "files=N bytes=M\n".
 */
#include <ctype.h>

#include "util.h"

static size_t files, bytes;

static void copy_tree(const char *in, const char *out, const char *rel)
{
	char **names;
	unsigned char *isdir;
	size_t n = list_dir(in, &names, &isdir);
	for (size_t i = 0; i < n; i++) {
		char src[4096], dst[4096], sub[4096];
		snprintf(src, sizeof src, "%s/%s", in, names[i]);
		snprintf(dst, sizeof dst, "%s/%s", out, names[i]);
		snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", names[i]);
		if (isdir[i]) {
			copy_tree(src, dst, sub);
			free(names[i]);
			continue;
		}
		size_t len;
		unsigned char *data = read_file(src, &len);
		for (size_t k = 0; k < len; k++)
			data[k] = (unsigned char)toupper(data[k]);
		write_file(dst, data, len);
		uint64_t key = key_of(src);
		set_key(dst, key + 1);
		printf("%s %zu %llu\n", sub, len, (unsigned long long)key);
		files++;
		bytes += len;
		free(data);
		free(names[i]);
	}
	free(names);
	free(isdir);
}

int main(void)
{
	copy_tree("/in", "/out", "");
	printf("files=%zu bytes=%zu\n", files, bytes);
	return 0;
}
