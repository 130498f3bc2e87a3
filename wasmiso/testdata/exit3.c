/* Exits with status 3 after writing outputs, which must still arrive. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
	printf("partial output\n");
	fflush(stdout);
	FILE *f = fopen("/out/result", "w");
	fputs("written before exit", f);
	fclose(f);
	exit(3);
}
