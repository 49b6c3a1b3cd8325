/* store_keys.c - API keys in the SQLite store (the cx_store_key_* calls of store.h).
 *
 * The database is the only truth about which keys exist: a key made or revoked by
 * `cxd keys` on the file while cxd serves counts as much as one made over HTTP.
 *
 * Lookups are cached, and the cache is checked against the file: `PRAGMA data_version` on a
 * connection of our own changes whenever any other connection, in this process or another,
 * commits to the file. A cached key is served only while the number is the one it was read
 * under, and the number is read again at least every CX_STORE_KEY_RECHECK_MS; after a
 * change, each cached key's row is read again on its next use (a key whose row is gone
 * leaves the cache). Reading the number takes a read transaction (about 10 us here), which
 * is why it is not done on every request: the writer commits all the time.
 *
 * Everything about the cache (the check, the lookup, the row read, every insert and
 * removal) happens under one mutex, so threads that miss together cannot each insert a
 * copy, and a delete made here drops the key from the cache after its commit, under that
 * mutex: no request whose authentication starts after DELETE /v1/keys/ID answered is let in.
 * A delete by another process is seen within CX_STORE_KEY_RECHECK_MS of its commit, and
 * `cxd keys revoke` waits that long before it exits (src/cli.c): once it has exited, no
 * running cxd lets the key in either.
 *
 * Connections: `rdb` (read-only) for lookups, lists and counts, under read_mu; `wdb` for
 * creating and deleting keys, under write_mu, so that a write waiting for SQLite's lock
 * never holds up authentication.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "cx/cxtime.h"
#include "cx/store.h"
#include "store_busy.h"
#include "store_keys.h"

#define BUSY_TIMEOUT_MS 5000
#define CACHE_MAX 4096   /* cached keys; past it the cache starts over */

struct cached {
	struct cx_key k;
	long long version;   /* data_version of the last check before k's row was read */
};

struct cx_keystore {
	char *path;
	struct cx_busy *busy;

	pthread_mutex_t read_mu;
	sqlite3 *rdb;
	sqlite3_stmt *version_q, *get_q;
	struct cached *cache;
	size_t n, cap;
	long long version;      /* data_version at the last check ... */
	uint64_t checked_us;    /* ... which started then (monotonic clock), 0 = never */

	pthread_mutex_t write_mu;
	sqlite3 *wdb;
};

static const char SQL_GET[] =
	"SELECT id, role, surveys, label, hash, created_at FROM api_keys WHERE id = ?1";

static int fail(struct cx_keystore *ks, sqlite3 *db, struct cx_error *err, const char *what)
{
	return cx_error_set(err, 503, "storage_unavailable", NULL, "%s: %s (database '%s')", what,
			    db ? sqlite3_errmsg(db) : "out of memory", ks->path);
}

static sqlite3 *connect(struct cx_keystore *ks, int readonly, struct cx_error *err)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
		    (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);

	if (sqlite3_open_v2(ks->path, &db, flags, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		fail(ks, db, err, "cannot open the database for keys");
		sqlite3_close(db);
		return NULL;
	}
	if (!readonly) {   /* no WAL hook here (SQLite's checkpoints stay): a waiter that
			    * a key's commit does not wake polls, 1 ms at most */
		cx_busy_watch(ks->busy, db);
		cx_busy_wait_here(ks->busy, db);
	}
	return db;
}

int cx_keystore_open(struct cx_keystore **out, const char *path, struct cx_busy *busy,
		     struct cx_error *err)
{
	struct cx_keystore *ks = calloc(1, sizeof(*ks));

	*out = NULL;
	if (!ks || !(ks->path = strdup(path))) {
		free(ks);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	}
	ks->busy = busy;
	pthread_mutex_init(&ks->read_mu, NULL);
	pthread_mutex_init(&ks->write_mu, NULL);
	if (!(ks->rdb = connect(ks, 1, err)) || !(ks->wdb = connect(ks, 0, err)))
		goto fail;
	if (sqlite3_prepare_v3(ks->rdb, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT,
			       &ks->version_q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(ks->rdb, SQL_GET, -1, SQLITE_PREPARE_PERSISTENT, &ks->get_q,
			       NULL) != SQLITE_OK) {
		fail(ks, ks->rdb, err, "preparing the key statements");
		goto fail;
	}
	*out = ks;
	return 0;
fail:
	cx_keystore_close(ks);
	return -1;
}

static void cache_clear(struct cx_keystore *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		cx_key_release(&ks->cache[i].k);
	ks->n = 0;
}

void cx_keystore_close(struct cx_keystore *ks)
{
	if (!ks)
		return;
	cache_clear(ks);
	free(ks->cache);
	sqlite3_finalize(ks->version_q);
	sqlite3_finalize(ks->get_q);
	sqlite3_close(ks->rdb);
	sqlite3_close(ks->wdb);
	pthread_mutex_destroy(&ks->read_mu);
	pthread_mutex_destroy(&ks->write_mu);
	free(ks->path);
	free(ks);
}

/* A deep copy of src into dst; -1 (dst empty) when out of memory. */
static int key_copy(struct cx_key *dst, const struct cx_key *src)
{
	*dst = *src;
	dst->surveys = src->surveys ? strdup(src->surveys) : NULL;
	dst->label = src->label ? strdup(src->label) : NULL;
	if ((src->surveys && !dst->surveys) || (src->label && !dst->label)) {
		cx_key_release(dst);
		return -1;
	}
	return 0;
}

static int key_from_row(sqlite3_stmt *q, struct cx_key *k)
{
	const char *surveys = (const char *)sqlite3_column_text(q, 2);
	const char *label = (const char *)sqlite3_column_text(q, 3);
	struct cx_key row = { .role = cx_role_parse((const char *)sqlite3_column_text(q, 1)),
			      .surveys = (char *)surveys, .label = (char *)label,
			      .created_at = sqlite3_column_int64(q, 5) };

	snprintf(row.id, sizeof(row.id), "%s", (const char *)sqlite3_column_text(q, 0));
	if (sqlite3_column_bytes(q, 4) == 32)
		memcpy(row.hash, sqlite3_column_blob(q, 4), 32);
	return key_copy(k, &row);
}

/* The file's data_version as seen by rdb, or -1; caller holds read_mu. */
static long long data_version(struct cx_keystore *ks)
{
	long long v = -1;

	if (sqlite3_step(ks->version_q) == SQLITE_ROW)
		v = sqlite3_column_int64(ks->version_q, 0);
	sqlite3_reset(ks->version_q);
	return v;
}

static struct cached *cache_find(struct cx_keystore *ks, const char *id)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->cache[i].k.id, id) == 0)
			return &ks->cache[i];
	return NULL;
}

static void cache_drop(struct cx_keystore *ks, struct cached *c)
{
	cx_key_release(&c->k);
	*c = ks->cache[--ks->n];
}

/* Put a copy of k (read after the check that saw version) into the cache, replacing any entry for its id;
 * caller holds read_mu. Out of memory only means it is not cached. */
static void cache_put(struct cx_keystore *ks, const struct cx_key *k, long long version)
{
	struct cached *c = cache_find(ks, k->id);

	if (c) {
		cache_drop(ks, c);
	} else if (ks->n >= CACHE_MAX) {
		cache_clear(ks);
	}
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 8;
		struct cached *p = realloc(ks->cache, cap * sizeof(*p));

		if (!p)
			return;
		ks->cache = p;
		ks->cap = cap;
	}
	if (key_copy(&ks->cache[ks->n].k, k) == 0)
		ks->cache[ks->n++].version = version;
}

int cx_store_key_get(struct cx_store *st, const char *id, struct cx_key *out)
{
	struct cx_keystore *ks = cx_store_keystore(st);
	struct cached *c;
	uint64_t now;
	int rc = -1, step;

	pthread_mutex_lock(&ks->read_mu);
	now = cx_time_mono_us();   /* under the lock: checks happen in clock order */
	if (!ks->checked_us || now - ks->checked_us >= CX_STORE_KEY_RECHECK_MS * 1000u) {
		long long v = data_version(ks);

		if (v < 0) {
			ks->checked_us = 0;
			rc = -2;   /* cannot tell whether the key still exists: refuse it */
			goto out;
		}
		ks->version = v;
		ks->checked_us = now ? now : 1;   /* when the check began, not ended */
	}
	c = cache_find(ks, id);
	if (c && c->version == ks->version) {
		rc = key_copy(out, &c->k);
		goto out;
	}
	sqlite3_bind_text(ks->get_q, 1, id, -1, SQLITE_STATIC);
	step = sqlite3_step(ks->get_q);
	if (step == SQLITE_ROW) {
		rc = key_from_row(ks->get_q, out) == 0 ? 0 : -2;
		if (rc == 0)
			cache_put(ks, out, ks->version);
	} else if (step == SQLITE_DONE) {
		if (c)
			cache_drop(ks, c);   /* revoked */
	} else {
		rc = -2;
	}
	sqlite3_reset(ks->get_q);
	sqlite3_clear_bindings(ks->get_q);
out:
	pthread_mutex_unlock(&ks->read_mu);
	return rc;
}

int cx_store_key_put(struct cx_store *st, const struct cx_key *k, struct cx_error *err)
{
	struct cx_keystore *ks = cx_store_keystore(st);
	sqlite3_stmt *q = NULL;
	int rc = -1;

	pthread_mutex_lock(&ks->write_mu);
	if (sqlite3_prepare_v2(ks->wdb, "INSERT INTO api_keys(id, role, surveys, label, hash, "
			       "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, k->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, cx_role_name(k->role), -1, SQLITE_STATIC);
	if (k->surveys)
		sqlite3_bind_text(q, 3, k->surveys, -1, SQLITE_STATIC);
	if (k->label)
		sqlite3_bind_text(q, 4, k->label, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 5, k->hash, 32, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, k->created_at);
	if (sqlite3_step(q) == SQLITE_DONE)
		rc = 0;
out:
	if (rc)
		fail(ks, ks->wdb, err, "storing a key");
	sqlite3_finalize(q);
	pthread_mutex_unlock(&ks->write_mu);
	return rc;
}

int cx_store_key_delete(struct cx_store *st, const char *id, struct cx_error *err)
{
	struct cx_keystore *ks = cx_store_keystore(st);
	sqlite3_stmt *q = NULL;
	struct cached *c;
	int rc = -1;

	pthread_mutex_lock(&ks->write_mu);
	if (sqlite3_prepare_v2(ks->wdb, "DELETE FROM api_keys WHERE id = ?1", -1, &q, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_DONE)
			rc = sqlite3_changes(ks->wdb) > 0;
	}
	if (rc < 0)
		fail(ks, ks->wdb, err, "deleting a key");
	sqlite3_finalize(q);
	pthread_mutex_unlock(&ks->write_mu);
	/* After the commit, under read_mu: a lookup that read the row before the commit has
	 * cached it by now, and every later one reads the file (see the top of this file). */
	pthread_mutex_lock(&ks->read_mu);
	if ((c = cache_find(ks, id)))
		cache_drop(ks, c);
	pthread_mutex_unlock(&ks->read_mu);
	return rc;
}

json_t *cx_store_key_list(struct cx_store *st)
{
	struct cx_keystore *ks = cx_store_keystore(st);
	json_t *list = json_array();
	sqlite3_stmt *q = NULL;
	int step = SQLITE_ERROR;

	pthread_mutex_lock(&ks->read_mu);
	if (list && sqlite3_prepare_v2(ks->rdb, "SELECT id, role, surveys, label, hash, created_at "
				       "FROM api_keys ORDER BY created_at, rowid", -1, &q, NULL) ==
		    SQLITE_OK) {
		while ((step = sqlite3_step(q)) == SQLITE_ROW) {
			struct cx_key k;

			if (key_from_row(q, &k)) {
				step = SQLITE_NOMEM;
				break;
			}
			json_array_append_new(list, cx_key_json(&k));
			cx_key_release(&k);
		}
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&ks->read_mu);
	if (step != SQLITE_DONE) {
		json_decref(list);
		return NULL;
	}
	return list;
}

int cx_store_key_count(struct cx_store *st)
{
	struct cx_keystore *ks = cx_store_keystore(st);
	sqlite3_stmt *q = NULL;
	int n = -1;

	pthread_mutex_lock(&ks->read_mu);
	if (sqlite3_prepare_v2(ks->rdb, "SELECT count(*) FROM api_keys", -1, &q, NULL) ==
		    SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&ks->read_mu);
	return n;
}
