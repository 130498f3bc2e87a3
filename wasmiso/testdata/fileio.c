/* Files: walks /in (folders from '/' in identifiers), writes each input
 * file reversed to the same path under /out, then exercises the rules of
 * the read-only and the writable folders and reports on stdout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *err(int e) {
	switch (e) {
	case EROFS: return "EROFS";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EBUSY: return "EBUSY";
	case EXDEV: return "EXDEV";
	default: return strerror(e);
	}
}

static void copy(const char *rel) {
	char in[512], out[512];
	snprintf(in, sizeof in, "/in/%s", rel);
	snprintf(out, sizeof out, "/out/%s", rel);
	struct stat st;
	if (stat(in, &st) != 0) { printf("stat %s: %s\n", in, err(errno)); return; }
	FILE *f = fopen(in, "rb");
	char *buf = malloc(st.st_size + 1);
	size_t n = fread(buf, 1, st.st_size + 1, f);
	fclose(f);
	printf("%s %lld %zu\n", rel, (long long)st.st_size, n);
	for (size_t i = 0; i < n / 2; i++) { char c = buf[i]; buf[i] = buf[n - 1 - i]; buf[n - 1 - i] = c; }
	/* mkdir -p the folders of out */
	for (char *p = out + 5; (p = strchr(p, '/')) != NULL; p++) {
		*p = 0;
		if (mkdir(out, 0755) != 0 && errno != EEXIST) printf("mkdir %s: %s\n", out, err(errno));
		*p = '/';
	}
	f = fopen(out, "wb");
	if (!f) { printf("create %s: %s\n", out, err(errno)); free(buf); return; }
	fwrite(buf, 1, n, f);
	fclose(f);
	free(buf);
}

static void walk(const char *rel) {
	char path[512];
	snprintf(path, sizeof path, "/in%s%s", *rel ? "/" : "", rel);
	DIR *d = opendir(path);
	if (!d) { printf("opendir %s: %s\n", path, err(errno)); return; }
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		char sub[512];
		snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		if (e->d_type == DT_DIR) walk(sub);
		else copy(sub);
	}
	closedir(d);
}

static void try_open(const char *path, int flags) {
	int fd = open(path, flags, 0644);
	if (fd < 0) printf("open %s: %s\n", path, err(errno));
	else { printf("open %s: ok\n", path); close(fd); }
}

int main(void) {
	walk("");
	try_open("/in/a.txt", O_WRONLY);
	try_open("/in/new.txt", O_WRONLY | O_CREAT);
	try_open("/toplevel", O_WRONLY | O_CREAT);
	try_open("/in/missing", O_RDONLY);
	try_open("/out/a.txt", O_WRONLY | O_CREAT | O_EXCL);
	printf("unlink input: %s\n", unlink("/in/a.txt") ? err(errno) : "ok");
	printf("rmdir set: %s\n", rmdir("/out") ? err(errno) : "ok");
	printf("rmdir nonempty: %s\n", rmdir("/out/dir") ? err(errno) : "ok");
	printf("rename folder: %s\n", rename("/out/dir", "/out/moved") ? err(errno) : "ok");
	printf("scratch: %s\n", rename("/toplevel", "/tmp/moved") ? err(errno) : "ok");

	FILE *f = fopen("/out/tmp", "w");
	fputs("renamed contents", f);
	fclose(f);
	f = fopen("/out/gone", "w");
	fputs("never an output", f);
	fclose(f);
	printf("rename: %s\n", rename("/out/tmp", "/out/renamed") ? err(errno) : "ok");
	printf("unlink: %s\n", unlink("/out/gone") ? err(errno) : "ok");
	f = fopen("/out/late", "w");
	fputs("x", f);
	fclose(f);
	f = fopen("/out/late", "a"); /* append */
	fputs("yz", f);
	fclose(f);
	struct stat st;
	stat("/out/late", &st);
	printf("late size %lld\n", (long long)st.st_size);
	return 0;
}
