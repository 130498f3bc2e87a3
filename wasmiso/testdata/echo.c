/* stdio: prints its arguments and two environment variables, copies stdin
 * to stdout and writes a line to stderr. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=<%s>\n", i, argv[i]);
	const char *names[] = {"GREETING", "EMPTY", "UNSET"};
	for (int i = 0; i < 3; i++) {
		const char *v = getenv(names[i]);
		printf("%s=%s\n", names[i], v ? v : "(unset)");
	}
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
		fwrite(buf, 1, n, stdout);
	fprintf(stderr, "echo: %d args\n", argc);
	return 0;
}
