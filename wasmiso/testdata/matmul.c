/* Multiplies two N x N matrices of doubles (N = argv[1], default 128) and
 * prints the sum of the product. Entries are small integers, so every sum
 * is exact and the checksum does not depend on evaluation order. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 128;
	double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n), *c = malloc(sizeof(double) * n * n);
	if (!a || !b || !c) return 1;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			a[i * n + j] = (i + j) % 7;
			b[i * n + j] = (i * j) % 5;
		}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int k = 0; k < n; k++)
				s += a[i * n + k] * b[k * n + j];
			c[i * n + j] = s;
		}
	double sum = 0;
	for (int i = 0; i < n * n; i++)
		sum += c[i];
	printf("%.0f\n", sum);
	return 0;
}
