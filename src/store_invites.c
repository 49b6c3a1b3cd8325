/* store_invites.c - link keys, invitations and the fatigue settings (schema 013); see
 * include/cx/store.h ("asking customers") and src/store_invite.h.
 *
 * Minting runs in ONE BEGIN IMMEDIATE transaction on a connection of its own: the fatigue
 * check reads the customer's invitations and answers inside it, so two concurrent mints
 * for the same customer are serialized by the database lock and cannot both slip under a
 * rule; an invitation minted earlier in the same call is a row already, so it counts. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "store_invite.h"

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
	pthread_mutex_t mu;          /* keys, nkeys: held only to read or swap the copy */
	pthread_mutex_t cmu;         /* serializes changes (the first key, rotate, delete),
					which wait for the database; a lookup never takes it */
	struct link_key *keys;
	size_t nkeys;
	/* the service-wide fatigue rules: read at open, replaced by cx_store_fatigue_put.
	 * fmu guards only the copy in memory and is never held while waiting for the
	 * database: the mint and the writer read the rules while they hold its write lock.
	 * pmu serializes the puts, so the copy is always the last row written. */
	pthread_mutex_t fmu, pmu;
	struct cx_fatigue fatigue;
};

static int load_fatigue(struct cx_invitestore *is, sqlite3 *db, struct cx_error *err);

static int db_fail(struct cx_store *st, sqlite3 *db, struct cx_error *err, const char *what)
{
	return cx_store_db_fail(st, db, err, what);
}

/* Read every key and swap them into is (under is->mu, taken only for the swap). */
static int load_keys(struct cx_invitestore *is, sqlite3 *db, struct cx_error *err)
{
	sqlite3_stmt *q;
	struct link_key *keys = NULL;
	size_t n = 0;
	int rc;

	/* oldest first; the active key is the newest, also when a rotation came within the
	 * same second as the key before it */
	if (sqlite3_prepare_v2(db, "SELECT kid, secret, created_at, active FROM link_keys "
			       "ORDER BY created_at, active, kid", -1, &q, NULL) != SQLITE_OK)
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
	pthread_mutex_lock(&is->mu);
	{
		struct link_key *old = is->keys;
		size_t nold = is->nkeys;

		is->keys = keys;
		is->nkeys = n;
		pthread_mutex_unlock(&is->mu);
		if (old)
			memset(old, 0, nold * sizeof(*old));
		free(old);
	}
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
	pthread_mutex_init(&is->cmu, NULL);
	pthread_mutex_init(&is->fmu, NULL);
	pthread_mutex_init(&is->pmu, NULL);
	if (!(db = cx_store_connect(st, 1, err))) {
		cx_invitestore_close(is);
		return -1;
	}
	rc = load_keys(is, db, err);
	if (rc == 0)
		rc = load_fatigue(is, db, err);
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
	pthread_mutex_destroy(&is->cmu);
	pthread_mutex_destroy(&is->fmu);
	pthread_mutex_destroy(&is->pmu);
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

/* The active key into kid/secret: 0, or -1 if there is none yet. */
static int find_active(struct cx_invitestore *is, char *kid, unsigned char *secret)
{
	int rc = -1;

	pthread_mutex_lock(&is->mu);
	for (size_t i = 0; i < is->nkeys; i++)
		if (is->keys[i].active) {
			memcpy(kid, is->keys[i].kid, CX_LINK_KID_MAX);
			memcpy(secret, is->keys[i].secret, CX_LINK_SECRET_LEN);
			rc = 0;
		}
	pthread_mutex_unlock(&is->mu);
	return rc;
}

int cx_store_link_key_active(struct cx_store *st, char *kid, unsigned char *secret,
			     struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	sqlite3 *db;

	if (find_active(is, kid, secret) == 0)
		return 0;
	pthread_mutex_lock(&is->cmu);   /* the first link: make the first key, once */
	if (find_active(is, kid, secret) != 0 && (db = cx_store_connect(st, 0, err))) {
		rotate(is, db, 1, err);
		sqlite3_close(db);
	}
	pthread_mutex_unlock(&is->cmu);
	if (find_active(is, kid, secret) == 0)
		return 0;
	if (!err->status)
		cx_error_set(err, 503, "storage_unavailable", NULL, "no link key");
	return -1;
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
	size_t n;
	sqlite3 *db;
	int rc;

	*key = NULL;
	pthread_mutex_lock(&is->cmu);
	pthread_mutex_lock(&is->mu);
	n = is->nkeys;
	pthread_mutex_unlock(&is->mu);
	if (n >= LINK_KEYS_MAX) {
		pthread_mutex_unlock(&is->cmu);
		return cx_error_set(err, 409, "too_many_link_keys", NULL, "there are already %d "
				    "link keys; delete old ones (DELETE /v1/link-keys/KID) first",
				    LINK_KEYS_MAX);
	}
	db = cx_store_connect(st, 0, err);
	rc = db ? rotate(is, db, 0, err) : -1;
	sqlite3_close(db);
	pthread_mutex_lock(&is->mu);
	for (size_t i = 0; rc == 0 && i < is->nkeys; i++)
		if (is->keys[i].active)
			*key = key_json(&is->keys[i]);
	pthread_mutex_unlock(&is->mu);
	pthread_mutex_unlock(&is->cmu);
	return rc;
}

int cx_store_link_key_delete(struct cx_store *st, const char *kid, struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	sqlite3_stmt *q;
	sqlite3 *db;
	int rc = -1, found = 0, active = 0;

	pthread_mutex_lock(&is->cmu);
	pthread_mutex_lock(&is->mu);
	for (size_t i = 0; i < is->nkeys; i++)
		if (strcmp(is->keys[i].kid, kid) == 0) {
			found = 1;
			active = is->keys[i].active;
		}
	pthread_mutex_unlock(&is->mu);
	if (!found)
		cx_error_set(err, 404, "not_found", NULL, "no link key '%.20s'", kid);
	else if (active)
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
	pthread_mutex_unlock(&is->cmu);
	return rc;
}


/* --- the service-wide fatigue rules: settings row 'fatigue', cached --- */

static int load_fatigue(struct cx_invitestore *is, sqlite3 *db, struct cx_error *err)
{
	sqlite3_stmt *q;
	struct cx_fatigue f = { 0 };
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE name = 'fatigue'", -1, &q,
			       NULL) != SQLITE_OK)
		return db_fail(is->st, db, err, "reading the fatigue settings");
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		json_t *j = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
		struct cx_error ignored;

		/* a row this code did not write is read as "off" rather than refusing to start */
		if (!j || cx_fatigue_from_json(j, "fatigue", &f, &ignored))
			memset(&f, 0, sizeof(f));
		json_decref(j);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return db_fail(is->st, db, err, "reading the fatigue settings");
	pthread_mutex_lock(&is->fmu);
	is->fatigue = f;
	pthread_mutex_unlock(&is->fmu);
	return 0;
}

int cx_store_fatigue_get(struct cx_store *st, struct cx_fatigue *out, struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);

	(void)err;
	pthread_mutex_lock(&is->fmu);
	*out = is->fatigue;
	pthread_mutex_unlock(&is->fmu);
	return 0;
}

int cx_store_fatigue_put(struct cx_store *st, const struct cx_fatigue *f, struct cx_error *err)
{
	struct cx_invitestore *is = cx_store_invitestore(st);
	json_t *j = cx_fatigue_to_json(f);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	sqlite3_stmt *q = NULL;
	sqlite3 *db = NULL;
	int rc = -1;

	json_decref(j);
	if (!text)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	/* the copy changes after the row is written (a mint that starts after this returns
	 * sees the new rules) */
	pthread_mutex_lock(&is->pmu);
	if ((db = cx_store_connect(st, 0, err))) {
		if (sqlite3_prepare_v2(db, "INSERT INTO settings(name, value) VALUES ('fatigue', ?1) "
				       "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
				       -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
			rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
		}
		sqlite3_finalize(q);
		if (rc) {
			db_fail(st, db, err, "saving the fatigue settings");
		} else {
			pthread_mutex_lock(&is->fmu);
			is->fatigue = *f;
			pthread_mutex_unlock(&is->fmu);
		}
		sqlite3_close(db);
	}
	pthread_mutex_unlock(&is->pmu);
	free(text);
	return rc;
}

/* --- fatigue: a customer's history read on the caller's connection --- */

static const char SQL_MINTS[] =
	"SELECT minted_at FROM invitations WHERE customer = ?1 AND minted_at > ?2 "
	"AND (?3 IS NULL OR survey = ?3) ORDER BY minted_at DESC LIMIT ?4";
/* the server's clock (received_at, ms), not the client's submitted_at: a client cannot
 * move a customer out of the rule by back-dating a response */
static const char SQL_LAST_ANSWER[] =
	"SELECT MAX(received_at) FROM responses WHERE customer = ?1 AND id <> ?2 "
	"AND (?3 IS NULL OR survey = ?3)";

/* The verdict of rule set f for customer (of survey, or of all surveys when NULL). */
static int judge(struct cx_store *st, sqlite3 *db, const struct cx_fatigue *f,
		 const char *survey, const char *customer, int64_t now, int64_t exclude,
		 struct cx_fatigue_verdict *v, struct cx_error *err)
{
	struct cx_fatigue_history h = { 0 };
	int64_t *minted = NULL;
	sqlite3_stmt *q;
	int owned, rc;

	v->reason = NULL;
	v->eligible_at = 0;
	if (cx_fatigue_is_off(f))
		return 0;
	if (f->max_invitations) {
		if (!(minted = malloc(f->max_invitations * sizeof(*minted))))
			return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		if (!(q = cx_store_stmt(st, db, SQL_MINTS, &owned))) {
			free(minted);
			return cx_store_db_fail(st, db, err, "reading invitations");
		}
		sqlite3_bind_text(q, 1, customer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, now - (int64_t)f->per_days * 86400);
		if (survey)
			sqlite3_bind_text(q, 3, survey, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, f->max_invitations);
		while ((rc = sqlite3_step(q)) == SQLITE_ROW && h.nminted < f->max_invitations)
			minted[h.nminted++] = sqlite3_column_int64(q, 0);
		cx_store_stmt_done(q, owned);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			free(minted);
			return cx_store_db_fail(st, db, err, "reading invitations");
		}
		h.minted = minted;
	}
	if (f->after_answer_days) {
		if (!(q = cx_store_stmt(st, db, SQL_LAST_ANSWER, &owned))) {
			free(minted);
			return cx_store_db_fail(st, db, err, "reading answers");
		}
		sqlite3_bind_text(q, 1, customer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, exclude);
		if (survey)
			sqlite3_bind_text(q, 3, survey, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
			h.last_answer = sqlite3_column_int64(q, 0) / 1000;
		cx_store_stmt_done(q, owned);
		if (rc != SQLITE_ROW) {
			free(minted);
			return cx_store_db_fail(st, db, err, "reading answers");
		}
	}
	cx_fatigue_decide(f, &h, now, v);
	free(minted);
	return 0;
}

int cx_invitestore_fatigue(struct cx_store *st, sqlite3 *db, const struct cx_survey *s,
			   const char *customer, int64_t now, int at_answer,
			   int64_t exclude_response, struct cx_fatigue_verdict *v,
			   const char **scope, struct cx_error *err)
{
	struct cx_fatigue service, survey = s ? s->fatigue : (struct cx_fatigue){ 0 };
	struct cx_fatigue_verdict sv, uv;

	cx_store_fatigue_get(st, &service, err);
	if (at_answer)   /* an answer is refused only for an answer elsewhere since */
		service.max_invitations = service.per_days = survey.max_invitations =
			survey.per_days = 0;
	v->reason = NULL;
	v->eligible_at = 0;
	*scope = NULL;
	if (judge(st, db, &service, NULL, customer, now, exclude_response, &sv, err) ||
	    judge(st, db, &survey, s ? s->id : NULL, customer, now, exclude_response, &uv, err))
		return -1;
	/* both refuse: the later time is when the customer can really be asked again */
	if (sv.reason && (!uv.reason || sv.eligible_at >= uv.eligible_at)) {
		*v = sv;
		*scope = "service";
	} else if (uv.reason) {
		*v = uv;
		*scope = "survey";
	}
	return 0;
}

/* --- minting --- */

static void bind_opt(sqlite3_stmt *q, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

int cx_invitestore_insert(struct cx_store *st, sqlite3 *db, const struct cx_link_claims *c,
			  int keep_existing, struct cx_error *err)
{
	static const char sql_new[] =
		"INSERT INTO invitations(nonce, survey, stage, touchpoint, channel, segment, "
		"customer, minted_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
	static const char sql_keep[] =
		"INSERT INTO invitations(nonce, survey, stage, touchpoint, channel, segment, "
		"customer, minted_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
		"ON CONFLICT(nonce) DO NOTHING";
	sqlite3_stmt *q;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, keep_existing ? sql_keep : sql_new, &owned)))
		return cx_store_db_fail(st, db, err, "recording an invitation");
	sqlite3_bind_text(q, 1, c->nonce, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, c->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, c->stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, c->touchpoint, -1, SQLITE_STATIC);
	bind_opt(q, 5, c->channel);
	bind_opt(q, 6, c->segment);
	sqlite3_bind_text(q, 7, c->customer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, c->issued_at);
	sqlite3_bind_int64(q, 9, c->expires_at);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "recording an invitation");
}

static json_t *opt_str(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* The invitation.created event's data (docs/webhooks.md). */
static json_t *event_data(const struct cx_invitation *inv)
{
	const struct cx_link_claims *c = &inv->claims;
	json_t *attrs = c->attributes ? json_loads(c->attributes, 0, NULL) : NULL;

	return json_pack("{s:{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:s, s:I, s:I}}",
			 "invitation", "id", c->nonce, "survey", c->survey, "stage", c->stage,
			 "touchpoint", c->touchpoint, "channel", opt_str(c->channel),
			 "segment", opt_str(c->segment), "customer", c->customer,
			 "lang", opt_str(c->lang), "attributes", attrs ? attrs : json_null(),
			 "email", opt_str(inv->email), "url", inv->url,
			 "expires_at", (json_int_t)c->expires_at,
			 "minted_at", (json_int_t)c->issued_at);
}

static int queue_mail(struct cx_store *st, sqlite3 *db, const struct cx_survey *s,
		      const struct cx_invitation *inv, struct cx_error *err)
{
	char *subject = NULL, *text = NULL, *html = NULL;
	int rc = cx_mail_render(s, &inv->claims, inv->url, &subject, &text, &html);

	if (rc == -2) {   /* the survey's template repeats its placeholders too often */
		rc = cx_error_set(err, 422, "mail_too_large", "email.body", "survey %s's email "
				  "template makes a mail larger than cxd sends (%d KiB of text); "
				  "shorten email.body", s->id, CX_MAIL_TEXT_MAX / 1024);
	} else if (rc) {
		rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	} else {
		struct cx_mail_msg m = {
			.to = inv->email, .subject = subject, .text = text, .html = html,
			.nonce = inv->claims.nonce, .survey = s->id,
			.customer = inv->claims.customer,
		};

		rc = cx_mailstore_queue(st, db, &m, err);
	}
	free(subject);
	free(text);
	free(html);
	return rc;
}

/* One invitation, inside the open transaction. */
static int mint_one(struct cx_store *st, sqlite3 *db, const struct cx_survey *s,
		    struct cx_invitation *inv, const char *base, const char *kid,
		    const unsigned char *secret, int64_t now, struct cx_error *err)
{
	struct cx_link_claims *c = &inv->claims;
	struct cx_fatigue_verdict v;
	const char *scope;
	char *token;
	int rc;

	inv->minted = 0;
	inv->url = NULL;
	inv->skip_reason = inv->skip_scope = NULL;
	inv->eligible_at = 0;
	if (cx_invitestore_fatigue(st, db, s, c->customer, now, 0, 0, &v, &scope, err))
		return -1;
	if (v.reason) {   /* skipped: nothing of it is written */
		inv->skip_reason = v.reason;
		inv->skip_scope = scope;
		inv->eligible_at = v.eligible_at;
		return 0;
	}
	snprintf(c->survey, sizeof(c->survey), "%s", s->id);
	if (cx_link_nonce(c->nonce))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "no randomness");
	c->issued_at = now;
	if (cx_invitestore_insert(st, db, c, 0, err))
		return -1;
	if (!(token = cx_link_sign(c, kid, secret)) ||
	    !(inv->url = malloc(strlen(base) + strlen(token) + 4))) {
		free(token);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	}
	sprintf(inv->url, "%s/i/%s", base, token);
	free(token);
	if (inv->emit_webhook) {
		json_t *data = event_data(inv);
		struct cx_event ev = {
			.type = "invitation.created", .survey = s->id, .customer = c->customer,
			.at_ms = now * 1000, .data = data,
		};

		rc = data ? cx_outbox_insert(st, db, &ev, NULL, NULL, err)
			  : cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		json_decref(data);
		if (rc)
			return -1;
	}
	if (inv->send_email && inv->email && queue_mail(st, db, s, inv, err))
		return -1;
	inv->minted = 1;
	return 0;
}

int cx_store_invitations_mint(struct cx_store *st, const struct cx_survey *s,
			      struct cx_invitation *inv, size_t n, const char *public_url,
			      int64_t now, struct cx_error *err)
{
	char kid[CX_LINK_KID_MAX];
	unsigned char secret[CX_LINK_SECRET_LEN];
	sqlite3 *db;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		inv[i].minted = 0;
		inv[i].url = NULL;
	}
	if (n == 0)
		return 0;
	/* before BEGIN: making the first key is a transaction of its own */
	if (cx_store_link_key_active(st, kid, secret, err))
		return -1;
	if (!(db = cx_store_connect(st, 0, err))) {
		explicit_bzero(secret, sizeof(secret));
		return -1;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(st, db, err, "minting invitations");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (mint_one(st, db, s, &inv[i], public_url, kid, secret, now, err))
			break;
	if (i == n && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		rc = 0;
		goto out;
	}
	if (i == n)
		db_fail(st, db, err, "committing invitations");
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	for (i = 0; i < n; i++) {   /* all or nothing */
		free(inv[i].url);
		inv[i].url = NULL;
		inv[i].minted = 0;
	}
out:
	explicit_bzero(secret, sizeof(secret));
	sqlite3_close(db);
	return rc;
}

void cx_invitation_release(struct cx_invitation *inv)
{
	cx_link_claims_release(&inv->claims);
	free(inv->url);
	inv->url = NULL;
}

int cx_invitestore_erase_customer(struct cx_store *st, const char *customer,
				  struct cx_error *err)
{
	sqlite3 *db = cx_store_wdb(st);
	int owned, rc;
	sqlite3_stmt *q = cx_store_stmt(st, db, "DELETE FROM invitations WHERE customer = ?1",
					&owned);

	if (!q)
		return cx_store_db_fail(st, db, err, "erasure of invitations");
	sqlite3_bind_text(q, 1, customer, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "erasure of invitations");
}
