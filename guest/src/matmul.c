/*
 * matmul: for every item of the input set "matrix" (a square int64
 * matrix, see matrix.h), writes A·Aᵀ to the output set "out" under the
 * same identifier and key. Dandelion's test: a 3x3 matrix of ones gives
 * a 3x3 matrix of threes.
 */
#include "matrix.h"

/* mul_transpose computes c = a·aᵀ: c[i][j] = Σ_k a[i][k]·a[j][k], two
 * rows walked in step, which vectorises well (AVX-512 has vpmullq). */
static void mul_transpose(const uint64_t *restrict a, uint64_t *restrict c, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		for (uint64_t j = 0; j < n; j++) {
			uint64_t s = 0;
			for (uint64_t k = 0; k < n; k++)
				s += a[i * n + k] * a[j * n + k];
			c[i * n + j] = s;
		}
}

int main(void)
{
	struct file *files;
	size_t count = list_files("/matrix", &files);
	for (size_t i = 0; i < count; i++) {
		char out[4096];
		snprintf(out, sizeof out, "/out/%s", files[i].name);
		struct matrix a = read_matrix(files[i].path);
		struct matrix c = {a.n, xmalloc(a.n * a.n * 8)};
		mul_transpose(a.v, c.v, a.n);
		write_matrix(out, c);
		set_key(out, key_of(files[i].path));
		free(a.v);
		free(c.v);
	}
	return 0;
}
