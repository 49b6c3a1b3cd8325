/* bench/import_cost.c - what one NDJSON import costs per response, stage by stage, without
 * HTTP: parse (json_loadb with api_responses.c's flags), validate (cx_validate_response)
 * and write (the writer's job for one 10,000-line batch: a savepoint, cx_store_append and
 * cx_loop_on_response per row, a synchronous=FULL commit). Times are the thread's CPU
 * time, and the fastest batch is printed beside the mean: on a shared machine the minimum
 * moves little while wall time and means swing by 2x.
 *
 *   python3 bench/ndjson.py /tmp/nd 100 10000
 *   meson setup /tmp/rel --buildtype=release -Dtests=disabled && ninja -C /tmp/rel
 *   cc -O2 -Iinclude -I/tmp/rel bench/import_cost.c /tmp/rel/libcx.a -o /tmp/import_cost \
 *      $(pkg-config --cflags --libs libmicrohttpd jansson sqlite3 gnutls nettle) -lpthread -lm
 *   /tmp/import_cost /tmp/nd 30 /tmp/ic.db      (a fresh database each time)
 *
 * IMP_SQL="DROP INDEX responses_customer" runs that SQL (with the sqlite3 shell) on the new
 * database before the import, to see what an index costs. The write figures include
 * freeing the previous batch's items into the same malloc arena (in cxd the workers free
 * them), which puts up to 0.7 us of malloc_consolidate into the commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx/cxtime.h"
#include "cx/loop.h"
#include "cx/store.h"
#include "cx/validate.h"

#define BATCH_MAX 10000

struct lookup_cache {
	struct cx_store *st;
	struct cx_survey s;
	int have;
};

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct cx_error *err)
{
	fprintf(stderr, "import_cost: %s: %s\n", what, err->message);
	exit(1);
}

static const struct cx_survey *lookup(void *ctx, const char *id)
{
	struct lookup_cache *c = ctx;

	if (c->have && strcmp(c->s.id, id) == 0)
		return &c->s;
	if (c->have)
		cx_survey_release(&c->s);
	c->have = cx_store_survey_get(c->st, id, &c->s) == 0;
	return c->have ? &c->s : NULL;
}

static struct cx_store *open_store(const char *path)
{
	struct cx_store *st;
	struct cx_error err = { 0 };
	struct cx_survey s;
	json_t *def = json_pack("{s:s, s:s}", "id", "checkout", "title", "Checkout");
	int created;

	if (cx_store_open(&st, path, 1, &err))
		die("open", &err);
	if (cx_survey_from_json(def, NULL, &s, &err) ||
	    cx_store_survey_put(st, &s, 0, &created, &err))
		die("survey", &err);
	cx_survey_release(&s);
	json_decref(def);
	if (getenv("IMP_SQL")) {
		char cmd[1024];

		snprintf(cmd, sizeof(cmd), "sqlite3 %s \"%s\"", path, getenv("IMP_SQL"));
		if (system(cmd) != 0)
			exit(1);
	}
	return st;
}

int main(int argc, char **argv)
{
	static char buf[8 << 20];
	static struct cx_response items[BATCH_MAX];
	static json_t *objs[BATCH_MAX];
	struct cx_error err = { 0 };
	struct cx_store *st;
	struct lookup_cache cache = { 0 };
	double sum[3] = { 0 }, best[3] = { 1e9, 1e9, 1e9 }, commit = 0;
	long n = 0;
	int nb;

	if (argc != 4) {
		fprintf(stderr, "usage: import_cost DIR-OF-BATCHES NBATCHES DB\n");
		return 2;
	}
	nb = atoi(argv[2]);
	st = open_store(argv[3]);
	cache.st = st;
	for (int b = 0; b < nb; b++) {
		char path[512];
		FILE *f;
		size_t len, k = 0;
		double t[4], c0;

		snprintf(path, sizeof(path), "%s/batch-%04d.ndjson", argv[1], b);
		if (!(f = fopen(path, "r")))
			return 1;
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		t[0] = now_s(CLOCK_THREAD_CPUTIME_ID);
		for (char *p = buf, *e; p < buf + len && k < BATCH_MAX; p = e + 1) {
			json_error_t jerr;

			if (!(e = memchr(p, '\n', (size_t)(buf + len - p))))
				e = buf + len;
			if (!(objs[k++] = json_loadb(p, (size_t)(e - p), JSON_REJECT_DUPLICATES,
						     &jerr)))
				return fprintf(stderr, "line %zu: %s\n", k, jerr.text), 1;
		}
		t[1] = now_s(CLOCK_THREAD_CPUTIME_ID);
		for (size_t i = 0; i < k; i++) {
			if (cx_validate_response(objs[i], 0, 1, lookup, &cache, cx_time_now(),
						 &items[i], &err))
				die("validate", &err);
			items[i].received_ms = cx_time_now_ms();
			json_decref(objs[i]);
		}
		t[2] = now_s(CLOCK_THREAD_CPUTIME_ID);
		if (cx_store_begin(st, &err) || cx_store_job_begin(st, 1, &err))
			die("begin", &err);
		for (size_t i = 0; i < k; i++) {
			int64_t id;
			int replayed;

			if (cx_store_append(st, &items[i], NULL, &id, &replayed, &err) ||
			    cx_loop_on_response(st, &items[i], id, &err))
				die("append", &err);
		}
		cx_store_job_end(st, 1);
		c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
		if (cx_store_commit(st, &err))
			die("commit", &err);
		t[3] = now_s(CLOCK_THREAD_CPUTIME_ID);
		commit += t[3] - c0;
		for (int s = 0; s < 3; s++) {
			double d = (t[s + 1] - t[s]) / (double)k;

			sum[s] += t[s + 1] - t[s];
			best[s] = d < best[s] ? d : best[s];
		}
		for (size_t i = 0; i < k; i++)
			cx_response_release(&items[i]);
		n += (long)k;
	}
	printf("us CPU per response, fastest batch: parse %.2f validate %.2f write %.2f\n",
	       best[0] * 1e6, best[1] * 1e6, best[2] * 1e6);
	printf("us CPU per response, mean of %ld: parse %.2f validate %.2f write %.2f "
	       "(commit %.2f)\n", n, sum[0] * 1e6 / (double)n, sum[1] * 1e6 / (double)n,
	       sum[2] * 1e6 / (double)n, commit * 1e6 / (double)n);
	if (cache.have)
		cx_survey_release(&cache.s);
	cx_store_close(st);
	return 0;
}
