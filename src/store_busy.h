/* store_busy.h - how the store's connections wait for SQLite's write lock, for the store's
 * own files only (nothing outside src/store*.c includes this).
 *
 * SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15 ... ms between
 * tries: a response whose transaction meets the webhook deliverer's (or any other of this
 * process's writers) waited 3-18 ms for a lock held a millisecond or two. Here a
 * connection that finds the lock taken sleeps on a condition variable that every commit
 * and rollback of this process's connections wakes, so it tries again as soon as the
 * holder is done; a holder in another process (cxd keys, backup, demo) is polled, 50 us
 * at first, doubling to 1 ms. Either way it gives up after the timeout, as before.
 */
#ifndef CX_STORE_BUSY_H
#define CX_STORE_BUSY_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

struct cx_busy {
	pthread_mutex_t mu;
	pthread_cond_t done;         /* a transaction of this process ended */
	atomic_ulong ends;           /* how many have, for a waiter that missed the signal */
	atomic_uint waiting;
	int timeout_ms;
	long first_us, longest_us;   /* a wait's first step and its longest (doubling) */
};

/* timeout_ms: how long one wait may last in all before SQLITE_BUSY. 0 or -1. */
int cx_busy_init(struct cx_busy *b, int timeout_ms);
void cx_busy_destroy(struct cx_busy *b);
/* Install on db: the busy handler and the rollback hook (the caller's commit hook calls
 * cx_busy_ended). */
void cx_busy_attach(struct cx_busy *b, sqlite3 *db);
/* A transaction of this process committed or rolled back: wake the waiters. */
void cx_busy_ended(struct cx_busy *b);

#endif
