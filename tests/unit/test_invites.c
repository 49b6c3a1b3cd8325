/* Unit tests for store_invites.c on a real SQLite file in a temporary directory: minting
 * (rows, signed links that verify against the store's keys), the fatigue rules as the
 * store applies them (service and survey scope, an earlier mint of the same call, answers,
 * the answer-time check), concurrent mints for one customer, link key rotation and
 * deletion, the settings surviving a restart. */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/link.h"
#include "cx/store.h"
#include "src/store_invite.h"
#include "check_main.h"
#include "store_fixture.h"

#define DAY 86400
#define BASE "https://cx.example/p"

CX_STORE_FIXTURE("/tmp/cx-invites-test")

static struct cx_store *open_store(void)
{
	struct cx_store *st;
	struct cx_error err;

	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	return st;
}

/* Survey id with stage delivery / touchpoint parcel and the survey's own rules (json or
 * NULL); *s is the survey as the store has it. */
static void define(struct cx_store *st, const char *id, const char *fatigue,
		   struct cx_survey *s)
{
	struct cx_survey d;
	struct cx_error err;
	int created;
	json_t *j = json_pack("{s:s, s:s, s:[s], s:{s:[s]}}", "id", id, "title", "T", "stages",
			      "delivery", "touchpoints", "delivery", "parcel");

	if (fatigue)
		json_object_set_new(j, "fatigue", json_loads(fatigue, 0, NULL));
	ck_assert_msg(cx_survey_from_json(j, NULL, &d, &err) == 0, "%s", err.message);
	ck_assert_int_eq(cx_store_survey_put(st, &d, 0, &created, &err), 0);
	cx_survey_release(&d);
	json_decref(j);
	ck_assert_int_eq(cx_store_survey_get(st, id, s), 0);
}

static void set_rules(struct cx_store *st, unsigned n, unsigned d, unsigned a)
{
	struct cx_fatigue f = { .max_invitations = n, .per_days = d, .after_answer_days = a };
	struct cx_error err;

	ck_assert_int_eq(cx_store_fatigue_put(st, &f, &err), 0);
}

static void item(struct cx_invitation *inv, const char *customer, int64_t expires_at)
{
	memset(inv, 0, sizeof(*inv));
	snprintf(inv->claims.stage, sizeof(inv->claims.stage), "delivery");
	snprintf(inv->claims.touchpoint, sizeof(inv->claims.touchpoint), "parcel");
	snprintf(inv->claims.customer, sizeof(inv->claims.customer), "%s", customer);
	inv->claims.expires_at = expires_at;
}

static void mint(struct cx_store *st, const struct cx_survey *s, struct cx_invitation *inv,
		 size_t n, int64_t now)
{
	struct cx_error err;

	ck_assert_msg(cx_store_invitations_mint(st, s, inv, n, BASE, now, &err) == 0, "%s",
		      err.message);
}

static const char *token_of(const struct cx_invitation *inv)
{
	ck_assert_ptr_nonnull(inv->url);
	ck_assert_msg(strncmp(inv->url, BASE "/i/", strlen(BASE "/i/")) == 0, "%s", inv->url);
	return inv->url + strlen(BASE "/i/");
}

static long long count(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long n;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

static void exec_sql(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

START_TEST(mint_records_and_signs)
{
	struct cx_store *st = open_store();
	struct cx_survey s;
	struct cx_invitation inv[2];
	struct cx_link_claims c;
	int64_t now = cx_time_now();

	define(st, "shop", NULL, &s);
	item(&inv[0], "cust-1", now + 3600);
	inv[0].claims.attributes = strdup("{\"order\":\"A-1\"}");
	snprintf(inv[0].claims.lang, sizeof(inv[0].claims.lang), "bg");
	snprintf(inv[0].claims.channel, sizeof(inv[0].claims.channel), "email");
	item(&inv[1], "cust-2", now + 7200);
	mint(st, &s, inv, 2, now);
	ck_assert_int_eq(inv[0].minted, 1);
	ck_assert_int_eq(inv[1].minted, 1);
	ck_assert_str_ne(inv[0].claims.nonce, inv[1].claims.nonce);
	ck_assert_int_eq(cx_link_verify(token_of(&inv[0]), now, cx_store_link_key_fn, st, &c),
			 CX_LINK_OK);
	ck_assert_str_eq(c.customer, "cust-1");
	ck_assert_str_eq(c.survey, "shop");
	ck_assert_str_eq(c.stage, "delivery");
	ck_assert_str_eq(c.touchpoint, "parcel");
	ck_assert_str_eq(c.channel, "email");
	ck_assert_str_eq(c.lang, "bg");
	ck_assert_str_eq(c.nonce, inv[0].claims.nonce);
	ck_assert_str_eq(c.attributes, "{\"order\":\"A-1\"}");
	ck_assert_int_eq(c.issued_at, now);
	ck_assert_int_eq(c.expires_at, now + 3600);
	cx_link_claims_release(&c);
	/* it expires when it says */
	ck_assert_int_eq(cx_link_verify(token_of(&inv[0]), now + 3600, cx_store_link_key_fn, st,
					&c), CX_LINK_EXPIRED);
	ck_assert_int_eq(cx_link_verify(token_of(&inv[1]), now, cx_store_link_key_fn, st, &c),
			 CX_LINK_OK);
	ck_assert_str_eq(c.customer, "cust-2");
	ck_assert_str_eq(c.channel, "");
	cx_link_claims_release(&c);
	ck_assert_int_eq(count("SELECT count(*) FROM invitations"), 2);
	ck_assert_int_eq(count("SELECT count(*) FROM invitations WHERE customer = 'cust-1' AND "
			       "channel = 'email' AND segment IS NULL AND opened_at IS NULL"), 1);
	for (int i = 0; i < 2; i++)
		cx_invitation_release(&inv[i]);
	cx_survey_release(&s);
	cx_store_close(st);
}
END_TEST

START_TEST(fatigue_service_and_survey)
{
	struct cx_store *st = open_store();
	struct cx_survey a, b;
	struct cx_invitation inv[4];
	int64_t now = cx_time_now();

	define(st, "a", "{\"max_invitations\": 1, \"per_days\": 7}", &a);
	define(st, "b", NULL, &b);
	set_rules(st, 2, 30, 0);
	/* the service allows 2 in 30 days, survey a 1 in 7: the second for a in one call is
	 * skipped by a's rule, counting the first minted a moment before */
	item(&inv[0], "x", now + 3600);
	item(&inv[1], "x", now + 3600);
	mint(st, &a, inv, 2, now);
	ck_assert_int_eq(inv[0].minted, 1);
	ck_assert_int_eq(inv[1].minted, 0);
	ck_assert_ptr_null(inv[1].url);
	ck_assert_str_eq(inv[1].skip_reason, "max_invitations");
	ck_assert_str_eq(inv[1].skip_scope, "survey");
	ck_assert_int_eq(inv[1].eligible_at, now + 7 * DAY);
	/* survey b has no rule of its own: the second of x's 30 days passes, the third not */
	item(&inv[2], "x", now + 3600);
	item(&inv[3], "x", now + 3600);
	mint(st, &b, &inv[2], 2, now + 10);
	ck_assert_int_eq(inv[2].minted, 1);
	ck_assert_int_eq(inv[3].minted, 0);
	ck_assert_str_eq(inv[3].skip_scope, "service");
	/* the second newest (the first mint, at now) leaves the window first */
	ck_assert_int_eq(inv[3].eligible_at, now + 30 * DAY);
	/* nothing of a skipped one is written */
	ck_assert_int_eq(count("SELECT count(*) FROM invitations WHERE customer = 'x'"), 2);
	for (int i = 0; i < 4; i++)
		cx_invitation_release(&inv[i]);
	/* both refuse: the later one is reported (service +30d beats a's +7d) */
	item(&inv[0], "x", now + 3600);
	mint(st, &a, inv, 1, now + 20);
	ck_assert_str_eq(inv[0].skip_scope, "service");
	ck_assert_int_eq(inv[0].eligible_at, now + 30 * DAY);
	cx_invitation_release(&inv[0]);
	/* rules off: eligible again */
	set_rules(st, 0, 0, 0);
	item(&inv[0], "x", now + 3600);
	mint(st, &b, inv, 1, now + 30);
	ck_assert_int_eq(inv[0].minted, 1);
	cx_invitation_release(&inv[0]);
	cx_survey_release(&a);
	cx_survey_release(&b);
	cx_store_close(st);
}
END_TEST

START_TEST(fatigue_after_answer)
{
	struct cx_store *st = open_store();
	struct cx_survey a, b;
	struct cx_invitation inv[3];
	struct cx_fatigue_verdict v;
	const char *scope;
	struct cx_error err;
	int64_t now = cx_time_now();
	char sql[600];
	sqlite3 *db;

	define(st, "a", "{\"after_answer_days\": 30}", &a);
	define(st, "b", NULL, &b);
	set_rules(st, 0, 0, 7);
	/* y answered survey b 2 days ago (received_at, ms: the server's clock counts, not the
	 * client's submitted_at); z answered a 10 days ago; w 8 days ago (b) */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO responses(id, survey, stage, touchpoint, customer, nps, submitted_at, "
		 "received_at) VALUES (1, 'b', 'delivery', 'parcel', 'y', 9, 0, %lld), "
		 "(2, 'a', 'delivery', 'parcel', 'z', 9, %lld, %lld), "
		 "(3, 'b', 'delivery', 'parcel', 'w', 9, %lld, %lld)",
		 (long long)(now - 2 * DAY) * 1000 + 999, (long long)now,
		 (long long)(now - 10 * DAY) * 1000, (long long)now,
		 (long long)(now - 8 * DAY) * 1000);
	exec_sql(sql);
	item(&inv[0], "y", now + 3600);
	item(&inv[1], "z", now + 3600);
	item(&inv[2], "w", now + 3600);
	mint(st, &a, inv, 3, now);
	ck_assert_int_eq(inv[0].minted, 0);
	ck_assert_str_eq(inv[0].skip_reason, "answered_recently");
	ck_assert_str_eq(inv[0].skip_scope, "service");
	ck_assert_int_eq(inv[0].eligible_at, now - 2 * DAY + 7 * DAY);
	/* z: past the service's 7 days, within a's own 30 */
	ck_assert_int_eq(inv[1].minted, 0);
	ck_assert_str_eq(inv[1].skip_scope, "survey");
	ck_assert_int_eq(inv[1].eligible_at, now - 10 * DAY + 30 * DAY);
	/* w answered b only, 8 days ago: a's rule counts a's answers only */
	ck_assert_int_eq(inv[2].minted, 1);
	for (int i = 0; i < 3; i++)
		cx_invitation_release(&inv[i]);

	/* at answer time: only after_answer_days, and the link's own answer never counts */
	set_rules(st, 1, 30, 7);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(cx_invitestore_fatigue(st, db, &b, "y", now, 1, 0, &v, &scope, &err), 0);
	ck_assert_str_eq(v.reason, "answered_recently");
	ck_assert_int_eq(cx_invitestore_fatigue(st, db, &b, "y", now, 1, 1, &v, &scope, &err), 0);
	ck_assert_ptr_null(v.reason);
	/* w has an invitation (the count rule would refuse a mint) but may answer */
	ck_assert_int_eq(cx_invitestore_fatigue(st, db, &a, "w", now, 0, 0, &v, &scope, &err), 0);
	ck_assert_str_eq(v.reason, "max_invitations");
	ck_assert_int_eq(cx_invitestore_fatigue(st, db, &a, "w", now, 1, 0, &v, &scope, &err), 0);
	ck_assert_ptr_null(v.reason);
	sqlite3_close(db);
	cx_survey_release(&a);
	cx_survey_release(&b);
	cx_store_close(st);
}
END_TEST

struct racer {
	pthread_t t;
	struct cx_store *st;
	const struct cx_survey *s;
	struct cx_invitation inv;
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct cx_error err;

	r->rc = cx_store_invitations_mint(r->st, r->s, &r->inv, 1, BASE, cx_time_now(), &err);
	return NULL;
}

START_TEST(concurrent_mints_serialized)
{
	struct cx_store *st = open_store();
	struct cx_survey s;
	struct racer r[8];
	int minted = 0;

	define(st, "shop", NULL, &s);
	set_rules(st, 1, 30, 0);
	for (int i = 0; i < 8; i++) {
		r[i].st = st;
		r[i].s = &s;
		item(&r[i].inv, "same", cx_time_now() + 3600);
		ck_assert_int_eq(pthread_create(&r[i].t, NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(r[i].t, NULL);
		ck_assert_int_eq(r[i].rc, 0);
		minted += r[i].inv.minted;
		cx_invitation_release(&r[i].inv);
	}
	ck_assert_int_eq(minted, 1);
	ck_assert_int_eq(count("SELECT count(*) FROM invitations WHERE customer = 'same'"), 1);
	cx_survey_release(&s);
	cx_store_close(st);
}
END_TEST

START_TEST(rotation_and_deletion)
{
	struct cx_store *st = open_store();
	struct cx_survey s;
	struct cx_invitation old, new;
	struct cx_link_claims c;
	struct cx_error err;
	json_t *key, *list;
	char old_kid[CX_LINK_KID_MAX];
	int64_t now = cx_time_now();

	define(st, "shop", NULL, &s);
	item(&old, "k1", now + 3600);
	mint(st, &s, &old, 1, now);
	list = cx_store_link_keys_list(st, &err);
	ck_assert_int_eq(json_array_size(list), 1);
	snprintf(old_kid, sizeof(old_kid), "%s",
		 json_string_value(json_object_get(json_array_get(list, 0), "kid")));
	ck_assert(json_is_true(json_object_get(json_array_get(list, 0), "active")));
	ck_assert_ptr_null(json_object_get(json_array_get(list, 0), "secret"));
	json_decref(list);
	ck_assert_int_eq(strncmp(token_of(&old), old_kid, strlen(old_kid)), 0);

	ck_assert_int_eq(cx_store_link_key_rotate(st, &key, &err), 0);
	ck_assert_str_ne(json_string_value(json_object_get(key, "kid")), old_kid);
	ck_assert(json_is_true(json_object_get(key, "active")));
	/* oldest first, also within one second: the new (active) key is last */
	list = cx_store_link_keys_list(st, &err);
	ck_assert_int_eq(json_array_size(list), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "kid")),
			 old_kid);
	ck_assert(json_is_false(json_object_get(json_array_get(list, 0), "active")));
	ck_assert(json_is_true(json_object_get(json_array_get(list, 1), "active")));
	json_decref(list);
	item(&new, "k2", now + 3600);
	mint(st, &s, &new, 1, now);
	ck_assert_int_eq(strncmp(token_of(&new), json_string_value(json_object_get(key, "kid")),
				 strlen(json_string_value(json_object_get(key, "kid")))), 0);
	/* the old link keeps working after the rotation */
	ck_assert_int_eq(cx_link_verify(token_of(&old), now, cx_store_link_key_fn, st, &c),
			 CX_LINK_OK);
	cx_link_claims_release(&c);
	/* the active key cannot be deleted; an unknown one is 404 */
	ck_assert_int_eq(cx_store_link_key_delete(st, json_string_value(json_object_get(key,
						  "kid")), &err), -1);
	ck_assert_int_eq(err.status, 409);
	ck_assert_str_eq(err.code, "link_key_active");
	ck_assert_int_eq(cx_store_link_key_delete(st, "knope", &err), -1);
	ck_assert_int_eq(err.status, 404);
	/* deleting the old key ends its links, not the new ones */
	ck_assert_int_eq(cx_store_link_key_delete(st, old_kid, &err), 0);
	ck_assert_int_eq(cx_link_verify(token_of(&old), now, cx_store_link_key_fn, st, &c),
			 CX_LINK_UNKNOWN_KEY);
	ck_assert_int_eq(cx_link_verify(token_of(&new), now, cx_store_link_key_fn, st, &c),
			 CX_LINK_OK);
	cx_link_claims_release(&c);
	json_decref(key);
	cx_invitation_release(&old);
	cx_invitation_release(&new);
	cx_survey_release(&s);
	cx_store_close(st);
	/* after a restart: the same keys (the deleted one stays gone) */
	st = open_store();
	list = cx_store_link_keys_list(st, &err);
	ck_assert_int_eq(json_array_size(list), 1);
	json_decref(list);
	cx_store_close(st);
}
END_TEST

START_TEST(settings_persist)
{
	struct cx_store *st = open_store();
	struct cx_fatigue f;
	struct cx_error err;

	ck_assert_int_eq(cx_store_fatigue_get(st, &f, &err), 0);
	ck_assert(cx_fatigue_is_off(&f));
	set_rules(st, 3, 30, 14);
	ck_assert_int_eq(cx_store_fatigue_get(st, &f, &err), 0);
	ck_assert_uint_eq(f.max_invitations, 3);
	cx_store_close(st);
	st = open_store();
	ck_assert_int_eq(cx_store_fatigue_get(st, &f, &err), 0);
	ck_assert_uint_eq(f.max_invitations, 3);
	ck_assert_uint_eq(f.per_days, 30);
	ck_assert_uint_eq(f.after_answer_days, 14);
	cx_store_close(st);
	ck_assert_int_eq(count("SELECT count(*) FROM settings WHERE name = 'fatigue' AND value = "
			       "'{\"max_invitations\":3,\"per_days\":30,\"after_answer_days\":14}'"),
			 1);
}
END_TEST

CX_CHECK_MAIN("invites", setup, teardown, mint_records_and_signs, fatigue_service_and_survey,
	      fatigue_after_answer, concurrent_mints_serialized, rotation_and_deletion,
	      settings_persist)
