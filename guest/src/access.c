/*
 * access: the first function of the log-processing application of
 * Dandelion's paper (Fig. 3): turns a client's token into a request to the
 * authorization service, which answers with the log endpoints the token
 * may read (fanout's input).
 *
 * Input set "auth": item "token" (surrounding whitespace ignored; must not
 * be empty) and optionally item "service", the authorization service's
 * URI (default http://auth/authorize).
 * Output set "requests": item "auth", an HTTP request item (http.h):
 *
 *   POST <service> HTTP/1.1
 *   content-type:application/json
 *   content-length:<body length>
 *
 *   {"token":"<token, JSON-escaped>"}
 */
#include "http.h"

/* json_string appends s as a JSON string literal. */
static void json_string(struct buf *b, const char *s, size_t n)
{
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			buf_add(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
		} else {
			buf_add(b, &s[i], 1);
		}
	}
	buf_add(b, "\"", 1);
}

int main(void)
{
	size_t tlen, slen = 0;
	char *token = (char *)read_file("/auth/token", &tlen);
	const char *t = trim(token, &tlen);
	if (tlen == 0)
		die("access: empty token");
	const char *service = "http://auth/authorize";
	struct stat st;
	if (stat("/auth/service", &st) == 0) {
		char *s = (char *)read_file("/auth/service", &slen);
		service = trim(s, &slen);
	} else {
		slen = strlen(service);
	}
	if (!valid_uri(service, slen))
		die("access: invalid service URI: %.*s", (int)slen, service);

	struct buf body = {0}, req = {0};
	buf_puts(&body, "{\"token\":");
	json_string(&body, t, tlen);
	buf_puts(&body, "}");
	request_line(&req, "POST", service, slen);
	header(&req, "content-type", "application/json", 16);
	char n[24];
	snprintf(n, sizeof n, "%zu", body.len);
	header(&req, "content-length", n, strlen(n));
	buf_add(&req, "\n", 1);
	buf_add(&req, body.data, body.len);
	write_file("/requests/auth", req.data, req.len);
	return 0;
}
