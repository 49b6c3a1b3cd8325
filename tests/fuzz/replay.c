/* Run a libFuzzer target's LLVMFuzzerTestOneInput over files, without libFuzzer: how the
 * normal test build (gcc, ASan + UBSan) replays the seed corpora and every input a fuzzer
 * ever crashed on (tests/data/fuzz/<target>/), so a fixed crash stays fixed.
 *
 *     replay_<target> FILE|DIR...    (a missing one counts as empty)
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current;   /* the input being replayed, for the abort message */

/* A harness that finds a failure aborts: say which input it was, then die as before. */
static void on_abort(int sig)
{
	static const char pre[] = "replay: failed on ";

	if (current) {
		(void)!write(2, pre, sizeof(pre) - 1);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		if (f)
			fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	buf[n] = 0;   /* not part of the input: a NUL after it, for strict_string_checks */
	current = path;
	LLVMFuzzerTestOneInput(buf, (size_t)n);   /* a failure aborts the process */
	current = NULL;
	free(buf);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	size_t done = 0;

	signal(SIGABRT, on_abort);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		size_t n = 0;

		if (stat(argv[i], &st)) {   /* tests/data/fuzz/<target> before its first failure */
			printf("replay: %s: none yet\n", argv[i]);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]))
				return 1;
			done++;
			continue;
		}
		if (!(d = opendir(argv[i])))
			return 1;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				char **more = realloc(names, (n + 1) * sizeof(*names));
				size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;

				if (!more || !(more[n] = malloc(len)))
					return 1;
				names = more;
				snprintf(names[n++], len, "%s/%s", argv[i], e->d_name);
			}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp);   /* the same order on every machine */
		for (size_t k = 0; k < n; k++) {
			if (replay_file(names[k]))
				return 1;
			done++;
			free(names[k]);
		}
		free(names);
	}
	printf("replayed %zu inputs, none failed\n", done);
	return done ? 0 : 1;
}
