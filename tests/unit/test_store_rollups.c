/* Unit tests for the all-time rollup level (src/store_rollups.c, table rollups_total):
 * it follows appends, erasures and amendments exactly, an all-time scores read (served from
 * it) equals the same read over an explicit range that covers everything (served from the
 * daily and monthly levels), and `cxd check` (cx_store_check) catches a wrong total row. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx/store.h"
#include "check_main.h"
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
	char text[16384];
	size_t len;
	int groups;
};

static int dump_group(void *ctx, const struct cx_group_key *k, const struct cx_hist *h)
{
	struct dump *d = ctx;

	d->groups++;
	d->len += (size_t)snprintf(d->text + d->len, sizeof(d->text) - d->len, "%s/%s/%s/%s:%lld",
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
 * filter; returns how many responses the all-time read counts. */
static long long all_time_matches_range(struct cx_store *st)
{
	long long total = -1;

	for (unsigned dims = 0; dims < 16; dims++) {
		for (int filtered = 0; filtered < 2; filtered++) {
			struct cx_scores_query q = { .survey = "checkout", .from_day = INT64_MIN,
						     .to_day = INT64_MAX, .dims = dims,
						     .channel = filtered ? "email" : NULL };
			struct dump *all = calloc(1, sizeof(*all)), *range = calloc(1, sizeof(*range));
			struct cx_error err;

			ck_assert_int_eq(cx_store_scores(st, &q, dump_group, all, &err), 0);
			q.from_day = 0;
			q.to_day = 100000;
			ck_assert_int_eq(cx_store_scores(st, &q, dump_group, range, &err), 0);
			ck_assert_int_eq(all->groups, range->groups);
			ck_assert_str_eq(all->text, range->text);
			if (dims == 0 && !filtered)
				total = count("SELECT coalesce(sum(responses), 0) FROM rollups_total");
			free(all);
			free(range);
		}
	}
	return total;
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
	int64_t ids[30];
	long long bad;

	post(st, 30, 1795392000, ids);
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

CX_CHECK_MAIN("store_rollups", setup, teardown, total_follows_posts_erasure_and_amendment,
	      check_catches_a_wrong_total)
