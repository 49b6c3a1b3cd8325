/* Unit tests for funnel.c: rates and their Wilson 95% intervals against values computed
 * independently, in Python, from the textbook formula:
 *
 *     import math
 *     z = 1.959963984540054
 *     def wilson(k, n):
 *         p = k / n; d = 1 + z * z / n
 *         c = (p + z * z / (2 * n)) / d
 *         h = z / d * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
 *         return max(0, c - h), min(1, c + h)
 *
 * printed with '%.17g'. Each test would fail with a rate over the wrong denominator
 * (funnel_row_json), z = 1.96 or 1.645 (the 1e-12 tolerance holds z's digits), or a 0
 * instead of null for an empty denominator.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "cx/funnel.h"
#include "check_main.h"

#define EPS 1e-12

static void expect(int64_t k, int64_t n, double value, double lo, double hi)
{
	struct cx_rate r;

	ck_assert_int_eq(cx_funnel_rate(k, n, &r), 0);
	ck_assert_int_eq(r.k, k);
	ck_assert_int_eq(r.n, n);
	ck_assert_double_eq_tol(r.value, value, EPS);
	ck_assert_double_eq_tol(r.lo, lo, EPS);
	ck_assert_double_eq_tol(r.hi, hi, EPS);
}

START_TEST(none_of_none)
{
	struct cx_rate r;
	json_t *j;

	ck_assert_int_eq(cx_funnel_rate(0, 0, &r), -1);   /* 0/0: no rate, not 0 */
	ck_assert_double_eq(r.value, 0);
	j = cx_funnel_rate_json(0, 0);
	ck_assert(json_is_null(json_object_get(j, "value")));
	ck_assert(json_is_null(json_object_get(j, "low")));
	ck_assert(json_is_null(json_object_get(j, "high")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "n")), 0);
	json_decref(j);
}
END_TEST

START_TEST(impossible_counts)
{
	struct cx_rate r;

	ck_assert_int_eq(cx_funnel_rate(3, 2, &r), -1);
	ck_assert_int_eq(cx_funnel_rate(-1, 2, &r), -1);
	ck_assert_int_eq(cx_funnel_rate(1, -2, &r), -1);
}
END_TEST

START_TEST(none_of_n)
{
	expect(0, 5, 0, 0, 0.43448246478317476);
	expect(0, 1, 0, 0, 0.79345068562276255);
}
END_TEST

START_TEST(all_of_n)
{
	expect(5, 5, 1, 0.56551753521682513, 1);
	expect(1, 1, 1, 0.20654931437723745, 1);
}
END_TEST

START_TEST(one_of_three)
{
	expect(1, 3, 0.33333333333333331, 0.061491944720396152, 0.79234039919795229);
}
END_TEST

START_TEST(brief_example)
{
	/* minted 1200, opened 700, answered 400, commented 150 */
	struct cx_funnel_row row = { .stage = "purchase", .channel = NULL, .minted = 1200,
				     .opened = 700, .answered = 400, .commented = 150 };
	json_t *j = cx_funnel_row_json(&row, CX_DIM_STAGE | CX_DIM_CHANNEL), *r;

	expect(400, 1200, 0.33333333333333331, 0.30723071366867299, 0.36049961986557183);
	expect(700, 1200, 0.58333333333333337, 0.55521672298098024, 0.61091811025189735);
	expect(150, 400, 0.375, 0.32895707946316299, 0.42342099412041112);
	ck_assert_str_eq(json_string_value(json_object_get(j, "stage")), "purchase");
	ck_assert(json_is_null(json_object_get(j, "channel")));     /* grouped on, none */
	ck_assert_ptr_null(json_object_get(j, "touchpoint"));      /* not grouped on */
	ck_assert_int_eq(json_integer_value(json_object_get(j, "minted")), 1200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "commented")), 150);
	r = json_object_get(j, "open_rate");
	ck_assert_double_eq_tol(json_real_value(json_object_get(r, "value")), 0.58333333333333337, EPS);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "n")), 1200);
	r = json_object_get(j, "response_rate");
	ck_assert_double_eq_tol(json_real_value(json_object_get(r, "low")), 0.30723071366867299, EPS);
	ck_assert_double_eq_tol(json_real_value(json_object_get(r, "high")), 0.36049961986557183, EPS);
	r = json_object_get(j, "comment_rate");   /* of the answered, not of the minted */
	ck_assert_double_eq_tol(json_real_value(json_object_get(r, "value")), 0.375, EPS);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "n")), 400);
	json_decref(j);
}
END_TEST

START_TEST(nothing_answered)
{
	struct cx_funnel_row row = { .minted = 4, .opened = 2 };
	json_t *j = cx_funnel_row_json(&row, 0), *r;

	ck_assert_int_eq(json_object_size(j), 7);   /* no labels without dims */
	r = json_object_get(j, "response_rate");
	ck_assert_double_eq(json_real_value(json_object_get(r, "value")), 0);
	r = json_object_get(j, "comment_rate");
	ck_assert(json_is_null(json_object_get(r, "value")));
	ck_assert(json_is_null(json_object_get(r, "low")));
	json_decref(j);
}
END_TEST

CX_CHECK_MAIN("funnel", NULL, NULL, none_of_none, impossible_counts, none_of_n, all_of_n,
	      one_of_three, brief_example, nothing_answered)
