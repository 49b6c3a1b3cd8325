/* Unit tests for rollup.c: the in-memory accumulation matches a direct count. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cx/rollup.h"
#include "check_main.h"

struct tally {
	size_t keys;
	int64_t responses, nps9, csat1, ces7;
	int saw_empty_channel;
};

static int visit(void *ctx, const struct cx_rollup_key *k, const struct cx_hist *h)
{
	struct tally *t = ctx;

	t->keys++;
	t->responses += h->responses;
	t->nps9 += h->nps[9];
	t->csat1 += h->csat[0];
	t->ces7 += h->ces[6];
	if (k->channel[0] == '\0')
		t->saw_empty_channel = 1;
	ck_assert_str_eq(k->survey, "s");
	ck_assert_int_eq(k->day, k->quarter * 900 / 86400);   /* the day of its quarter hour */
	return 0;
}

START_TEST(accumulates_per_key)
{
	struct cx_rollup_acc *acc = cx_rollup_new();
	char tp[16];
	struct tally t = { 0 };

	/* 3 touchpoints x 2 days x (channel or none) = 12 keys, 1200 responses */
	for (int i = 0; i < 1200; i++) {
		struct cx_response r = { .survey = "s", .stage = "purchase",
					 .nps = i % 11, .csat = i % 5 + 1, .ces = i % 7 + 1 };

		snprintf(tp, sizeof(tp), "tp%d", i % 3);
		r.touchpoint = tp;
		r.channel = (i % 2) ? "web" : NULL;
		r.submitted_at = 1795392000 + (i % 4 < 2 ? 0 : 86400) + i % 600;   /* one quarter hour each */
		ck_assert_int_eq(cx_rollup_add(acc, &r, 1), 0);
	}
	ck_assert_int_eq(cx_rollup_count(acc), 12);
	ck_assert_int_eq(cx_rollup_each(acc, visit, &t), 0);
	ck_assert_int_eq(t.keys, 12);
	ck_assert_int_eq(t.responses, 1200);
	ck_assert_int_eq(t.nps9, 109);   /* i % 11 == 9 for i < 1200 */
	ck_assert_int_eq(t.csat1, 240);
	ck_assert_int_eq(t.ces7, 171);
	ck_assert(t.saw_empty_channel);
	cx_rollup_clear(acc);
	ck_assert_int_eq(cx_rollup_count(acc), 0);
	cx_rollup_free(acc);
}
END_TEST

START_TEST(unanswered_metrics_only_count_responses)
{
	struct cx_rollup_acc *acc = cx_rollup_new();
	struct cx_response r = { .survey = "s", .stage = "a", .touchpoint = "t",
				 .nps = -1, .csat = -1, .ces = -1, .submitted_at = 0 };
	struct tally t = { 0 };

	ck_assert_int_eq(cx_rollup_add(acc, &r, 1), 0);
	ck_assert_int_eq(cx_rollup_each(acc, visit, &t), 0);
	ck_assert_int_eq(t.responses, 1);
	ck_assert_int_eq(t.nps9 + t.csat1 + t.ces7, 0);
	cx_rollup_free(acc);
}
END_TEST

START_TEST(taking_back_out)
{
	struct cx_rollup_acc *acc = cx_rollup_new();
	struct cx_response a = { .survey = "s", .stage = "a", .touchpoint = "t", .nps = 10,
				 .csat = -1, .ces = -1 };
	struct cx_response b = a;
	struct tally t = { 0 };

	b.touchpoint = "u";
	ck_assert_int_eq(cx_rollup_add(acc, &a, 1), 0);
	ck_assert_int_eq(cx_rollup_add(acc, &b, 1), 0);
	ck_assert_int_eq(cx_rollup_add(acc, &b, -1), 0);   /* an undone job */
	ck_assert_int_eq(cx_rollup_each(acc, visit, &t), 0);
	ck_assert_int_eq(t.keys, 1);                       /* b's key is skipped */
	ck_assert_int_eq(t.responses, 1);
	cx_rollup_free(acc);
}
END_TEST

START_TEST(quarter_hours_are_keys)
{
	struct cx_rollup_acc *acc = cx_rollup_new();
	struct cx_response r = { .survey = "s", .stage = "a", .touchpoint = "t", .nps = 7,
				 .csat = -1, .ces = -1 };
	struct tally t = { 0 };

	for (int sec = 0; sec < 3600; sec += 60) {   /* one hour: four quarter-hour keys */
		r.submitted_at = 1795392000 + sec;
		ck_assert_int_eq(cx_rollup_add(acc, &r, 1), 0);
	}
	ck_assert_int_eq(cx_rollup_count(acc), 4);
	ck_assert_int_eq(cx_rollup_each(acc, visit, &t), 0);
	ck_assert_int_eq(t.responses, 60);
	cx_rollup_free(acc);
}
END_TEST

START_TEST(long_keys_and_growth)
{
	struct cx_rollup_acc *acc = cx_rollup_new();
	char seg[80];

	for (int i = 0; i < 5000; i++) {
		struct cx_response r = { .survey = "s", .stage = "a", .nps = 5 };
		char tp[80];

		memset(tp, 'x', 64);
		snprintf(tp + 60, sizeof(tp) - 60, "%04d", i % 1000);
		snprintf(seg, sizeof(seg), "%0*d", 64, i % 5);
		r.touchpoint = tp;
		r.segment = seg;
		ck_assert_int_eq(cx_rollup_add(acc, &r, 1), 0);
	}
	ck_assert_int_eq(cx_rollup_count(acc), 1000);
	cx_rollup_free(acc);
}
END_TEST

CX_CHECK_MAIN("rollup", NULL, NULL, accumulates_per_key,
	      unanswered_metrics_only_count_responses, taking_back_out, quarter_hours_are_keys,
	      long_keys_and_growth)
