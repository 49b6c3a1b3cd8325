/* store_busy.h - how the store's connections wait for SQLite's write lock, for the store's
 * own files only (nothing outside src/store*.c includes this).
 *
 * SQLite's own busy handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15 ... ms between
 * tries: a response whose transaction met the webhook deliverer's waited 3-18 ms for a
 * lock held a millisecond or two, and a survey PUT during a 32-connection POST load up
 * to 2.3 s, retrying at moments the writer held the lock again. Here a
 * connection that finds the lock taken sleeps on a condition variable that every commit
 * and rollback of this process's writing connections wakes, so it tries again as soon as
 * the holder is done; a holder the wake-up does not reach (another process: cxd keys,
 * backup, demo; the key store's own connections; a write transaction that changed
 * nothing, for which SQLite calls no WAL hook) is polled, 50 us at first, doubling to
 * 1 ms. Either way it gives up after the timeout, as before. Every writing connection of
 * the store waits here (connect() in store.c: the responses' writer, survey PUTs, keys,
 * cases, rules, endpoints, invitations, alerts) except the background workers' that
 * commit often (the webhook deliverer's and the mail queue's: cx_store_connect_worker in
 * store_loop.h says why), which keep SQLite's sleeps and take the gaps.
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
/* db waits for the write lock here (its busy handler) instead of in SQLite's sleeps. */
void cx_busy_wait_here(struct cx_busy *b, sqlite3 *db);
/* db's rollbacks wake the waiters (its rollback hook); its commits must call
 * cx_busy_ended from the WAL hook, which SQLite calls with the lock released. */
void cx_busy_watch(struct cx_busy *b, sqlite3 *db);
/* A transaction of this process committed or rolled back: wake the waiters. */
void cx_busy_ended(struct cx_busy *b);

#endif
