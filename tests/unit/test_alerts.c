/* Unit tests for alerts.c and store_alerts.c: the decisions on constructed histograms
 * (values worked out in the comments, with the formulas of include/cx/journey.h), then the
 * whole check, the cooldown and the scheduler on a real SQLite file. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx/alerts.h"
#include "cx/cxtime.h"
#include "check_main.h"

/* --- decisions --- */

/* then: 50 promoters, 30 passives, 20 detractors (NPS 30); now: 20/30/50 (NPS -30);
 * V = 10000 (.7 - .09) / 100 = 61 each, z = -60 / sqrt(122) = -5.4321 */
static const struct cx_hist good = { .nps = { [0] = 20, [8] = 30, [10] = 50 } };
static const struct cx_hist bad = { .nps = { [0] = 50, [8] = 30, [10] = 20 } };

START_TEST(significant_drop_emits)
{
	struct cx_compare c;

	ck_assert_int_eq(cx_alerts_is_drop(&good, &bad, CX_METRIC_NPS, 30, &c), 1);
	ck_assert_double_eq_tol(c.a, 30.0, 1e-9);
	ck_assert_double_eq_tol(c.b, -30.0, 1e-9);
	ck_assert_double_eq_tol(c.z, -5.432144762551092, 1e-9);
	ck_assert_int_eq(c.na, 100);
	ck_assert_int_eq(c.nb, 100);
}
END_TEST

START_TEST(rise_does_not_emit)
{
	struct cx_compare c;

	/* the same change the other way: significant (z = +5.43), but better */
	ck_assert_int_eq(cx_alerts_is_drop(&bad, &good, CX_METRIC_NPS, 30, &c), 0);
	ck_assert(c.significant);
	ck_assert_double_eq_tol(c.z, 5.432144762551092, 1e-9);
}
END_TEST

START_TEST(not_significant_does_not_emit)
{
	/* CSAT 80 % -> 70 % of 100 each: pooled .75, se = 100 sqrt(.75 .25 .02) = 6.1237,
	 * z = -1.633: a drop, not significant at 95 % */
	struct cx_hist a = { .csat = { 0, 20, 0, 40, 40 } };
	struct cx_hist b = { .csat = { 0, 30, 0, 35, 35 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_alerts_is_drop(&a, &b, CX_METRIC_CSAT, 30, &c), 0);
	ck_assert_double_eq_tol(c.z, -1.6329931618554523, 1e-9);
	ck_assert(c.delta < 0);
}
END_TEST

START_TEST(too_few_answers_do_not_emit)
{
	/* 20 % of each side of the significant drop: still significant (z = -2.43), but n = 20
	 * on one side or both is below min_n = 30 */
	struct cx_hist small_bad = { .nps = { [0] = 10, [8] = 6, [10] = 4 } };
	struct cx_hist small_good = { .nps = { [0] = 4, [8] = 6, [10] = 10 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_alerts_is_drop(&small_good, &small_bad, CX_METRIC_NPS, 30, &c), 0);
	ck_assert(c.significant);
	ck_assert_int_eq(cx_alerts_is_drop(&good, &small_bad, CX_METRIC_NPS, 30, &c), 0);
	ck_assert_int_eq(cx_alerts_is_drop(&small_good, &bad, CX_METRIC_NPS, 30, &c), 0);
	ck_assert_int_eq(cx_alerts_is_drop(&small_good, &small_bad, CX_METRIC_NPS, 20, &c), 1);
}
END_TEST

START_TEST(ces_lower_is_worse)
{
	/* 50 x 6 + 50 x 4 (mean 5) -> 50 x 5 + 50 x 3 (mean 4): Welch z = -7.0356. CES is the
	 * mean of 1-7, 7 the easiest: lower is a drop, higher is not */
	struct cx_hist easy = { .ces = { [3] = 50, [5] = 50 } };
	struct cx_hist hard = { .ces = { [2] = 50, [4] = 50 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_alerts_is_drop(&easy, &hard, CX_METRIC_CES, 30, &c), 1);
	ck_assert_double_eq_tol(c.z, -7.035623639735144, 1e-9);
	ck_assert_int_eq(cx_alerts_is_drop(&hard, &easy, CX_METRIC_CES, 30, &c), 0);
}
END_TEST

START_TEST(unanswered_or_no_spread_does_not_emit)
{
	struct cx_hist all10 = { .nps = { [10] = 100 } }, all0 = { .nps = { [0] = 100 } };
	struct cx_hist none = { 0 };
	struct cx_compare c;

	ck_assert_int_eq(cx_alerts_is_drop(&good, &none, CX_METRIC_NPS, 1, &c), 0);
	ck_assert_int_eq(cx_alerts_is_drop(&good, &bad, CX_METRIC_CSAT, 1, &c), 0);
	/* 100 -> -100 with no spread on either side: z is null, never significant */
	ck_assert_int_eq(cx_alerts_is_drop(&all10, &all0, CX_METRIC_NPS, 1, &c), 0);
	ck_assert(!c.has_z);
}
END_TEST

/* The rest of the journey: 300 promoters, 150 passives, 50 detractors (NPS 50). A
 * touchpoint like it is no pain point; one with 10/10/30 (NPS -40, n = 50) is: rest with
 * it taken out vs it, z = (-40 - 50) / sqrt(V_rest + V_tp) = -6.6. */
static struct cx_hist with(const struct cx_hist *rest, const struct cx_hist *tp)
{
	struct cx_hist all = *rest;

	cx_hist_add(&all, tp);
	return all;
}

START_TEST(pain_point_new_vs_old)
{
	struct cx_hist rest = { .nps = { [0] = 50, [8] = 150, [10] = 300 } };
	struct cx_hist fine = { .nps = { [0] = 5, [8] = 15, [10] = 30 } };
	struct cx_hist hurt = { .nps = { [0] = 30, [8] = 10, [10] = 10 } };
	struct cx_hist few = { .nps = { [0] = 12, [8] = 4, [10] = 4 } };
	struct cx_hist none = { 0 };
	struct cx_hist all_fine = with(&rest, &fine), all_hurt = with(&rest, &hurt);
	struct cx_hist all_few = with(&rest, &few);
	struct cx_compare c;

	/* fine then, hurting now: new */
	ck_assert_int_eq(cx_alerts_is_new_pain(&hurt, &all_hurt, &fine, &all_fine, CX_METRIC_NPS,
					       30, &c), 1);
	ck_assert_double_eq_tol(c.a, 50.0, 1e-9);
	ck_assert_double_eq_tol(c.b, -40.0, 1e-9);
	ck_assert(c.z < -1.96);
	/* hurting in both windows: a pain point, but not a new one */
	ck_assert_int_eq(cx_alerts_is_new_pain(&hurt, &all_hurt, &hurt, &all_hurt, CX_METRIC_NPS,
					       30, &c), 0);
	/* unanswered then: new */
	ck_assert_int_eq(cx_alerts_is_new_pain(&hurt, &all_hurt, &none, &rest, CX_METRIC_NPS, 30,
					       &c), 1);
	/* bad then with too few answers to count: it was not one, so it is new now */
	ck_assert_int_eq(cx_alerts_is_new_pain(&hurt, &all_hurt, &few, &all_few, CX_METRIC_NPS,
					       30, &c), 1);
	/* too few answers now: not one now */
	ck_assert_int_eq(cx_alerts_is_new_pain(&few, &all_few, &fine, &all_fine, CX_METRIC_NPS,
					       30, &c), 0);
	/* fine now: nothing */
	ck_assert_int_eq(cx_alerts_is_new_pain(&fine, &all_fine, &none, &rest, CX_METRIC_NPS, 30,
					       &c), 0);
}
END_TEST

/* --- on a real store --- */

static char dir[] = "/tmp/cx-alerts-test-XXXXXX";
static char path[256];
static struct cx_store *st;

static void setup(void)
{
	struct cx_error err;

	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
}

static void teardown(void)
{
	char cmd[300];

	cx_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void sql(const char *text)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, text, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

static long count(const char *query)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long n;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, query, -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

static void subscribe(void)
{
	sql("INSERT INTO endpoints(id, url, events, secret, created_at, updated_at) VALUES "
	    "('desk', 'https://desk.example/h', '[\"journey.score_dropped\", "
	    "\"journey.pain_point_found\"]', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 0, 0)");
}

START_TEST(cooldown_then_again)
{
	json_t *data = json_pack("{s:s}", "reason", "r");
	struct cx_alert a = { .key = "journey.score_dropped|s|purchase||nps",
			      .type = CX_ALERT_DROPPED, .survey = "s", .data = data };
	struct cx_error err;

	subscribe();
	ck_assert_int_eq(cx_store_alerts_record(st, &a, 1, 1000, 100, &err), 0);
	ck_assert_int_eq(a.emitted, 1);
	ck_assert_int_eq(a.queued, 1);
	ck_assert_int_eq(a.first_at, 1000);
	/* within the cooldown: nothing, and the row says when it was emitted */
	ck_assert_int_eq(cx_store_alerts_record(st, &a, 1, 1099, 100, &err), 0);
	ck_assert_int_eq(a.emitted, 0);
	ck_assert_int_eq(a.queued, 0);
	ck_assert_int_eq(a.last_at, 1000);
	ck_assert_int_eq(count("SELECT count(*) FROM deliveries"), 1);
	/* the cooldown passed and it is still a finding: again, first_at kept */
	ck_assert_int_eq(cx_store_alerts_record(st, &a, 1, 1100, 100, &err), 0);
	ck_assert_int_eq(a.emitted, 1);
	ck_assert_int_eq(a.first_at, 1000);
	ck_assert_int_eq(a.last_at, 1100);
	ck_assert_int_eq(count("SELECT count(*) FROM deliveries"), 2);
	ck_assert_int_eq(count("SELECT count(*) FROM alert_findings WHERE first_at = 1000 AND "
			       "last_at = 1100"), 1);
	json_decref(data);
}
END_TEST

static void define(void)
{
	struct cx_survey s;
	struct cx_error err;
	int created;
	json_t *j = json_pack("{s:s, s:s}", "id", "s", "title", "Shop");

	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 0, &created, &err), 0);
	cx_survey_release(&s);
	json_decref(j);
}

/* n answers of h's NPS distribution at (stage, tp), on day `day`, in one transaction. */
static void append(const char *stage, const char *tp, const struct cx_hist *h, int64_t day)
{
	struct cx_error err;
	int64_t id;
	int replayed;

	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	for (int v = 0; v <= 10; v++)
		for (int64_t k = 0; k < h->nps[v]; k++) {
			struct cx_response r = { .nps = v, .csat = -1, .ces = -1,
						 .submitted_at = day * 86400 + k % 86400, .learn = 1 };

			snprintf(r.survey, sizeof(r.survey), "s");
			r.stage = (char *)stage;
			r.touchpoint = (char *)tp;
			ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
			ck_assert_msg(cx_store_append(st, &r, NULL, &id, &replayed, &err) == 0, "%s",
				      err.message);
			cx_store_job_end(st, 1);
		}
	ck_assert_msg(cx_store_commit(st, &err) == 0, "%s", err.message);
}

static const char *key_of(json_t *findings, size_t i)
{
	return json_string_value(json_object_get(json_array_get(findings, i), "key"));
}

START_TEST(check_on_a_store)
{
	int64_t today = cx_time_days_from_civil(2026, 11, 26);
	struct cx_alerts_params p = { .now = today * 86400 + 43200, .window_days = 7,
				      .min_n = 30, .cooldown_s = 1209600 };
	struct cx_hist rest = { .nps = { [0] = 100, [8] = 150, [10] = 250 } };   /* NPS 30 */
	struct cx_error err;
	json_t *out, *f;

	define();
	subscribe();
	/* then = days today-13 .. today-7, now = today-6 .. today */
	append("awareness", "ads", &rest, today - 10);
	append("awareness", "ads", &rest, today - 3);
	append("purchase", "web", &good, today - 13);   /* the first day of then */
	append("purchase", "web", &bad, today);         /* the last day of now */
	append("purchase", "web", &bad, today - 14);    /* before both windows: ignored */
	ck_assert_msg(cx_alerts_run(st, &p, &out, &err) == 0, "%s", err.message);
	f = json_object_get(out, "findings");
	ck_assert_int_eq(json_integer_value(json_object_get(out, "emitted")), 3);
	ck_assert_int_eq(json_array_size(f), 3);
	ck_assert_str_eq(key_of(f, 0), "journey.score_dropped|s|purchase||nps");
	ck_assert_str_eq(key_of(f, 1), "journey.score_dropped|s|purchase|web|nps");
	ck_assert_str_eq(key_of(f, 2), "journey.pain_point_found|s|purchase|web|nps");
	{
		json_t *d = json_object_get(json_array_get(f, 1), "data");

		ck_assert_str_eq(json_string_value(json_object_get(d, "reason")),
				 "NPS at purchase / web fell from 30.0 (n=100) to -30.0 (n=100), "
				 "60.0 points, z = -5.43, significant at 95%");
		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "then"),
								    "from")), (today - 13) * 86400);
		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "now"),
								    "to")), (today + 1) * 86400);
		ck_assert(json_is_null(json_object_get(json_object_get(json_array_get(f, 0), "data"),
						       "touchpoint")));
	}
	ck_assert_int_eq(count("SELECT count(*) FROM deliveries WHERE endpoint = 'desk'"), 3);
	json_decref(out);
	/* again: still findings, none emitted */
	ck_assert_int_eq(cx_alerts_run(st, &p, &out, &err), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "emitted")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(out, "findings")), 3);
	ck_assert_int_eq(count("SELECT count(*) FROM deliveries"), 3);
	json_decref(out);
	/* a week later the bad week is the previous window: nothing found */
	p.now += 7 * 86400;
	ck_assert_int_eq(cx_alerts_run(st, &p, &out, &err), 0);
	ck_assert_int_eq(json_array_size(json_object_get(out, "findings")), 0);
	json_decref(out);
}
END_TEST

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

START_TEST(scheduler_runs_and_stops_promptly)
{
	struct cx_alerts_params p = { .window_days = 7, .min_n = 30, .cooldown_s = 1209600 };
	struct cx_hist rest = { .nps = { [0] = 50, [8] = 150, [10] = 300 } };
	int64_t today = cx_time_day_of(cx_time_now());
	struct cx_alerts_sched *s;
	double t;

	ck_assert_int_eq(cx_alerts_start(&s, st, 0, &p), 0);   /* 0 = off */
	ck_assert_ptr_null(s);
	define();
	append("awareness", "ads", &rest, today - 1);
	append("purchase", "web", &good, today - 8);
	append("purchase", "web", &bad, today - 1);
	ck_assert_int_eq(cx_alerts_start(&s, st, 1, &p), 0);
	t = mono();
	while (count("SELECT count(*) FROM alert_findings") < 3 && mono() - t < 10)
		nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	ck_assert_int_eq(count("SELECT count(*) FROM alert_findings"), 3);
	ck_assert(mono() - t >= 0.8);   /* not before the first interval */
	cx_alerts_stop(s);
	/* waiting for a run an hour away: stop wakes it at once */
	ck_assert_int_eq(cx_alerts_start(&s, st, 3600, &p), 0);
	nanosleep(&(struct timespec){ 0, 200000000 }, NULL);   /* the thread is waiting now */
	t = mono();
	cx_alerts_stop(s);
	ck_assert(mono() - t < 0.5);
}
END_TEST

CX_CHECK_MAIN("alerts", setup, teardown, significant_drop_emits, rise_does_not_emit,
	      not_significant_does_not_emit, too_few_answers_do_not_emit, ces_lower_is_worse,
	      unanswered_or_no_spread_does_not_emit, pain_point_new_vs_old, cooldown_then_again,
	      check_on_a_store, scheduler_runs_and_stops_promptly)
