/*
 * render: the last function of the log-processing application: renders
 * the fetched log bodies as one HTML report.
 *
 * Input set "logs": every item (top level; ordered by key, then by name)
 * is a log body, split into lines at LF (a CR before the LF is dropped; a
 * final LF does not start another line).
 * Output set "report": item "index.html":
 *
 *   <!DOCTYPE html>
 *   <html><head><meta charset="utf-8"><title>Log report</title></head>
 *   <body>
 *   <h1>Log report</h1>
 *   <p>S sources, L lines, E errors</p>
 *   then per item:
 *   <h2>IDENT</h2>
 *   <pre>
 *   LINE                               (or, for a line containing "ERROR":)
 *   <span class="error">LINE</span>
 *   </pre>
 *   and finally
 *   </body></html>
 *
 * Every line ends with LF. IDENT and LINE are HTML-escaped: & < > " '
 * become &amp; &lt; &gt; &quot; &#39;.
 */
#include "util.h"

static void escape(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_add(b, &s[i], 1);
		}
	}
}

struct log {
	struct file f;
	uint64_t key;
};

static int by_key(const void *a, const void *b)
{
	const struct log *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->f.name, y->f.name);
}

int main(void)
{
	struct file *files;
	size_t n = list_files("/logs", &files);
	struct log *logs = xmalloc((n ? n : 1) * sizeof *logs);
	for (size_t i = 0; i < n; i++)
		logs[i] = (struct log){files[i], key_of(files[i].path)};
	qsort(logs, n, sizeof *logs, by_key);

	struct buf body = {0}, page = {0};
	size_t lines = 0, errors = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char *text = (char *)read_file(logs[i].f.path, &len);
		buf_puts(&body, "<h2>");
		escape(&body, logs[i].f.name, strlen(logs[i].f.name));
		buf_puts(&body, "</h2>\n<pre>\n");
		for (size_t at = 0, l; at < len;) {
			const char *line = next_line(text, len, &at, &l);
			if (l && line[l - 1] == '\r' && at <= len)
				l--;
			int error = 0;
			for (size_t k = 0; k + 5 <= l && !error; k++)
				error = memcmp(line + k, "ERROR", 5) == 0;
			if (error)
				buf_puts(&body, "<span class=\"error\">");
			escape(&body, line, l);
			buf_puts(&body, error ? "</span>\n" : "\n");
			lines++;
			errors += error;
		}
		buf_puts(&body, "</pre>\n");
		free(text);
	}
	buf_puts(&page, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Log report</title></head>\n"
			"<body>\n<h1>Log report</h1>\n");
	buf_printf(&page, "<p>%zu sources, %zu lines, %zu errors</p>\n", n, lines, errors);
	buf_add(&page, body.data, body.len);
	buf_puts(&page, "</body></html>\n");
	write_file("/report/index.html", page.data, page.len);
	return 0;
}
