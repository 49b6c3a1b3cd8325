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

static struct cx_store *st;
static struct cx_writer *w;
static struct job *made[8];   /* every job of the test, for finish() */
static size_t nmade;
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

/* A job of n responses (customers c0, c1, c2 in turn), for the writer thread (no_lead),
 * done() holding it when `hold`; not submitted. */
static struct job *job_of(size_t n, int hold)
{
	struct job *x = calloc(1, sizeof(*x));

	ck_assert_ptr_nonnull(x);
	ck_assert_uint_lt(nmade, sizeof(made) / sizeof(made[0]));
	made[nmade++] = x;   /* freed by finish() */
	for (size_t i = 0; i < n; i++) {
		struct cx_response *r = &x->items[i];

		snprintf(r->survey, sizeof(r->survey), "checkout");
		r->stage = "purchase";
		r->touchpoint = "web";
		r->nps = (int)(i % 11);
		r->csat = r->ces = -1;
		r->submitted_at = 1795392000;
		r->learn = 1;   /* the survey declares no touchpoints: it learns them */
		r->customer = (char *)(i % 3 == 0 ? "c0" : i % 3 == 1 ? "c1" : "c2");
	}
	x->job.items = x->items;
	x->job.n = n;
	x->job.ids = x->ids;
	x->job.no_lead = 1;
	x->job.done = on_done;
	x->hold = hold;
	return x;
}

static struct job *submit(size_t n, int hold)
{
	struct job *x = job_of(n, hold);
	struct cx_error err;

	ck_assert_msg(cx_writer_submit(w, &x->job, &err) == 0, "%s", err.message);
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

/* A store with survey "checkout" and a writer of queue_limit, its thread held busy by a
 * first job (one response, customer c0) until release(). */
static void start_held(unsigned queue_limit)
{
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
	ck_assert_int_eq(cx_writer_start(&w, st, queue_limit), 0);
	submit(1, 1);
	wait_held();
}

static void finish(void)
{
	cx_writer_stop(w);
	cx_store_close(st);
	for (size_t i = 0; i < nmade; i++)
		free(made[i]);
	nmade = 0;
}

/* A lone response queued after a batch, while another group is being written, goes
 * before the batch: it waits for one group, not for every batch queued ahead of it (it
 * used to share the batch's transaction, and waited for two imports). */
START_TEST(small_jobs_pass_a_waiting_batch)
{
	struct job *batch, *lone, *lone2;

	start_held(10000);
	batch = submit(BATCH, 0);
	lone = submit(1, 0);
	lone2 = submit(1, 0);
	release();
	wait_done(batch);
	wait_done(lone);
	wait_done(lone2);
	ck_assert_int_lt(lone->order, batch->order);
	ck_assert_int_lt(lone2->order, batch->order);
	ck_assert_int_lt(lone->ids[0], batch->ids[0]);   /* committed first */
	ck_assert_int_lt(lone->ids[0], lone2->ids[0]);   /* small jobs keep their order */
	ck_assert_int_eq(batch->ids[BATCH - 1], batch->ids[0] + BATCH - 1);
	finish();
}
END_TEST

/* ... but a batch waits for one group of small jobs at most: when small jobs keep coming,
 * it goes next. */
START_TEST(a_batch_waits_one_group_at_most)
{
	struct job *batch, *lone, *later;

	start_held(10000);
	batch = submit(BATCH, 0);
	lone = submit(1, 1);   /* goes before the batch, and holds the writer again */
	release();
	wait_held();
	later = submit(1, 0);  /* queued while the small group held the writer */
	release();
	wait_done(batch);
	wait_done(later);
	ck_assert_int_lt(lone->order, batch->order);
	ck_assert_int_lt(batch->order, later->order);
	ck_assert_int_lt(batch->ids[0], later->ids[0]);
	finish();
}
END_TEST

/* Two batches queued together are written in two transactions, in their order: a lone
 * response arriving between them waits for one. */
START_TEST(batches_go_alone_in_order)
{
	struct job *b1, *b2, *lone;

	start_held(10000);
	b1 = submit(BATCH, 1);   /* holds the writer after its own commit */
	b2 = submit(BATCH, 0);
	release();
	wait_held();                /* b1 is committed and holds the writer */
	lone = submit(1, 0);
	release();
	wait_done(b2);
	wait_done(lone);
	ck_assert_int_lt(b1->ids[0], b2->ids[0]);
	ck_assert_int_lt(lone->order, b2->order);   /* it waited for b1 only */
	finish();
}
END_TEST

/* An erasure does not pass a batch queued before it: the batch may hold that customer's
 * responses, and they must not outlive the erasure. The small jobs after it keep their
 * place behind it. */
START_TEST(an_erasure_waits_for_the_batch_before_it)
{
	struct job *batch, *erase, *lone;
	struct cx_error err;

	start_held(10000);
	batch = submit(BATCH, 0);      /* 34 of its responses are customer c0's */
	erase = job_of(0, 0);
	erase->job.kind = CX_JOB_ERASE;
	erase->job.customer = "c0";
	erase->job.n = 1;
	ck_assert_int_eq(cx_writer_submit(w, &erase->job, &err), 0);
	lone = submit(1, 0);
	release();
	wait_done(batch);
	wait_done(erase);
	wait_done(lone);
	ck_assert_int_lt(batch->order, erase->order);
	ck_assert_int_lt(erase->order, lone->order);
	ck_assert_int_eq(erase->job.count, 1 + 34);   /* the held first job's and the batch's */
	finish();
}
END_TEST

/* Batches may fill three quarters of the queue: single posts still get in while imports
 * wait their turn (they were refused 503 queue_full while batches filled it). */
START_TEST(the_queue_keeps_room_for_single_posts)
{
	struct job *b[3], *refused, *lone;
	struct cx_error err;

	start_held(4 * BATCH);
	for (int i = 0; i < 3; i++)
		b[i] = submit(BATCH, 0);   /* 300 of 400 */
	refused = job_of(BATCH, 0);
	ck_assert_int_eq(cx_writer_submit(w, &refused->job, &err), -1);
	ck_assert_int_eq(err.status, 503);
	ck_assert_str_eq(err.code, "queue_full");
	lone = submit(1, 0);   /* room left for it */
	ck_assert_uint_eq(cx_writer_depth(w), 3 * BATCH + 1);
	release();
	for (int i = 0; i < 3; i++)
		wait_done(b[i]);
	wait_done(lone);
	ck_assert_uint_eq(cx_writer_depth(w), 0);
	finish();
}
END_TEST

CX_CHECK_MAIN("writer", setup, teardown, small_jobs_pass_a_waiting_batch,
	      a_batch_waits_one_group_at_most, batches_go_alone_in_order,
	      an_erasure_waits_for_the_batch_before_it, the_queue_keeps_room_for_single_posts)
