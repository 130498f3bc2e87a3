/* Keys: reports the keys of its inputs and gives each output the input's
 * key plus 1000. */
#include <stdio.h>
#include "tessera.h"

int main(void) {
	const char *in[] = {"/in/a", "in/b", "/in/missing", "/in", "/in/./a"};
	for (int i = 0; i < 5; i++)
		printf("getkey %s = %lld\n", in[i], (long long)tessera_getkey(in[i]));
	FILE *f = fopen("/out/a", "w");
	fputs("A", f);
	fclose(f);
	f = fopen("/out/b", "w");
	fputs("B", f);
	fclose(f);
	printf("setkey /out/a = %d\n", tessera_setkey("/out/a", tessera_getkey("/in/a") + 1000));
	printf("setkey out/b = %d\n", tessera_setkey("out/b", tessera_getkey("/in/b") + 1000));
	printf("setkey /in/a = %d\n", tessera_setkey("/in/a", 1));
	printf("setkey /out/none = %d\n", tessera_setkey("/out/none", 1));
	printf("getkey /out/a = %lld\n", (long long)tessera_getkey("/out/a"));
	/* A hostile pointer and length: the host must refuse, not crash. */
	printf("getkey wild = %lld\n", (long long)__tessera_getkey((const char *)0xfffffff0, 64));
	return 0;
}
