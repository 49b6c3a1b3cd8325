/* store_invites.c - link keys, invitations and the fatigue settings (schema 013); see
 * include/cx/store.h ("asking customers") and src/store_invite.h. The link keys are done
 * (the lead); the rest is STUB: H1 writes it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "store_invite.h"

static int todo(struct cx_error *err)
{
	return cx_error_set(err, 501, "not_implemented", NULL, "not implemented yet");
}

/* --- link keys: all of them in memory (a handful), so checking a link never reads the
 * database; the table is the truth, re-read after every change made here. --- */

struct link_key {
	char kid[CX_LINK_KID_MAX];
	unsigned char secret[CX_LINK_SECRET_LEN];
	int64_t created_at;
	int active;
};

#define LINK_KEYS_MAX 64   /* rotate this often and the oldest must be deleted first */

struct cx_invitestore {
	struct cx_store *st;
	pthread_mutex_t mu;          /* keys, nkeys */
	struct link_key *keys;
	size_t nkeys;
};

static int db_fail(struct cx_store *st, sqlite3 *db, struct cx_error *err, const char *what)
{
	return cx_store_db_fail(st, db, err, what);
}

/* Read every key into is (under is->mu). */
static int load_keys(struct cx_invitestore *is, sqlite3 *db, struct cx_error *err)
{
	sqlite3_stmt *q;
	struct link_key *keys = NULL;
	size_t n = 0;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT kid, secret, created_at, active FROM link_keys "
			       "ORDER BY created_at, kid", -1, &q, NULL) != SQLITE_OK)
		return db_fail(is->st, db, err, "reading link keys");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct link_key *k, *grown;

		if (sqlite3_column_bytes(q, 1) != CX_LINK_SECRET_LEN ||
		    sqlite3_column_bytes(q, 0) >= CX_LINK_KID_MAX)
			continue;
		if (!(grown = realloc(keys, (n + 1) * sizeof(*keys)))) {
			rc = SQLITE_NOMEM;
			break;
		}
		keys = grown;
		k = &keys[n++];
		memset(k, 0, sizeof(*k));
		memcpy(k->kid, sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0));
		memcpy(k->secret, sqlite3_column_blob(q, 1), CX_LINK_SECRET_LEN);
		k->created_at = sqlite3_column_int64(q, 2);
		k->active = sqlite3_column_int(q, 3) == 1;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		if (keys)
			memset(keys, 0, n * sizeof(*keys));
		free(keys);
		return db_fail(is->st, db, err, "reading link keys");
	}
	if (is->keys)
		memset(is->keys, 0, is->nkeys * sizeof(*is->keys));
	free(is->keys);
	is->keys = keys;
	is->nkeys = n;
	return 0;
}

int cx_invitestore_open(struct cx_store *st, struct cx_invitestore **out, struct cx_error *err)
{
	struct cx_invitestore *is = calloc(1, sizeof(*is));
	sqlite3 *db;
	int rc;

	*out = NULL;
	if (!is)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	is->st = st;
	pthread_mutex_init(&is->mu, NULL);
	if (!(db = cx_store_connect(st, 1, err))) {
		cx_invitestore_close(is);
		return -1;
	}
	rc = load_keys(is, db, err);
	sqlite3_close(db);
	if (rc) {
		cx_invitestore_close(is);
		return -1;
	}
	*out = is;
	return 0;
}

void cx_invitestore_close(struct cx_invitestore *is)
{
	if (!is)
		return;
	if (is->keys)
		memset(is->keys, 0, is->nkeys * sizeof(*is->keys));
	free(is->keys);
	pthread_mutex_destroy(&is->mu);
	free(is);
}

/* Make a new key the active one, in one transaction on db; re-read the cache. */
static int rotate(struct cx_invitestore *is, sqlite3 *db, int only_if_none,
		  struct cx_error *err)
{
	char kid[CX_LINK_KID_MAX];
	unsigned char secret[CX_LINK_SECRET_LEN];
	sqlite3_stmt *q = NULL;
	int rc;

	if (cx_link_new_key(kid, secret))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "no randomness");
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(is->st, db, err, "making a link key");
	if (only_if_none) {   /* another process or call may have made one meanwhile */
		rc = sqlite3_prepare_v2(db, "SELECT 1 FROM link_keys WHERE active = 1", -1, &q, NULL);
		rc = rc == SQLITE_OK ? sqlite3_step(q) : rc;
		sqlite3_finalize(q);
		if (rc == SQLITE_ROW) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return load_keys(is, db, err);
		}
	}
	rc = sqlite3_exec(db, "UPDATE link_keys SET active = 0 WHERE active = 1", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO link_keys(kid, secret, created_at, active) "
					"VALUES (?1, ?2, ?3, 1)", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, kid, -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 2, secret, sizeof(secret), SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, cx_time_now());
		rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(q);
	}
	memset(secret, 0, sizeof(secret));
	if (rc != SQLITE_OK || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(is->st, db, err, "making a link key");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return load_keys(is, db, err);
}

int cx_store_link_key_active(struct cx_store *st, char *kid, unsigned char *secret,
			     struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	int rc = -1;

	pthread_mutex_lock(&is->mu);
	for (int round = 0; round < 2 && rc != 0; round++) {
		for (size_t i = 0; i < is->nkeys; i++)
			if (is->keys[i].active) {
				memcpy(kid, is->keys[i].kid, CX_LINK_KID_MAX);
				memcpy(secret, is->keys[i].secret, CX_LINK_SECRET_LEN);
				rc = 0;
			}
		if (rc != 0 && round == 0) {   /* the first link: make the first key */
			sqlite3 *db = cx_store_connect(st, 0, err);
			int made = db ? rotate(is, db, 1, err) : -1;

			sqlite3_close(db);
			if (made)
				break;
		}
	}
	pthread_mutex_unlock(&is->mu);
	if (rc && !err->status)
		cx_error_set(err, 503, "storage_unavailable", NULL, "no link key");
	return rc;
}

int cx_store_link_key_get(struct cx_store *st, const char *kid, unsigned char *secret)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	int rc = -1;

	pthread_mutex_lock(&is->mu);
	for (size_t i = 0; i < is->nkeys && rc; i++)
		if (strcmp(is->keys[i].kid, kid) == 0) {
			memcpy(secret, is->keys[i].secret, CX_LINK_SECRET_LEN);
			rc = 0;
		}
	pthread_mutex_unlock(&is->mu);
	return rc;
}

int cx_store_link_key_fn(void *st, const char *kid, unsigned char *secret)
{
	return cx_store_link_key_get(st, kid, secret);
}

static json_t *key_json(const struct link_key *k)
{
	return json_pack("{s:s, s:I, s:b}", "kid", k->kid, "created_at", (json_int_t)k->created_at,
			 "active", k->active);
}

json_t *cx_store_link_keys_list(struct cx_store *st, struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	json_t *a = json_array();

	(void)err;
	pthread_mutex_lock(&is->mu);
	for (size_t i = 0; a && i < is->nkeys; i++)
		json_array_append_new(a, key_json(&is->keys[i]));
	pthread_mutex_unlock(&is->mu);
	return a;
}

int cx_store_link_key_rotate(struct cx_store *st, json_t **key, struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	sqlite3 *db;
	int rc;

	*key = NULL;
	pthread_mutex_lock(&is->mu);
	if (is->nkeys >= LINK_KEYS_MAX) {
		pthread_mutex_unlock(&is->mu);
		return cx_error_set(err, 409, "too_many_link_keys", NULL, "there are already %d "
				    "link keys; delete old ones (DELETE /v1/link-keys/KID) first",
				    LINK_KEYS_MAX);
	}
	db = cx_store_connect(st, 0, err);
	rc = db ? rotate(is, db, 0, err) : -1;
	sqlite3_close(db);
	for (size_t i = 0; rc == 0 && i < is->nkeys; i++)
		if (is->keys[i].active)
			*key = key_json(&is->keys[i]);
	pthread_mutex_unlock(&is->mu);
	return rc;
}

int cx_store_link_key_delete(struct cx_store *st, const char *kid, struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	sqlite3_stmt *q;
	sqlite3 *db;
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&is->mu);
	for (i = 0; i < is->nkeys && strcmp(is->keys[i].kid, kid) != 0; i++)
		;
	if (i == is->nkeys)
		cx_error_set(err, 404, "not_found", NULL, "no link key '%.20s'", kid);
	else if (is->keys[i].active)
		cx_error_set(err, 409, "link_key_active", NULL, "'%s' is the key that signs new "
			     "links; make a new one first (POST /v1/link-keys)", kid);
	else if ((db = cx_store_connect(st, 0, err))) {
		if (sqlite3_prepare_v2(db, "DELETE FROM link_keys WHERE kid = ?1 AND active = 0",
				       -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_text(q, 1, kid, -1, SQLITE_STATIC);
			rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
			sqlite3_finalize(q);
		}
		if (rc)
			db_fail(st, db, err, "deleting a link key");
		else
			rc = load_keys(is, db, err);
		sqlite3_close(db);
	}
	pthread_mutex_unlock(&is->mu);
	return rc;
}

int cx_store_fatigue_get(struct cx_store *st, struct cx_fatigue *out, struct cx_error *err)
{
	(void)st, (void)err;
	memset(out, 0, sizeof(*out));
	return 0;
}

int cx_store_fatigue_put(struct cx_store *st, const struct cx_fatigue *f, struct cx_error *err)
{
	(void)st, (void)f;
	return todo(err);
}

int cx_store_invitations_mint(struct cx_store *st, const struct cx_survey *s,
			      struct cx_invitation *inv, size_t n, const char *public_url,
			      int64_t now, struct cx_error *err)
{
	(void)st, (void)s, (void)inv, (void)n, (void)public_url, (void)now;
	return todo(err);
}

void cx_invitation_release(struct cx_invitation *inv)
{
	cx_link_claims_release(&inv->claims);
	free(inv->url);
	inv->url = NULL;
}

int cx_invitestore_fatigue(struct cx_store *st, sqlite3 *db, const struct cx_survey *s,
			   const char *customer, int64_t now, int at_answer,
			   int64_t exclude_response, struct cx_fatigue_verdict *v,
			   const char **scope, struct cx_error *err)
{
	(void)st, (void)db, (void)s, (void)customer, (void)now, (void)at_answer;
	(void)exclude_response, (void)scope, (void)err;
	v->reason = NULL;
	v->eligible_at = 0;
	return 0;
}

int cx_invitestore_erase_customer(struct cx_store *st, const char *customer,
				  struct cx_error *err)
{
	(void)st, (void)customer, (void)err;
	return 0;
}
