/* store_busy.c - waiting for SQLite's write lock: see store_busy.h. */
#include <time.h>

#include "store_busy.h"

static long long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* SQLite calls this with count = 0, 1, 2 ... for one wait on one connection, on the
 * connection's thread; 1 = try again, 0 = give up (SQLITE_BUSY). */
static int busy_handler(void *ctx, int count)
{
	static _Thread_local long long since;
	static _Thread_local unsigned long seen;   /* ends when SQLite last tried, about */
	static _Thread_local int last = -1;        /* the count of this thread's last call */
	struct cx_busy *b = ctx;
	long long now = now_us(), wait_us;
	struct timespec until;
	int rc = 0;

	if (count == 0 || count != last + 1) {   /* a new wait (however SQLite counted) */
		since = now;
		seen = atomic_load(&b->ends);
	}
	last = count;
	if (now - since >= (long long)b->timeout_ms * 1000)
		return 0;
	wait_us = count < 16 ? (long long)b->first_us << count : b->longest_us;
	if (wait_us > b->longest_us)
		wait_us = b->longest_us;
	clock_gettime(CLOCK_MONOTONIC, &until);   /* the condition variable's clock */
	until.tv_sec += wait_us / 1000000;
	until.tv_nsec += (long)(wait_us % 1000000) * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}

	atomic_fetch_add(&b->waiting, 1);
	pthread_mutex_lock(&b->mu);
	/* a transaction that ended since SQLite's try (ends moved on) is not waited for */
	while (rc == 0 && atomic_load(&b->ends) == seen)
		rc = pthread_cond_timedwait(&b->done, &b->mu, &until);
	pthread_mutex_unlock(&b->mu);
	atomic_fetch_sub(&b->waiting, 1);
	seen = atomic_load(&b->ends);
	return 1;
}

static void on_rollback(void *ctx)
{
	cx_busy_ended(ctx);
}

void cx_busy_ended(struct cx_busy *b)
{
	atomic_fetch_add(&b->ends, 1);
	if (atomic_load(&b->waiting) == 0)
		return;
	pthread_mutex_lock(&b->mu);
	pthread_cond_broadcast(&b->done);
	pthread_mutex_unlock(&b->mu);
}

int cx_busy_init(struct cx_busy *b, int timeout_ms)
{
	pthread_condattr_t attr;
	int failed;

	atomic_init(&b->ends, 0);
	atomic_init(&b->waiting, 0);
	b->timeout_ms = timeout_ms;
	b->first_us = 50;
	b->longest_us = 1000;
	if (pthread_mutex_init(&b->mu, NULL))
		return -1;
	failed = pthread_condattr_init(&attr) ||
		 pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) ||
		 pthread_cond_init(&b->done, &attr);
	pthread_condattr_destroy(&attr);
	if (failed) {
		pthread_mutex_destroy(&b->mu);
		return -1;
	}
	return 0;
}

void cx_busy_destroy(struct cx_busy *b)
{
	pthread_cond_destroy(&b->done);
	pthread_mutex_destroy(&b->mu);
}

void cx_busy_wait_here(struct cx_busy *b, sqlite3 *db)
{
	sqlite3_busy_handler(db, busy_handler, b);
}

void cx_busy_watch(struct cx_busy *b, sqlite3 *db)
{
	sqlite3_rollback_hook(db, on_rollback, b);
}
