/*
 * fanout: the second function of the log-processing application: turns
 * the authorization service's answer (a list of log endpoints) into one
 * HTTP GET request item per endpoint.
 *
 * Input set "endpoints": every item (in name order) is text with one URI
 * per line; blank lines and lines starting with '#' are skipped, as are
 * (with a warning on stderr) lines that are not valid URIs (http.h).
 * Optional input set "auth" with item "token": forwarded as an
 * authorization header; a token with CR or LF in it is an error.
 * Output set "requests": item "log-<n>" with key n for the n-th endpoint
 * (from 0):
 *
 *   GET <uri> HTTP/1.1
 *   accept:text/plain
 *   authorization:Bearer <token>     (only with a token)
 *
 */
#include "http.h"

int main(void)
{
	const char *token = NULL;
	size_t tlen = 0;
	struct stat st;
	if (stat("/auth/token", &st) == 0) {
		char *t = (char *)read_file("/auth/token", &tlen);
		token = trim(t, &tlen);
		if (!valid_header_value(token, tlen))
			die("fanout: the token contains a line break");
	}
	struct file *files;
	size_t count = list_files("/endpoints", &files), n = 0;
	for (size_t i = 0; i < count; i++) {
		size_t len;
		char *text = (char *)read_file(files[i].path, &len);
		for (size_t at = 0, l; at < len;) {
			const char *line = next_line(text, len, &at, &l);
			line = trim(line, &l);
			if (l == 0 || line[0] == '#')
				continue;
			if (!valid_uri(line, l)) {
				fprintf(stderr, "fanout: skipping invalid endpoint: %.*s\n", (int)l, line);
				continue;
			}
			struct buf req = {0};
			request_line(&req, "GET", line, l);
			header(&req, "accept", "text/plain", 10);
			if (token && tlen) {
				struct buf v = {0};
				buf_puts(&v, "Bearer ");
				buf_add(&v, token, tlen);
				header(&req, "authorization", v.data, v.len);
				free(v.data);
			}
			buf_add(&req, "\n", 1);
			char out[64];
			snprintf(out, sizeof out, "/requests/log-%zu", n);
			write_file(out, req.data, req.len);
			set_key(out, n);
			free(req.data);
			n++;
		}
		free(text);
	}
	return 0;
}
