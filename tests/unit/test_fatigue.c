/* Unit tests for fatigue.c: cx_fatigue_decide at its edges (exactly at the window's and the
 * answer rule's boundary, N = 1, both rules refusing) and the rules' JSON. */
#include <check.h>
#include <string.h>

#include "cx/fatigue.h"
#include "check_main.h"

#define DAY 86400
#define NOW 1800000000LL

static struct cx_fatigue_verdict decide(unsigned n, unsigned d, unsigned a,
					const int64_t *minted, size_t nminted, int64_t last)
{
	struct cx_fatigue f = { .max_invitations = n, .per_days = d, .after_answer_days = a };
	struct cx_fatigue_history h = { .minted = minted, .nminted = nminted,
					.last_answer = last };
	struct cx_fatigue_verdict v = { "garbage", 12345 };

	cx_fatigue_decide(&f, &h, NOW, &v);
	return v;
}

START_TEST(off_is_always_eligible)
{
	int64_t m[] = { NOW, NOW - 1, NOW - 2 };
	struct cx_fatigue_verdict v = decide(0, 0, 0, m, 3, NOW);

	ck_assert_ptr_null(v.reason);
	ck_assert_int_eq(v.eligible_at, 0);
}
END_TEST

START_TEST(max_one_per_day)
{
	/* N = 1: one mint an hour ago refuses until it is a day old */
	int64_t m[] = { NOW - 3600 };
	struct cx_fatigue_verdict v = decide(1, 1, 0, m, 1, 0);

	ck_assert_str_eq(v.reason, "max_invitations");
	ck_assert_int_eq(v.eligible_at, NOW - 3600 + DAY);
	/* no history: eligible */
	v = decide(1, 1, 0, NULL, 0, 0);
	ck_assert_ptr_null(v.reason);
}
END_TEST

START_TEST(window_boundary)
{
	/* the window is (now - D days, now]: a mint exactly D days old no longer counts ... */
	int64_t at_edge[] = { NOW - DAY };
	int64_t inside[] = { NOW - DAY + 1 };
	struct cx_fatigue_verdict v = decide(1, 1, 0, at_edge, 1, 0);

	ck_assert_ptr_null(v.reason);
	/* ... one a second younger does, until exactly now + 1 */
	v = decide(1, 1, 0, inside, 1, 0);
	ck_assert_str_eq(v.reason, "max_invitations");
	ck_assert_int_eq(v.eligible_at, NOW + 1);
	/* a mint at now itself counts */
	{
		int64_t now_m[] = { NOW };

		v = decide(1, 7, 0, now_m, 1, 0);
		ck_assert_str_eq(v.reason, "max_invitations");
		ck_assert_int_eq(v.eligible_at, NOW + 7 * DAY);
	}
}
END_TEST

START_TEST(nth_most_recent_decides)
{
	/* 3 in 30 days, newest first: the third newest leaving the window frees a place */
	int64_t m[] = { NOW - 1 * DAY, NOW - 5 * DAY, NOW - 9 * DAY, NOW - 20 * DAY };
	struct cx_fatigue_verdict v = decide(3, 30, 0, m, 4, 0);

	ck_assert_str_eq(v.reason, "max_invitations");
	ck_assert_int_eq(v.eligible_at, NOW - 9 * DAY + 30 * DAY);
	/* only two inside: eligible */
	v = decide(3, 30, 0, m, 2, 0);
	ck_assert_ptr_null(v.reason);
	/* the history may hold mints beyond the window: they never count */
	{
		int64_t old[] = { NOW - 1 * DAY, NOW - 5 * DAY, NOW - 30 * DAY, NOW - 40 * DAY };

		v = decide(3, 30, 0, old, 4, 0);
		ck_assert_ptr_null(v.reason);
	}
}
END_TEST

START_TEST(after_answer_boundary)
{
	struct cx_fatigue_verdict v = decide(0, 0, 14, NULL, 0, NOW - 14 * DAY);

	ck_assert_ptr_null(v.reason);   /* exactly 14 days ago: eligible again now */
	v = decide(0, 0, 14, NULL, 0, NOW - 14 * DAY + 1);
	ck_assert_str_eq(v.reason, "answered_recently");
	ck_assert_int_eq(v.eligible_at, NOW + 1);
	v = decide(0, 0, 14, NULL, 0, NOW);
	ck_assert_str_eq(v.reason, "answered_recently");
	ck_assert_int_eq(v.eligible_at, NOW + 14 * DAY);
	v = decide(0, 0, 14, NULL, 0, 0);   /* never answered */
	ck_assert_ptr_null(v.reason);
}
END_TEST

START_TEST(both_rules_the_later_wins)
{
	int64_t m[] = { NOW - 2 * DAY, NOW - 3 * DAY };
	/* max: eligible at -3d + 30d = +27d; answer: -1d + 14d = +13d -> max wins */
	struct cx_fatigue_verdict v = decide(2, 30, 14, m, 2, NOW - DAY);

	ck_assert_str_eq(v.reason, "max_invitations");
	ck_assert_int_eq(v.eligible_at, NOW + 27 * DAY);
	/* answer: -1d + 60d = +59d -> the answer rule wins */
	v = decide(2, 30, 60, m, 2, NOW - DAY);
	ck_assert_str_eq(v.reason, "answered_recently");
	ck_assert_int_eq(v.eligible_at, NOW + 59 * DAY);
	/* only the answer rule refuses */
	v = decide(3, 30, 60, m, 2, NOW - DAY);
	ck_assert_str_eq(v.reason, "answered_recently");
	ck_assert_int_eq(v.eligible_at, NOW + 59 * DAY);
	/* only the count refuses */
	v = decide(2, 30, 1, m, 2, NOW - DAY);
	ck_assert_str_eq(v.reason, "max_invitations");
	ck_assert_int_eq(v.eligible_at, NOW + 27 * DAY);
}
END_TEST

START_TEST(json_round_trip_and_errors)
{
	struct cx_fatigue f;
	struct cx_error err;
	json_t *j = json_pack("{s:i, s:i, s:i}", "max_invitations", 3, "per_days", 30,
			      "after_answer_days", 14);
	json_t *back;

	ck_assert_int_eq(cx_fatigue_from_json(j, "fatigue", &f, &err), 0);
	ck_assert_uint_eq(f.max_invitations, 3);
	ck_assert_uint_eq(f.per_days, 30);
	ck_assert_uint_eq(f.after_answer_days, 14);
	back = cx_fatigue_to_json(&f);
	ck_assert(json_equal(j, back));
	json_decref(back);
	json_decref(j);
	j = json_pack("{s:i}", "max_invitations", 3);   /* without per_days */
	ck_assert_int_eq(cx_fatigue_from_json(j, "fatigue", &f, &err), -1);
	ck_assert_str_eq(err.code, "invalid_fatigue");
	json_decref(j);
	j = json_pack("{s:i}", "per_days", CX_FATIGUE_DAYS_MAX + 1);
	ck_assert_int_eq(cx_fatigue_from_json(j, "fatigue", &f, &err), -1);
	json_decref(j);
	j = json_pack("{s:i}", "often", 1);
	ck_assert_int_eq(cx_fatigue_from_json(j, "fatigue", &f, &err), -1);
	json_decref(j);
}
END_TEST

CX_CHECK_MAIN("fatigue", NULL, NULL, off_is_always_eligible, max_one_per_day, window_boundary,
	      nth_most_recent_decides, after_answer_boundary, both_rules_the_later_wins,
	      json_round_trip_and_errors)
