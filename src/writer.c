/* writer.c - group commit; see include/cx/writer.h */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "cx/cxtime.h"
#include "cx/log.h"
#include "cx/loop.h"
#include "cx/metrics.h"
#include "cx/writer.h"

struct cx_writer {
	struct cx_store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cx_write_job *head, *tail;
	size_t depth;          /* responses queued */
	size_t limit;
	int stopping;
	int busy;              /* a thread (the writer or a leader) is writing */
	size_t last_group;     /* jobs in the last commit: more than 1 means company */
	int (*alone)(void);    /* 1 when no other client waits (cx_writer_lead_if), or NULL */
	int64_t next_purge;    /* whoever is busy */
	int64_t retry_at_ms;   /* after a failed count, not before (monotonic ms) */
	int batch_waited;      /* the last group was of small jobs while a batch waited */
	int64_t count_at_ms;   /* when the rollups must count what was committed (monotonic
				  ms; 1 = now; 0 = nothing waits): see note_uncounted */
};

/* Responses are counted into the rollups after their commit, by the writer thread, in
 * groups (cx_store_rollups_catch_up): at most this long after the first of them, or as
 * soon as this many wait. Reads are exact meanwhile; the lag only bounds how many rows a
 * read adds itself. */
#define COUNT_LAG_MS 20
#define COUNT_LAG_ROWS 4096
/* A catch-up gives way to queued jobs between its transactions while fewer than this many
 * responses remain uncounted; past it, it counts on, so an import cannot leave reads more
 * than about this many rows to add themselves. */
#define COUNT_BEHIND_MAX 20000
/* A job of more responses than this (a batch: an import) is committed in a group of its
 * own and takes turns with the small jobs (take_group): a lone POST queued beside two
 * 10,000-line imports shared a transaction with both (worst wait 124-202 ms while they
 * ran, 180-200 in most runs), now it waits for the one being written (108-125 ms). */
#define GROUP_ALONE 64

static void commit_batch(struct cx_store *st, struct cx_write_job *batch, int leader);
static void maybe_purge(struct cx_writer *w);

/* Milliseconds on the monotonic clock (the writer's condition variable runs on it): a
 * wall clock stepped back would hold the counts back as long. */
static int64_t mono_ms(void)
{
	return (int64_t)(cx_time_mono_us() / 1000);
}

/* After a commit, by the thread that made it, holding mu: when the counts are due. 1 if
 * the writer thread should hear of it (they were not waiting before, or are due now).
 * A leader must also wake it when they are due (counts_due): the writer thread waits
 * without a timeout while a leader is busy. */
static int note_uncounted(struct cx_writer *w)
{
	int64_t n = cx_store_rollups_pending(w->store), was = w->count_at_ms, now = mono_ms();

	if (n == 0)
		w->count_at_ms = 0;
	else if (now < w->retry_at_ms)   /* a count failed: not before the retry, however many */
		w->count_at_ms = w->retry_at_ms;
	else if (n >= COUNT_LAG_ROWS)
		w->count_at_ms = 1;   /* now */
	else if (!w->count_at_ms)
		w->count_at_ms = now + COUNT_LAG_MS;
	return w->count_at_ms && (!was || w->count_at_ms == 1);
}

static int counts_due(const struct cx_writer *w)
{
	return w->count_at_ms && (w->stopping || mono_ms() >= w->count_at_ms);
}

int cx_writer_submit(struct cx_writer *w, struct cx_write_job *job, struct cx_error *err)
{
	/* a batch may fill three quarters of the queue: the rest stays for single posts,
	 * which batches waiting their turn (take_group) would otherwise shut out */
	size_t cap = job->n > GROUP_ALONE ? w->limit - w->limit / 4 : w->limit;

	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		cx_error_set(err, 503, "shutting_down", NULL, "cxd is shutting down; retry later");
		err->retry_after = 1;
		return -1;
	}
	if (w->depth > 0 && w->depth + job->n > cap) {
		size_t depth = w->depth;

		pthread_mutex_unlock(&w->mu);
		cx_error_set(err, 503, "queue_full", NULL, "%zu responses are waiting for the "
			     "disk (limit %zu%s); retry shortly", depth, w->limit,
			     job->n > GROUP_ALONE ? ", of which batches may fill three quarters" : "");
		err->retry_after = 1;
		return -1;
	}
	job->next = NULL;
	if (!w->busy && !w->head && w->last_group <= 1 && !job->no_lead &&
	    (!w->alone || w->alone())) {
		/* Leader: nobody is writing, nothing waits, the last commit had no company and
		 * no other client is connected, so this thread commits its own job at once
		 * (done() runs here, before we return) instead of handing it to the writer
		 * thread and back. Whatever arrives meanwhile queues for the writer thread.
		 * With other clients about, every job goes to the writer thread: a worker that
		 * commits blocks its other connections (with 2 workers and 8 clients, leaders
		 * took turns and groups never formed: 2,000 POST/s instead of 10,000+). */
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		commit_batch(w->store, job, 1);
		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		w->last_group = 1;
		/* the writer thread commits what queued, counts and purges when they are due:
		 * this thread's client is waiting for its reply */
		if (note_uncounted(w) || counts_due(w) || w->head || w->stopping ||
		    cx_time_now() >= w->next_purge)
			pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	w->depth += job->n;
	if (!w->busy)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

size_t cx_writer_depth(struct cx_writer *w)
{
	size_t d;

	pthread_mutex_lock(&w->mu);
	d = w->depth;
	pthread_mutex_unlock(&w->mu);
	return d;
}

/* A personal link's answer or first view, or a page answer's second step: one response at
 * most, under a savepoint so a refusal undoes only this job. */
static int write_link_job(struct cx_store *st, struct cx_write_job *job)
{
	int64_t now = cx_time_now();
	int rc;

	if (cx_store_job_begin(st, 1, &job->err))
		return -1;
	if (job->kind == CX_JOB_OPENED)
		rc = cx_store_invitation_opened(st, job->claims, now, &job->err);
	else if (job->kind == CX_JOB_AMEND)
		rc = cx_store_response_amend(st, job->target_id, &job->items[0], job->edit_window_s,
					     now, &job->outcome, &job->err);
	else
		rc = cx_store_link_answer(st, &job->items[0], job->claims, job->edit_window_s,
					  now, &job->ids[0], &job->outcome, &job->err);
	/* rules, cases and webhooks in the same transaction, for a first answer only */
	if (rc == 0 && job->kind == CX_JOB_ANSWER && job->outcome == CX_ANSWER_NEW)
		rc = cx_loop_on_response(st, &job->items[0], job->ids[0], &job->err);
	if (rc == 0 && job->kind == CX_JOB_AMEND)
		job->ids[0] = job->target_id;
	job->ok = rc == 0;
	job->failed_index = 0;
	cx_store_job_end(st, job->ok);
	return (job->ok || job->err.status < 500) ? 0 : -1;
}

/* Write one job inside the open transaction; a refused item undoes only this job. */
static int write_job(struct cx_store *st, struct cx_write_job *job)
{
	size_t i;

	job->nreplayed = 0;
	switch (job->kind) {
	case CX_JOB_APPEND:
		break;
	case CX_JOB_ANSWER:
	case CX_JOB_AMEND:
	case CX_JOB_OPENED:
		return write_link_job(st, job);
	default: {
		int rc = job->kind == CX_JOB_ERASE
			 ? cx_store_erase_customer(st, job->customer, &job->count, &job->err)
			 : cx_store_redact_comment(st, job->target_id, &job->count, &job->err);

		job->ok = rc == 0;
		return rc;
	}
	}
	/* a lone response without a key needs no savepoint: its INSERT is atomic */
	if (cx_store_job_begin(st, job->n > 1 || job->items[0].idem_key, &job->err))
		return -1;
	for (i = 0; i < job->n; i++) {
		int replayed;

		if (cx_store_append(st, &job->items[i], &job->idem_scope, &job->ids[i], &replayed,
				    &job->err))
			break;
		/* rules, cases and webhooks in the same transaction (a replay did that already) */
		if (!replayed && cx_loop_on_response(st, &job->items[i], job->ids[i], &job->err))
			break;
		job->nreplayed += (size_t)replayed;
		if (job->replayed)
			job->replayed[i] = (unsigned char)replayed;
	}
	job->failed_index = i;
	job->ok = (i == job->n);
	cx_store_job_end(st, job->ok);
	/* a 4xx (422 refused, 409 idempotency conflict) fails this job only; anything else
	 * loses the whole transaction */
	return (job->ok || job->err.status < 500) ? 0 : -1;
}

static void commit_batch(struct cx_store *st, struct cx_write_job *batch, int leader)
{
	struct cx_error err = { 0 };
	struct cx_write_job *j, *next;
	int failed = cx_store_begin(st, &err);

	for (j = batch; j && !failed; j = j->next)
		if (write_job(st, j)) {
			err = j->err;
			failed = 1;
		}
	if (!failed)
		failed = cx_store_commit(st, &err);
	if (!failed) {
		size_t n = 0;

		for (j = batch; j; j = j->next)
			n += j->n;
		cx_metrics_commit(n, leader);
	}
	else
		cx_store_rollback(st);
	if (failed) {
		cx_log_error("write failed, %s", err.message);
		err.status = 503;
		err.retry_after = 1;
	}
	for (j = batch; j; j = next) {
		next = j->next;   /* done() may free j */
		if (failed) {
			j->ok = 0;
			j->err = err;
		}
		j->done(j);
	}
}

/* Purge idempotency keys past their retention, at most hourly; the caller is busy. */
static void maybe_purge(struct cx_writer *w)
{
	int n;

	if (cx_time_now() < w->next_purge)
		return;
	n = cx_store_purge_idempotency(w->store, cx_time_now() - CX_IDEM_RETENTION_S);
	if (n > 0)
		cx_log_info("purged %d idempotency keys older than %d days", n,
			    CX_IDEM_RETENTION_S / 86400);
	w->next_purge = cx_time_now() + 3600;
}

/* Wait for a signal, and at most until `until_ms` (monotonic milliseconds) when it is set. */
static void wait_until(struct cx_writer *w, int64_t until_ms)
{
	struct timespec ts = { .tv_sec = (time_t)(until_ms / 1000),
			       .tv_nsec = (long)(until_ms % 1000) * 1000000L };

	if (until_ms > 0)
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	else
		pthread_cond_wait(&w->cv, &w->mu);
}

/* Between two transactions of a catch-up: stop for jobs that queued meanwhile, unless the
 * counts are too far behind. */
static int give_way(void *ctx, int64_t left)
{
	struct cx_writer *w = ctx;
	int yes;

	pthread_mutex_lock(&w->mu);
	yes = w->head != NULL && left < COUNT_BEHIND_MAX;
	pthread_mutex_unlock(&w->mu);
	return yes;
}

/* The writer thread, busy: count the responses committed since the last time. */
static void count_responses(struct cx_writer *w)
{
	struct cx_error err = { 0 };
	int64_t n = 0;
	int rc = cx_store_rollups_catch_up_until(w->store, give_way, w, &n, &err);

	pthread_mutex_lock(&w->mu);
	if (rc == 0 || n > 0)   /* a failure after some transactions: those are counted */
		cx_metrics_counted((size_t)n);
	if (rc == 0) {
		note_uncounted(w);
	} else {
		/* reads stay exact and nothing is lost (the mark did not move): try again in a
		 * second, or leave it to the next start when stopping */
		cx_log_error("counting responses into the rollups failed, %s", err.message);
		w->retry_at_ms = mono_ms() + 1000;
		w->count_at_ms = w->stopping ? 0 : w->retry_at_ms;
	}
	pthread_mutex_unlock(&w->mu);
}

struct job_list {
	struct cx_write_job *head, *tail;
	size_t n;
};

static void list_add(struct job_list *l, struct cx_write_job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

/* Walking the queue in order: 1 if small job j may go in the next small group. Small jobs
 * go, batches stay; an erasure after a batch stays, and so does every job after that
 * erasure (the batch may hold that customer's responses). */
static int small_may_go(const struct cx_write_job *j, int *seen_batch, int *barrier)
{
	if (j->n > GROUP_ALONE)
		*seen_batch = 1;
	else if (*seen_batch && j->kind == CX_JOB_ERASE)
		*barrier = 1;
	return j->n <= GROUP_ALONE && !*barrier;
}

/* Holding mu: take the next group off the queue. Small jobs (GROUP_ALONE responses or
 * fewer) go together, in queue order; a batch goes alone. They take turns: when both
 * wait, the small ones go first unless they went last time while a batch waited, so a
 * small job waits for one batch at most and a batch for one group of small jobs. An
 * erasure never passes a batch queued before it (small_may_go). Sets *njobs. */
static struct cx_write_job *take_group(struct cx_writer *w, size_t *njobs)
{
	struct cx_write_job *big = NULL, *j, *next;
	struct job_list group = { 0 }, rest = { 0 };
	size_t rows = 0;
	int small = 0, seen_batch = 0, barrier = 0;

	for (j = w->head; j; j = j->next) {
		if (j->n > GROUP_ALONE && !big)
			big = j;
		small |= small_may_go(j, &seen_batch, &barrier);
	}
	/* the first batch alone when no small job may go or its turn came, else the small
	 * jobs that may */
	if (big && small && !w->batch_waited)
		big = NULL;
	seen_batch = barrier = 0;
	for (j = w->head; j; j = next) {
		next = j->next;
		if (big ? j == big : small_may_go(j, &seen_batch, &barrier)) {
			list_add(&group, j);
			rows += j->n;
		} else {
			list_add(&rest, j);
		}
	}
	w->head = rest.head;
	w->tail = rest.tail;
	w->batch_waited = !big && seen_batch;
	w->depth -= rows;
	*njobs = group.n;
	return group.head;
}

/* The writer thread commits, as one group, what queued while a leader (or the writer
 * itself) was busy (take_group); and purges old idempotency keys when nobody else is
 * writing. */
static void *writer_main(void *arg)
{
	struct cx_writer *w = arg;

	for (;;) {
		struct cx_write_job *batch;
		size_t njobs, company;
		int count;

		pthread_mutex_lock(&w->mu);
		/* a busy leader signals when it is done and something queued behind it, or the
		 * counts became due */
		while (w->busy || (!w->head && !w->stopping && !counts_due(w) &&
				   cx_time_now() < w->next_purge)) {
			int64_t left = w->next_purge - cx_time_now();
			int64_t until = mono_ms() + (left > 0 ? left : 0) * 1000;

			if (w->count_at_ms && w->count_at_ms < until)
				until = w->count_at_ms;
			wait_until(w, w->busy ? 0 : until);
		}
		if (!w->head && w->stopping && !w->count_at_ms) {   /* stopping, drained, counted */
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		batch = take_group(w, &njobs);   /* NULL: only the counts or the purge were due */
		company = njobs + (w->head != NULL);   /* others left waiting count as company */
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);
		if (batch)
			commit_batch(w->store, batch, 0);
		pthread_mutex_lock(&w->mu);
		if (batch)
			note_uncounted(w);
		count = counts_due(w);
		pthread_mutex_unlock(&w->mu);
		if (count)
			count_responses(w);
		maybe_purge(w);
		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		if (batch)
			w->last_group = company;
		pthread_mutex_unlock(&w->mu);
	}
}

int cx_writer_start(struct cx_writer **out, struct cx_store *st, unsigned queue_limit)
{
	struct cx_writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (!w)
		return -1;
	w->store = st;
	w->limit = queue_limit;
	/* responses appended before the writer started (cxd --demo's fill) are counted as
	 * soon as it runs, not left to whatever commit comes next */
	note_uncounted(w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* the deadlines are monotonic */
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		free(w);
		return -1;
	}
	*out = w;
	return 0;
}

void cx_writer_lead_if(struct cx_writer *w, int (*alone)(void))
{
	pthread_mutex_lock(&w->mu);
	w->alone = alone;
	pthread_mutex_unlock(&w->mu);
}

void cx_writer_stop(struct cx_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
