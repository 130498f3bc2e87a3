/*
 * matmac: multiply-accumulate of square int64 matrices (see matrix.h),
 * after Dandelion's matmac(mul_left, add_left, add_right):
 *
 *     out/matrix = M · (A + B)
 *
 * with M the item of input set "mul_left", A of "add_left" and B of
 * "add_right". Each set holds at most one item; an absent M is the
 * identity, an absent A or B the zero matrix (so Dandelion's composition
 * matmac(add_left = A, add_right = B) computes A + B). All present
 * matrices must have the same size; with none present there is no output.
 */
#include "matrix.h"

/* load returns the single matrix of set, or n = UINT64_MAX if absent. */
static struct matrix load(const char *set)
{
	struct matrix m = {UINT64_MAX, NULL};
	char dir[64];
	snprintf(dir, sizeof dir, "/%s", set);
	struct stat st;
	if (stat(dir, &st) < 0)
		return m; /* the set is not declared */
	char **names;
	unsigned char *isdir;
	size_t count = list_dir(dir, &names, &isdir);
	if (count == 0)
		return m;
	if (count > 1 || isdir[0])
		die("matmac: set %s must hold one matrix, not %zu entries", set, count);
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, names[0]);
	return read_matrix(path);
}

int main(void)
{
	struct matrix m = load("mul_left"), a = load("add_left"), b = load("add_right");
	uint64_t n = UINT64_MAX;
	const struct matrix *all[] = {&m, &a, &b};
	for (int i = 0; i < 3; i++) {
		if (all[i]->n == UINT64_MAX)
			continue;
		if (n != UINT64_MAX && all[i]->n != n)
			die("matmac: matrices of different sizes (%llu and %llu)",
			    (unsigned long long)n, (unsigned long long)all[i]->n);
		n = all[i]->n;
	}
	if (n == UINT64_MAX)
		return 0;
	uint64_t *sum = xmalloc(n * n * 8);
	for (uint64_t i = 0; i < n * n; i++)
		sum[i] = (a.v ? a.v[i] : 0) + (b.v ? b.v[i] : 0);
	struct matrix out = {n, sum};
	if (m.v) {
		out.v = xmalloc(n * n * 8);
		for (uint64_t i = 0; i < n; i++)
			for (uint64_t j = 0; j < n; j++) {
				uint64_t s = 0;
				for (uint64_t k = 0; k < n; k++)
					s += m.v[i * n + k] * sum[k * n + j];
				out.v[i * n + j] = s;
			}
	}
	write_matrix("/out/matrix", out);
	return 0;
}
