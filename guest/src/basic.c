/*
 * basic: exercises the everyday C library (formatted output, conversions,
 * sorting, strings, the heap, libm, errno) and prints the results on
 * stdout. Needs no input; declare a stdio output set to see the result.
 * guest/basic.go computes the expected text independently.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	printf("hello, tessera\n");
	printf("ints: %d %u %lld %lld %x %o %c [%5d] [%-5d] [%05d]\n", -42, 42u,
	       1234567890123LL, -9000000000000000000LL, 0xbeefu, 8u, 'Z', 7, 7, 7);
	printf("floats: %.3f %e %g %g %.2f\n", 3.14159, 12345.678, 0.0001, 1e20, -0.005);

	char *end;
	double d = strtod("2.5e3xyz", &end);
	long l = strtol("-0x1F", NULL, 0);
	unsigned long long u = strtoull("18446744073709551615", NULL, 10);
	printf("strtod: %.1f rest=%s strtol: %ld strtoull: %llu atoi: %d\n", d, end, l, u, atoi("  77abc"));

	int v[] = {5, 3, 9, 1, 7, 2, 8, 6, 4, 0, -3};
	size_t nv = sizeof v / sizeof v[0];
	qsort(v, nv, sizeof v[0], cmp_int);
	printf("qsort:");
	for (size_t i = 0; i < nv; i++)
		printf(" %d", v[i]);
	printf("\n");

	/* The heap: grow a string through realloc, then checksum it. */
	size_t cap = 1, len = 0;
	char *s = malloc(cap);
	for (int i = 0; i < 1000; i++) {
		char tmp[16];
		int n = snprintf(tmp, sizeof tmp, "%d,", i);
		if (len + (size_t)n + 1 > cap) {
			cap = 2 * (len + (size_t)n + 1);
			s = realloc(s, cap);
			if (s == NULL)
				return 1;
		}
		memcpy(s + len, tmp, (size_t)n + 1);
		len += (size_t)n;
	}
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = sum * 31 + (unsigned char)s[i];
	printf("heap: len=%zu sum=%u\n", len, sum);
	free(s);

	char words[] = "the quick  brown fox";
	printf("strings: len=%zu", strlen(words));
	printf(" strstr=%s", strstr(words, "brown"));
	printf(" strchr=%s", strchr(words, 'q'));
	printf(" tokens=");
	for (char *t = strtok(words, " "); t; t = strtok(NULL, " "))
		printf("[%s]", t);
	char up[] = "MiXeD 123";
	for (char *p = up; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	printf(" upper=%s cmp=%d\n", up, strcmp("abc", "abd") < 0);

	printf("math: %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.1f %.1f %.3f\n", sqrt(2.0), sin(1.0),
	       cos(1.0), exp(1.0), log(10.0), pow(2.0, 10.0), 4 * atan(1.0), floor(-2.5),
	       ceil(-2.5), fmod(10.0, 3.0));

	/* Which errno a missing folder gives depends on how a Wasm runtime
	 * presents folders; selftest checks hlibc's errno values. */
	FILE *f = fopen("/no/such/file", "r");
	printf("errno: %s %s\n", f ? "opened" : "null", strerror(ENOENT));

	char small[8];
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* truncating is the point */
#endif
	int want = snprintf(small, sizeof small, "%s", "truncated text");
	printf("snprintf: %d [%s]\n", want, small);
	return 0;
}
