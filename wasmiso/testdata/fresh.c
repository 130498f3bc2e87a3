/* Prints a counter kept in static memory and creates /out/mark unless it
 * exists: a fresh instance prints 1 and creates it every time. */
#include <stdio.h>
#include <unistd.h>

static int calls;

int main(void) {
	printf("calls=%d mark=%s\n", ++calls, access("/out/mark", F_OK) == 0 ? "present" : "absent");
	FILE *f = fopen("/out/mark", "w");
	if (f) fclose(f);
	return 0;
}
