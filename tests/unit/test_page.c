/* Unit tests for the hosted page's pure parts (Accept-Language, language choice, the
 * escaper, templates) and for store_answers.c on a real SQLite file: a link's first answer,
 * an edit within the window (one response, rollups moved, cx_store_check agreeing), the
 * closed window, the after-answer fatigue rule at answer time, amend of a gone response,
 * and the first view. Tokens are signed here with the store's own active key. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/link.h"
#include "cx/page.h"
#include "cx/store.h"
#include "check_main.h"
#include "store_fixture.h"

/* --- languages --- */

static int any(void *ctx, const char *lang)
{
	(void)ctx;
	return cx_page_lang_builtin(lang);
}

static const char *accept(const char *header)
{
	static char out[CX_PAGE_LANG_MAX];

	return cx_page_accept_language(header, any, NULL, out, sizeof(out)) == 0 ? out : NULL;
}

START_TEST(accept_language)
{
	ck_assert_str_eq(accept("bg"), "bg");
	ck_assert_str_eq(accept("fr-CH, fr;q=0.9, bg;q=0.8, ru;q=0.5"), "bg");
	ck_assert_str_eq(accept("de;q=0.2, ru-RU;q=0.7, bg;q=0.6"), "ru");
	ck_assert_str_eq(accept("RU;Q=0.5 , BG ; q=0.9"), "bg");    /* case, spaces */
	ck_assert_str_eq(accept("ru;q=0.5, bg;q=0.5"), "ru");        /* a tie: the first */
	ck_assert_str_eq(accept("ar;q=1.0, en;q=0.999"), "ar");
	ck_assert_ptr_null(accept("bg;q=0"));                         /* "not acceptable" */
	ck_assert_ptr_null(accept("bg;q=0.000"));
	ck_assert_ptr_null(accept(""));
	ck_assert_ptr_null(accept(NULL));
	ck_assert_ptr_null(accept("fr, de, *"));
	/* junk entries are skipped, not fatal */
	ck_assert_str_eq(accept(";;;, =, q=1, bg;q=2, x;q=, ru;q=0.3"), "ru");
	ck_assert_str_eq(accept("b, 1, en-, bg;q=0.1"), "bg");
	ck_assert_str_eq(accept("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, bg;q=0.4"), "bg");
}
END_TEST

START_TEST(accept_language_limit)
{
	char h[4096] = "";

	for (int i = 0; i < 19; i++)
		strcat(h, "zz, ");
	strcat(h, "bg");
	ck_assert_str_eq(accept(h), "bg");          /* entry 20 */
	h[0] = '\0';
	for (int i = 0; i < 20; i++)
		strcat(h, "zz, ");
	strcat(h, "bg");
	ck_assert_ptr_null(accept(h));              /* entry 21: never looked at */
}
END_TEST

START_TEST(primary_and_rtl)
{
	char out[CX_PAGE_LANG_MAX];

	ck_assert_int_eq(cx_page_lang_primary("pt-BR", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "pt");
	ck_assert_int_eq(cx_page_lang_primary("EN_us", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "en");
	ck_assert_int_eq(cx_page_lang_primary("e", out, sizeof(out)), -1);
	ck_assert_int_eq(cx_page_lang_primary("\"><x", out, sizeof(out)), -1);
	ck_assert_int_eq(cx_page_lang_primary("en\"", out, sizeof(out)), -1);
	ck_assert_int_eq(cx_page_lang_primary("abcdefghi", out, sizeof(out)), -1);
	ck_assert_int_eq(cx_page_lang_primary(NULL, out, sizeof(out)), -1);
	ck_assert(cx_page_lang_rtl("ar"));
	ck_assert(cx_page_lang_rtl("he-IL"));
	ck_assert(!cx_page_lang_rtl("ru"));
	ck_assert(!cx_page_lang_rtl("en"));
}
END_TEST

START_TEST(choose_lang)
{
	struct cx_survey s;
	struct cx_error err;
	char out[CX_PAGE_LANG_MAX];
	json_t *j = json_pack("{s:s, s:s, s:[s], s:{s:{s:s}}}", "id", "x", "title", "T", "stages",
			      "a", "texts", "de", "question", "Wie?");

	ck_assert_msg(cx_survey_from_json(j, NULL, &s, &err) == 0, "%s", err.message);
	json_decref(j);
	cx_page_choose_lang(&s, "bg", "ru", "ar", out);
	ck_assert_str_eq(out, "bg");                        /* ?lang= first */
	cx_page_choose_lang(&s, "zz", "ru", "ar", out);
	ck_assert_str_eq(out, "ru");                        /* then the link's */
	cx_page_choose_lang(&s, NULL, "zz", "fr, ar;q=0.5", out);
	ck_assert_str_eq(out, "ar");                        /* then Accept-Language */
	cx_page_choose_lang(&s, NULL, NULL, "de-AT", out);
	ck_assert_str_eq(out, "de");                        /* the survey's own language */
	cx_page_choose_lang(&s, NULL, NULL, "fr", out);
	ck_assert_str_eq(out, "en");                        /* and at last English */
	cx_page_choose_lang(NULL, "\"><script>", NULL, NULL, out);
	ck_assert_str_eq(out, "en");
	ck_assert_str_eq(cx_page_text("zz", "submit"), "Submit");
	ck_assert_str_eq(cx_page_text("bg", "submit"), "Изпрати");
	ck_assert_str_eq(cx_page_text("en", "no-such-key"), "");
	cx_survey_release(&s);
}
END_TEST

/* --- escaping and pages --- */

START_TEST(escaping)
{
	struct cx_page p = { 0 };

	cx_page_escaped(&p, "<a href='x' title=\"y\">&amp;</a>\x01\x7f\xff\xc3\xa9\xed\xa0\x80");
	ck_assert_str_eq(p.s, "&lt;a href=&#39;x&#39; title=&quot;y&quot;&gt;&amp;amp;&lt;/a&gt;"
		       "\xef\xbf\xbd" "\xc3\xa9" "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(p.s);
}
END_TEST

START_TEST(page_escapes_the_survey)
{
	struct cx_survey s;
	struct cx_error err;
	json_t *j = json_pack("{s:s, s:s, s:[s], s:s}", "id", "x", "title",
			      "<script>alert('t')</script>", "stages", "a", "question", "ces");
	struct cx_page_field f[1] = { { "lang", "\"><img src=x>" } };
	struct cx_page_view v = { .lang = "en", .action = "/s/x?\"<>", .hidden = f, .nhidden = 1,
				  .score = 3, .notice = "<b>n</b>" };
	char *html;

	ck_assert_msg(cx_survey_from_json(j, NULL, &s, &err) == 0, "%s", err.message);
	json_decref(j);
	v.s = &s;
	html = cx_page_question(&v);
	ck_assert_ptr_nonnull(html);
	ck_assert_ptr_null(strstr(html, "<script>"));
	ck_assert_ptr_null(strstr(html, "<img"));
	ck_assert_ptr_null(strstr(html, "<b>"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "value=\"3\" checked"));
	ck_assert_ptr_nonnull(strstr(html, "value=\"7\""));   /* CES: 1-7 */
	ck_assert_ptr_null(strstr(html, "value=\"8\""));
	ck_assert_ptr_null(strstr(html, "value=\"0\""));
	ck_assert_ptr_nonnull(strstr(html, "<html lang=\"en\" dir=\"ltr\">"));
	free(html);
	v.lang = "ar";
	html = cx_page_message(&v, "expired", "<i>");
	ck_assert_ptr_nonnull(strstr(html, "dir=\"rtl\""));
	ck_assert_ptr_null(strstr(html, "<i>"));
	free(html);
	cx_survey_release(&s);
}
END_TEST

START_TEST(csp)
{
	const char *base = cx_page_csp(NULL);

	ck_assert_ptr_nonnull(strstr(base, "default-src 'none'; style-src 'sha256-"));
	ck_assert_ptr_null(strstr(base, "script"));
	ck_assert_ptr_nonnull(strstr(cx_page_csp("https://shop.example:8443/thanks?x=1"),
				     "form-action 'self' https://shop.example:8443"));
	ck_assert_ptr_eq(cx_page_csp("https://a.example/x"), cx_page_csp("https://a.example/y"));
	ck_assert_str_eq(cx_page_csp("javascript:alert(1)"), base);
	ck_assert_str_eq(cx_page_csp("https://a.example;script-src *"), base);
}
END_TEST

/* --- store_answers.c --- */

CX_STORE_FIXTURE("/tmp/cx-page-test")

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

static void run(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct cx_store *open_store(void)
{
	struct cx_store *st;
	struct cx_error err;
	struct cx_survey d;
	int created;
	json_t *j = json_pack("{s:s, s:s, s:[s], s:{s:[s]}, s:{s:i}}", "id", "sv", "title", "T",
			      "stages", "delivery", "touchpoints", "delivery", "parcel", "fatigue",
			      "after_answer_days", 10);

	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	ck_assert_msg(cx_survey_from_json(j, NULL, &d, &err) == 0, "%s", err.message);
	ck_assert_int_eq(cx_store_survey_put(st, &d, 0, &created, &err), 0);
	cx_survey_release(&d);
	json_decref(j);
	return st;
}

static void claims(struct cx_link_claims *c, const char *customer, int64_t now)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->survey, "sv");
	strcpy(c->stage, "delivery");
	strcpy(c->touchpoint, "parcel");
	snprintf(c->customer, sizeof(c->customer), "%s", customer);
	ck_assert_int_eq(cx_link_nonce(c->nonce), 0);
	c->issued_at = now - 60;
	c->expires_at = now + 86400;
}

/* The response a page answer makes (what api_page.c builds from the claims). */
static void response(struct cx_response *r, const struct cx_link_claims *c, int nps,
		     const char *comment, int64_t now)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->survey, c->survey);
	r->stage = strdup(c->stage);
	r->touchpoint = strdup(c->touchpoint);
	r->customer = strdup(c->customer);
	r->comment = comment ? strdup(comment) : NULL;
	r->idem_key = strdup(c->nonce);
	r->nps = nps;
	r->csat = r->ces = -1;
	r->submitted_at = now;
	r->received_ms = now * 1000;
}

/* One writer job as writer.c runs it: begin, savepoint, the call, end, commit. */
static enum cx_answer_outcome answer(struct cx_store *st, const struct cx_link_claims *c,
				     int nps, const char *comment, int64_t now, int64_t *id)
{
	struct cx_response r;
	struct cx_error err;
	enum cx_answer_outcome out = CX_ANSWER_CLOSED;
	int rc;

	response(&r, c, nps, comment, now);
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 1, &err), 0);
	rc = cx_store_link_answer(st, &r, c, 100, now, id, &out, &err);
	ck_assert_msg(rc == 0, "%s", err.message);
	cx_store_job_end(st, 1);
	ck_assert_msg(cx_store_commit(st, &err) == 0, "%s", err.message);
	cx_response_release(&r);
	return out;
}

static void consistent(struct cx_store *st)
{
	struct cx_error err;
	json_t *report = NULL;

	ck_assert_int_eq(cx_store_check(st, &report, &err), 0);
	json_decref(report);
}

START_TEST(link_answer_edit_close)
{
	struct cx_store *st = open_store();
	struct cx_link_claims c;
	struct cx_error err;
	int64_t now = cx_time_now(), id = 0, id2 = 0;
	char sql[256];

	claims(&c, "cust-1", now);
	ck_assert_int_eq(answer(st, &c, 9, NULL, now, &id), CX_ANSWER_NEW);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(count("SELECT count(*) FROM responses"), 1);
	snprintf(sql, sizeof(sql), "SELECT response_id FROM invitations WHERE nonce = '%s' AND "
		 "answered_at IS NOT NULL AND commented = 0 AND minted_at = %lld", c.nonce,
		 (long long)c.issued_at);
	ck_assert_int_eq(count(sql), id);
	consistent(st);
	/* within the window: the same response changes, its rollups move */
	ck_assert_int_eq(answer(st, &c, 3, "slow", now + 50, &id2), CX_ANSWER_EDITED);
	ck_assert_int_eq(id2, id);
	ck_assert_int_eq(count("SELECT count(*) FROM responses"), 1);
	ck_assert_int_eq(count("SELECT nps FROM responses"), 3);
	ck_assert_int_eq(count("SELECT count(*) FROM responses WHERE comment = 'slow'"), 1);
	ck_assert_int_eq(count("SELECT commented FROM invitations"), 1);
	ck_assert_int_eq(cx_store_rollups_catch_up(st, NULL, &err), 0);   /* counted after commits */
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups"), 1);
	ck_assert_int_eq(count("SELECT sum(nps9) FROM rollups"), 0);
	ck_assert_int_eq(count("SELECT sum(nps3) FROM rollups"), 1);
	consistent(st);
	/* a second step without a comment keeps the comment */
	ck_assert_int_eq(answer(st, &c, 4, NULL, now + 60, &id2), CX_ANSWER_EDITED);
	ck_assert_int_eq(count("SELECT count(*) FROM responses WHERE comment = 'slow' AND nps = 4"), 1);
	/* after the window: nothing changes */
	ck_assert_int_eq(answer(st, &c, 10, "late", now + 101, &id2), CX_ANSWER_CLOSED);
	ck_assert_int_eq(count("SELECT nps FROM responses"), 4);
	ck_assert_int_eq(count("SELECT count(*) FROM responses WHERE comment = 'late'"), 0);
	consistent(st);
	(void)err;
	cx_store_close(st);
}
END_TEST

START_TEST(link_answer_fatigued)
{
	struct cx_store *st = open_store();
	struct cx_link_claims a, b;
	int64_t now = cx_time_now(), id = 0;

	/* two links for one customer; the survey's rule: not again within 10 days of an answer */
	claims(&a, "cust-2", now);
	claims(&b, "cust-2", now);
	ck_assert_int_eq(answer(st, &a, 8, NULL, now, &id), CX_ANSWER_NEW);
	ck_assert_int_eq(answer(st, &b, 2, NULL, now + 5, &id), CX_ANSWER_FATIGUED);
	ck_assert_int_eq(count("SELECT count(*) FROM responses"), 1);
	/* the link's own answer never counts against its edit */
	ck_assert_int_eq(answer(st, &a, 7, NULL, now + 6, &id), CX_ANSWER_EDITED);
	consistent(st);
	cx_store_close(st);
}
END_TEST

START_TEST(amend_and_opened)
{
	struct cx_store *st = open_store();
	struct cx_link_claims c;
	struct cx_response r;
	struct cx_error err;
	enum cx_answer_outcome out;
	int64_t now = cx_time_now();
	char sql[256];

	claims(&c, "cust-3", now);
	/* a view of a link without its row (its customer erased) writes nothing */
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_invitation_opened(st, &c, now, &err), 0);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(count("SELECT count(*) FROM invitations"), 0);
	/* a minted link's first view notes its time; a second keeps the first time */
	snprintf(sql, sizeof(sql), "INSERT INTO invitations (nonce, survey, stage, touchpoint, "
		 "customer, minted_at, expires_at) VALUES ('%s', 'sv', 'delivery', 'parcel', "
		 "'cust-3', %lld, %lld)", c.nonce, (long long)c.issued_at, (long long)c.expires_at);
	run(sql);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(cx_store_begin(st, &err), 0);
		ck_assert_int_eq(cx_store_invitation_opened(st, &c, now + i * 10, &err), 0);
		ck_assert_int_eq(cx_store_commit(st, &err), 0);
	}
	snprintf(sql, sizeof(sql), "SELECT opened_at FROM invitations WHERE nonce = '%s' AND "
		 "answered_at IS NULL AND customer = 'cust-3'", c.nonce);
	ck_assert_int_eq(count(sql), now);
	/* amend of a response that is not there */
	response(&r, &c, 5, "x", now);
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_response_amend(st, 999, &r, 100, now, &out, &err), 0);
	ck_assert_int_eq(out, CX_ANSWER_CLOSED);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	cx_response_release(&r);
	ck_assert_int_eq(count("SELECT count(*) FROM responses"), 0);
	cx_store_close(st);
}
END_TEST

CX_CHECK_MAIN("page", setup, teardown, accept_language, accept_language_limit,
	      primary_and_rtl, choose_lang, escaping, page_escapes_the_survey, csp,
	      link_answer_edit_close, link_answer_fatigued, amend_and_opened)
