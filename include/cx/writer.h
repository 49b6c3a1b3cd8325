/* writer.h - group commit: one writer at a time, leader/follower.
 *
 * Handler threads validate and submit jobs. A job that finds the writer idle is committed
 * at once by the thread that submitted it; the writer thread takes what queued meanwhile
 * (every small job together; a batch of more than 64 responses alone, taking turns with
 * them), writes it in one transaction, commits with synchronous=FULL, and only then calls
 * each job's done(). So a 201 still means durable; at low load nothing waits for another
 * thread, under load one fsync carries a whole group, and a POST beside an import waits
 * for one batch at most (and for a few thousand rows of counting when more than 20,000
 * responses wait to be counted). The rollup counts follow in transactions of their own
 * (cx_store_rollups_catch_up_until). The queue is bounded (in responses): a full queue is
 * refused at once with 503 `queue_full` and Retry-After, never buffered without bound.
 */
#ifndef CX_WRITER_H
#define CX_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "cx/error.h"
#include "cx/store.h"
#include "cx/validate.h"

struct cx_writer;

/* Idempotency keys are kept at least this long (purged hourly after it). */
#define CX_IDEM_RETENTION_S (8 * 86400)

enum cx_job_kind {
	CX_JOB_APPEND = 0,   /* store items[0..n) */
	CX_JOB_ERASE,        /* delete every response of `customer` */
	CX_JOB_REDACT,       /* remove the comment of response `target_id` */
	CX_JOB_ANSWER,       /* items[0] answers the link `claims` (cx_store_link_answer) */
	CX_JOB_AMEND,        /* items[0] replaces response target_id's answers
				(cx_store_response_amend) */
	CX_JOB_OPENED,       /* the link `claims` was viewed (cx_store_invitation_opened) */
};

struct cx_write_job {
	/* in */
	enum cx_job_kind kind;
	const struct cx_response *items;
	size_t n;                /* responses (1 for erase and redact jobs) */
	const char *customer;
	int64_t target_id;
	struct cx_idem_scope idem_scope; /* whose idempotency keys the items carry */
	const struct cx_link_claims *claims; /* ANSWER, OPENED */
	int64_t edit_window_s;   /* ANSWER, AMEND: how long an answer may still change */
	int no_lead;             /* always the writer thread's: nobody waits for it, or its
				    done() may block on the disk (see cx_writer_submit) */
	void (*done)(struct cx_write_job *job);  /* called once: on the writer thread, or
						    inside cx_writer_submit (see below) */
	void *ctx;
	/* out, valid in done(): ok = 1 and ids[i] for each item, or ok = 0 and err */
	int ok;
	int64_t *ids;        /* caller-provided, n entries */
	unsigned char *replayed; /* optional, n entries: 1 = idempotent retry, id is the original */
	size_t nreplayed;
	int64_t count;           /* erase/redact: rows affected */
	enum cx_answer_outcome outcome; /* ANSWER, AMEND (ids[0] is the response) */
	size_t failed_index; /* item that was refused, when err.status == 422 */
	struct cx_error err;
	/* private */
	struct cx_write_job *next;
};

int cx_writer_start(struct cx_writer **out, struct cx_store *st, unsigned queue_limit);
/* Queue job; done() will be called exactly once. When nothing is being written and
 * nothing waits, the calling thread commits the job itself (a leader: no hand-off to the
 * writer thread and back), so done() may run before this returns; jobs arriving meanwhile
 * queue and the writer thread commits them in groups (see the top of this file; an
 * erasure never passes a batch queued before it). `no_lead` jobs always queue.
 * Returns -1 (done() not called) with a 503 in err when the queue is full (a batch may
 * fill three quarters of queue_limit, single posts all of it) or the writer is
 * stopping. */
int cx_writer_submit(struct cx_writer *w, struct cx_write_job *job, struct cx_error *err);
/* Lead (see cx_writer_submit) only while alone() says no other client is connected;
 * without it, whenever the writer is idle. */
void cx_writer_lead_if(struct cx_writer *w, int (*alone)(void));
/* Responses queued now (for /healthz and tests). */
size_t cx_writer_depth(struct cx_writer *w);
/* Refuse new jobs, commit every queued one, join the thread, free w. */
void cx_writer_stop(struct cx_writer *w);

#endif
