/* Unit tests for writer.c's groups on a real SQLite file: which queued jobs are committed
 * together and in what order. The writer thread is held busy by a job whose done() blocks
 * until the test has queued what it wants; the order of the commits shows in the ids. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/store.h"
#include "cx/writer.h"
#include "check_main.h"
#include "store_fixture.h"

CX_STORE_FIXTURE("/tmp/cx-writer-test")

#define BATCH 100   /* responses in a batch job: more than the writer's GROUP_ALONE */

struct job {
	struct cx_write_job job;
	struct cx_response items[BATCH];
	int64_t ids[BATCH];
	int hold;            /* done() blocks until released */
	int finished;
	int order;           /* 1 for the first job done, 2 for the next... */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int done_count, held, released;

static void on_done(struct cx_write_job *j)
{
	struct job *x = (struct job *)j;

	pthread_mutex_lock(&mu);
	x->finished = 1;
	x->order = ++done_count;
	if (x->hold) {
		held = 1;
		pthread_cond_broadcast(&cv);
		while (!released)
			pthread_cond_wait(&cv, &mu);
		released = 0;
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static struct cx_store *open_store(void)
{
	struct cx_store *st;
	struct cx_error err;
	struct cx_survey s;
	int created;
	json_t *j = json_pack("{s:s, s:s}", "id", "checkout", "title", "T");

	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 0, &created, &err), 0);
	cx_survey_release(&s);
	json_decref(j);
	done_count = held = released = 0;
	return st;
}

/* A job of n responses, for the writer thread (no_lead), done() holding it when `hold`. */
static struct job *submit(struct cx_writer *w, size_t n, int hold)
{
	struct job *x = calloc(1, sizeof(*x));
	struct cx_error err;

	ck_assert_ptr_nonnull(x);
	for (size_t i = 0; i < n; i++) {
		struct cx_response *r = &x->items[i];

		snprintf(r->survey, sizeof(r->survey), "checkout");
		r->stage = "purchase";
		r->touchpoint = "web";
		r->nps = (int)(i % 11);
		r->csat = r->ces = -1;
		r->submitted_at = 1795392000;
		r->learn = 1;   /* the survey declares no touchpoints: it learns them */
	}
	x->job.items = x->items;
	x->job.n = n;
	x->job.ids = x->ids;
	x->job.no_lead = 1;
	x->job.done = on_done;
	x->hold = hold;
	ck_assert_int_eq(cx_writer_submit(w, &x->job, &err), 0);
	return x;
}

static void wait_held(void)
{
	pthread_mutex_lock(&mu);
	while (!held)
		pthread_cond_wait(&cv, &mu);
	held = 0;
	pthread_mutex_unlock(&mu);
}

static void release(void)
{
	pthread_mutex_lock(&mu);
	released = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void wait_done(struct job *x)
{
	pthread_mutex_lock(&mu);
	while (!x->finished)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	ck_assert_msg(x->job.ok, "%s", x->job.err.message);
}

/* A lone response queued after a batch, while another group is being written, goes
 * before the batch: it waits for one group, not for every batch queued ahead of it (it
 * used to share the batch's transaction, and waited for two imports). */
START_TEST(small_jobs_pass_a_waiting_batch)
{
	struct cx_store *st = open_store();
	struct cx_writer *w;
	struct job *first, *batch, *lone, *lone2;

	ck_assert_int_eq(cx_writer_start(&w, st, 10000), 0);
	first = submit(w, 1, 1);
	wait_held();   /* the writer thread is busy with `first` */
	batch = submit(w, BATCH, 0);
	lone = submit(w, 1, 0);
	lone2 = submit(w, 1, 0);
	release();
	wait_done(batch);
	wait_done(lone);
	wait_done(lone2);
	ck_assert_int_lt(lone->order, batch->order);
	ck_assert_int_lt(lone2->order, batch->order);
	ck_assert_int_lt(lone->ids[0], batch->ids[0]);   /* committed first */
	ck_assert_int_lt(lone->ids[0], lone2->ids[0]);   /* small jobs keep their order */
	ck_assert_int_eq(batch->ids[BATCH - 1], batch->ids[0] + BATCH - 1);
	cx_writer_stop(w);
	cx_store_close(st);
	free(first), free(batch), free(lone), free(lone2);
}
END_TEST

/* ... but a batch waits for one group of small jobs at most: when small jobs keep coming,
 * it goes next. */
START_TEST(a_batch_waits_one_group_at_most)
{
	struct cx_store *st = open_store();
	struct cx_writer *w;
	struct job *first, *batch, *lone, *later;

	ck_assert_int_eq(cx_writer_start(&w, st, 10000), 0);
	first = submit(w, 1, 1);
	wait_held();
	batch = submit(w, BATCH, 0);
	lone = submit(w, 1, 1);   /* goes before the batch, and holds the writer again */
	release();
	wait_held();
	later = submit(w, 1, 0);  /* queued while the small group held the writer */
	release();
	wait_done(batch);
	wait_done(later);
	ck_assert_int_lt(lone->order, batch->order);
	ck_assert_int_lt(batch->order, later->order);
	ck_assert_int_lt(batch->ids[0], later->ids[0]);
	cx_writer_stop(w);
	cx_store_close(st);
	free(first), free(batch), free(lone), free(later);
}
END_TEST

/* Two batches queued together are written in two transactions, in their order: a lone
 * response arriving between them waits for one. */
START_TEST(batches_go_alone_in_order)
{
	struct cx_store *st = open_store();
	struct cx_writer *w;
	struct job *first, *b1, *b2, *lone;

	ck_assert_int_eq(cx_writer_start(&w, st, 10000), 0);
	first = submit(w, 1, 1);
	wait_held();
	b1 = submit(w, BATCH, 1);   /* holds the writer after its own commit */
	b2 = submit(w, BATCH, 0);
	release();
	wait_held();                /* b1 is committed and holds the writer */
	lone = submit(w, 1, 0);
	release();
	wait_done(b2);
	wait_done(lone);
	ck_assert_int_lt(b1->ids[0], b2->ids[0]);
	ck_assert_int_lt(lone->order, b2->order);   /* it waited for b1 only */
	cx_writer_stop(w);
	cx_store_close(st);
	free(first), free(b1), free(b2), free(lone);
}
END_TEST

CX_CHECK_MAIN("writer", setup, teardown, small_jobs_pass_a_waiting_batch,
	      a_batch_waits_one_group_at_most, batches_go_alone_in_order)
