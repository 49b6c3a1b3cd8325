/* Unit tests for the all-time rollup level (src/store_rollups.c, table rollups_total):
 * it follows appends, erasures and amendments exactly, an all-time scores read (served from
 * it) equals the same read over an explicit range that covers everything (served from the
 * daily and monthly levels), and `cxd check` (cx_store_check) catches a wrong total row.
 *
 * And the deferred counts (schema 019, rollup_mark): every read gives the same answer
 * before the responses are counted as after, whatever the grouping, bucket, time zone,
 * range or filter; erasures and amendments on either side of the mark, an id SQLite gives
 * out again, and a stop before the counts (the next open counts them) keep every level
 * exact; the uncounted rows are found through the rowid. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx/store.h"
#include "check_main.h"
#include "src/store_rollups.h"
#include "store_fixture.h"

CX_STORE_FIXTURE("/tmp/cx-rollups-test")

static struct cx_store *open_store(void)
{
	struct cx_store *st;
	struct cx_error err;

	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	return st;
}

/* A fresh store with survey "checkout" (an open journey map). */
static struct cx_store *new_store(void)
{
	struct cx_store *st = open_store();
	struct cx_error err;
	struct cx_survey s;
	int created;
	json_t *j = json_pack("{s:s, s:s}", "id", "checkout", "title", "T");

	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(cx_store_survey_put(st, &s, 0, &created, &err), 0);
	ck_assert_int_eq(created, 1);
	cx_survey_release(&s);
	json_decref(j);
	return st;
}

/* Run sql on a connection of its own (what an operator's sqlite3 shell would do). */
static void run(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	sqlite3_close(db);
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

static const char *const stages[] = { "awareness", "purchase", "retention" };
static const char *const channels[] = { "web", "email" };

/* n responses, one every 9 hours from t0 (so they span months), customers c0..c4, each
 * committed in groups of 7 as the writer would; ids[i] gets the id of the i-th. */
static void post(struct cx_store *st, int n, int64_t t0, int64_t *ids)
{
	struct cx_error err;
	char customer[16];

	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	for (int i = 0; i < n; i++) {
		struct cx_response r = {
			.stage = (char *)stages[i % 3], .touchpoint = (char *)"web",
			.channel = (char *)channels[i % 2], .customer = customer,
			.nps = i % 11, .csat = i % 7 == 0 ? -1 : i % 5 + 1, .ces = i % 7 + 1,
			.submitted_at = t0 + (int64_t)i * 9 * 3600, .received_ms = 1000 * t0,
			.learn = 1,
		};
		int replayed;

		snprintf(r.survey, sizeof(r.survey), "checkout");
		snprintf(customer, sizeof(customer), "c%d", i % 5);
		ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
		ck_assert_msg(cx_store_append(st, &r, NULL, &ids[i], &replayed, &err) == 0, "%s",
			      err.message);
		cx_store_job_end(st, 1);
		if (i % 7 == 6 || i == n - 1) {
			ck_assert_msg(cx_store_commit(st, &err) == 0, "%s", err.message);
			if (i < n - 1)
				ck_assert_int_eq(cx_store_begin(st, &err), 0);
		}
	}
}

/* Every group of a scores answer, as text, in the order given. */
struct dump {
	char text[1 << 17];
	size_t len;
	int groups;
};

static int dump_group(void *ctx, const struct cx_group_key *k, const struct cx_hist *h)
{
	struct dump *d = ctx;

	ck_assert_uint_lt(d->len + 512, sizeof(d->text));   /* room for one more group */
	d->groups++;
	d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len,
				   "%lld|%s/%s/%s/%s:%lld", (long long)k->bucket_day,
				   k->stage ? k->stage : "-", k->touchpoint ? k->touchpoint : "-",
				   k->channel ? k->channel : "-", k->segment ? k->segment : "-",
				   (long long)h->responses);
	for (int v = 0; v < 11; v++)
		d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, ",%lld",
					   (long long)h->nps[v]);
	for (int v = 0; v < 5; v++)
		d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, ",%lld",
					   (long long)h->csat[v]);
	for (int v = 0; v < 7; v++)
		d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, ",%lld",
					   (long long)h->ces[v]);
	d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "\n");
	return 0;
}

/* The all-time read (rollups_total) and a read over [day 0, day 100000) (daily and
 * monthly rollups) give the same groups in the same order, for every grouping and with a
 * filter: first with the responses since the last catch-up uncounted (the reads add them),
 * then counted, with the same answers; returns how many responses rollups_total counts. */
static long long all_time_matches_range(struct cx_store *st)
{
	char *before[32];
	struct cx_error err;

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			ck_assert_msg(cx_store_rollups_catch_up(st, NULL, &err) == 0, "%s", err.message);
		for (unsigned i = 0; i < 32; i++) {
			unsigned dims = i / 2;
			int filtered = i % 2;
			struct cx_scores_query q = { .survey = "checkout", .from_day = INT64_MIN,
						     .to_day = INT64_MAX, .dims = dims,
						     .channel = filtered ? "email" : NULL };
			struct dump *all = calloc(1, sizeof(*all)), *range = calloc(1, sizeof(*range));

			ck_assert_int_eq(cx_store_scores(st, &q, dump_group, all, &err), 0);
			q.from_day = 0;
			q.to_day = 100000;
			ck_assert_int_eq(cx_store_scores(st, &q, dump_group, range, &err), 0);
			ck_assert_int_eq(all->groups, range->groups);
			ck_assert_str_eq(all->text, range->text);
			if (pass == 0) {
				before[i] = strdup(all->text);
			} else {
				ck_assert_str_eq(before[i], all->text);
				free(before[i]);
			}
			free(all);
			free(range);
		}
	}
	ck_assert_int_eq(cx_store_rollups_pending(st), 0);
	return count("SELECT coalesce(sum(responses), 0) FROM rollups_total");
}

static long check(struct cx_store *st, long long *total_rows)
{
	struct cx_error err;
	json_t *report = NULL;
	long n = cx_store_check(st, &report, &err);
	json_t *t = json_object_get(report, "rollups_total");

	ck_assert_ptr_nonnull(t);   /* the level is in the report */
	*total_rows = json_integer_value(json_object_get(t, "rows_missing_or_different")) +
		      json_integer_value(json_object_get(t, "rows_not_from_responses"));
	json_decref(report);
	return n;
}

START_TEST(total_follows_posts_erasure_and_amendment)
{
	struct cx_store *st = new_store();
	struct cx_error err;
	struct cx_response r = { .nps = 0, .csat = 1, .ces = 7 };
	enum cx_answer_outcome out;
	int64_t ids[200], erased = 0;
	long long bad;

	post(st, 200, 1795392000, ids);   /* 75 days from 2026-11-22: three months */
	ck_assert_int_eq(all_time_matches_range(st), 200);
	ck_assert_int_gt(count("SELECT count(DISTINCT month) FROM rollups_month"), 2);
	ck_assert_int_eq(count("SELECT count(*) FROM rollups_total"), 6);
	ck_assert_int_eq(check(st, &bad), 0);
	ck_assert_int_eq(bad, 0);

	/* an erasure takes a customer's 40 responses out of every level */
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_erase_customer(st, "c3", &erased, &err), 0);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(erased, 40);
	ck_assert_int_eq(all_time_matches_range(st), 160);
	ck_assert_int_eq(check(st, &bad), 0);

	/* an amendment moves one response's scores in every level */
	snprintf(r.survey, sizeof(r.survey), "checkout");
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 1, &err), 0);
	ck_assert_msg(cx_store_response_amend(st, ids[1], &r, 3600, 1795392000 + 60, &out,
					      &err) == 0, "%s", err.message);
	cx_store_job_end(st, 1);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(out, CX_ANSWER_EDITED);
	ck_assert_int_eq(all_time_matches_range(st), 160);
	ck_assert_int_eq(check(st, &bad), 0);

	/* erasing everyone empties the table: no group is left with zero responses */
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	for (int c = 0; c < 5; c++) {
		char who[16];

		snprintf(who, sizeof(who), "c%d", c);
		ck_assert_int_eq(cx_store_erase_customer(st, who, &erased, &err), 0);
	}
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(count("SELECT count(*) FROM rollups_total"), 0);
	ck_assert_int_eq(all_time_matches_range(st), 0);
	ck_assert_int_eq(check(st, &bad), 0);
	cx_store_close(st);
}
END_TEST

START_TEST(check_catches_a_wrong_total)
{
	struct cx_store *st = new_store();
	struct cx_error err;
	int64_t ids[30];
	long long bad;

	post(st, 30, 1795392000, ids);
	ck_assert_int_eq(cx_store_rollups_catch_up(st, NULL, &err), 0);
	ck_assert_int_eq(check(st, &bad), 0);
	cx_store_close(st);

	/* one cell off in one group: the other levels agree, the total does not */
	run("UPDATE rollups_total SET nps3 = nps3 + 1 WHERE stage = 'purchase' AND "
	    "channel = 'web'");
	st = open_store();
	ck_assert_int_gt(check(st, &bad), 0);
	ck_assert_int_eq(bad, 2);   /* the right row is missing, a wrong one is there */
	cx_store_close(st);

	/* a group missing altogether */
	run("UPDATE rollups_total SET nps3 = nps3 - 1 WHERE stage = 'purchase' AND "
	    "channel = 'web'");
	run("DELETE FROM rollups_total WHERE stage = 'retention' AND channel = 'email'");
	st = open_store();
	ck_assert_int_eq(check(st, &bad), 1);
	ck_assert_int_eq(bad, 1);
	cx_store_close(st);
}
END_TEST

/* --- deferred counts --- */

#define T0 1795392000   /* 2026-11-22 */
#define NWAYS (5 * 4 * 3 * 2 * 2)

/* Every scores read asked in each way the API offers (groupings, buckets, time zones, a
 * range or all time, a filter), each answer as text in out[] (the caller frees them). */
static void read_every_way(struct cx_store *st, char *out[NWAYS])
{
	static const unsigned dims[] = { 0, CX_DIM_STAGE, CX_DIM_STAGE | CX_DIM_TOUCHPOINT,
					 CX_DIM_STAGE | CX_DIM_CHANNEL, 15 };
	static const enum cx_bucket buckets[] = { CX_BUCKET_NONE, CX_BUCKET_DAY, CX_BUCKET_WEEK,
						  CX_BUCKET_MONTH };
	static const int zones[] = { 0, 60, -330 };
	int64_t day0 = T0 / 86400;
	unsigned k = 0;

	for (unsigned d = 0; d < 5; d++)
		for (unsigned b = 0; b < 4; b++)
			for (unsigned z = 0; z < 3; z++)
				for (int ranged = 0; ranged < 2; ranged++)
					for (int filtered = 0; filtered < 2; filtered++) {
		struct cx_scores_query q = {
			.survey = "checkout", .dims = dims[d], .bucket = buckets[b],
			.tz_minutes = zones[z],
			.from_day = ranged ? day0 + 10 : INT64_MIN,
			.to_day = ranged ? day0 + 50 : INT64_MAX,
			.channel = filtered ? "email" : NULL,
		};
		struct dump *one = calloc(1, sizeof(*one));
		struct cx_error err;

		ck_assert_msg(cx_store_scores(st, &q, dump_group, one, &err) == 0, "%s", err.message);
		out[k++] = strdup(one->text);
		free(one);
	}
	ck_assert_uint_eq(k, NWAYS);
}

/* Every way of reading gives the same answer now as after a catch-up. */
static void same_after_catch_up(struct cx_store *st)
{
	char *before[NWAYS], *after[NWAYS];
	struct cx_error err;

	read_every_way(st, before);
	ck_assert_msg(cx_store_rollups_catch_up(st, NULL, &err) == 0, "%s", err.message);
	ck_assert_int_eq(cx_store_rollups_pending(st), 0);
	read_every_way(st, after);
	for (unsigned i = 0; i < NWAYS; i++) {
		ck_assert_str_eq(before[i], after[i]);
		free(before[i]);
		free(after[i]);
	}
}

static long long all_time_responses(struct cx_store *st)
{
	struct cx_scores_query q = { .survey = "checkout", .from_day = INT64_MIN,
				     .to_day = INT64_MAX };
	struct dump *one = calloc(1, sizeof(*one));
	struct cx_error err;
	long long n;

	ck_assert_int_eq(cx_store_scores(st, &q, dump_group, one, &err), 0);
	ck_assert_int_eq(one->groups, 1);
	ck_assert_int_eq(sscanf(one->text, "%*[^:]:%lld", &n), 1);
	free(one);
	return n;
}

START_TEST(reads_are_exact_before_the_counts)
{
	struct cx_store *st = new_store();
	int64_t ids[300];
	long long bad;

	/* nothing counted yet: every answer comes from the rows above the mark */
	post(st, 200, T0, ids);
	ck_assert_int_eq(cx_store_rollups_pending(st), 200);
	ck_assert_int_eq(count("SELECT count(*) FROM rollups_total"), 0);
	ck_assert_int_eq(count("SELECT upto FROM rollup_mark"), 0);
	ck_assert_int_eq(all_time_responses(st), 200);
	same_after_catch_up(st);
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_total"), 200);
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_quarter"), 200);
	ck_assert_int_eq(count("SELECT upto FROM rollup_mark"), ids[199]);
	/* half counted, half not */
	post(st, 100, T0 + 3600, ids + 200);
	ck_assert_int_eq(all_time_responses(st), 300);
	same_after_catch_up(st);
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups"), 300);
	ck_assert_int_eq(check(st, &bad), 0);
	cx_store_close(st);
}
END_TEST

START_TEST(erasure_and_amendment_on_both_sides_of_the_mark)
{
	struct cx_store *st = new_store();
	struct cx_response r = { .nps = 10, .csat = 5, .ces = 1 };
	enum cx_answer_outcome out;
	struct cx_error err;
	int64_t ids[200], erased = 0;
	long long bad;

	post(st, 100, T0, ids);
	ck_assert_int_eq(cx_store_rollups_catch_up(st, NULL, &err), 0);
	post(st, 100, T0 + 1800, ids + 100);   /* above the mark */
	snprintf(r.survey, sizeof(r.survey), "checkout");
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	/* c3 has 20 responses below the mark and 20 above */
	ck_assert_int_eq(cx_store_erase_customer(st, "c3", &erased, &err), 0);
	ck_assert_int_eq(erased, 40);
	for (int i = 0; i < 2; i++) {   /* one counted response amended, one uncounted */
		ck_assert_int_eq(cx_store_job_begin(st, 1, &err), 0);
		ck_assert_msg(cx_store_response_amend(st, ids[i == 0 ? 5 : 105], &r, 1L << 40,
						      T0, &out, &err) == 0, "%s", err.message);
		cx_store_job_end(st, 1);
		ck_assert_int_eq(out, CX_ANSWER_EDITED);
	}
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(check(st, &bad), 0);   /* what the mark covers is exact */
	ck_assert_int_eq(all_time_responses(st), 160);
	same_after_catch_up(st);
	ck_assert_int_eq(check(st, &bad), 0);   /* and now everything */
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_month"), 160);
	ck_assert_int_eq(count("SELECT sum(nps10) FROM rollups_total"),
			 count("SELECT count(*) FROM responses WHERE nps = 10"));
	cx_store_close(st);
}
END_TEST

START_TEST(an_id_given_out_again_is_counted_at_once)
{
	struct cx_store *st = new_store();
	struct cx_error err;
	int64_t ids[11], erased;
	long long bad;

	post(st, 10, T0, ids);
	ck_assert_int_eq(cx_store_rollups_catch_up(st, NULL, &err), 0);
	ck_assert_int_eq(count("SELECT upto FROM rollup_mark"), ids[9]);
	/* c4 holds the 5th and the highest id: SQLite gives the highest out again */
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_erase_customer(st, "c4", &erased, &err), 0);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	ck_assert_int_eq(erased, 2);
	post(st, 1, T0, ids + 10);
	ck_assert_int_eq(ids[10], ids[9]);   /* at the mark, so counted in its own commit */
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_total"), 9);
	ck_assert_int_eq(check(st, &bad), 0);
	ck_assert_int_eq(all_time_responses(st), 9);   /* once, not twice */
	same_after_catch_up(st);
	ck_assert_int_eq(all_time_responses(st), 9);
	ck_assert_int_eq(check(st, &bad), 0);
	cx_store_close(st);
}
END_TEST

START_TEST(the_next_open_counts_what_a_stop_left)
{
	struct cx_store *st = new_store();
	int64_t ids[50];
	long long bad;

	post(st, 50, T0, ids);
	cx_store_close(st);   /* as a crash would: committed, never counted */
	ck_assert_int_eq(count("SELECT count(*) FROM responses"), 50);
	ck_assert_int_eq(count("SELECT count(*) FROM rollups_total"), 0);
	st = open_store();
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_total"), 50);
	ck_assert_int_eq(count("SELECT upto FROM rollup_mark"), ids[49]);
	ck_assert_int_eq(cx_store_rollups_pending(st), 0);
	ck_assert_int_eq(check(st, &bad), 0);
	cx_store_close(st);
}
END_TEST

/* What give_way was asked, and what it answers. */
struct way {
	int calls;
	int64_t left;
	int stop;
};

static int give_way(void *ctx, int64_t left)
{
	struct way *w = ctx;

	w->calls++;
	w->left = left;
	return w->stop;
}

/* A catch-up counts in transactions of a few thousand responses and can stop between
 * them (the writer lets queued POSTs commit first): what it leaves is counted by the
 * next one, and reads are exact at every step. */
START_TEST(a_catch_up_can_stop_between_transactions)
{
	struct cx_store *st = new_store();
	static int64_t ids[5000];
	struct way way = { .stop = 1 };
	struct cx_error err;
	int64_t counted;
	long long bad;
	long long all;

	post(st, 5000, T0, ids);
	all = all_time_responses(st);
	ck_assert_int_eq(all, 5000);
	ck_assert_int_eq(cx_store_rollups_pending(st), 5000);
	ck_assert_msg(cx_store_rollups_catch_up_until(st, give_way, &way, &counted, &err) == 0,
		      "%s", err.message);
	ck_assert_int_eq(way.calls, 1);          /* asked after its first transaction */
	ck_assert_int_eq(counted, 2000);
	ck_assert_int_eq(way.left, 3000);
	ck_assert_int_eq(cx_store_rollups_pending(st), 3000);
	ck_assert_int_eq(count("SELECT upto FROM rollup_mark"), ids[1999]);
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_total"), 2000);
	ck_assert_int_eq(all_time_responses(st), 5000);   /* the rest added from the rows */
	ck_assert_int_eq(check(st, &bad), 0);

	way.stop = 0;   /* carries on to the end when nothing waits */
	ck_assert_int_eq(cx_store_rollups_catch_up_until(st, give_way, &way, &counted, &err), 0);
	ck_assert_int_eq(counted, 3000);
	ck_assert_int_eq(way.calls, 2);          /* one more transaction followed */
	ck_assert_int_eq(cx_store_rollups_pending(st), 0);
	ck_assert_int_eq(count("SELECT upto FROM rollup_mark"), ids[4999]);
	ck_assert_int_eq(count("SELECT sum(responses) FROM rollups_total"), 5000);
	ck_assert_int_eq(all_time_responses(st), 5000);
	ck_assert_int_eq(check(st, &bad), 0);
	cx_store_close(st);
}
END_TEST

START_TEST(uncounted_rows_are_found_by_rowid)
{
	struct cx_store *st = new_store();
	char arm[2048], sql[4096], plan[2048] = "";
	sqlite3 *db;
	sqlite3_stmt *q;
	size_t n = 0;

	cx_store_close(st);
	ck_assert_int_lt(cx_rollups_pending_select(arm, sizeof(arm), "submitted_at / 86400", 1,
						   " AND (?8 IS NULL OR stage = ?8)"),
			 (int)sizeof(arm));
	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN SELECT 0, '', '', '', '', 0, 0, 0, 0, 0, "
		 "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0%s", arm);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	while (sqlite3_step(q) == SQLITE_ROW)
		n += (size_t)snprintf(plan + n, sizeof(plan) - n, "%s\n", sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
	sqlite3_close(db);
	ck_assert_msg(strstr(plan, "SEARCH responses USING INTEGER PRIMARY KEY (rowid>?)"), "%s",
		      plan);
	ck_assert_msg(!strstr(plan, "responses_survey_time"), "%s", plan);
}
END_TEST

CX_CHECK_MAIN("store_rollups", setup, teardown, total_follows_posts_erasure_and_amendment,
	      a_catch_up_can_stop_between_transactions,
	      check_catches_a_wrong_total, reads_are_exact_before_the_counts,
	      erasure_and_amendment_on_both_sides_of_the_mark,
	      an_id_given_out_again_is_counted_at_once, the_next_open_counts_what_a_stop_left,
	      uncounted_rows_are_found_by_rowid)
