/*
 * stdio: echoes its arguments, environment and standard input.
 *
 * Inputs (set stdio): argv, environ, stdin. Output (set stdio):
 *   stdout: "argv[I]=ARG\n" for each argument, "environ[I]=ENTRY\n" for
 *           each environment entry, "stdin:\n", then stdin verbatim;
 *   stderr: "stdio: N args, M bytes of stdin\n".
 */
#include <stdio.h>

extern char **environ;

int main(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	for (int i = 0; environ[i]; i++)
		printf("environ[%d]=%s\n", i, environ[i]);
	fputs("stdin:\n", stdout);
	char buf[4096];
	size_t n, total = 0;
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
		fwrite(buf, 1, n, stdout);
		total += n;
	}
	if (ferror(stdin)) {
		perror("stdio: reading stdin");
		return 1;
	}
	fprintf(stderr, "stdio: %d args, %zu bytes of stdin\n", argc, total);
	return 0;
}
