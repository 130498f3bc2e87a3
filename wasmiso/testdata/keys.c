/* Keys through hlibc's tessera.h for wasm32 (hlibc/src/tessera_wasm.c):
 * reports the keys of its inputs and gives each output the input's key
 * plus 1000. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <tessera.h>

/* The raw import, to pass the host a pointer no guest library would. */
__attribute__((import_module("tessera"), import_name("getkey")))
long long raw_getkey(const char *path, unsigned long len);

static void get(const char *path) {
	errno = 0;
	uint64_t k = tessera_getkey(path);
	if (k == TESSERA_NOKEY)
		printf("getkey %s: %s\n", path, strerror(errno));
	else
		printf("getkey %s = %llu\n", path, (unsigned long long)k);
}

static void set(const char *path, uint64_t key) {
	errno = 0;
	int r = tessera_setkey(path, key);
	printf("setkey %s = %d%s%s\n", path, r, r ? " " : "", r ? strerror(errno) : "");
}

int main(void) {
	get("/in/a");
	get("in/b");
	get("/in/./sub/../a");
	get("/in/missing");
	get("/in");
	FILE *f = fopen("/out/a", "w");
	fputs("A", f);
	fclose(f);
	f = fopen("/out/b", "w");
	fputs("B", f);
	fclose(f);
	set("/out/a", tessera_getkey("/in/a") + 1000);
	set("out/b", tessera_getkey("/in/b") + 1000);
	set("/in/a", 1);
	set("/out/none", 1);
	set("/out/a/x", 1);
	set("/out/a", 1ull << 32);
	get("/out/a");
	printf("raw wild = %lld\n", raw_getkey((const char *)0xfffffff0, 64));
	printf("raw empty = %lld\n", raw_getkey("/in/a", 0));
	return 0;
}
