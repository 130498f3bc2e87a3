/*
 * Square int64 matrices as items: [int64 rows][rows*rows int64], all
 * little-endian, row-major. Arithmetic wraps modulo 2^64 (it is done on
 * uint64_t), exactly as Go's int64 arithmetic does.
 */
#ifndef GUEST_MATRIX_H
#define GUEST_MATRIX_H

#include "util.h"

struct matrix {
	uint64_t n;
	uint64_t *v; /* n*n elements */
};

static uint64_t load64(const unsigned char *p)
{
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

static void store64(unsigned char *p, uint64_t x)
{
	for (int i = 0; i < 8; i++, x >>= 8)
		p[i] = (unsigned char)x;
}

/* read_matrix loads and validates the matrix item at path. */
__attribute__((unused)) static struct matrix read_matrix(const char *path)
{
	size_t len;
	unsigned char *data = read_file(path, &len);
	if (len < 8)
		die("%s: %zu bytes: too short for a matrix", path, len);
	uint64_t n = load64(data);
	if (n > 1 << 15 || len != 8 + n * n * 8)
		die("%s: %zu bytes do not hold a %lld x %lld matrix", path, len, (long long)n, (long long)n);
	struct matrix m = {n, xmalloc(n * n * 8)};
	for (uint64_t i = 0; i < n * n; i++)
		m.v[i] = load64(data + 8 + 8 * i);
	free(data);
	return m;
}

__attribute__((unused)) static void write_matrix(const char *path, struct matrix m)
{
	size_t len = 8 + m.n * m.n * 8;
	unsigned char *out = xmalloc(len);
	store64(out, m.n);
	for (uint64_t i = 0; i < m.n * m.n; i++)
		store64(out + 8 + 8 * i, m.v[i]);
	write_file(path, out, len);
	free(out);
}

#endif
