/*
 * argv and environ from the stdio input set (docs/ABI.md §6).
 *
 * The items stdio/argv and stdio/environ are split into words: words are
 * separated by whitespace (space, \t, \n, \r, \v, \f); '...' groups
 * characters literally; "..." groups them with backslash escapes; outside
 * single quotes a backslash makes the next character literal; quoted parts
 * and plain parts next to each other form one word; "" is an empty word.
 * An unterminated quote runs to the end of the item.
 */
#include <stdlib.h>
#include <string.h>

#include "hlibc.h"

extern char **environ;

long __tessera_input_set(const char *name, size_t len)
{
	const struct dandelion_system_data *sd = &__dandelion_system_data;
	size_t n = sd->input_sets_len;
	const struct io_set_info *sets = sd->input_sets;
	if (n == 0 || !array_ok(sets, n + 1, sizeof *sets))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sets[i].ident_len == len && span_ok(sets[i].ident, len) &&
		    memcmp(sets[i].ident, name, len) == 0)
			return (long)i;
	return -1;
}

/* find_item returns the item named name of the stdio input set, or NULL. */
static const io_buffer *find_item(long set, const char *name)
{
	const struct dandelion_system_data *sd = &__dandelion_system_data;
	const struct io_set_info *sets = sd->input_sets;
	size_t first = sets[set].offset, end = sets[set + 1].offset;
	size_t total = sets[sd->input_sets_len].offset, len = strlen(name);
	if (first > end || end > total || !array_ok(sd->input_bufs, total, sizeof(io_buffer)))
		return NULL;
	for (size_t k = first; k < end; k++) {
		const io_buffer *b = &sd->input_bufs[k];
		if (b->ident_len == len && span_ok(b->ident, len) && memcmp(b->ident, name, len) == 0)
			return span_ok(b->data, b->data_len) ? b : NULL;
	}
	return NULL;
}

static int is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* split scans s once; with out == NULL it only counts words and bytes
 * (each word's bytes plus its NUL), otherwise it writes them. */
static size_t split(const char *s, size_t len, char **out, char *buf, size_t *bytes)
{
	size_t words = 0, used = 0, i = 0;
	for (;;) {
		while (i < len && is_space(s[i]))
			i++;
		if (i == len)
			break;
		if (out)
			out[words] = buf + used;
		char quote = 0;
		for (; i < len; i++) {
			char c = s[i];
			if (quote == '\'') {
				if (c == '\'') {
					quote = 0;
					continue;
				}
			} else if (c == '\\' && i + 1 < len) {
				c = s[++i];
			} else if (quote == '"' && c == '"') {
				quote = 0;
				continue;
			} else if (!quote && (c == '\'' || c == '"')) {
				quote = c;
				continue;
			} else if (!quote && is_space(c)) {
				break;
			}
			if (out)
				buf[used] = c;
			used++;
		}
		if (out)
			buf[used] = 0;
		used++;
		words++;
	}
	*bytes = used;
	return words;
}

/* words returns the NULL-terminated word list of an item, or NULL when
 * memory runs out. */
static char **words(const io_buffer *b, size_t *count)
{
	size_t bytes;
	size_t n = split(b->data, b->data_len, NULL, NULL, &bytes);
	char **v = malloc((n + 1) * sizeof *v + bytes);
	if (v == NULL)
		return NULL;
	split(b->data, b->data_len, v, (char *)(v + n + 1), &bytes);
	v[n] = NULL;
	*count = n;
	return v;
}

void __tessera_args(int *argc, char ***argv)
{
	static char *empty[1];
	*argc = 0;
	*argv = empty;
	long set = __tessera_input_set("stdio", 5);
	if (set < 0)
		return;
	size_t n;
	const io_buffer *b = find_item(set, "argv");
	char **v;
	if (b && (v = words(b, &n)) != NULL && n <= 0x7fffffff) {
		*argc = (int)n;
		*argv = v;
	}
	if ((b = find_item(set, "environ")) != NULL && (v = words(b, &n)) != NULL)
		environ = v;
}
