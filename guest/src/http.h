/*
 * HTTP request items, in the format of Dandelion's HTTP communication
 * function (docs/ABI.md §6.1):
 *
 *   METHOD SP absolute-URI SP HTTP/1.1 LF
 *   key:value LF            (zero or more header lines)
 *   LF
 *   body
 *
 * Lines end with a bare LF. Header values must not contain CR or LF, and
 * URIs must be absolute http:// or https:// URIs without whitespace or
 * control characters.
 */
#ifndef GUEST_HTTP_H
#define GUEST_HTTP_H

#include "util.h"

#define URI_MAX 2048

/* valid_uri reports whether s[0..n) is an acceptable request target. */
__attribute__((unused)) static int valid_uri(const char *s, size_t n)
{
	if (n > URI_MAX)
		return 0;
	size_t scheme = n >= 7 && memcmp(s, "http://", 7) == 0 ? 7
		      : n >= 8 && memcmp(s, "https://", 8) == 0 ? 8 : 0;
	if (scheme == 0 || n == scheme)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

/* valid_header_value reports whether v can go on a header line. */
__attribute__((unused)) static int valid_header_value(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == '\r' || v[i] == '\n' || v[i] == 0)
			return 0;
	return 1;
}

/* trim returns s without leading and trailing whitespace, in *n. */
__attribute__((unused)) static const char *trim(const char *s, size_t *n)
{
	while (*n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++, (*n)--;
	while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t' || s[*n - 1] == '\r' || s[*n - 1] == '\n'))
		(*n)--;
	return s;
}

/* request_line starts a request item. */
__attribute__((unused)) static void request_line(struct buf *b, const char *method, const char *uri, size_t n)
{
	buf_puts(b, method);
	buf_add(b, " ", 1);
	buf_add(b, uri, n);
	buf_puts(b, " HTTP/1.1\n");
}

__attribute__((unused)) static void header(struct buf *b, const char *key, const char *v, size_t n)
{
	buf_puts(b, key);
	buf_add(b, ":", 1);
	buf_add(b, v, n);
	buf_add(b, "\n", 1);
}

#endif
