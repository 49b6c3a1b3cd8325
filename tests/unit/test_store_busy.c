/* test_store_busy.c - src/store_busy.c: a connection that finds SQLite's write lock taken
 * tries again when a transaction of this process ends (commit or rollback), not after a
 * sleep, and gives up after its timeout. Two connections to one file: `holder` takes the
 * lock, `waiter` (with the busy handler) asks for it on a thread of its own. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/store_busy.h"
#include "check_main.h"

static char dir[32];
static char path[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cx-busy-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
}

static void teardown(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[96];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

static sqlite3 *open_db(void)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS "
				      "t(x)", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static long long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* the store's commit hook (on_commit in store.c) tells the waiters; so does this one */
static int committed(void *ctx, sqlite3 *db, const char *name, int frames)
{
	(void)db, (void)name, (void)frames;
	cx_busy_ended(ctx);
	return SQLITE_OK;
}

struct asker {
	sqlite3 *db;
	int rc;
	long long waited_ms;
};

static void *ask(void *arg)
{
	struct asker *a = arg;
	long long t0 = ms_now();

	a->rc = sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	a->waited_ms = ms_now() - t0;
	if (a->rc == SQLITE_OK)
		sqlite3_exec(a->db, "INSERT INTO t VALUES (1); COMMIT", NULL, NULL, NULL);
	return NULL;
}

/* The waiter polls only every 10 s here: it gets the lock at once only if the holder's end
 * wakes it. Mutation: no broadcast in cx_busy_ended (or no rollback hook): 10 s. */
static void wakes_when_the_holder_ends(const char *end)
{
	struct cx_busy b;
	sqlite3 *holder = open_db(), *waiter = open_db();
	struct asker a = { .db = waiter };
	pthread_t t;

	ck_assert_int_eq(cx_busy_init(&b, 30000), 0);
	b.first_us = b.longest_us = 10 * 1000 * 1000;
	cx_busy_wait_here(&b, waiter);
	cx_busy_watch(&b, holder);    /* as store.c's connect() does for a writing connection */
	sqlite3_wal_hook(holder, committed, &b);
	ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE; INSERT INTO t VALUES (0)", NULL,
				      NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, ask, &a), 0);
	while (atomic_load(&b.waiting) == 0)   /* the waiter is in the handler */
		usleep(1000);
	ck_assert_int_eq(sqlite3_exec(holder, end, NULL, NULL, NULL), SQLITE_OK);
	pthread_join(t, NULL);
	ck_assert_int_eq(a.rc, SQLITE_OK);
	ck_assert_msg(a.waited_ms < 5000, "the waiter slept %lld ms after the holder's %s",
		      a.waited_ms, end);
	sqlite3_close(waiter);
	sqlite3_close(holder);
	cx_busy_destroy(&b);
}

START_TEST(a_commit_wakes_the_waiter)
{
	wakes_when_the_holder_ends("COMMIT");
}
END_TEST

START_TEST(a_rollback_wakes_the_waiter)
{
	wakes_when_the_holder_ends("ROLLBACK");
}
END_TEST

/* A holder that never lets go: SQLITE_BUSY once the timeout has passed, not before.
 * Mutation: the elapsed-time check removed (the waiter would wait for ever). */
START_TEST(the_waiter_gives_up_at_its_timeout)
{
	struct cx_busy b;
	sqlite3 *holder = open_db(), *waiter = open_db();
	struct asker a = { .db = waiter };

	ck_assert_int_eq(cx_busy_init(&b, 200), 0);
	cx_busy_wait_here(&b, waiter);
	ck_assert_int_eq(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ask(&a);
	ck_assert_int_eq(a.rc, SQLITE_BUSY);
	ck_assert_int_ge(a.waited_ms, 200);
	sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(waiter);
	sqlite3_close(holder);
	cx_busy_destroy(&b);
}
END_TEST

CX_CHECK_MAIN("store_busy", setup, teardown, a_commit_wakes_the_waiter,
	      a_rollback_wakes_the_waiter, the_waiter_gives_up_at_its_timeout)
