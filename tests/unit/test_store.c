/* Unit tests for store.c and writer.c on a real SQLite file in a temporary directory. */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cx/store.h"
#include "cx/writer.h"
#include "check_main.h"
#include "store_fixture.h"

CX_STORE_FIXTURE("/tmp/cx-store-test")

static struct cx_store *open_store(void)
{
	struct cx_store *st;
	struct cx_error err;

	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	return st;
}

static void define(struct cx_store *st, const char *id)
{
	struct cx_survey s;
	struct cx_error err;
	int created;
	json_t *j = json_pack("{s:s, s:s}", "id", id, "title", "T");

	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 0, &created, &err), 0);
	ck_assert_int_eq(created, 1);
	cx_survey_release(&s);
	json_decref(j);
}

static struct cx_response resp(const char *survey, const char *stage, const char *tp, int nps,
			       int csat, int ces, int64_t t)
{
	struct cx_response r = { .nps = nps, .csat = csat, .ces = ces, .submitted_at = t };

	snprintf(r.survey, sizeof(r.survey), "%s", survey);
	r.stage = (char *)stage;
	r.touchpoint = (char *)tp;
	r.learn = 1;   /* as validation marks a keyed client's touchpoint new to an open map */
	return r;
}

/* A job that signals a condition variable when the writer is done with it. */
struct waiter {
	struct cx_write_job job;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished;
};

static void on_done(struct cx_write_job *job)
{
	struct waiter *w = (struct waiter *)job;

	pthread_mutex_lock(&w->mu);
	w->finished = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static struct waiter *write_sync(struct cx_writer *wr, struct cx_response *items, size_t n,
				 int64_t *ids)
{
	struct waiter *w = calloc(1, sizeof(*w));
	struct cx_error err;

	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->job.items = items;
	w->job.n = n;
	w->job.ids = ids;
	w->job.done = on_done;
	ck_assert_int_eq(cx_writer_submit(wr, &w->job, &err), 0);
	pthread_mutex_lock(&w->mu);
	while (!w->finished)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w;
}

struct sums {
	int groups;
	struct cx_hist total;
	char first_stage[32];
};

static int sum_groups(void *ctx, const struct cx_group_key *key, const struct cx_hist *h)
{
	struct sums *s = ctx;

	if (s->groups++ == 0 && key->stage)
		snprintf(s->first_stage, sizeof(s->first_stage), "%s", key->stage);
	cx_hist_add(&s->total, h);
	return 0;
}

START_TEST(migrations_and_surveys)
{
	struct cx_store *st = open_store();
	struct cx_survey s;
	struct cx_error err;
	int created;
	json_t *list, *j;

	ck_assert_int_eq(cx_store_schema_version(st), (int)cx_migrations_count);
	define(st, "checkout");
	j = json_pack("{s:s, s:s}", "id", "checkout", "title", "Again");
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 0, &created, &err), -1);
	ck_assert_int_eq(err.status, 409);
	ck_assert_str_eq(err.code, "survey_exists");
	ck_assert_int_eq(cx_store_survey_put(st, &s, 1, &created, &err), 0);
	ck_assert_int_eq(created, 0);
	cx_survey_release(&s);
	json_decref(j);
	cx_store_close(st);

	st = open_store();   /* definitions survive a restart */
	ck_assert_int_eq(cx_store_survey_get(st, "checkout", &s), 0);
	ck_assert_str_eq(s.title, "Again");
	cx_survey_release(&s);
	ck_assert_int_eq(cx_store_survey_get(st, "missing", &s), -1);
	list = cx_store_survey_list(st);
	ck_assert_int_eq(json_array_size(list), 1);
	json_decref(list);
	cx_store_close(st);
}
END_TEST

/* A held definition (cx_store_survey_ref, the per-response path) stays whole while a new
 * one replaces it, and outlives the store's copy; ASan reports a use after free or a leak. */
START_TEST(held_survey_outlives_its_replacement)
{
	struct cx_store *st = open_store();
	const struct cx_survey *old, *now;
	struct cx_survey s;
	struct cx_error err;
	int created;
	json_t *j = json_pack("{s:s, s:s, s:[s, s]}", "id", "checkout", "title", "New",
			      "stages", "look", "buy");

	define(st, "checkout");
	ck_assert_ptr_null(cx_store_survey_ref(st, "missing"));
	old = cx_store_survey_ref(st, "checkout");
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 1, &created, &err), 0);
	cx_survey_release(&s);
	json_decref(j);
	now = cx_store_survey_ref(st, "checkout");
	ck_assert_ptr_ne(old, now);
	ck_assert_str_eq(now->title, "New");
	ck_assert_uint_eq(now->nstages, 2);
	ck_assert_str_ne(old->title, "New");   /* the old one, unchanged and readable */
	ck_assert_uint_gt(old->nstages, 2);
	cx_store_survey_unref(old);
	cx_store_close(st);   /* the cache lets go; `now` is still held */
	ck_assert_str_eq(now->stages[1], "buy");
	cx_store_survey_unref(now);
	cx_store_survey_unref(NULL);
}
END_TEST

START_TEST(writes_and_rollups)
{
	struct cx_store *st = open_store();
	struct cx_writer *wr;
	struct cx_scores_query q = { .survey = "checkout", .from_day = INT64_MIN,
				     .to_day = INT64_MAX };
	struct sums sums = { 0 };
	struct cx_error err;
	int64_t ids[3];
	int64_t day = 1795392000;
	struct cx_response batch[3] = {
		resp("checkout", "purchase", "web", 10, 5, -1, day),
		resp("checkout", "purchase", "web", 3, -1, 2, day + 10),
		resp("checkout", "awareness", "ad", -1, 4, 7, day - 86400),
	};
	struct waiter *w;

	define(st, "checkout");
	ck_assert_int_eq(cx_writer_start(&wr, st, 100), 0);
	w = write_sync(wr, batch, 3, ids);
	ck_assert_int_eq(w->job.ok, 1);
	ck_assert_int_eq(ids[1], ids[0] + 1);
	free(w);

	/* a refused item (unknown survey: foreign key) undoes its own job only */
	struct cx_response bad[2] = {
		resp("checkout", "purchase", "web", 9, -1, -1, day),
		resp("ghost", "purchase", "web", 9, -1, -1, day),
	};
	w = write_sync(wr, bad, 2, ids);
	ck_assert_int_eq(w->job.ok, 0);
	ck_assert_int_eq(w->job.err.status, 422);
	ck_assert_int_eq(w->job.failed_index, 1);
	free(w);
	cx_writer_stop(wr);

	ck_assert_int_eq(cx_store_scores(st, &q, sum_groups, &sums, &err), 0);
	ck_assert_int_eq(sums.groups, 1);
	ck_assert_int_eq(sums.total.responses, 3);
	ck_assert_int_eq(sums.total.nps[10], 1);
	ck_assert_int_eq(sums.total.nps[9], 0);   /* the refused job left nothing */
	ck_assert_int_eq(sums.total.csat[3], 1);
	ck_assert_int_eq(sums.total.ces[6], 1);

	memset(&sums, 0, sizeof(sums));
	q.dims = CX_DIM_STAGE;
	q.from_day = day / 86400;   /* drops the awareness answer from the day before */
	ck_assert_int_eq(cx_store_scores(st, &q, sum_groups, &sums, &err), 0);
	ck_assert_int_eq(sums.groups, 1);
	ck_assert_str_eq(sums.first_stage, "purchase");
	ck_assert_int_eq(sums.total.responses, 2);

	memset(&sums, 0, sizeof(sums));
	q.from_day = INT64_MIN;
	q.dims = 0;
	q.bucket = CX_BUCKET_DAY;
	q.touchpoint = "web";
	ck_assert_int_eq(cx_store_scores(st, &q, sum_groups, &sums, &err), 0);
	ck_assert_int_eq(sums.groups, 1);
	ck_assert_int_eq(sums.total.responses, 2);
	cx_store_close(st);

	st = open_store();    /* and everything is there after reopening */
	memset(&sums, 0, sizeof(sums));
	q.touchpoint = NULL;
	q.bucket = CX_BUCKET_WEEK;
	ck_assert_int_eq(cx_store_scores(st, &q, sum_groups, &sums, &err), 0);
	ck_assert_int_eq(sums.total.responses, 3);
	cx_store_close(st);
}
END_TEST

/* A touchpoint is learned only while the survey is open as committed: a PUT that closes
 * the map between a keyed post's validation (learn set) and its write wins. */
START_TEST(learning_needs_an_open_map_at_write)
{
	struct cx_store *st = open_store();
	struct cx_writer *wr;
	struct cx_survey s;
	struct cx_error err;
	int created;
	int64_t ids[1];
	json_t *closed = json_pack("{s:s, s:s, s:{s:[s]}}", "id", "checkout", "title", "T",
				   "touchpoints", "purchase", "web");
	struct cx_response r = resp("checkout", "purchase", "app", 9, -1, -1, 1795392000);
	struct waiter *w;

	define(st, "checkout");   /* no touchpoints declared: open */
	ck_assert_int_eq(cx_writer_start(&wr, st, 100), 0);
	r.learn = 1;
	w = write_sync(wr, &r, 1, ids);
	ck_assert_int_eq(w->job.ok, 1);   /* learned */
	free(w);
	ck_assert_int_eq(cx_survey_from_json(closed, "checkout", &s, &err), 0);
	ck_assert_int_eq(s.open_touchpoints, 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 1, &created, &err), 0);
	cx_survey_release(&s);
	r.touchpoint = "kiosk";   /* validated while open, written after the close */
	w = write_sync(wr, &r, 1, ids);
	ck_assert_int_eq(w->job.ok, 0);
	ck_assert_int_eq(w->job.err.status, 422);
	ck_assert_str_eq(w->job.err.code, "unknown_touchpoint");
	free(w);
	cx_writer_stop(wr);
	ck_assert_int_eq(cx_store_survey_get(st, "checkout", &s), 0);
	ck_assert_int_eq(cx_survey_has_touchpoint(&s, "purchase", "kiosk"), 0);
	ck_assert_int_eq(cx_survey_has_touchpoint(&s, "purchase", "app"), 1);
	cx_survey_release(&s);
	json_decref(closed);
	cx_store_close(st);
}
END_TEST

START_TEST(open_failure_names_path)
{
	struct cx_store *st;
	struct cx_error err;

	ck_assert_int_eq(cx_store_open(&st, "/nonexistent-dir/x/cxd.db", 1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent-dir/x/cxd.db"));
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(not_a_database)
{
	struct cx_store *st;
	struct cx_error err;
	FILE *f = fopen(path, "w");

	fputs("this is not a database, just text that is long enough to look like a header...",
	      f);
	fclose(f);
	ck_assert_int_eq(cx_store_open(&st, path, 1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, path));
}
END_TEST

/* A migration that fails says why (SQLite's reason was lost to the ROLLBACK: "not an
 * error"), and leaves the database as it was. */
START_TEST(failed_migration_says_why)
{
	struct cx_store *st;
	struct cx_error err;
	sqlite3 *db;

	ck_assert_int_eq(cx_store_open(&st, path, 1, &err), 0);
	cx_store_close(st);
	/* the last migration's table is there, its record is not: applying it fails */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM schema_migrations WHERE version = "
				      "(SELECT max(version) FROM schema_migrations)", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(cx_store_open(&st, path, 1, &err), -1);
	ck_assert_msg(strstr(err.message, "failed: table") && strstr(err.message, "already exists"),
		      "%s", err.message);
}
END_TEST

/* --- API keys (src/store_keys.c) --- */

static void make_key(struct cx_store *st, enum cx_role role, struct cx_key *k)
{
	char secret[CX_KEY_SECRET_MAX + 1];
	struct cx_error err;

	ck_assert_int_eq(cx_key_generate(k, role, secret, sizeof(secret)), 0);
	k->created_at = 1700000000;
	ck_assert_msg(cx_store_key_put(st, k, &err) == 0, "%s", err.message);
}

/* Two stores on one file stand for the server and `cxd keys` on its database: what one
 * makes, the other finds at once; what one revokes, the other refuses once
 * CX_STORE_KEY_RECHECK_MS have passed, even a key it has cached. */
START_TEST(keys_file_is_the_truth)
{
	struct cx_store *srv = open_store(), *cli = open_store();
	struct cx_key k, got;
	struct cx_error err;
	json_t *list;

	make_key(cli, CX_ROLE_READ, &k);
	ck_assert_int_eq(cx_store_key_get(srv, k.id, &got), 0);   /* now cached in srv */
	ck_assert_int_eq(got.role, CX_ROLE_READ);
	ck_assert_int_eq(memcmp(got.hash, k.hash, 32), 0);
	cx_key_release(&got);
	ck_assert_int_eq(cx_store_key_get(srv, k.id, &got), 0);
	cx_key_release(&got);
	ck_assert_int_eq(cx_store_key_count(srv), 1);
	list = cx_store_key_list(srv);
	ck_assert_int_eq(json_array_size(list), 1);
	ck_assert_ptr_null(json_object_get(json_array_get(list, 0), "secret"));
	json_decref(list);

	ck_assert_int_eq(cx_store_key_delete(cli, k.id, &err), 1);
	usleep((CX_STORE_KEY_RECHECK_MS + 10) * 1000);   /* what `cxd keys revoke` waits */
	ck_assert_int_eq(cx_store_key_get(srv, k.id, &got), -1);
	ck_assert_int_eq(cx_store_key_delete(cli, k.id, &err), 0);
	ck_assert_int_eq(cx_store_key_count(srv), 0);
	cx_key_release(&k);
	cx_store_close(cli);
	cx_store_close(srv);
}
END_TEST

START_TEST(tools_never_create_a_database)
{
	struct cx_store *st;
	struct cx_error err;

	ck_assert_int_eq(cx_store_open_flags(&st, path, 1, CX_STORE_MUST_EXIST, &err), -1);
	ck_assert_str_eq(err.code, "no_database");
	ck_assert_ptr_nonnull(strstr(err.message, path));
	ck_assert_int_eq(access(path, F_OK), -1);   /* nothing made */
	/* an empty file (touch, a failed copy) is no database either: SQLite would make one
	 * in it, and `cxd check` would exit 0 on it (mutation: the size test removed) */
	fclose(fopen(path, "w"));
	ck_assert_int_eq(cx_store_open_flags(&st, path, 1, CX_STORE_MUST_EXIST, &err), -1);
	ck_assert_str_eq(err.code, "no_database");
	ck_assert_ptr_nonnull(strstr(err.message, "empty"));
	{
		struct stat sb;

		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_int_eq(sb.st_size, 0);   /* left as it was */
	}
	unlink(path);
	st = open_store();
	cx_store_close(st);
	ck_assert_int_eq(cx_store_open_flags(&st, path, 1, CX_STORE_MUST_EXIST, &err), 0);
	cx_store_close(st);
}
END_TEST

#define MISS_THREADS 16

struct miss {
	struct cx_store *st;
	const char *id;
	pthread_barrier_t *go;
	int found[2];   /* lookups that found the key before and after the revocation */
};

static void *look_twice(void *arg)
{
	struct miss *m = arg;
	struct cx_key k;

	pthread_barrier_wait(m->go);   /* all at once: every thread misses the cache */
	if (cx_store_key_get(m->st, m->id, &k) == 0) {
		m->found[0]++;
		cx_key_release(&k);
	}
	pthread_barrier_wait(m->go);   /* the main thread revokes here */
	pthread_barrier_wait(m->go);
	if (cx_store_key_get(m->st, m->id, &k) == 0) {
		m->found[1]++;
		cx_key_release(&k);
	}
	return NULL;
}

/* safe-1: threads that miss the cache together must not leave a copy behind that outlives
 * the revocation (the old cache inserted one copy per thread; the delete removed one). */
START_TEST(keys_concurrent_misses_then_revoke)
{
	struct cx_store *srv = open_store(), *cli = open_store();
	pthread_barrier_t go;
	pthread_t t[MISS_THREADS];
	struct miss m[MISS_THREADS];
	struct cx_error err;
	int before = 0, after = 0;

	pthread_barrier_init(&go, NULL, MISS_THREADS + 1);
	for (int trial = 0; trial < 40; trial++) {
		struct cx_key k;

		make_key(cli, CX_ROLE_INGEST, &k);   /* made elsewhere: srv has not cached it */
		for (int i = 0; i < MISS_THREADS; i++) {
			m[i] = (struct miss){ .st = srv, .id = k.id, .go = &go };
			pthread_create(&t[i], NULL, look_twice, &m[i]);
		}
		pthread_barrier_wait(&go);
		pthread_barrier_wait(&go);
		ck_assert_int_eq(cx_store_key_delete(srv, k.id, &err), 1);
		pthread_barrier_wait(&go);
		for (int i = 0; i < MISS_THREADS; i++) {
			pthread_join(t[i], NULL);
			before += m[i].found[0];
			after += m[i].found[1];
		}
		cx_key_release(&k);
	}
	pthread_barrier_destroy(&go);
	ck_assert_int_eq(before, 40 * MISS_THREADS);
	ck_assert_int_eq(after, 0);
	cx_store_close(cli);
	cx_store_close(srv);
}
END_TEST

/* A PUT of survey "checkout" with stages purchase and retention only (awareness gone). */
static void drop_awareness(struct cx_store *st)
{
	json_t *j = json_pack("{s:s, s:s, s:[s, s]}", "id", "checkout", "title", "T", "stages",
			      "purchase", "retention");
	struct cx_survey s;
	struct cx_error err;
	int created;

	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 1, &created, &err), 0);
	cx_survey_release(&s);
	json_decref(j);
}

/* r, appended by the writer in a transaction of its own, is refused 422 invalid_stage. */
static void refused_invalid_stage(struct cx_store *st, const struct cx_response *r)
{
	struct cx_error err;
	int64_t id;
	int replayed;

	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
	ck_assert_int_eq(cx_store_append(st, r, NULL, &id, &replayed, &err), -1);
	ck_assert_int_eq(err.status, 422);
	ck_assert_str_eq(err.code, "invalid_stage");
	cx_store_job_end(st, 0);
	cx_store_rollback(st);
}

/* The writer checks each response against the definition in the file, not the cache
 * validation read: a PUT that dropped a stage (committed while the response waited) makes
 * it 422 invalid_stage instead of an orphan; a touchpoint learned by a job that was undone
 * is learned again by the next job of the same transaction (the admitted-triples memo is
 * cleared with the job). Mutations: cx_store_map_admit's stage check removed; the memo not
 * cleared in cx_store_job_end: each fails here. */
START_TEST(writer_checks_the_file_definition)
{
	struct cx_store *st = open_store();
	struct cx_response r = resp("checkout", "purchase", "new-tp", 9, -1, -1, 1795392000);
	struct cx_survey s;
	struct cx_error err;
	int64_t id;
	int replayed;

	define(st, "checkout");
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 1, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);
	cx_store_job_end(st, 0);   /* undone: the learned touchpoint with it */
	ck_assert_int_eq(cx_store_job_begin(st, 1, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);
	cx_store_job_end(st, 1);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(cx_store_survey_get(st, "checkout", &s), 0);
	ck_assert(cx_survey_has_touchpoint(&s, "purchase", "new-tp"));
	cx_survey_release(&s);

	/* a PUT drops stage awareness (no response there yet), then a response validated
	 * against the old definition reaches the writer */
	drop_awareness(st);
	r = resp("checkout", "awareness", "ad", 9, -1, -1, 1795392000);
	refused_invalid_stage(st, &r);
	cx_store_close(st);
}
END_TEST

/* The memo of admitted triples is kept from one transaction to the next (the map query is
 * a quarter of the writer's work per response), but only while the file agrees: a PUT
 * committed on another connection between two transactions clears it, and so does a
 * rolled-back transaction that had learned a touchpoint. (A triple enters the memo when
 * the file already has it: a learned one on its second response.) Mutations: the data_version
 * comparison in cx_store_begin removed (the memo kept always): the stage dropped by the
 * PUT is admitted again; the clearing in cx_store_rollback removed: the touchpoint learned
 * by the rolled-back transaction is taken as known and never learned again. */
START_TEST(the_admitted_memo_follows_the_file)
{
	struct cx_store *st = open_store();
	struct cx_response r = resp("checkout", "awareness", "ad", 9, -1, -1, 1795392000);
	struct cx_survey s;
	struct cx_error err;
	int64_t id, erased;
	int replayed;

	define(st, "checkout");
	/* a transaction learns new-tp and is rolled back: the file has no new-tp */
	r.touchpoint = "new-tp";
	r.stage = "purchase";
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);   /* memo */
	cx_store_job_end(st, 1);
	cx_store_rollback(st);
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);
	cx_store_job_end(st, 1);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(cx_store_survey_get(st, "checkout", &s), 0);
	ck_assert(cx_survey_has_touchpoint(&s, "purchase", "new-tp"));
	cx_survey_release(&s);

	/* awareness is admitted (and remembered) by one transaction ... */
	r.stage = "awareness";
	r.touchpoint = "ad";
	r.customer = "c-aware";
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);
	ck_assert_int_eq(cx_store_append(st, &r, NULL, &id, &replayed, &err), 0);   /* memo */
	cx_store_job_end(st, 1);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	/* ... its response erased, then a PUT drops the stage, then the next transaction */
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_erase_customer(st, "c-aware", &erased, &err), 0);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(erased, 2);
	drop_awareness(st);
	refused_invalid_stage(st, &r);
	cx_store_close(st);
}
END_TEST

CX_CHECK_MAIN("store", setup, teardown, migrations_and_surveys,
	      held_survey_outlives_its_replacement, writes_and_rollups,
	      learning_needs_an_open_map_at_write,
	      open_failure_names_path, not_a_database, failed_migration_says_why,
	      keys_file_is_the_truth, tools_never_create_a_database,
	      keys_concurrent_misses_then_revoke, writer_checks_the_file_definition,
	      the_admitted_memo_follows_the_file)
