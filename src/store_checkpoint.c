/* store_checkpoint.c - WAL checkpoints off the commit path; see store_checkpoint.h */
#include <pthread.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "cx/log.h"
#include "cx/store.h"
#include "store_checkpoint.h"
#include "store_loop.h"

struct cx_ckpt {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;      /* due, stopping */
	pthread_cond_t cv;
	pthread_mutex_t run_mu;  /* held while a checkpoint runs (and by cx_ckpt_lock) */
	int due, stopping;
};

static void *run(void *arg)
{
	struct cx_ckpt *c = arg;

	for (;;) {
		int rc;

		pthread_mutex_lock(&c->mu);
		while (!c->due && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stopping) {
			pthread_mutex_unlock(&c->mu);
			return NULL;
		}
		c->due = 0;
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_lock(&c->run_mu);
		rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_unlock(&c->run_mu);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			cx_log_error("checkpoint failed: %s", sqlite3_errstr(rc));
	}
}

int cx_ckpt_start(struct cx_ckpt **out, struct cx_store *st, struct cx_error *err)
{
	struct cx_ckpt *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	if (!(c->db = cx_store_connect(st, 0, err))) {
		free(c);
		return -1;
	}
	sqlite3_wal_hook(c->db, NULL, NULL);   /* it commits nothing */
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->run_mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		sqlite3_close(c->db);
		free(c);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "cannot start the "
				    "checkpoint thread");
	}
	*out = c;
	return 0;
}

void cx_ckpt_kick(struct cx_ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	if (!c->due) {
		c->due = 1;
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

void cx_ckpt_lock(struct cx_ckpt *c)
{
	if (c)
		pthread_mutex_lock(&c->run_mu);
}

void cx_ckpt_unlock(struct cx_ckpt *c)
{
	if (c)
		pthread_mutex_unlock(&c->run_mu);
}

void cx_ckpt_stop(struct cx_ckpt *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->run_mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
