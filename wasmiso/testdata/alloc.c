/* Allocates 1 MiB blocks, touching each, until malloc fails. With argument
 * "count" it then reports how many it got and exits 0; with "abort" it
 * aborts (a trap), as a program that does not expect failure would. The
 * blocks are chained from a global, so the compiler cannot drop them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *head;

int main(int argc, char **argv) {
	int abort_on_fail = argc > 1 && !strcmp(argv[1], "abort");
	for (int n = 0; n < 100000; n++) {
		char *p = malloc(1 << 20);
		if (!p) {
			if (abort_on_fail) abort();
			printf("%d\n", n);
			return 0;
		}
		for (int i = 0; i < (1 << 20); i += 4096) p[i] = 1;
		*(void **)p = head;
		head = p;
	}
	return 1;
}
